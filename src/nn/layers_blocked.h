/* Batch norm and global average pooling on channel-blocked (nChw16c) views, and the per-channel
 * arithmetic they share with the planar kernels of layers.c. Not a public header: layers.h's
 * functions dispatch here when a view has blk != 0. */
#ifndef NCSSL_NN_LAYERS_BLOCKED_H
#define NCSSL_NN_LAYERS_BLOCKED_H
#include <math.h>

#include "ncssl/layers.h"

/* Channel c's scale and shift (y = x·scale + shift) from the statistics (mean, var) in use; in
 * training also updates the running statistics from the m samples those came from (ss = Σ (x −
 * mean)² over them) and saves mean and 1/sqrt(var + eps) for the backward. */
static inline void nc_bn_channel_affine(int c, double mean, double var, double ss, double m,
                                        int train, const float *gamma, const float *beta,
                                        float *running_mean, float *running_var, float *save_mean,
                                        float *save_invstd, float *scale, float *shift) {
  if (train && running_mean) {
    double unbiased = m > 1 ? ss / (m - 1) : var;
    running_mean[c] = (float)((1 - NC_BN_MOMENTUM) * running_mean[c] + NC_BN_MOMENTUM * mean);
    running_var[c] = (float)((1 - NC_BN_MOMENTUM) * running_var[c] + NC_BN_MOMENTUM * unbiased);
  }
  float invstd = (float)(1.0 / sqrt(var + NC_BN_EPS));
  save_mean[c] = (float)mean;
  save_invstd[c] = invstd;
  float g = gamma ? gamma[c] : 1.0f, b = beta ? beta[c] : 0.0f;
  *scale = g * invstd;
  *shift = b - (float)mean * *scale;
}

/* Channel c's input gradient is dx += scale·(g − a − (x − mean)·b): in training the
 * batch-statistics gradient γ·invstd·(g − mean(g) − xhat·mean(g·xhat)) from the sums over m
 * samples, in eval mode the plain affine one (a = b = 0). */
static inline void nc_bn_grad_coefs(const float *gamma, int c, float invstd, int train,
                                    double sum_g, double sum_gx, double m, float *scale, float *a,
                                    float *b) {
  double sum_g_xhat = sum_gx * invstd;
  *scale = (gamma ? gamma[c] : 1.0f) * invstd;
  *a = train ? (float)(sum_g / m) : 0.0f;
  *b = train ? (float)(sum_g_xhat / m) * invstd : 0.0f; /* per unit of (x − mean) */
}

/* The blocked forms of layers.h's batch-norm and average-pooling functions (same arguments). */
void nc_bn_blocked_forward(nc_t4 s, const float *x, float *y, const float *gamma, const float *beta,
                           float *running_mean, float *running_var, int train, float *save_mean,
                           float *save_invstd, int relu);
void nc_bn_blocked_backward(nc_t4 s, const float *x, const float *y, const float *dy,
                            const float *gamma, const float *save_mean, const float *save_invstd,
                            int train, float *dx, float *dgamma, float *dbeta);
void nc_bn_blocked_sums(nc_t4 s, const float *x, double *sum);
void nc_bn_blocked_sqdev(nc_t4 s, const float *x, const double *mean, double *ss);
void nc_bn_blocked_apply(nc_t4 s, const float *x, float *y, const float *gamma, const float *beta,
                         float *running_mean, float *running_var, const double *mean,
                         const double *ss, double m, int relu, float *save_mean,
                         float *save_invstd);
void nc_bn_blocked_grad_sums(nc_t4 s, const float *x, const float *y, const float *dy,
                             const float *save_mean, double *sum_g, double *sum_gx);
void nc_bn_blocked_backward_apply(nc_t4 s, const float *x, const float *y, const float *dy,
                                  const float *gamma, const float *save_mean,
                                  const float *save_invstd, int train, const double *sum_g,
                                  const double *sum_gx, double m, float *dx);
void nc_avgpool_blocked_forward(nc_t4 xs, const float *x, float *y);
void nc_avgpool_blocked_backward(nc_t4 xs, const float *dy, float *dx);

#endif

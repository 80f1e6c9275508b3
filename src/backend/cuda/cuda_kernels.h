/* The CUDA backend's own kernels (cuda_kernels.cu), launched on a stream from C. Shapes follow
 * layers.h (nc_t4 views with their strides; planar only, blk 0: a channel's h·w pixels are
 * contiguous, as in every view this backend is given); every launcher is asynchronous and returns
 * cudaGetLastError() after its launches (a bad launch configuration, named by the caller's
 * CK_CUDA). Reductions are deterministic: one thread or one block owns each sum and adds in a
 * fixed order. */
#ifndef NCSSL_BACKEND_CUDA_KERNELS_H
#define NCSSL_BACKEND_CUDA_KERNELS_H
#include <cuda_runtime_api.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif
#include "ncssl/layers.h"

cudaError_t nc_cuk_relu_forward(cudaStream_t st, size_t n, const float *x, float *y);
/* dx += mask·dy, or dx = mask·dx in place when dx == dy. */
cudaError_t nc_cuk_relu_backward(cudaStream_t st, size_t n, const float *y, const float *dy,
                                 float *dx);
cudaError_t nc_cuk_add_forward(cudaStream_t st, size_t n, const float *a, const float *b, float *y,
                               int relu);
/* relu 0: db += dy; relu 1: dy ← dy·[y > 0], db += dy (db may be NULL). */
cudaError_t nc_cuk_add_backward(cudaStream_t st, size_t n, const float *y, float *dy, float *db,
                                int relu);
cudaError_t nc_cuk_maxpool_forward(cudaStream_t st, int k, int stride, int pad, nc_t4 xs,
                                   const float *x, nc_t4 ys, float *y, int32_t *argmax);
/* Gathered per input element (no atomics): deterministic. */
cudaError_t nc_cuk_maxpool_backward(cudaStream_t st, int k, int stride, int pad, nc_t4 xs,
                                    float *dx, nc_t4 ys, const float *dy, const int32_t *argmax);
cudaError_t nc_cuk_avgpool_forward(cudaStream_t st, nc_t4 xs, const float *x, float *y);
cudaError_t nc_cuk_avgpool_backward(cudaStream_t st, nc_t4 xs, const float *dy, float *dx);
/* y[i, j] += b[j] over [n, out]; db[j] += Σ_i dy[i, j]. */
cudaError_t nc_cuk_bias_forward(cudaStream_t st, int n, int out, const float *b, float *y);
cudaError_t nc_cuk_bias_backward(cudaStream_t st, int n, int out, const float *dy, float *db);
/* Batch-norm pieces cuDNN does not cover: eval mode saves the running statistics as mean and
 * 1/sqrt(var + eps); eval-mode backward (the plain affine map's gradient); the ReLU mask applied
 * to dy in place before cuDNN's backward. */
cudaError_t nc_cuk_bn_eval_save(cudaStream_t st, int c, const float *running_mean,
                                const float *running_var, float *save_mean, float *save_invstd);
cudaError_t nc_cuk_bn_eval_backward(cudaStream_t st, nc_t4 s, const float *x, const float *dy,
                                    const float *gamma, const float *save_mean,
                                    const float *save_invstd, float *dx, float *dgamma,
                                    float *dbeta);
cudaError_t nc_cuk_bn_forward_apply(cudaStream_t st, nc_t4 s, const float *x, float *y,
                                    const float *gamma, const float *beta, const float *save_mean,
                                    const float *save_invstd, int relu);
cudaError_t nc_cuk_relu_mask(cudaStream_t st, nc_t4 s, const float *y, float *dy);
/* Training-mode batch norm in own kernels, the ReLU fused (relu 1 / y given), any strided view:
 * the statistics, the running update and the saved mean and invstd as the CPU's, y = the
 * normalised x. scratch holds bn_scratch_doubles(parts_max, channels) doubles; parts_max bounds
 * the blocks per channel (parts_max ≥ channels). */
cudaError_t nc_cuk_bn_train_forward(cudaStream_t st, nc_t4 s, const float *x, float *y,
                                    const float *gamma, const float *beta, float *running_mean,
                                    float *running_var, float *save_mean, float *save_invstd,
                                    int relu, double *scratch, int parts_max);
/* dx += (when dx is not NULL), dgamma += and dbeta += (when not NULL); y the forward's output
 * when a ReLU was fused (its mask), else NULL. dy is read only. */
cudaError_t nc_cuk_bn_train_backward(cudaStream_t st, nc_t4 s, const float *x, const float *y,
                                     const float *dy, const float *gamma, const float *save_mean,
                                     const float *save_invstd, float *dx, float *dgamma,
                                     float *dbeta, double *scratch, int parts_max);
/* The scratch those two need: the per-block sums and a per-channel vector. */
#define NC_CUK_BN_SCRATCH_DOUBLES(parts_max, channels) \
  (2 * (size_t)(parts_max) + 2 * (size_t)(channels))
/* One direction of the loss (loss.c) into row_loss[B] and dq (and dz when not NULL). */
cudaError_t nc_cuk_loss_direction(cudaStream_t st, int kind, int B, int d, const float *q,
                                  const float *z, double weight, float *dq, float *dz,
                                  double *row_loss);
/* out[0] = Σ x[0..n) in double, one block (fixed order). */
cudaError_t nc_cuk_sum(cudaStream_t st, int n, const double *x, double *out);
/* norms[0] = ‖w‖, norms[1] = ‖g + wd·w‖ (one block, fixed order), for LARS. */
cudaError_t nc_cuk_lars_norms(cudaStream_t st, size_t n, const float *w, const float *g, float wd,
                              double *norms);
/* The update; norms NULL for SGD, else LARS's two norms on the device. */
cudaError_t nc_cuk_update(cudaStream_t st, size_t n, float *w, const float *g, float *buf, float wd,
                          float mu, float lr, const double *norms, double trust);
cudaError_t nc_cuk_ema(cudaStream_t st, size_t n, float *target, const float *online, float keep,
                       float mix);
/* A[i, k] = U[i, k]·sqrt_p[k] over d×d row-major (the factor of W = A·Aᵀ). */
cudaError_t nc_cuk_scale_columns(cudaStream_t st, int d, const float *U, const float *sqrt_p,
                                 float *A);
/* W[r, c] = W[c, r] for c < r: the row-major lower triangle from the upper. */
cudaError_t nc_cuk_mirror_upper(cudaStream_t st, int d, float *W);
/* y = x rounded to bf16 (nc_cm_bf16) over n elements. */
cudaError_t nc_cuk_to_bf16(cudaStream_t st, size_t n, const float *x, uint16_t *y);
/* y = x (accumulate 0) or y += x (accumulate 1), x bf16, over n elements. */
cudaError_t nc_cuk_from_bf16(cudaStream_t st, size_t n, const uint16_t *x, float *y,
                             int accumulate);
/* *count += number of non-finite x (a 64-bit counter on the device). */
cudaError_t nc_cuk_nonfinite(cudaStream_t st, size_t n, const float *x, unsigned long long *count);

#ifdef __cplusplus
}
#endif
#endif

/* Batch norm and global average pooling on channel-blocked (nChw16c) views.
 *
 * The 16 channels of a block are the 16 lanes of one vector, so every pass reads memory in order
 * with all lanes busy. Reductions are deterministic whatever the thread count: the batch is cut
 * into a fixed number of image ranges (PARTS, independent of the threads, so that a 16-channel
 * layer still gives a team work), each (block, range) task sums into its own slot (float runs of
 * RUN pixels, added in double), and the slots are added in order. */
#include "layers_blocked.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#include "simd.h"

#define B NC_T4_BLOCK
#define PARTS 8
#define RUN 64

typedef double v16d __attribute__((vector_size(128)));

/* g = dy, or dy where y > 0 (the fused ReLU's mask) when y is not NULL */
NC_INLINE v16f masked(const float *dy, const float *y, long k) {
  v16f g = load16(dy + k), zero = {0};
  return y ? (v16f)((v16i)g & (load16(y + k) > zero)) : g;
}

static int parts(int n) { return n < PARTS ? n : PARTS; }
static long plane(nc_t4 s) { return (long)s.h * s.w; }
static int big(nc_t4 s) { return nc_t4_numel(s) > 32768; }

/* Per-lane sums over images [i0, i1) of block b: out[0] = Σ x (what = 0) or Σ (x − mean)² (1);
 * or out[0] = Σ g and out[1] = Σ g·(x − mean) in one pass (2), g = dy masked by y > 0 when y is
 * not NULL. means: the block's 16 means (NULL when unused). */
NC_VECTOR_CLONES static void block_reduce(nc_t4 s, int b, int i0, int i1, int what, const float *x,
                                          const float *y, const float *dy, const float *means,
                                          v16d *out) {
  const long hw = plane(s);
  const v16f mean = means ? load16(means) : (v16f){0};
  v16d acc = {0}, acc2 = {0};
  for (int i = i0; i < i1; i++) {
    const long o = i * s.sn + b * s.sc;
    for (long k0 = 0; k0 < hw; k0 += RUN) {
      const long e0 = o + k0 * B, e1 = o + (k0 + RUN < hw ? k0 + RUN : hw) * B;
      v16f run = {0}, run2 = {0};
      if (what == 0) {
        for (long e = e0; e < e1; e += B) run += load16(x + e);
      } else if (what == 1) {
        for (long e = e0; e < e1; e += B) {
          v16f d = load16(x + e) - mean;
          run += d * d;
        }
      } else {
        for (long e = e0; e < e1; e += B) {
          v16f g = masked(dy, y, e);
          run += g, run2 += g * (load16(x + e) - mean);
        }
      }
      acc += __builtin_convertvector(run, v16d);
      acc2 += __builtin_convertvector(run2, v16d);
    }
  }
  out[0] = acc, out[1] = acc2;
}

/* out[c] (and out2[c] for what = 2) = the per-channel sums of block_reduce over the whole batch. */
static void reduce(nc_t4 s, int what, const float *x, const float *y, const float *dy,
                   const float *mean, double *out, double *out2) {
  const int nb = s.c / B, P = parts(s.n);
  v16d part[nb * P][2];
#pragma omp parallel for schedule(static) if (big(s))
  for (int t = 0; t < nb * P; t++) {
    const int b = t / P, k = t % P;
    block_reduce(s, b, s.n * k / P, s.n * (k + 1) / P, what, x, y, dy, mean ? mean + b * B : NULL,
                 part[t]);
  }
  for (int b = 0; b < nb; b++) {
    v16d tot = part[b * P][0], tot2 = part[b * P][1];
    for (int k = 1; k < P; k++) tot += part[b * P + k][0], tot2 += part[b * P + k][1];
    for (int l = 0; l < B; l++) {
      out[b * B + l] = tot[l];
      if (out2) out2[b * B + l] = tot2[l];
    }
  }
}

/* y = x·scale + shift (then ReLU) over one image of one block. */
NC_VECTOR_CLONES static void block_affine(long hw, const float *x, float *y, const float *scales,
                                          const float *shifts, int relu) {
  const v16f zero = {0}, scale = load16(scales), shift = load16(shifts);
  for (long k = 0; k < hw * B; k += B) {
    v16f v = load16(x + k) * scale + shift;
    if (relu) v = (v16f)((v16i)v & (v > zero));
    store16(y + k, v);
  }
}

/* dx += scale·(g − a − (x − mean)·b) over one image of one block. */
NC_VECTOR_CLONES static void block_dx(long hw, const float *x, const float *y, const float *dy,
                                      float *dx, const float *scales, const float *as,
                                      const float *bs, const float *means) {
  const v16f scale = load16(scales), a = load16(as), b = load16(bs), mean = load16(means);
  for (long k = 0; k < hw * B; k += B) {
    v16f g = masked(dy, y, k);
    store16(dx + k, load16(dx + k) + scale * (g - a - (load16(x + k) - mean) * b));
  }
}

/* Normalises with per-channel (mean, var); var = ss/m in training, where the running statistics
 * are updated too. */
static void apply(nc_t4 s, const float *x, float *y, const float *gamma, const float *beta,
                  float *running_mean, float *running_var, int train, const double *mean,
                  const double *var, const double *ss, double m, int relu, float *save_mean,
                  float *save_invstd) {
  float scale[s.c], shift[s.c];
  for (int c = 0; c < s.c; c++)
    nc_bn_channel_affine(c, mean[c], var[c], train ? ss[c] : 0, m, train, gamma, beta, running_mean,
                         running_var, save_mean, save_invstd, &scale[c], &shift[c]);
  const int nb = s.c / B;
#pragma omp parallel for schedule(static) if (big(s))
  for (int t = 0; t < nb * s.n; t++) {
    const int b = t / s.n, i = t % s.n;
    const long o = i * s.sn + b * s.sc;
    block_affine(plane(s), x + o, y + o, scale + b * B, shift + b * B, relu);
  }
}

void nc_bn_blocked_sums(nc_t4 s, const float *x, double *sum) {
  reduce(s, 0, x, NULL, NULL, NULL, sum, NULL);
}

void nc_bn_blocked_sqdev(nc_t4 s, const float *x, const double *mean, double *ss) {
  float m[s.c]; /* deviations from the float-rounded mean, as the planar kernels */
  for (int c = 0; c < s.c; c++) m[c] = (float)mean[c];
  reduce(s, 1, x, NULL, NULL, m, ss, NULL);
}

void nc_bn_blocked_apply(nc_t4 s, const float *x, float *y, const float *gamma, const float *beta,
                         float *running_mean, float *running_var, const double *mean,
                         const double *ss, double m, int relu, float *save_mean,
                         float *save_invstd) {
  double var[s.c];
  for (int c = 0; c < s.c; c++) var[c] = ss[c] / m;
  apply(s, x, y, gamma, beta, running_mean, running_var, 1, mean, var, ss, m, relu, save_mean,
        save_invstd);
}

void nc_bn_blocked_forward(nc_t4 s, const float *x, float *y, const float *gamma, const float *beta,
                           float *running_mean, float *running_var, int train, float *save_mean,
                           float *save_invstd, int relu) {
  const double m = (double)s.n * plane(s);
  double mean[s.c], ss[s.c], var[s.c];
  if (train) {
    nc_bn_blocked_sums(s, x, mean);
    for (int c = 0; c < s.c; c++) mean[c] /= m;
    nc_bn_blocked_sqdev(s, x, mean, ss);
    nc_bn_blocked_apply(s, x, y, gamma, beta, running_mean, running_var, mean, ss, m, relu,
                        save_mean, save_invstd);
    return;
  }
  for (int c = 0; c < s.c; c++) mean[c] = running_mean[c], var[c] = running_var[c];
  apply(s, x, y, gamma, beta, running_mean, running_var, 0, mean, var, NULL, m, relu, save_mean,
        save_invstd);
}

void nc_bn_blocked_grad_sums(nc_t4 s, const float *x, const float *y, const float *dy,
                             const float *save_mean, double *sum_g, double *sum_gx) {
  reduce(s, 2, x, y, dy, save_mean, sum_g, sum_gx);
}

void nc_bn_blocked_backward_apply(nc_t4 s, const float *x, const float *y, const float *dy,
                                  const float *gamma, const float *save_mean,
                                  const float *save_invstd, int train, const double *sum_g,
                                  const double *sum_gx, double m, float *dx) {
  float scale[s.c], a[s.c], b[s.c];
  for (int c = 0; c < s.c; c++)
    nc_bn_grad_coefs(gamma, c, save_invstd[c], train, sum_g[c], sum_gx[c], m, &scale[c], &a[c],
                     &b[c]);
  const int nb = s.c / B;
#pragma omp parallel for schedule(static) if (big(s))
  for (int t = 0; t < nb * s.n; t++) {
    const int blk = t / s.n, i = t % s.n, c0 = blk * B;
    const long o = i * s.sn + blk * s.sc;
    block_dx(plane(s), x + o, y ? y + o : NULL, dy + o, dx + o, scale + c0, a + c0, b + c0,
             save_mean + c0);
  }
}

void nc_bn_blocked_backward(nc_t4 s, const float *x, const float *y, const float *dy,
                            const float *gamma, const float *save_mean, const float *save_invstd,
                            int train, float *dx, float *dgamma, float *dbeta) {
  double sum_g[s.c], sum_gx[s.c];
  nc_bn_blocked_grad_sums(s, x, y, dy, save_mean, sum_g, sum_gx);
  nc_batchnorm_param_grads(s.c, sum_g, sum_gx, save_invstd, dgamma, dbeta);
  if (dx)
    nc_bn_blocked_backward_apply(s, x, y, dy, gamma, save_mean, save_invstd, train, sum_g, sum_gx,
                                 (double)s.n * plane(s), dx);
}

void nc_avgpool_blocked_forward(nc_t4 xs, const float *x, float *y) {
  const int nb = xs.c / B;
  const long hw = plane(xs);
#pragma omp parallel for schedule(static) if (big(xs))
  for (int t = 0; t < nb * xs.n; t++) {
    const int b = t / xs.n, i = t % xs.n;
    v16d sum[2];
    block_reduce(xs, b, i, i + 1, 0, x, NULL, NULL, NULL, sum);
    for (int l = 0; l < B; l++) y[(size_t)i * xs.c + b * B + l] = (float)(sum[0][l] / hw);
  }
}

void nc_avgpool_blocked_backward(nc_t4 xs, const float *dy, float *dx) {
  const int nb = xs.c / B;
  const long hw = plane(xs);
#pragma omp parallel for schedule(static) if (big(xs))
  for (int t = 0; t < nb * xs.n; t++) {
    const int b = t / xs.n, i = t % xs.n;
    const v16f g = load16(dy + (size_t)i * xs.c + b * B) / (float)hw;
    float *q = dx + i * xs.sn + b * xs.sc;
    for (long k = 0; k < hw * B; k += B) store16(q + k, load16(q + k) + g);
  }
}

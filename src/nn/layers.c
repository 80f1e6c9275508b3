/* Linear, batch norm, ReLU, residual add and global average pooling (conv and max-pool live in
 * conv.c). Per-channel reductions are accumulated in double so results do not depend on the batch
 * size's rounding, and each channel is reduced by one thread so the result is deterministic. */
#include "ncssl/layers.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#include "layers_blocked.h"
#include "ncssl/linalg.h"
#include "simd.h"

nc_t4 nc_t4_nchw(int n, int c, int h, int w) {
  nc_t4 t = {n, c, h, w, (long)c * h * w, (long)h * w, 0};
  return t;
}

nc_t4 nc_t4_cnhw(int n, int c, int h, int w) {
  nc_t4 t = {n, c, h, w, (long)h * w, (long)n * h * w, 0};
  return t;
}

nc_t4 nc_t4_blocked(int n, int c, int h, int w) {
  nc_t4 t = {n, c, h, w, (long)c * h * w, (long)NC_T4_BLOCK * h * w, NC_T4_BLOCK};
  return t;
}

size_t nc_t4_numel(nc_t4 t) { return (size_t)t.n * t.c * t.h * t.w; }

void nc_linear_forward(int n, int in, int out, const float *x, const float *W, const float *b,
                       float *y) {
  nc_mm_f(0, 1, n, out, in, 1.0f, x, W, 0.0f, y);
  if (!b) return;
  for (int i = 0; i < n; i++)
    for (int j = 0; j < out; j++) y[(size_t)i * out + j] += b[j];
}

void nc_linear_backward(int n, int in, int out, const float *x, const float *W, const float *dy,
                        float *dx, float *dW, float *db) {
  if (dx) nc_mm_f(0, 0, n, in, out, 1.0f, dy, W, 1.0f, dx);
  if (dW) nc_mm_f(1, 0, out, in, n, 1.0f, dy, x, 1.0f, dW);
  if (db)
    for (int j = 0; j < out; j++) {
      double s = 0;
      for (int i = 0; i < n; i++) s += dy[(size_t)i * out + j];
      db[j] += (float)s;
    }
}

/* Row reductions in 16 float lanes (GCC vector extensions, so they vectorise on any target), each
 * row's total then added in double; rows are at most a few thousand floats, so the float lanes
 * lose nothing measurable. */
#define LANES 16

static inline double hsum(const v16f *v) {
  double s = 0;
  for (int j = 0; j < LANES; j++) s += (*v)[j];
  return s;
}

static inline double row_sum(const float *p, int len) {
  v16f acc = {0};
  int k = 0;
  for (; k + LANES <= len; k += LANES) acc += load16(p + k);
  double s = hsum(&acc);
  for (; k < len; k++) s += p[k];
  return s;
}

static inline double row_sqdev(const float *p, int len, float mean) {
  v16f acc = {0};
  int k = 0;
  for (; k + LANES <= len; k += LANES) {
    v16f d = load16(p + k) - mean;
    acc += d * d;
  }
  double s = hsum(&acc);
  for (; k < len; k++) s += (double)(p[k] - mean) * (p[k] - mean);
  return s;
}

/* Σ g and Σ g·(x − mean) over a row, g = dy, or dy masked by y > 0 when y is not NULL. */
static inline void row_grad_sums(const float *x, const float *dy, const float *y, int len,
                                 float mean, double *sum_g, double *sum_gx) {
  v16f a = {0}, b = {0}, zero = {0};
  int k = 0;
  for (; k + LANES <= len; k += LANES) {
    v16f g = load16(dy + k);
    if (y) g = (v16f)((v16i)g & (load16(y + k) > zero));
    a += g;
    b += g * (load16(x + k) - mean);
  }
  double sa = hsum(&a), sb = hsum(&b);
  for (; k < len; k++) {
    float g = (!y || y[k] > 0) ? dy[k] : 0.0f;
    sa += g, sb += (double)g * (x[k] - mean);
  }
  *sum_g += sa, *sum_gx += sb;
}

/* Batch norm per channel in three pieces, shared by the fused kernels below and the split
 * (statistics → reduce → apply) form that synchronised batch norm runs across ranks: the same
 * arithmetic in the same order, so with one rank the two forms agree bit for bit. */
NC_VECTOR_CLONES static double bn_channel_sum(nc_t4 s, int c, const float *x) {
  const int hw = s.h * s.w;
  double sum = 0;
  for (int i = 0; i < s.n; i++) sum += row_sum(x + i * s.sn + c * s.sc, hw);
  return sum;
}

NC_VECTOR_CLONES static double bn_channel_sqdev(nc_t4 s, int c, const float *x, double mean) {
  const int hw = s.h * s.w;
  double ss = 0;
  for (int i = 0; i < s.n; i++) ss += row_sqdev(x + i * s.sn + c * s.sc, hw, (float)mean);
  return ss;
}

/* Normalises channel c with (mean, var) and, in training, updates the running statistics from
 * the m samples those came from (ss = Σ (x − mean)² over them). */
NC_VECTOR_CLONES static void bn_channel_apply(nc_t4 s, int c, const float *x, float *y,
                                              const float *gamma, const float *beta,
                                              float *running_mean, float *running_var, int train,
                                              double mean, double var, double ss, double m,
                                              float *save_mean, float *save_invstd, int relu) {
  const int hw = s.h * s.w;
  float scale, shift; /* y = x·scale + shift */
  nc_bn_channel_affine(c, mean, var, ss, m, train, gamma, beta, running_mean, running_var,
                       save_mean, save_invstd, &scale, &shift);
  for (int i = 0; i < s.n; i++) {
    const float *restrict p = x + i * s.sn + c * s.sc;
    float *restrict q = y + i * s.sn + c * s.sc;
    if (relu)
      for (int k = 0; k < hw; k++) {
        float v = p[k] * scale + shift;
        q[k] = v > 0 ? v : 0.0f;
      }
    else
      for (int k = 0; k < hw; k++) q[k] = p[k] * scale + shift;
  }
}

/* One channel of the batch-norm forward. */
NC_VECTOR_CLONES static void bn_forward_channel(nc_t4 s, int c, const float *x, float *y,
                                                const float *gamma, const float *beta,
                                                float *running_mean, float *running_var, int train,
                                                float *save_mean, float *save_invstd, int relu) {
  const double m = (double)s.n * s.h * s.w;
  double mean, var, ss = 0;
  if (train) {
    mean = bn_channel_sum(s, c, x) / m;
    ss = bn_channel_sqdev(s, c, x, mean);
    var = ss / m;
  } else {
    mean = running_mean[c];
    var = running_var[c];
  }
  bn_channel_apply(s, c, x, y, gamma, beta, running_mean, running_var, train, mean, var, ss, m,
                   save_mean, save_invstd, relu);
}

static void bn_forward(nc_t4 s, const float *x, float *y, const float *gamma, const float *beta,
                       float *running_mean, float *running_var, int train, float *save_mean,
                       float *save_invstd, int relu) {
  if (s.blk) {
    nc_bn_blocked_forward(s, x, y, gamma, beta, running_mean, running_var, train, save_mean,
                          save_invstd, relu);
    return;
  }
  const double m = (double)s.n * s.h * s.w;
#pragma omp parallel for schedule(static) if (m * s.c > 32768)
  for (int c = 0; c < s.c; c++)
    bn_forward_channel(s, c, x, y, gamma, beta, running_mean, running_var, train, save_mean,
                       save_invstd, relu);
}

/* Σ g and Σ g·(x − mean) of channel c, g = dy masked by y > 0 when y is not NULL. */
NC_VECTOR_CLONES static void bn_channel_grad_sums(nc_t4 s, int c, const float *x, const float *y,
                                                  const float *dy, float mean, double *sum_g,
                                                  double *sum_gx) {
  const int hw = s.h * s.w;
  *sum_g = 0, *sum_gx = 0;
  for (int i = 0; i < s.n; i++) {
    long o = i * s.sn + c * s.sc;
    row_grad_sums(x + o, dy + o, y ? y + o : NULL, hw, mean, sum_g, sum_gx);
  }
}

/* dx += of channel c from the gradient sums over the m samples of the statistics. */
NC_VECTOR_CLONES static void bn_channel_dx(nc_t4 s, int c, const float *x, const float *y,
                                           const float *dy, const float *gamma, float mean,
                                           float invstd, int train, double sum_g, double sum_gx,
                                           double m, float *dx) {
  const int hw = s.h * s.w;
  float scale, a, b;
  nc_bn_grad_coefs(gamma, c, invstd, train, sum_g, sum_gx, m, &scale, &a, &b);
  for (int i = 0; i < s.n; i++) {
    long o = i * s.sn + c * s.sc;
    const float *restrict p = x + o, *restrict d = dy + o;
    float *restrict q = dx + o;
    if (y) {
      const float *restrict r = y + o;
      for (int k = 0; k < hw; k++) {
        float g = r[k] > 0 ? d[k] : 0.0f;
        q[k] += scale * (g - a - (p[k] - mean) * b);
      }
    } else {
      for (int k = 0; k < hw; k++) q[k] += scale * (d[k] - a - (p[k] - mean) * b);
    }
  }
}

/* One channel of the batch-norm backward; y is the forward's output when a ReLU followed (its
 * mask), else NULL. */
NC_VECTOR_CLONES static void bn_backward_channel(nc_t4 s, int c, const float *x, const float *y,
                                                 const float *dy, const float *gamma,
                                                 const float *save_mean, const float *save_invstd,
                                                 int train, float *dx, float *dgamma,
                                                 float *dbeta) {
  const double m = (double)s.n * s.h * s.w;
  const float mean = save_mean[c], invstd = save_invstd[c];
  double sum_g, sum_gx;
  bn_channel_grad_sums(s, c, x, y, dy, mean, &sum_g, &sum_gx);
  if (dgamma) dgamma[c] += (float)(sum_gx * invstd);
  if (dbeta) dbeta[c] += (float)sum_g;
  if (dx) bn_channel_dx(s, c, x, y, dy, gamma, mean, invstd, train, sum_g, sum_gx, m, dx);
}

static void bn_backward(nc_t4 s, const float *x, const float *y, const float *dy,
                        const float *gamma, const float *save_mean, const float *save_invstd,
                        int train, float *dx, float *dgamma, float *dbeta) {
  if (s.blk) {
    nc_bn_blocked_backward(s, x, y, dy, gamma, save_mean, save_invstd, train, dx, dgamma, dbeta);
    return;
  }
  const double m = (double)s.n * s.h * s.w;
#pragma omp parallel for schedule(static) if (m * s.c > 32768)
  for (int c = 0; c < s.c; c++)
    bn_backward_channel(s, c, x, y, dy, gamma, save_mean, save_invstd, train, dx, dgamma, dbeta);
}

/* ---- the split form (see layers.h) ---- */

void nc_batchnorm_sums(nc_t4 s, const float *x, double *sum) {
  if (s.blk) {
    nc_bn_blocked_sums(s, x, sum);
    return;
  }
#pragma omp parallel for schedule(static) if (nc_t4_numel(s) > 32768)
  for (int c = 0; c < s.c; c++) sum[c] = bn_channel_sum(s, c, x);
}

void nc_batchnorm_sqdev(nc_t4 s, const float *x, const double *mean, double *ss) {
  if (s.blk) {
    nc_bn_blocked_sqdev(s, x, mean, ss);
    return;
  }
#pragma omp parallel for schedule(static) if (nc_t4_numel(s) > 32768)
  for (int c = 0; c < s.c; c++) ss[c] = bn_channel_sqdev(s, c, x, mean[c]);
}

void nc_batchnorm_apply(nc_t4 s, const float *x, float *y, const float *gamma, const float *beta,
                        float *running_mean, float *running_var, const double *mean,
                        const double *ss, double m, int relu, float *save_mean,
                        float *save_invstd) {
  if (s.blk) {
    nc_bn_blocked_apply(s, x, y, gamma, beta, running_mean, running_var, mean, ss, m, relu,
                        save_mean, save_invstd);
    return;
  }
#pragma omp parallel for schedule(static) if (nc_t4_numel(s) > 32768)
  for (int c = 0; c < s.c; c++)
    bn_channel_apply(s, c, x, y, gamma, beta, running_mean, running_var, 1, mean[c], ss[c] / m,
                     ss[c], m, save_mean, save_invstd, relu);
}

void nc_batchnorm_grad_sums(nc_t4 s, const float *x, const float *y, const float *dy,
                            const float *save_mean, double *sum_g, double *sum_gx) {
  if (s.blk) {
    nc_bn_blocked_grad_sums(s, x, y, dy, save_mean, sum_g, sum_gx);
    return;
  }
#pragma omp parallel for schedule(static) if (nc_t4_numel(s) > 32768)
  for (int c = 0; c < s.c; c++)
    bn_channel_grad_sums(s, c, x, y, dy, save_mean[c], &sum_g[c], &sum_gx[c]);
}

void nc_batchnorm_param_grads(int channels, const double *sum_g, const double *sum_gx,
                              const float *save_invstd, float *dgamma, float *dbeta) {
  for (int c = 0; c < channels; c++) {
    if (dgamma) dgamma[c] += (float)(sum_gx[c] * save_invstd[c]);
    if (dbeta) dbeta[c] += (float)sum_g[c];
  }
}

void nc_batchnorm_backward_apply(nc_t4 s, const float *x, const float *y, const float *dy,
                                 const float *gamma, const float *save_mean,
                                 const float *save_invstd, const double *sum_g,
                                 const double *sum_gx, double m, float *dx) {
  if (s.blk) {
    nc_bn_blocked_backward_apply(s, x, y, dy, gamma, save_mean, save_invstd, 1, sum_g, sum_gx, m,
                                 dx);
    return;
  }
#pragma omp parallel for schedule(static) if (nc_t4_numel(s) > 32768)
  for (int c = 0; c < s.c; c++)
    bn_channel_dx(s, c, x, y, dy, gamma, save_mean[c], save_invstd[c], 1, sum_g[c], sum_gx[c], m,
                  dx);
}

void nc_batchnorm_forward(nc_t4 s, const float *x, float *y, const float *gamma, const float *beta,
                          float *running_mean, float *running_var, int train, float *save_mean,
                          float *save_invstd) {
  bn_forward(s, x, y, gamma, beta, running_mean, running_var, train, save_mean, save_invstd, 0);
}

void nc_batchnorm_backward(nc_t4 s, const float *x, const float *dy, const float *gamma,
                           const float *save_mean, const float *save_invstd, int train, float *dx,
                           float *dgamma, float *dbeta) {
  bn_backward(s, x, NULL, dy, gamma, save_mean, save_invstd, train, dx, dgamma, dbeta);
}

void nc_batchnorm_relu_forward(nc_t4 s, const float *x, float *y, const float *gamma,
                               const float *beta, float *running_mean, float *running_var,
                               int train, float *save_mean, float *save_invstd) {
  bn_forward(s, x, y, gamma, beta, running_mean, running_var, train, save_mean, save_invstd, 1);
}

void nc_batchnorm_relu_backward(nc_t4 s, const float *x, const float *y, const float *dy,
                                const float *gamma, const float *save_mean,
                                const float *save_invstd, int train, float *dx, float *dgamma,
                                float *dbeta) {
  bn_backward(s, x, y, dy, gamma, save_mean, save_invstd, train, dx, dgamma, dbeta);
}

/* Elementwise kernels over [lo, hi); the public functions split n among the threads. */
NC_VECTOR_CLONES static void relu_range(size_t lo, size_t hi, const float *x, float *y) {
  for (size_t i = lo; i < hi; i++) y[i] = x[i] > 0 ? x[i] : 0.0f;
}

NC_VECTOR_CLONES static void relu_grad_range(size_t lo, size_t hi, const float *restrict y,
                                             const float *dy, float *dx, int in_place) {
  if (in_place)
    for (size_t i = lo; i < hi; i++) dx[i] = y[i] > 0 ? dx[i] : 0.0f;
  else
    for (size_t i = lo; i < hi; i++) dx[i] += y[i] > 0 ? dy[i] : 0.0f;
}

NC_VECTOR_CLONES static void add_range(size_t lo, size_t hi, const float *a, const float *b,
                                       float *y) {
  for (size_t i = lo; i < hi; i++) y[i] = a[i] + b[i];
}

NC_VECTOR_CLONES static void acc_range(size_t lo, size_t hi, const float *restrict dy,
                                       float *restrict d) {
  for (size_t i = lo; i < hi; i++) d[i] += dy[i];
}

NC_VECTOR_CLONES static void add_relu_range(size_t lo, size_t hi, const float *a, const float *b,
                                            float *y) {
  for (size_t i = lo; i < hi; i++) {
    float v = a[i] + b[i];
    y[i] = v > 0 ? v : 0.0f;
  }
}

NC_VECTOR_CLONES static void add_relu_grad_range(size_t lo, size_t hi, const float *restrict y,
                                                 float *restrict g, float *restrict db) {
  for (size_t i = lo; i < hi; i++) {
    float v = y[i] > 0 ? g[i] : 0.0f;
    g[i] = v;
    db[i] += v;
  }
}

/* [lo, hi) of thread t of T over n elements, in 64-byte blocks */
static void split(size_t n, int t, int T, size_t *lo, size_t *hi) {
  size_t per = (n / T + 15) / 16 * 16;
  *lo = per * t < n ? per * t : n;
  *hi = per * (t + 1) < n && t + 1 < T ? per * (t + 1) : n;
}

#define NC_PARALLEL_RANGE(n, call)                                       \
  do {                                                                   \
    _Pragma("omp parallel if ((n) > 65536)") {                           \
      size_t lo, hi;                                                     \
      split((n), omp_get_thread_num(), omp_get_num_threads(), &lo, &hi); \
      call;                                                              \
    }                                                                    \
  } while (0)

void nc_relu_forward(size_t n, const float *x, float *y) {
  NC_PARALLEL_RANGE(n, relu_range(lo, hi, x, y));
}

void nc_relu_backward(size_t n, const float *y, const float *dy, float *dx) {
  if (!dx) return; /* a gradient not wanted (layers.h) */
  NC_PARALLEL_RANGE(n, relu_grad_range(lo, hi, y, dy, dx, dx == dy));
}

void nc_add_forward(size_t n, const float *a, const float *b, float *y) {
  NC_PARALLEL_RANGE(n, add_range(lo, hi, a, b, y));
}

void nc_add_backward(size_t n, const float *dy, float *da, float *db) {
  NC_PARALLEL_RANGE(n, {
    if (da) acc_range(lo, hi, dy, da);
    if (db) acc_range(lo, hi, dy, db);
  });
}

void nc_add_relu_forward(size_t n, const float *a, const float *b, float *y) {
  NC_PARALLEL_RANGE(n, add_relu_range(lo, hi, a, b, y));
}

void nc_add_relu_backward(size_t n, const float *y, float *dy, float *db) {
  if (!db) { /* the mask alone, in place */
    nc_relu_backward(n, y, dy, dy);
    return;
  }
  NC_PARALLEL_RANGE(n, add_relu_grad_range(lo, hi, y, dy, db));
}

void nc_avgpool_forward(nc_t4 xs, const float *x, float *y) {
  if (xs.blk) {
    nc_avgpool_blocked_forward(xs, x, y);
    return;
  }
  const int hw = xs.h * xs.w;
#pragma omp parallel for schedule(static) if (nc_t4_numel(xs) > 32768)
  for (int c = 0; c < xs.c; c++)
    for (int i = 0; i < xs.n; i++) {
      const float *p = x + i * xs.sn + c * xs.sc;
      double s = 0;
      for (int k = 0; k < hw; k++) s += p[k];
      y[(size_t)i * xs.c + c] = (float)(s / hw);
    }
}

void nc_avgpool_backward(nc_t4 xs, const float *dy, float *dx) {
  if (!dx) return;
  if (xs.blk) {
    nc_avgpool_blocked_backward(xs, dy, dx);
    return;
  }
  const int hw = xs.h * xs.w;
#pragma omp parallel for schedule(static) if (nc_t4_numel(xs) > 32768)
  for (int c = 0; c < xs.c; c++)
    for (int i = 0; i < xs.n; i++) {
      float *q = dx + i * xs.sn + c * xs.sc;
      float g = dy[(size_t)i * xs.c + c] / (float)hw;
      for (int k = 0; k < hw; k++) q[k] += g;
    }
}

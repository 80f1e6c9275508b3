/* Linear, batch norm, ReLU, residual add and global average pooling (conv and max-pool live in
 * conv.c). Per-channel reductions are accumulated in double so results do not depend on the batch
 * size's rounding, and each channel is reduced by one thread so the result is deterministic. */
#include "ncssl/layers.h"

#include <math.h>

#include "ncssl/linalg.h"

nc_t4 nc_t4_nchw(int n, int c, int h, int w) {
  nc_t4 t = {n, c, h, w, (long)c * h * w, (long)h * w};
  return t;
}

nc_t4 nc_t4_cnhw(int n, int c, int h, int w) {
  nc_t4 t = {n, c, h, w, (long)h * w, (long)n * h * w};
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

/* Row reductions: 16 float lanes the compiler vectorises, each row's total then added in double
 * (rows are at most a few thousand floats, so the float lanes lose nothing measurable). */
#define LANES 16

static double row_sum(const float *p, int len) {
  float acc[LANES] = {0};
  int k = 0;
  for (; k + LANES <= len; k += LANES)
    for (int j = 0; j < LANES; j++) acc[j] += p[k + j];
  double s = 0;
  for (int j = 0; j < LANES; j++) s += acc[j];
  for (; k < len; k++) s += p[k];
  return s;
}

static double row_sqdev(const float *p, int len, float mean) {
  float acc[LANES] = {0};
  int k = 0;
  for (; k + LANES <= len; k += LANES)
    for (int j = 0; j < LANES; j++) {
      float d = p[k + j] - mean;
      acc[j] += d * d;
    }
  double s = 0;
  for (int j = 0; j < LANES; j++) s += acc[j];
  for (; k < len; k++) s += (double)(p[k] - mean) * (p[k] - mean);
  return s;
}

/* Σ g and Σ g·(x − mean) over a row, g = dy (masked by y > 0 when y is not NULL). */
static void row_grad_sums(const float *x, const float *dy, const float *y, int len, float mean,
                          double *sum_g, double *sum_gx) {
  float a[LANES] = {0}, b[LANES] = {0};
  int k = 0;
  for (; k + LANES <= len; k += LANES)
    for (int j = 0; j < LANES; j++) {
      float g = (!y || y[k + j] > 0) ? dy[k + j] : 0.0f;
      a[j] += g;
      b[j] += g * (x[k + j] - mean);
    }
  double sa = 0, sb = 0;
  for (int j = 0; j < LANES; j++) sa += a[j], sb += b[j];
  for (; k < len; k++) {
    float g = (!y || y[k] > 0) ? dy[k] : 0.0f;
    sa += g, sb += (double)g * (x[k] - mean);
  }
  *sum_g += sa, *sum_gx += sb;
}

static void bn_forward(nc_t4 s, const float *x, float *y, const float *gamma, const float *beta,
                       float *running_mean, float *running_var, int train, float *save_mean,
                       float *save_invstd, int relu) {
  const int hw = s.h * s.w;
  const double m = (double)s.n * hw;
#pragma omp parallel for schedule(static) if (m * s.c > 32768)
  for (int c = 0; c < s.c; c++) {
    double mean, var;
    if (train) {
      double sum = 0, ss = 0;
      for (int i = 0; i < s.n; i++) sum += row_sum(x + i * s.sn + c * s.sc, hw);
      mean = sum / m;
      for (int i = 0; i < s.n; i++) ss += row_sqdev(x + i * s.sn + c * s.sc, hw, (float)mean);
      var = ss / m;
      if (running_mean) {
        double unbiased = m > 1 ? ss / (m - 1) : var;
        running_mean[c] = (float)((1 - NC_BN_MOMENTUM) * running_mean[c] + NC_BN_MOMENTUM * mean);
        running_var[c] = (float)((1 - NC_BN_MOMENTUM) * running_var[c] + NC_BN_MOMENTUM * unbiased);
      }
    } else {
      mean = running_mean[c];
      var = running_var[c];
    }
    float invstd = (float)(1.0 / sqrt(var + NC_BN_EPS));
    save_mean[c] = (float)mean;
    save_invstd[c] = invstd;
    /* y = x·scale + shift */
    float g = gamma ? gamma[c] : 1.0f, b = beta ? beta[c] : 0.0f;
    float scale = g * invstd, shift = b - (float)mean * scale;
    for (int i = 0; i < s.n; i++) {
      const float *p = x + i * s.sn + c * s.sc;
      float *q = y + i * s.sn + c * s.sc;
      if (relu)
        for (int k = 0; k < hw; k++) {
          float v = p[k] * scale + shift;
          q[k] = v > 0 ? v : 0.0f;
        }
      else
        for (int k = 0; k < hw; k++) q[k] = p[k] * scale + shift;
    }
  }
}

/* y is the forward's output when a ReLU followed (its mask), else NULL. */
static void bn_backward(nc_t4 s, const float *x, const float *y, const float *dy,
                        const float *gamma, const float *save_mean, const float *save_invstd,
                        int train, float *dx, float *dgamma, float *dbeta) {
  const int hw = s.h * s.w;
  const double m = (double)s.n * hw;
#pragma omp parallel for schedule(static) if (m * s.c > 32768)
  for (int c = 0; c < s.c; c++) {
    const float mean = save_mean[c], invstd = save_invstd[c];
    double sum_g = 0, sum_gx = 0;
    for (int i = 0; i < s.n; i++) {
      long o = i * s.sn + c * s.sc;
      row_grad_sums(x + o, dy + o, y ? y + o : NULL, hw, mean, &sum_g, &sum_gx);
    }
    double sum_g_xhat = sum_gx * invstd;
    if (dgamma) dgamma[c] += (float)sum_g_xhat;
    if (dbeta) dbeta[c] += (float)sum_g;
    if (!dx) continue;
    float gm = gamma ? gamma[c] : 1.0f, scale = gm * invstd;
    /* train: dx = γ·invstd·(g − mean(g) − xhat·mean(g·xhat)); eval: dx = γ·invstd·g */
    float a = train ? (float)(sum_g / m) : 0.0f;
    float b = train ? (float)(sum_g_xhat / m) * invstd : 0.0f; /* per unit of (x − mean) */
    for (int i = 0; i < s.n; i++) {
      long o = i * s.sn + c * s.sc;
      const float *p = x + o, *d = dy + o, *r = y ? y + o : NULL;
      float *q = dx + o;
      if (r)
        for (int k = 0; k < hw; k++) {
          float g = r[k] > 0 ? d[k] : 0.0f;
          q[k] += scale * (g - a - (p[k] - mean) * b);
        }
      else
        for (int k = 0; k < hw; k++) q[k] += scale * (d[k] - a - (p[k] - mean) * b);
    }
  }
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

void nc_relu_forward(size_t n, const float *x, float *y) {
#pragma omp parallel for schedule(static) if (n > 65536)
  for (size_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : 0.0f;
}

void nc_relu_backward(size_t n, const float *y, const float *dy, float *dx) {
  if (dx == dy) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) dx[i] = y[i] > 0 ? dy[i] : 0.0f;
  } else {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) dx[i] += y[i] > 0 ? dy[i] : 0.0f;
  }
}

void nc_add_forward(size_t n, const float *a, const float *b, float *y) {
#pragma omp parallel for schedule(static) if (n > 65536)
  for (size_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}

void nc_add_backward(size_t n, const float *dy, float *da, float *db) {
#pragma omp parallel for schedule(static) if (n > 65536)
  for (size_t i = 0; i < n; i++) {
    if (da) da[i] += dy[i];
    if (db) db[i] += dy[i];
  }
}

void nc_avgpool_forward(nc_t4 xs, const float *x, float *y) {
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
  const int hw = xs.h * xs.w;
#pragma omp parallel for schedule(static) if (nc_t4_numel(xs) > 32768)
  for (int c = 0; c < xs.c; c++)
    for (int i = 0; i < xs.n; i++) {
      float *q = dx + i * xs.sn + c * xs.sc;
      float g = dy[(size_t)i * xs.c + c] / (float)hw;
      for (int k = 0; k < hw; k++) q[k] += g;
    }
}

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

void nc_batchnorm_forward(nc_t4 s, const float *x, float *y, const float *gamma, const float *beta,
                          float *running_mean, float *running_var, int train, float *save_mean,
                          float *save_invstd) {
  const int hw = s.h * s.w;
  const double m = (double)s.n * hw;
#pragma omp parallel for schedule(static) if (m * s.c > 32768)
  for (int c = 0; c < s.c; c++) {
    double mean, var;
    if (train) {
      double sum = 0;
      for (int i = 0; i < s.n; i++) {
        const float *p = x + i * s.sn + c * s.sc;
        for (int k = 0; k < hw; k++) sum += p[k];
      }
      mean = sum / m;
      double ss = 0;
      for (int i = 0; i < s.n; i++) {
        const float *p = x + i * s.sn + c * s.sc;
        for (int k = 0; k < hw; k++) {
          double d = p[k] - mean;
          ss += d * d;
        }
      }
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
      for (int k = 0; k < hw; k++) q[k] = p[k] * scale + shift;
    }
  }
}

void nc_batchnorm_backward(nc_t4 s, const float *x, const float *dy, const float *gamma,
                           const float *save_mean, const float *save_invstd, int train, float *dx,
                           float *dgamma, float *dbeta) {
  const int hw = s.h * s.w;
  const double m = (double)s.n * hw;
#pragma omp parallel for schedule(static) if (m * s.c > 32768)
  for (int c = 0; c < s.c; c++) {
    const float mean = save_mean[c], invstd = save_invstd[c];
    double sum_dy = 0, sum_dy_xhat = 0;
    for (int i = 0; i < s.n; i++) {
      const float *p = x + i * s.sn + c * s.sc, *d = dy + i * s.sn + c * s.sc;
      for (int k = 0; k < hw; k++) {
        sum_dy += d[k];
        sum_dy_xhat += (double)d[k] * ((p[k] - mean) * invstd);
      }
    }
    if (dgamma) dgamma[c] += (float)sum_dy_xhat;
    if (dbeta) dbeta[c] += (float)sum_dy;
    if (!dx) continue;
    float g = gamma ? gamma[c] : 1.0f, scale = g * invstd;
    /* train: dx = g·invstd·(dy − mean(dy) − xhat·mean(dy·xhat)); eval: dx = g·invstd·dy */
    float a = train ? (float)(sum_dy / m) : 0.0f, b = train ? (float)(sum_dy_xhat / m) : 0.0f;
    for (int i = 0; i < s.n; i++) {
      const float *p = x + i * s.sn + c * s.sc, *d = dy + i * s.sn + c * s.sc;
      float *q = dx + i * s.sn + c * s.sc;
      for (int k = 0; k < hw; k++) q[k] += scale * (d[k] - a - (p[k] - mean) * invstd * b);
    }
  }
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

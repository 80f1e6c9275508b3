/* The CUDA backend's own kernels: elementwise layers, pooling, the loss, the optimizer, EMA, the
 * non-finite count and the batch-norm pieces cuDNN does not cover. The per-element arithmetic is
 * cuda_math.h's (also compiled and tested on the host). Sums run in double with one owner per
 * sum, in a fixed order, so results are deterministic run to run. */
#include <cfloat>

#include "cuda_kernels.h"
#include "cuda_math.h"

#define THREADS 256

static size_t numel(nc_t4 t) { return (size_t)t.n * t.c * t.h * t.w; }

static unsigned blocks_for(size_t n) {
  size_t b = (n + THREADS - 1) / THREADS;
  return (unsigned)(b < 65535 * 16 ? (b ? b : 1) : 65535 * 16);
}

/* Grid-stride loop over [0, n). */
#define FOR_EACH(i, n)                                                    \
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); \
       i += (size_t)gridDim.x * blockDim.x)

/* Sums v over the block's threads (blockDim.x = THREADS) in a fixed tree order; thread 0 gets it.
 */
__device__ static double block_sum(double v) {
  __shared__ double sh[THREADS];
  sh[threadIdx.x] = v;
  __syncthreads();
  for (int s = THREADS / 2; s > 0; s >>= 1) {
    if ((int)threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
    __syncthreads();
  }
  double r = sh[0];
  __syncthreads();
  return r;
}

/* ---- elementwise ---- */

__global__ static void k_relu(size_t n, const float *x, float *y) {
  FOR_EACH(i, n) y[i] = nc_cm_relu(x[i]);
}

__global__ static void k_relu_grad(size_t n, const float *y, const float *dy, float *dx,
                                   int inplace) {
  FOR_EACH(i, n)
  dx[i] = inplace ? nc_cm_relu_grad(y[i], dx[i]) : dx[i] + nc_cm_relu_grad(y[i], dy[i]);
}

__global__ static void k_add(size_t n, const float *a, const float *b, float *y, int relu) {
  FOR_EACH(i, n) y[i] = relu ? nc_cm_add_relu(a[i], b[i]) : a[i] + b[i];
}

__global__ static void k_add_grad(size_t n, const float *y, float *dy, float *db, int relu) {
  FOR_EACH(i, n) {
    float g = relu ? nc_cm_relu_grad(y[i], dy[i]) : dy[i];
    if (relu) dy[i] = g;
    if (db) db[i] += g; /* a NULL gradient is skipped (layers.h), the mask still applies */
  }
}

extern "C" cudaError_t nc_cuk_relu_forward(cudaStream_t st, size_t n, const float *x, float *y) {
  k_relu<<<blocks_for(n), THREADS, 0, st>>>(n, x, y);
  return cudaGetLastError(); /* a bad launch, named by the caller */
}

extern "C" cudaError_t nc_cuk_relu_backward(cudaStream_t st, size_t n, const float *y,
                                            const float *dy, float *dx) {
  if (!dx) return cudaSuccess; /* NULL gradients are skipped (backend.h) */
  k_relu_grad<<<blocks_for(n), THREADS, 0, st>>>(n, y, dy, dx, dx == dy);
  return cudaGetLastError(); /* a bad launch, named by the caller */
}

extern "C" cudaError_t nc_cuk_add_forward(cudaStream_t st, size_t n, const float *a, const float *b,
                                          float *y, int relu) {
  k_add<<<blocks_for(n), THREADS, 0, st>>>(n, a, b, y, relu);
  return cudaGetLastError(); /* a bad launch, named by the caller */
}

extern "C" cudaError_t nc_cuk_add_backward(cudaStream_t st, size_t n, const float *y, float *dy,
                                           float *db, int relu) {
  if (!relu && !db) return cudaSuccess; /* nothing to add, nothing to mask */
  k_add_grad<<<blocks_for(n), THREADS, 0, st>>>(n, y, dy, db, relu);
  return cudaGetLastError(); /* a bad launch, named by the caller */
}

/* ---- pooling ---- */

/* Element e of a view's (n, c, h·w) index space at its strided offset. */
__device__ static long at(nc_t4 t, size_t e, int *i, int *c, int *p) {
  size_t hw = (size_t)t.h * t.w;
  *p = (int)(e % hw);
  *c = (int)((e / hw) % t.c);
  *i = (int)(e / hw / t.c);
  return *i * t.sn + *c * t.sc + *p;
}

__global__ static void k_maxpool(int k, int stride, int pad, nc_t4 xs, const float *x, nc_t4 ys,
                                 float *y, int32_t *argmax) {
  size_t total = (size_t)ys.n * ys.c * ys.h * ys.w;
  FOR_EACH(e, total) {
    int i, c, p;
    long o = at(ys, e, &i, &c, &p);
    int oy = p / ys.w, ox = p % ys.w;
    const float *src = x + i * xs.sn + c * xs.sc;
    float best = -FLT_MAX; /* conv.c's start: what a window without a pixel outputs */
    int where = -1;
    for (int a = 0; a < k; a++) {
      int iy = oy * stride - pad + a;
      if (iy < 0 || iy >= xs.h) continue;
      for (int b = 0; b < k; b++) {
        int ix = ox * stride - pad + b;
        if (ix < 0 || ix >= xs.w) continue;
        float v = src[iy * xs.w + ix];
        if (where < 0 || v > best) best = v, where = iy * xs.w + ix;
      }
    }
    y[o] = best;
    argmax[o] = where;
  }
}

/* Each input element sums the gradients of the windows it won, in output order. */
__global__ static void k_maxpool_grad(int k, int stride, int pad, nc_t4 xs, float *dx, nc_t4 ys,
                                      const float *dy, const int32_t *argmax) {
  size_t total = (size_t)xs.n * xs.c * xs.h * xs.w;
  FOR_EACH(e, total) {
    int i, c, p;
    long o = at(xs, e, &i, &c, &p);
    int iy = p / xs.w, ix = p % xs.w;
    const float *g = dy + i * ys.sn + c * ys.sc;
    const int32_t *arg = argmax + i * ys.sn + c * ys.sc;
    /* outputs whose window covers (iy, ix): oy·stride − pad ≤ iy < oy·stride − pad + k */
    int oy0 = (iy + pad - k + stride) / stride, oy1 = (iy + pad) / stride;
    int ox0 = (ix + pad - k + stride) / stride, ox1 = (ix + pad) / stride;
    if (iy + pad - k + 1 < 0) oy0 = 0;
    if (ix + pad - k + 1 < 0) ox0 = 0;
    float acc = dx[o];
    for (int oy = oy0 < 0 ? 0 : oy0; oy <= oy1 && oy < ys.h; oy++)
      for (int ox = ox0 < 0 ? 0 : ox0; ox <= ox1 && ox < ys.w; ox++)
        if (arg[oy * ys.w + ox] == p) acc += g[oy * ys.w + ox];
    dx[o] = acc;
  }
}

__global__ static void k_avgpool(nc_t4 xs, const float *x, float *y) {
  size_t total = (size_t)xs.n * xs.c;
  const int hw = xs.h * xs.w;
  FOR_EACH(e, total) {
    int i = (int)(e / xs.c), c = (int)(e % xs.c);
    const float *p = x + i * xs.sn + c * xs.sc;
    double s = 0;
    for (int k = 0; k < hw; k++) s += p[k];
    y[(size_t)i * xs.c + c] = (float)(s / hw);
  }
}

__global__ static void k_avgpool_grad(nc_t4 xs, const float *dy, float *dx) {
  size_t total = (size_t)xs.n * xs.c * xs.h * xs.w;
  FOR_EACH(e, total) {
    int i, c, p;
    long o = at(xs, e, &i, &c, &p);
    dx[o] += dy[(size_t)i * xs.c + c] / (float)(xs.h * xs.w);
  }
}

extern "C" cudaError_t nc_cuk_maxpool_forward(cudaStream_t st, int k, int stride, int pad, nc_t4 xs,
                                              const float *x, nc_t4 ys, float *y, int32_t *argmax) {
  k_maxpool<<<blocks_for(numel(ys)), THREADS, 0, st>>>(k, stride, pad, xs, x, ys, y, argmax);
  return cudaGetLastError(); /* a bad launch, named by the caller */
}

extern "C" cudaError_t nc_cuk_maxpool_backward(cudaStream_t st, int k, int stride, int pad,
                                               nc_t4 xs, float *dx, nc_t4 ys, const float *dy,
                                               const int32_t *argmax) {
  if (!dx) return cudaSuccess;
  k_maxpool_grad<<<blocks_for(numel(xs)), THREADS, 0, st>>>(k, stride, pad, xs, dx, ys, dy, argmax);
  return cudaGetLastError(); /* a bad launch, named by the caller */
}

extern "C" cudaError_t nc_cuk_avgpool_forward(cudaStream_t st, nc_t4 xs, const float *x, float *y) {
  k_avgpool<<<blocks_for((size_t)xs.n * xs.c), THREADS, 0, st>>>(xs, x, y);
  return cudaGetLastError(); /* a bad launch, named by the caller */
}

extern "C" cudaError_t nc_cuk_avgpool_backward(cudaStream_t st, nc_t4 xs, const float *dy,
                                               float *dx) {
  if (!dx) return cudaSuccess;
  k_avgpool_grad<<<blocks_for(numel(xs)), THREADS, 0, st>>>(xs, dy, dx);
  return cudaGetLastError(); /* a bad launch, named by the caller */
}

/* ---- linear bias ---- */

__global__ static void k_bias(int n, int out, const float *b, float *y) {
  FOR_EACH(e, (size_t)n * out) y[e] += b[e % out];
}

__global__ static void k_bias_grad(int n, int out, const float *dy, float *db) {
  FOR_EACH(j, (size_t)out) {
    double s = 0;
    for (int i = 0; i < n; i++) s += dy[(size_t)i * out + j];
    db[j] += (float)s;
  }
}

extern "C" cudaError_t nc_cuk_bias_forward(cudaStream_t st, int n, int out, const float *b,
                                           float *y) {
  k_bias<<<blocks_for((size_t)n * out), THREADS, 0, st>>>(n, out, b, y);
  return cudaGetLastError(); /* a bad launch, named by the caller */
}

extern "C" cudaError_t nc_cuk_bias_backward(cudaStream_t st, int n, int out, const float *dy,
                                            float *db) {
  k_bias_grad<<<blocks_for((size_t)out), THREADS, 0, st>>>(n, out, dy, db);
  return cudaGetLastError(); /* a bad launch, named by the caller */
}

/* ---- batch norm pieces ---- */

__global__ static void k_bn_eval_save(int c, const float *rm, const float *rv, float *sm,
                                      float *si) {
  FOR_EACH(k, (size_t)c) {
    sm[k] = rm[k];
    si[k] = (float)(1.0 / sqrt((double)rv[k] + NC_BN_EPS));
  }
}

/* One block per channel: Σ g, Σ g·x̂ in double, then dx += γ·invstd·g (eval mode). */
__global__ static void k_bn_eval_grad(nc_t4 s, const float *x, const float *dy, const float *gamma,
                                      const float *sm, const float *si, float *dx, float *dgamma,
                                      float *dbeta) {
  const int c = blockIdx.x, hw = s.h * s.w;
  const size_t m = (size_t)s.n * hw;
  const float mean = sm[c], invstd = si[c];
  double sg = 0, sgx = 0;
  for (size_t e = threadIdx.x; e < m; e += blockDim.x) {
    long o = (long)(e / hw) * s.sn + c * s.sc + (long)(e % hw);
    sg += dy[o];
    sgx += (double)dy[o] * (x[o] - mean);
  }
  sg = block_sum(sg);
  sgx = block_sum(sgx);
  if (threadIdx.x == 0) {
    if (dgamma) dgamma[c] += (float)(sgx * invstd);
    if (dbeta) dbeta[c] += (float)sg;
  }
  if (!dx) return;
  const float scale = nc_cm_bn_scale(gamma ? gamma[c] : 1.0f, invstd);
  for (size_t e = threadIdx.x; e < m; e += blockDim.x) {
    long o = (long)(e / hw) * s.sn + c * s.sc + (long)(e % hw);
    dx[o] += nc_cm_bn_dx(dy[o], x[o], mean, scale, 0.0f, 0.0f);
  }
}

__global__ static void k_bn_apply(nc_t4 s, const float *x, float *y, const float *gamma,
                                  const float *beta, const float *sm, const float *si, int relu) {
  size_t total = (size_t)s.n * s.c * s.h * s.w;
  FOR_EACH(e, total) {
    int i, c, p;
    long o = at(s, e, &i, &c, &p);
    float scale = nc_cm_bn_scale(gamma ? gamma[c] : 1.0f, si[c]);
    float shift = nc_cm_bn_shift(beta ? beta[c] : 0.0f, sm[c], scale);
    y[o] = nc_cm_bn_apply(x[o], scale, shift, relu);
  }
}

/* Training-mode batch norm in the backend's own kernels: per-channel sums split into `parts`
 * blocks per channel (a fixed split, each block a fixed tree: deterministic), then one thread per
 * channel finishes them with the CPU's per-channel arithmetic (cuda_math.h). The ReLU is fused:
 * into the apply pass forward, into the sums and the input gradient backward. */
enum { BN_SUM, BN_SQDEV, BN_GRAD };

/* out[(c·parts + p)·2 + {0, 1}] over block (p, c)'s share of channel c's m = n·h·w samples:
 * BN_SUM Σ x; BN_SQDEV Σ (x − mean)²; BN_GRAD Σ g and Σ g·(x − mean), g = dy masked by y > 0
 * when y is given. mean: double per channel (BN_SQDEV) or float (BN_GRAD's saved mean). */
__global__ static void k_bn_reduce(int mode, nc_t4 s, const float *x, const float *y,
                                   const float *dy, const double *mean_d, const float *mean_f,
                                   double *out) {
  const int p = blockIdx.x, parts = gridDim.x, c = blockIdx.y, hw = s.h * s.w;
  const size_t m = (size_t)s.n * hw, lo = m * p / parts, hi = m * (p + 1) / parts;
  const float mean = mode == BN_SQDEV ? (float)mean_d[c] : mode == BN_GRAD ? mean_f[c] : 0.0f;
  double a = 0, b = 0;
  for (size_t e = lo + threadIdx.x; e < hi; e += blockDim.x) {
    long o = (long)(e / hw) * s.sn + c * s.sc + (long)(e % hw);
    if (mode == BN_SUM) {
      a += x[o];
    } else if (mode == BN_SQDEV) {
      double d = x[o] - mean;
      a += d * d;
    } else {
      float g = y ? nc_cm_relu_grad(y[o], dy[o]) : dy[o];
      a += g, b += (double)g * (x[o] - mean);
    }
  }
  a = block_sum(a);
  b = block_sum(b);
  if (threadIdx.x == 0)
    out[((size_t)c * parts + p) * 2] = a, out[((size_t)c * parts + p) * 2 + 1] = b;
}

__device__ static void bn_parts(const double *part, int c, int parts, double *a, double *b) {
  *a = *b = 0;
  for (int p = 0; p < parts; p++)
    *a += part[((size_t)c * parts + p) * 2], *b += part[((size_t)c * parts + p) * 2 + 1];
}

__global__ static void k_bn_mean(int channels, int parts, double m, const double *part,
                                 double *mean) {
  FOR_EACH(c, (size_t)channels) {
    double sum, unused;
    bn_parts(part, (int)c, parts, &sum, &unused);
    mean[c] = sum / m;
  }
}

__global__ static void k_bn_affine(int channels, int parts, double m, const double *part,
                                   const double *mean, const float *gamma, const float *beta,
                                   float *rm, float *rv, float *sm, float *si) {
  FOR_EACH(c, (size_t)channels) {
    double ss, unused;
    bn_parts(part, (int)c, parts, &ss, &unused);
    float scale, shift; /* the apply pass recomputes them from sm, si */
    nc_cm_bn_affine(mean[c], ss / m, ss, m, 1, gamma ? gamma[c] : 1.0f, beta ? beta[c] : 0.0f,
                    NC_BN_MOMENTUM, NC_BN_EPS, rm ? rm + c : NULL, rm ? rv + c : NULL, sm + c,
                    si + c, &scale, &shift);
  }
}

/* dgamma, dbeta += and the input gradient's coefficients coef[3c .. 3c + 2] = scale, a, b. */
__global__ static void k_bn_grad_coefs(int channels, int parts, double m, const double *part,
                                       const float *gamma, const float *si, float *dgamma,
                                       float *dbeta, float *coef) {
  FOR_EACH(c, (size_t)channels) {
    double sg, sgx;
    bn_parts(part, (int)c, parts, &sg, &sgx);
    if (dgamma) dgamma[c] += (float)(sgx * si[c]);
    if (dbeta) dbeta[c] += (float)sg;
    nc_cm_bn_grad_coefs(gamma ? gamma[c] : 1.0f, si[c], 1, sg, sgx, m, &coef[3 * c],
                        &coef[3 * c + 1], &coef[3 * c + 2]);
  }
}

__global__ static void k_bn_dx(nc_t4 s, const float *x, const float *y, const float *dy,
                               const float *sm, const float *coef, float *dx) {
  size_t total = (size_t)s.n * s.c * s.h * s.w;
  FOR_EACH(e, total) {
    int i, c, p;
    long o = at(s, e, &i, &c, &p);
    float g = y ? nc_cm_relu_grad(y[o], dy[o]) : dy[o];
    dx[o] += nc_cm_bn_dx(g, x[o], sm[c], coef[3 * c], coef[3 * c + 1], coef[3 * c + 2]);
  }
}

__global__ static void k_relu_mask(nc_t4 s, const float *y, float *dy) {
  size_t total = (size_t)s.n * s.c * s.h * s.w;
  FOR_EACH(e, total) {
    int i, c, p;
    long o = at(s, e, &i, &c, &p);
    dy[o] = nc_cm_relu_grad(y[o], dy[o]);
  }
}

extern "C" cudaError_t nc_cuk_bn_eval_save(cudaStream_t st, int c, const float *running_mean,
                                           const float *running_var, float *save_mean,
                                           float *save_invstd) {
  k_bn_eval_save<<<blocks_for((size_t)c), THREADS, 0, st>>>(c, running_mean, running_var, save_mean,
                                                            save_invstd);
  return cudaGetLastError(); /* a bad launch, named by the caller */
}

extern "C" cudaError_t nc_cuk_bn_eval_backward(cudaStream_t st, nc_t4 s, const float *x,
                                               const float *dy, const float *gamma,
                                               const float *save_mean, const float *save_invstd,
                                               float *dx, float *dgamma, float *dbeta) {
  if (s.c <= 0) return cudaSuccess; /* a grid of 0 blocks is a launch error */
  k_bn_eval_grad<<<s.c, THREADS, 0, st>>>(s, x, dy, gamma, save_mean, save_invstd, dx, dgamma,
                                          dbeta);
  return cudaGetLastError(); /* a bad launch, named by the caller */
}

extern "C" cudaError_t nc_cuk_bn_forward_apply(cudaStream_t st, nc_t4 s, const float *x, float *y,
                                               const float *gamma, const float *beta,
                                               const float *save_mean, const float *save_invstd,
                                               int relu) {
  k_bn_apply<<<blocks_for(numel(s)), THREADS, 0, st>>>(s, x, y, gamma, beta, save_mean, save_invstd,
                                                       relu);
  return cudaGetLastError(); /* a bad launch, named by the caller */
}

extern "C" cudaError_t nc_cuk_relu_mask(cudaStream_t st, nc_t4 s, const float *y, float *dy) {
  k_relu_mask<<<blocks_for(numel(s)), THREADS, 0, st>>>(s, y, dy);
  return cudaGetLastError(); /* a bad launch, named by the caller */
}

/* ---- the loss: one block per row ---- */

__global__ static void k_loss_row(int kind, int d, const float *q, const float *z, double w,
                                  double weight_total, float *dq, float *dz, double *row_loss) {
  const int r = blockIdx.x;
  const float *qi = q + (size_t)r * d, *zi = z + (size_t)r * d;
  float *dqi = dq ? dq + (size_t)r * d : 0, *dzi = dz ? dz + (size_t)r * d : 0;
  if (kind == 2) { /* squared */
    double s = 0;
    for (int k = threadIdx.x; k < d; k += blockDim.x) {
      double e = (double)qi[k] - zi[k];
      s += e * e;
      if (dqi) dqi[k] = (float)nc_cm_sq_grad(qi[k], zi[k], w);
      if (dzi) dzi[k] = (float)nc_cm_sq_grad(zi[k], qi[k], w);
    }
    s = block_sum(s);
    if (threadIdx.x == 0) row_loss[r] = weight_total * 0.5 * s;
    return;
  }
  double qq = 0, zz = 0, qz = 0;
  for (int k = threadIdx.x; k < d; k += blockDim.x) {
    qq += (double)qi[k] * qi[k];
    zz += (double)zi[k] * zi[k];
    qz += (double)qi[k] * zi[k];
  }
  qq = block_sum(qq);
  zz = block_sum(zz);
  qz = block_sum(qz);
  double nq = fmax(sqrt(qq), 1e-8), nz = fmax(sqrt(zz), 1e-8), c = qz / (nq * nz);
  double a = kind == 0 ? 2.0 : 0.0, b = kind == 0 ? -2.0 : -1.0;
  for (int k = threadIdx.x; k < d; k += blockDim.x) {
    if (dqi) dqi[k] = (float)nc_cm_cos_grad(qi[k], zi[k], nq, nz, c, w * b);
    if (dzi) dzi[k] = (float)nc_cm_cos_grad(zi[k], qi[k], nz, nq, c, w * b);
  }
  if (threadIdx.x == 0) row_loss[r] = weight_total * (a + b * c);
}

extern "C" cudaError_t nc_cuk_loss_direction(cudaStream_t st, int kind, int B, int d,
                                             const float *q, const float *z, double weight,
                                             float *dq, float *dz, double *row_loss) {
  if (B <= 0) return cudaSuccess; /* a grid of 0 blocks is a launch error */
  k_loss_row<<<B, THREADS, 0, st>>>(kind, d, q, z, weight / B, weight / B, dq, dz, row_loss);
  return cudaGetLastError(); /* a bad launch, named by the caller */
}

__global__ static void k_sum(int n, const double *x, double *out) {
  double s = 0;
  for (int i = threadIdx.x; i < n; i += blockDim.x) s += x[i];
  s = block_sum(s);
  if (threadIdx.x == 0) out[0] = s;
}

extern "C" cudaError_t nc_cuk_sum(cudaStream_t st, int n, const double *x, double *out) {
  k_sum<<<1, THREADS, 0, st>>>(n, x, out);
  return cudaGetLastError(); /* a bad launch, named by the caller */
}

/* ---- optimizer, EMA, non-finite ---- */

__global__ static void k_lars_norms(size_t n, const float *w, const float *g, float wd,
                                    double *norms) {
  double ww = 0, dd = 0;
  for (size_t i = threadIdx.x; i < n; i += blockDim.x) {
    float d = g[i] + wd * w[i];
    ww += (double)w[i] * w[i];
    dd += (double)d * d;
  }
  ww = block_sum(ww);
  dd = block_sum(dd);
  if (threadIdx.x == 0) norms[0] = sqrt(ww), norms[1] = sqrt(dd);
}

__global__ static void k_update(size_t n, float *w, const float *g, float *buf, float wd, float mu,
                                float lr, const double *norms, double trust) {
  const float scale = norms ? nc_cm_lars_scale(norms[0], norms[1], trust) : 1.0f;
  FOR_EACH(i, n) w[i] = nc_cm_sgd(w[i], g[i], &buf[i], wd, mu, lr, scale);
}

__global__ static void k_ema(size_t n, float *t, const float *o, float keep, float mix) {
  FOR_EACH(i, n) t[i] = nc_cm_ema(t[i], o[i], keep, mix);
}

__global__ static void k_scale_columns(int d, const float *U, const float *sp, float *A) {
  FOR_EACH(i, (size_t)d * d) A[i] = U[i] * sp[i % d];
}

__global__ static void k_mirror_upper(int d, float *W) {
  FOR_EACH(i, (size_t)d * d) {
    size_t r = i / d, c = i % d;
    if (c < r) W[i] = W[c * d + r];
  }
}

__global__ static void k_to_bf16(size_t n, const float *x, uint16_t *y) {
  FOR_EACH(i, n) y[i] = nc_cm_bf16(x[i]);
}

__global__ static void k_from_bf16(size_t n, const uint16_t *x, float *y, int accumulate) {
  FOR_EACH(i, n) y[i] = accumulate ? y[i] + nc_cm_from_bf16(x[i]) : nc_cm_from_bf16(x[i]);
}

__global__ static void k_nonfinite(size_t n, const float *x, unsigned long long *count) {
  unsigned long long bad = 0;
  FOR_EACH(i, n) bad += nc_cm_nonfinite(x[i]);
  if (bad) atomicAdd(count, bad); /* an integer count: the order does not matter */
}

extern "C" cudaError_t nc_cuk_lars_norms(cudaStream_t st, size_t n, const float *w, const float *g,
                                         float wd, double *norms) {
  k_lars_norms<<<1, THREADS, 0, st>>>(n, w, g, wd, norms);
  return cudaGetLastError(); /* a bad launch, named by the caller */
}

extern "C" cudaError_t nc_cuk_update(cudaStream_t st, size_t n, float *w, const float *g,
                                     float *buf, float wd, float mu, float lr, const double *norms,
                                     double trust) {
  k_update<<<blocks_for(n), THREADS, 0, st>>>(n, w, g, buf, wd, mu, lr, norms, trust);
  return cudaGetLastError(); /* a bad launch, named by the caller */
}

extern "C" cudaError_t nc_cuk_ema(cudaStream_t st, size_t n, float *target, const float *online,
                                  float keep, float mix) {
  k_ema<<<blocks_for(n), THREADS, 0, st>>>(n, target, online, keep, mix);
  return cudaGetLastError(); /* a bad launch, named by the caller */
}

extern "C" cudaError_t nc_cuk_nonfinite(cudaStream_t st, size_t n, const float *x,
                                        unsigned long long *count) {
  k_nonfinite<<<blocks_for(n), THREADS, 0, st>>>(n, x, count);
  return cudaGetLastError(); /* a bad launch, named by the caller */
}

extern "C" cudaError_t nc_cuk_scale_columns(cudaStream_t st, int d, const float *U,
                                            const float *sqrt_p, float *A) {
  k_scale_columns<<<blocks_for((size_t)d * d), THREADS, 0, st>>>(d, U, sqrt_p, A);
  return cudaGetLastError(); /* a bad launch, named by the caller */
}

extern "C" cudaError_t nc_cuk_mirror_upper(cudaStream_t st, int d, float *W) {
  k_mirror_upper<<<blocks_for((size_t)d * d), THREADS, 0, st>>>(d, W);
  return cudaGetLastError(); /* a bad launch, named by the caller */
}

/* Blocks per channel for the sums: enough to fill the device on few channels, ≤ parts_max per
 * channel in all (the scratch), at least 2048 samples each. */
static int bn_parts_for(nc_t4 s, int parts_max) {
  size_t m = (size_t)s.n * s.h * s.w;
  int parts = (int)((m + 2047) / 2048);
  if (parts > 64) parts = 64;
  if (parts > parts_max / s.c) parts = parts_max / s.c;
  return parts > 0 ? parts : 1;
}

extern "C" cudaError_t nc_cuk_bn_train_forward(cudaStream_t st, nc_t4 s, const float *x, float *y,
                                               const float *gamma, const float *beta,
                                               float *running_mean, float *running_var,
                                               float *save_mean, float *save_invstd, int relu,
                                               double *scratch, int parts_max) {
  if (s.c <= 0) return cudaSuccess; /* bn_parts_for divides by it; a grid row per channel */
  const int parts = bn_parts_for(s, parts_max);
  const double m = (double)s.n * s.h * s.w;
  double *part = scratch, *mean = scratch + (size_t)2 * parts * s.c;
  dim3 grid(parts, s.c);
  k_bn_reduce<<<grid, THREADS, 0, st>>>(BN_SUM, s, x, NULL, NULL, NULL, NULL, part);
  k_bn_mean<<<blocks_for((size_t)s.c), THREADS, 0, st>>>(s.c, parts, m, part, mean);
  k_bn_reduce<<<grid, THREADS, 0, st>>>(BN_SQDEV, s, x, NULL, NULL, mean, NULL, part);
  k_bn_affine<<<blocks_for((size_t)s.c), THREADS, 0, st>>>(
      s.c, parts, m, part, mean, gamma, beta, running_mean, running_var, save_mean, save_invstd);
  k_bn_apply<<<blocks_for(numel(s)), THREADS, 0, st>>>(s, x, y, gamma, beta, save_mean, save_invstd,
                                                       relu);
  return cudaGetLastError(); /* a bad launch, named by the caller */
}

extern "C" cudaError_t nc_cuk_bn_train_backward(cudaStream_t st, nc_t4 s, const float *x,
                                                const float *y, const float *dy, const float *gamma,
                                                const float *save_mean, const float *save_invstd,
                                                float *dx, float *dgamma, float *dbeta,
                                                double *scratch, int parts_max) {
  if (s.c <= 0) return cudaSuccess;
  const int parts = bn_parts_for(s, parts_max);
  const double m = (double)s.n * s.h * s.w;
  double *part = scratch;
  float *coef = (float *)(scratch + (size_t)2 * parts * s.c);
  dim3 grid(parts, s.c);
  k_bn_reduce<<<grid, THREADS, 0, st>>>(BN_GRAD, s, x, y, dy, NULL, save_mean, part);
  k_bn_grad_coefs<<<blocks_for((size_t)s.c), THREADS, 0, st>>>(s.c, parts, m, part, gamma,
                                                               save_invstd, dgamma, dbeta, coef);
  if (dx) k_bn_dx<<<blocks_for(numel(s)), THREADS, 0, st>>>(s, x, y, dy, save_mean, coef, dx);
  return cudaGetLastError(); /* a bad launch, named by the caller */
}

extern "C" cudaError_t nc_cuk_to_bf16(cudaStream_t st, size_t n, const float *x, uint16_t *y) {
  k_to_bf16<<<blocks_for(n), THREADS, 0, st>>>(n, x, y);
  return cudaGetLastError(); /* a bad launch, named by the caller */
}

extern "C" cudaError_t nc_cuk_from_bf16(cudaStream_t st, size_t n, const uint16_t *x, float *y,
                                        int accumulate) {
  k_from_bf16<<<blocks_for(n), THREADS, 0, st>>>(n, x, y, accumulate);
  return cudaGetLastError(); /* a bad launch, named by the caller */
}

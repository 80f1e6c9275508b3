/* The CPU backend: the engine's own code (layers.h, loss.c, optim's arithmetic) behind the
 * backend table. Memory is host memory, so buffers are plain aligned allocations and copies are
 * memcpy; every operation is synchronous and cannot fail. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "ncssl/arena.h"
#include "ncssl/backend.h"
#include "ncssl/linalg.h"
#include "ncssl/status.h"

static void cpu_destroy(nc_backend *be) { (void)be; }

/* Host memory is the CPU's memory: buffers and host buffers are the same aligned allocations. */
static void *cpu_host_alloc(nc_backend *be, size_t bytes) {
  (void)be;
  size_t rounded = (bytes + NC_ARENA_ALIGN - 1) / NC_ARENA_ALIGN * NC_ARENA_ALIGN;
  return aligned_alloc(NC_ARENA_ALIGN, rounded ? rounded : NC_ARENA_ALIGN);
}

static void *cpu_alloc(nc_backend *be, size_t bytes) {
  void *p = cpu_host_alloc(be, bytes);
  if (p) memset(p, 0, bytes);
  return p;
}

static void cpu_free(nc_backend *be, void *p) {
  (void)be;
  free(p);
}

static int cpu_eigh(nc_backend *be, int n, float *A, float *w) {
  (void)be;
  return nc_eigh_f(n, A, w);
}

/* W_ij = Σ_k U_ik p_k U_jk accumulated in double, the lower triangle mirrored. */
static void cpu_psd_compose(nc_backend *be, int d, const float *U, const float *p, float *W) {
  (void)be;
  for (int i = 0; i < d; i++)
    for (int j = 0; j <= i; j++) {
      double acc = 0;
      const float *ui = U + (size_t)i * d, *uj = U + (size_t)j * d;
      for (int k = 0; k < d; k++) acc += (double)ui[k] * p[k] * uj[k];
      W[(size_t)i * d + j] = W[(size_t)j * d + i] = (float)acc;
    }
}

static void cpu_copy(nc_backend *be, void *dst, const void *src, size_t bytes) {
  (void)be;
  if (dst != src && bytes) memcpy(dst, src, bytes);
}

static void cpu_zero(nc_backend *be, void *dst, size_t bytes) {
  (void)be;
  memset(dst, 0, bytes);
}

static int cpu_sync(nc_backend *be) {
  (void)be;
  return NC_OK;
}

static size_t cpu_conv_workspace(nc_backend *be, const nc_conv_cfg *cfg, int n, int h, int w) {
  (void)be;
  return nc_conv2d_scratch_floats(cfg, n, h, w) * sizeof(float);
}

static void cpu_conv_forward(nc_backend *be, nc_conv_plan *plan, const nc_conv_cfg *cfg, nc_t4 xs,
                             const float *x, const float *W, nc_t4 ys, float *y, void *ws,
                             size_t ws_bytes) {
  (void)be;
  nc_conv2d_forward_with(plan, cfg, xs, x, W, ys, y, ws, ws_bytes / sizeof(float));
}

static void cpu_conv_backward(nc_backend *be, nc_conv_plan *plan, const nc_conv_cfg *cfg, nc_t4 xs,
                              const float *x, const float *W, nc_t4 ys, const float *dy, float *dx,
                              float *dW, void *ws, size_t ws_bytes) {
  (void)be;
  nc_conv2d_backward_with(plan, cfg, xs, x, W, ys, dy, dx, dW, ws, ws_bytes / sizeof(float));
}

static void cpu_bn_forward(nc_backend *be, nc_t4 s, const float *x, float *y, const float *gamma,
                           const float *beta, float *running_mean, float *running_var, int train,
                           float *save_mean, float *save_invstd, int relu) {
  (void)be;
  (relu ? nc_batchnorm_relu_forward : nc_batchnorm_forward)(
      s, x, y, gamma, beta, running_mean, running_var, train, save_mean, save_invstd);
}

static void cpu_bn_backward(nc_backend *be, nc_t4 s, const float *x, const float *y, float *dy,
                            const float *gamma, const float *save_mean, const float *save_invstd,
                            int train, float *dx, float *dgamma, float *dbeta) {
  (void)be;
  if (y)
    nc_batchnorm_relu_backward(s, x, y, dy, gamma, save_mean, save_invstd, train, dx, dgamma,
                               dbeta);
  else
    nc_batchnorm_backward(s, x, dy, gamma, save_mean, save_invstd, train, dx, dgamma, dbeta);
}

static void cpu_relu_forward(nc_backend *be, size_t n, const float *x, float *y) {
  (void)be;
  nc_relu_forward(n, x, y);
}

static void cpu_relu_backward(nc_backend *be, size_t n, const float *y, const float *dy,
                              float *dx) {
  (void)be;
  nc_relu_backward(n, y, dy, dx);
}

static void cpu_add_forward(nc_backend *be, size_t n, const float *a, const float *b, float *y,
                            int relu) {
  (void)be;
  (relu ? nc_add_relu_forward : nc_add_forward)(n, a, b, y);
}

static void cpu_add_backward(nc_backend *be, size_t n, const float *y, float *dy, float *db,
                             int relu) {
  (void)be;
  if (relu)
    nc_add_relu_backward(n, y, dy, db);
  else
    nc_add_backward(n, dy, NULL, db);
}

static void cpu_maxpool_forward(nc_backend *be, int k, int stride, int pad, nc_t4 xs,
                                const float *x, nc_t4 ys, float *y, int32_t *argmax) {
  (void)be;
  nc_maxpool_forward(k, stride, pad, xs, x, ys, y, argmax);
}

static void cpu_maxpool_backward(nc_backend *be, int k, int stride, int pad, nc_t4 xs, float *dx,
                                 nc_t4 ys, const float *dy, const int32_t *argmax) {
  (void)be, (void)k, (void)stride, (void)pad; /* the argmax says it all */
  nc_maxpool_backward(xs, dx, ys, dy, argmax);
}

static void cpu_avgpool_forward(nc_backend *be, nc_t4 xs, const float *x, float *y) {
  (void)be;
  nc_avgpool_forward(xs, x, y);
}

static void cpu_avgpool_backward(nc_backend *be, nc_t4 xs, const float *dy, float *dx) {
  (void)be;
  nc_avgpool_backward(xs, dy, dx);
}

static void cpu_linear_forward(nc_backend *be, int n, int in, int out, const float *x,
                               const float *W, const float *b, float *y) {
  (void)be;
  nc_linear_forward(n, in, out, x, W, b, y);
}

static void cpu_linear_backward(nc_backend *be, int n, int in, int out, const float *x,
                                const float *W, const float *dy, float *dx, float *dW, float *db) {
  (void)be;
  nc_linear_backward(n, in, out, x, W, dy, dx, dW, db);
}

static double cpu_loss(nc_backend *be, nc_loss_kind kind, int B, int d, const float *q1,
                       const float *q2, const float *z1, const float *z2, float *dq1, float *dq2,
                       float *dz1, float *dz2) {
  (void)be;
  return nc_loss_symmetric(kind, B, d, q1, q2, z1, z2, dq1, dq2, dz1, dz2);
}

/* Serial sums: an OpenMP reduction would combine partial sums in an arbitrary order and break
 * bit-for-bit determinism. */
static double norm2(const float *x, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += (double)x[i] * x[i];
  return sqrt(s);
}

static void cpu_update(nc_backend *be, const nc_update *u, float *w, const float *g, float *buf,
                       size_t n) {
  (void)be;
  const float wd = u->weight_decay, mu = u->momentum, step = u->lr;
  float scale = 1.0f;
  if (u->lars) {
    /* ‖g + wd·w‖ needs a pass of its own before the update. */
    double wn = norm2(w, n), dn = 0;
    for (size_t i = 0; i < n; i++) {
      double d = g[i] + wd * w[i];
      dn += d * d;
    }
    dn = sqrt(dn);
    if (wn > 0 && dn > 0) scale = (float)(u->lars_trust * wn / dn);
  }
  /* The same float operations, in the same order, as torch.optim.SGD. */
#pragma omp parallel for if (n > 65536)
  for (size_t i = 0; i < n; i++) {
    float d = g[i] + wd * w[i];
    if (scale != 1.0f) d *= scale;
    float b = buf[i] * mu + d;
    buf[i] = b;
    w[i] = w[i] - step * b;
  }
}

static void cpu_ema(nc_backend *be, size_t n, float *target, const float *online, double tau) {
  (void)be;
  const float keep = (float)tau, mix = (float)(1.0 - tau);
#pragma omp parallel for if (n > 65536)
  for (size_t i = 0; i < n; i++) target[i] = target[i] * keep + mix * online[i];
}

static void cpu_fhat_update(nc_backend *be, int n, int d, const float *f1, const float *f2,
                            float keep, float add, float *F) {
  (void)be;
  nc_mm_f(1, 0, d, d, n, add, f1, f1, keep, F);
  nc_mm_f(1, 0, d, d, n, add, f2, f2, 1.0f, F);
}

static size_t cpu_nonfinite(nc_backend *be, const float *x, size_t n) {
  (void)be;
  size_t bad = 0;
  for (size_t i = 0; i < n; i++) bad += !isfinite(x[i]);
  return bad;
}

static const nc_backend_i cpu_i = {
    .name = "cpu",
    .destroy = cpu_destroy,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .upload = cpu_copy,
    .download = cpu_copy,
    .copy = cpu_copy,
    .zero = cpu_zero,
    .host_alloc = cpu_host_alloc,
    .host_free = cpu_free,
    .sync = cpu_sync,
    .conv_workspace = cpu_conv_workspace,
    .conv_forward = cpu_conv_forward,
    .conv_backward = cpu_conv_backward,
    .bn_forward = cpu_bn_forward,
    .bn_backward = cpu_bn_backward,
    .relu_forward = cpu_relu_forward,
    .relu_backward = cpu_relu_backward,
    .add_forward = cpu_add_forward,
    .add_backward = cpu_add_backward,
    .maxpool_forward = cpu_maxpool_forward,
    .maxpool_backward = cpu_maxpool_backward,
    .avgpool_forward = cpu_avgpool_forward,
    .avgpool_backward = cpu_avgpool_backward,
    .linear_forward = cpu_linear_forward,
    .linear_backward = cpu_linear_backward,
    .loss = cpu_loss,
    .update = cpu_update,
    .ema = cpu_ema,
    .fhat_update = cpu_fhat_update,
    .eigh = cpu_eigh,
    .psd_compose = cpu_psd_compose,
    .nonfinite = cpu_nonfinite,
};

/* One instance per precision the CPU has; they differ only in what convolution plans may use. */
static nc_backend cpu_fp32 = {&cpu_i, NC_DEVICE_CPU, 0, NC_PRECISION_FP32, NULL, 0, 0};
static nc_backend cpu_tf32 = {&cpu_i, NC_DEVICE_CPU, 0, NC_PRECISION_TF32, NULL, 0, 0};
static nc_backend cpu_bf16 = {&cpu_i, NC_DEVICE_CPU, 0, NC_PRECISION_BF16, NULL, 0, 0};

nc_backend *nc_backend_cpu(void) { return &cpu_fp32; }

nc_backend *nc_backend_cpu_at(nc_precision precision) {
  return precision == NC_PRECISION_FP32   ? &cpu_fp32
         : precision == NC_PRECISION_TF32 ? &cpu_tf32
         : precision == NC_PRECISION_BF16 ? (nc_conv_bf16_available() ? &cpu_bf16 : NULL)
                                          : NULL;
}

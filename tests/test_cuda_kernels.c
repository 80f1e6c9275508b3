// ctest-labels: unit
/* The CUDA backend's own kernels (src/backend/cuda/cuda_kernels.cu) run on the CPU, against the
 * CPU backend. The kernel source is compiled by the host's C++ compiler under an emulation of
 * CUDA's kernel language (tests/cuda_emu/): every block's threads run as fibers that take turns
 * between barriers, so __syncthreads() holds, launch configurations outside CUDA's limits are
 * refused as a GPU refuses them, and a __syncthreads() that some threads of a block miss aborts.
 * So, without a GPU, this runs the kernels' indexing, strides, grid sizes, reductions and
 * NULL-gradient rules, each launcher called as backend_cuda.c calls it (what cuDNN and cuBLAS do is
 * not here: test_cuda_cross covers those on a GPU). In the sanitizer build, AddressSanitizer
 * watches every kernel's reads and writes.
 *
 * Tolerances: 0 where the kernel evaluates the CPU's float expression (cuda_math.h); 1e-6 where
 * its sums run in double in another order than the CPU's. */
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../src/backend/cuda/cuda_kernels.h"
#include "ncssl/backend.h"
#include "ncssl/layers.h"
#include "ncssl/loss.h"
#include "ncssl/rng.h"
#include "testing.h"

int nc_emu_self_test(void);
void nc_emu_diverge(int lone);

static nc_backend *cpu;
static nc_rng rng;
static const cudaStream_t st = NULL;

/* A tensor twice: the CPU backend's copy (ref) and the kernels' (emu), same contents. */
typedef struct {
  float *ref, *emu;
  size_t n;
} pair;

static pair make(size_t n, double scale) {
  pair p = {malloc((n ? n : 1) * 4), malloc((n ? n : 1) * 4), n};
  for (size_t i = 0; i < n; i++) p.ref[i] = (float)(scale * nc_rng_normal(&rng));
  memcpy(p.emu, p.ref, n * 4);
  return p;
}

static void drop(pair *p) { free(p->ref), free(p->emu); }

static double err(pair p) { return nc_test_rel_dist(p.emu, p.ref, p.n); }

/* One comparison; the launcher's return (a refused launch) is part of it. */
static void report(const char *what, cudaError_t rc, double e, double tol) {
  nc_test_checks++;
  if (rc != cudaSuccess) {
    nc_test_failures++;
    fprintf(stderr, "%s: launch refused (cudaError %d)\n", what, (int)rc);
  } else if (!(e <= tol)) {
    nc_test_failures++;
    fprintf(stderr, "%s: normalised error %.3g over %.2g\n", what, e, tol);
  } else {
    printf("%-40s %.3g (tol %.2g)\n", what, e, tol);
  }
}

/* The launch, then the comparison (a function's arguments have no order of evaluation). */
#define CHECK_OP(what, launch, error, tol) \
  do {                                     \
    const cudaError_t rc_ = (launch);      \
    report(what, rc_, error, tol);         \
  } while (0)

static nc_t4 view(int nchw, int n, int c, int h, int w) {
  return nchw ? nc_t4_nchw(n, c, h, w) : nc_t4_cnhw(n, c, h, w);
}

/* ---- batch norm, as backend_cuda.c's own path runs it ---- */

enum { PARTS_MAX = 65536 }; /* the backend's bound on the blocks of all channels */
static double *bn_scratch;  /* NC_CUK_BN_SCRATCH_DOUBLES(parts_max, channels), then a guard */
enum { GUARD = 16 };

static cudaError_t emu_bn_forward(nc_t4 s, const float *x, float *y, const float *gamma,
                                  const float *beta, float *rm, float *rv, int train, float *sm,
                                  float *si, int relu, int parts_max) {
  if (train)
    return nc_cuk_bn_train_forward(st, s, x, y, gamma, beta, rm, rv, sm, si, relu, bn_scratch,
                                   parts_max);
  cudaError_t rc = nc_cuk_bn_eval_save(st, s.c, rm, rv, sm, si);
  return rc ? rc : nc_cuk_bn_forward_apply(st, s, x, y, gamma, beta, sm, si, relu);
}

static cudaError_t emu_bn_backward(nc_t4 s, const float *x, const float *y, float *dy,
                                   const float *gamma, const float *sm, const float *si, int train,
                                   float *dx, float *dgamma, float *dbeta, int parts_max) {
  if (train)
    return nc_cuk_bn_train_backward(st, s, x, y, dy, gamma, sm, si, dx, dgamma, dbeta, bn_scratch,
                                    parts_max);
  cudaError_t rc = y ? nc_cuk_relu_backward(st, nc_t4_numel(s), y, dy, dy) : cudaSuccess;
  return rc ? rc : nc_cuk_bn_eval_backward(st, s, x, dy, gamma, sm, si, dx, dgamma, dbeta);
}

/* n·h·w = 4·24·24 = 2304 samples per channel: 2 blocks each (2048 per block), or 1 when
 * parts_max allows no more; h = 1 is the heads' 1-d batch norm. */
static void test_bn(int train, int relu, int h, int nchw, int affine, int parts_max) {
  const int n = 4, c = 6;
  nc_t4 s = view(nchw, n, c, h, h);
  size_t m = nc_t4_numel(s);
  pair x = make(m, 2), y = make(m, 0), dy = make(m, 1), dx = make(m, 0.1), g = make(c, 1),
       b = make(c, 1), rm = make(c, 0.1), rv = make(c, 0), sv = make(2 * c, 0), dg = make(c, 0.1),
       db = make(c, 0.1);
  for (int k = 0; k < c; k++) rv.ref[k] = rv.emu[k] = 1.0f + 0.1f * k;
  /* exactly the scratch the kernels' contract asks for, and a guard after it */
  const size_t need = NC_CUK_BN_SCRATCH_DOUBLES(parts_max, c);
  bn_scratch = malloc((need + GUARD) * sizeof(double));
  for (size_t i = 0; i < need + GUARD; i++) bn_scratch[i] = -1234.5;
  for (size_t i = 0; i < m; i += 7) x.ref[i] = x.emu[i] = 0.0f; /* ReLU ties at 0 */
  cpu->i->bn_forward(cpu, s, x.ref, y.ref, affine ? g.ref : NULL, affine ? b.ref : NULL, rm.ref,
                     rv.ref, train, sv.ref, sv.ref + c, relu);
  cudaError_t rc = emu_bn_forward(s, x.emu, y.emu, affine ? g.emu : NULL, affine ? b.emu : NULL,
                                  rm.emu, rv.emu, train, sv.emu, sv.emu + c, relu, parts_max);
  char name[64], label[112];
  snprintf(name, sizeof name, "bn %s%s %s%s%s%s", h > 1 ? "2d " : "1d",
           h > 1 ? (nchw ? "nchw" : "cnhw") : "", train ? "train" : "eval", relu ? "+relu" : "",
           affine ? "" : " no-affine", parts_max < PARTS_MAX ? " 1 block/channel" : "");
  snprintf(label, sizeof label, "%s forward", name), report(label, rc, err(y), 1e-6);
  snprintf(label, sizeof label, "%s saved stats", name), report(label, rc, err(sv), 1e-6);
  snprintf(label, sizeof label, "%s running stats", name);
  report(label, rc, err(rm) + err(rv), 1e-6);
  cpu->i->bn_backward(cpu, s, x.ref, relu ? y.ref : NULL, dy.ref, affine ? g.ref : NULL, sv.ref,
                      sv.ref + c, train, dx.ref, affine ? dg.ref : NULL, affine ? db.ref : NULL);
  rc = emu_bn_backward(s, x.emu, relu ? y.emu : NULL, dy.emu, affine ? g.emu : NULL, sv.emu,
                       sv.emu + c, train, dx.emu, affine ? dg.emu : NULL, affine ? db.emu : NULL,
                       parts_max);
  snprintf(label, sizeof label, "%s backward dx", name), report(label, rc, err(dx), 1e-6);
  snprintf(label, sizeof label, "%s dgamma, dbeta", name);
  report(label, rc, err(dg) + err(db), 1e-6);
  /* without dx (a first layer's input needs none): the parameter gradients alone */
  if (train && affine) {
    cpu->i->bn_backward(cpu, s, x.ref, relu ? y.ref : NULL, dy.ref, g.ref, sv.ref, sv.ref + c,
                        train, NULL, dg.ref, db.ref);
    rc = emu_bn_backward(s, x.emu, relu ? y.emu : NULL, dy.emu, g.emu, sv.emu, sv.emu + c, train,
                         NULL, dg.emu, db.emu, parts_max);
    snprintf(label, sizeof label, "%s no dx: dgamma, dbeta", name);
    report(label, rc, err(dg) + err(db) + err(dx), 1e-6);
  }
  int guard_kept = 1;
  for (size_t i = need; i < need + GUARD; i++) guard_kept &= bn_scratch[i] == -1234.5;
  snprintf(label, sizeof label, "%s scratch within its size", name);
  report(label, cudaSuccess, guard_kept ? 0 : 1, 0);
  free(bn_scratch);
  drop(&x), drop(&y), drop(&dy), drop(&dx), drop(&g), drop(&b), drop(&rm), drop(&rv), drop(&sv);
  drop(&dg), drop(&db);
}

/* ---- elementwise, pooling, bias ---- */

static void test_elementwise(void) {
  const size_t n = 3000; /* 12 blocks, the last one partial */
  pair a = make(n, 1), b = make(n, 1), y = make(n, 0), dy = make(n, 1), dx = make(n, 0.1);
  cpu->i->relu_forward(cpu, n, a.ref, y.ref);
  CHECK_OP("relu forward", nc_cuk_relu_forward(st, n, a.emu, y.emu), err(y), 0);
  cpu->i->relu_backward(cpu, n, y.ref, dy.ref, dx.ref);
  CHECK_OP("relu backward", nc_cuk_relu_backward(st, n, y.emu, dy.emu, dx.emu), err(dx), 0);
  cpu->i->relu_backward(cpu, n, y.ref, dx.ref, dx.ref);
  CHECK_OP("relu backward in place", nc_cuk_relu_backward(st, n, y.emu, dx.emu, dx.emu), err(dx),
           0);
  /* NULL gradients are skipped (backend.h), on either side */
  cpu->i->relu_backward(cpu, n, y.ref, dy.ref, NULL);
  CHECK_OP("relu backward, dx NULL", nc_cuk_relu_backward(st, n, y.emu, dy.emu, NULL), err(dy), 0);
  for (int relu = 0; relu < 2; relu++) {
    cpu->i->add_forward(cpu, n, a.ref, b.ref, y.ref, relu);
    CHECK_OP(relu ? "add+relu forward" : "add forward",
             nc_cuk_add_forward(st, n, a.emu, b.emu, y.emu, relu), err(y), 0);
    cpu->i->add_backward(cpu, n, y.ref, dy.ref, dx.ref, relu);
    CHECK_OP(relu ? "add+relu backward" : "add backward",
             nc_cuk_add_backward(st, n, y.emu, dy.emu, dx.emu, relu), err(dx) + err(dy), 0);
    /* the shortcut's gradient not wanted (NULL): only the mask */
    cpu->i->add_backward(cpu, n, y.ref, dy.ref, NULL, relu);
    CHECK_OP(relu ? "add+relu backward, db NULL" : "add backward, db NULL",
             nc_cuk_add_backward(st, n, y.emu, dy.emu, NULL, relu), err(dy), 0);
  }
  drop(&a), drop(&b), drop(&y), drop(&dy), drop(&dx);
}

/* Max pooling k×k, stride, pad; pad ≥ k leaves windows on the border without a pixel (-FLT_MAX,
 * argmax -1, no gradient). Then average pooling. */
static void test_pool(int nchw, int k, int stride, int pad) {
  const int n = 3, c = 5, h = 13; /* odd: the last window is cut by the edge */
  nc_t4 xs = view(nchw, n, c, h, h);
  int oh, ow;
  nc_maxpool_out_hw(k, stride, pad, h, h, &oh, &ow);
  nc_t4 ys = view(nchw, n, c, oh, ow);
  pair x = make(nc_t4_numel(xs), 1), y = make(nc_t4_numel(ys), 0), dy = make(nc_t4_numel(ys), 1),
       dx = make(nc_t4_numel(xs), 0.1);
  for (size_t i = 0; i < x.n; i += 5) x.ref[i] = x.emu[i] = 0.5f; /* ties: the first wins */
  int32_t *am_ref = calloc(nc_t4_numel(ys), 4), *am_emu = calloc(nc_t4_numel(ys), 4);
  char lay[32], label[64];
  snprintf(lay, sizeof lay, "%s %d/%d/%d", nchw ? "nchw" : "cnhw", k, stride, pad);
  cpu->i->maxpool_forward(cpu, k, stride, pad, xs, x.ref, ys, y.ref, am_ref);
  cudaError_t rc = nc_cuk_maxpool_forward(st, k, stride, pad, xs, x.emu, ys, y.emu, am_emu);
  snprintf(label, sizeof label, "maxpool %s forward", lay), report(label, rc, err(y), 0);
  snprintf(label, sizeof label, "maxpool %s argmax", lay);
  report(label, rc, memcmp(am_ref, am_emu, nc_t4_numel(ys) * 4) ? 1 : 0, 0);
  cpu->i->maxpool_backward(cpu, k, stride, pad, xs, dx.ref, ys, dy.ref, am_ref);
  rc = nc_cuk_maxpool_backward(st, k, stride, pad, xs, dx.emu, ys, dy.emu, am_emu);
  snprintf(label, sizeof label, "maxpool %s backward", lay), report(label, rc, err(dx), 1e-7);
  pair p = make((size_t)n * c, 0), dp = make((size_t)n * c, 1);
  cpu->i->avgpool_forward(cpu, xs, x.ref, p.ref);
  rc = nc_cuk_avgpool_forward(st, xs, x.emu, p.emu);
  snprintf(label, sizeof label, "avgpool %s forward", lay), report(label, rc, err(p), 1e-7);
  cpu->i->avgpool_backward(cpu, xs, dp.ref, dx.ref);
  rc = nc_cuk_avgpool_backward(st, xs, dp.emu, dx.emu);
  snprintf(label, sizeof label, "avgpool %s backward", lay), report(label, rc, err(dx), 1e-7);
  cpu->i->maxpool_backward(cpu, k, stride, pad, xs, NULL, ys, dy.ref, am_ref);
  cpu->i->avgpool_backward(cpu, xs, dp.ref, NULL);
  rc = nc_cuk_maxpool_backward(st, k, stride, pad, xs, NULL, ys, dy.emu, am_emu);
  if (!rc) rc = nc_cuk_avgpool_backward(st, xs, dp.emu, NULL);
  snprintf(label, sizeof label, "pool %s backward, dx NULL", lay), report(label, rc, err(dx), 0);
  free(am_ref), free(am_emu);
  drop(&x), drop(&y), drop(&dy), drop(&dx), drop(&p), drop(&dp);
}

/* The linear layer's bias, on its own (cuBLAS does the product on a GPU): the CPU's layer with a
 * zero weight matrix is exactly its bias. */
static void test_bias(void) {
  const int rows = 300, in = 2, out = 17;
  pair W = make((size_t)out * in, 0), x = make((size_t)rows * in, 1), b = make(out, 1),
       y = make((size_t)rows * out, 0), dy = make((size_t)rows * out, 1), db = make(out, 0.1);
  memset(y.emu, 0, y.n * 4);
  cpu->i->linear_forward(cpu, rows, in, out, x.ref, W.ref, b.ref, y.ref);
  CHECK_OP("bias forward", nc_cuk_bias_forward(st, rows, out, b.emu, y.emu), err(y), 0);
  cpu->i->linear_backward(cpu, rows, in, out, x.ref, W.ref, dy.ref, NULL, NULL, db.ref);
  CHECK_OP("bias backward", nc_cuk_bias_backward(st, rows, out, dy.emu, db.emu), err(db), 1e-6);
  drop(&W), drop(&x), drop(&b), drop(&y), drop(&dy), drop(&db);
}

/* ---- the loss, the optimizer, EMA, the non-finite count, W_p's pieces, bf16 ---- */

/* backend_cuda.c's cu_loss: both directions into per-row sums, then their sum. */
static double rows[2 * 300 + 1];
static cudaError_t emu_loss(nc_loss_kind kind, int B, int d, const float *q1, const float *q2,
                            const float *z1, const float *z2, float *dq1, float *dq2, float *dz1,
                            float *dz2, double *value) {
  double w = nc_loss_direction_weight(kind);
  cudaError_t rc = nc_cuk_loss_direction(st, (int)kind, B, d, q1, z2, w, dq1, dz2, rows);
  if (!rc) rc = nc_cuk_loss_direction(st, (int)kind, B, d, q2, z1, w, dq2, dz1, rows + B);
  if (!rc) rc = nc_cuk_sum(st, 2 * B, rows, rows + 2 * 300);
  *value = rows[2 * 300];
  return rc;
}

static void test_loss(int B, int d) {
  for (int kind = 0; kind < 3; kind++) {
    size_t m = (size_t)B * d;
    pair q1 = make(m, 1), q2 = make(m, 1), z1 = make(m, 1), z2 = make(m, 1), d1 = make(m, 1),
         d2 = make(m, 1), e1 = make(m, 1), e2 = make(m, 1);
    double v, lc = cpu->i->loss(cpu, kind, B, d, q1.ref, q2.ref, z1.ref, z2.ref, d1.ref, d2.ref,
                                e1.ref, e2.ref);
    cudaError_t rc =
        emu_loss(kind, B, d, q1.emu, q2.emu, z1.emu, z2.emu, d1.emu, d2.emu, e1.emu, e2.emu, &v);
    char label[64];
    snprintf(label, sizeof label, "loss %d, %d×%d: value", kind, B, d);
    report(label, rc, fabs(v - lc) / fabs(lc), 1e-12);
    snprintf(label, sizeof label, "loss %d, %d×%d: gradients", kind, B, d);
    report(label, rc, err(d1) + err(d2) + err(e1) + err(e2), 1e-6);
    /* the stop-gradient as the step calls it: dz NULL */
    lc = cpu->i->loss(cpu, kind, B, d, q2.ref, q1.ref, z2.ref, z1.ref, d1.ref, d2.ref, NULL, NULL);
    rc = emu_loss(kind, B, d, q2.emu, q1.emu, z2.emu, z1.emu, d1.emu, d2.emu, NULL, NULL, &v);
    snprintf(label, sizeof label, "loss %d, %d×%d: stop-gradient", kind, B, d);
    report(label, rc, fabs(v - lc) / fabs(lc) + err(d1) + err(d2) + err(e1) + err(e2), 1e-6);
    drop(&q1), drop(&q2), drop(&z1), drop(&z2), drop(&d1), drop(&d2), drop(&e1), drop(&e2);
  }
}

static void test_step_ops(void) {
  const size_t n = 5000;
  pair w = make(n, 1), g = make(n, 1), buf = make(n, 0.01), o = make(n, 1);
  static double norms[2];
  for (int lars = 0; lars < 2; lars++) {
    nc_update u = {0.05f, 0.9f, 4e-4f, lars, 1e-3};
    cpu->i->update(cpu, &u, w.ref, g.ref, buf.ref, n);
    cudaError_t rc = lars ? nc_cuk_lars_norms(st, n, w.emu, g.emu, u.weight_decay, norms) : 0;
    if (!rc)
      rc = nc_cuk_update(st, n, w.emu, g.emu, buf.emu, u.weight_decay, u.momentum, u.lr,
                         lars ? norms : NULL, u.lars_trust);
    report(lars ? "update lars" : "update sgd", rc, err(w) + err(buf), lars ? 1e-7 : 0);
  }
  cpu->i->ema(cpu, n, w.ref, o.ref, 0.996);
  CHECK_OP("ema", nc_cuk_ema(st, n, w.emu, o.emu, 0.996f, (float)(1.0 - 0.996)), err(w), 0);
  w.emu[17] = NAN, w.emu[2999] = INFINITY, w.emu[n - 1] = -INFINITY;
  unsigned long long count = 2; /* the launcher adds to what the counter holds */
  cudaError_t rc = nc_cuk_nonfinite(st, n, w.emu, &count);
  report("nonfinite count (2 + 3)", rc, count == 5 ? 0 : 1, 0);
  drop(&w), drop(&g), drop(&buf), drop(&o);

  /* W_p = A·Aᵀ with A = U·diag(√p): the column scaling, and the mirror of SYRK's upper half */
  enum { D = 37 };
  static float U[D * D], sp[D], A[D * D], Wm[D * D];
  for (int i = 0; i < D * D; i++) U[i] = (float)nc_rng_normal(&rng), Wm[i] = (float)i;
  for (int k = 0; k < D; k++) sp[k] = (float)k / 3;
  rc = nc_cuk_scale_columns(st, D, U, sp, A);
  int bad = 0;
  for (int i = 0; i < D; i++)
    for (int k = 0; k < D; k++) bad += A[i * D + k] != U[i * D + k] * sp[k];
  report("psd: scale columns", rc, bad, 0);
  rc = nc_cuk_mirror_upper(st, D, Wm);
  bad = 0;
  for (int r = 0; r < D; r++)
    for (int c = 0; c < D; c++) bad += Wm[r * D + c] != (float)(c >= r ? r * D + c : c * D + r);
  report("psd: mirror upper", rc, bad, 0);

  /* bf16: round to nearest even, and back (overwriting or adding) */
  const size_t m = 1000;
  float *x = malloc(m * 4), *back = malloc(m * 4);
  uint16_t *h = malloc(m * 2);
  for (size_t i = 0; i < m; i++) x[i] = (float)nc_rng_normal(&rng) * 100, back[i] = 1.0f;
  x[0] = 1.0f + 1.0f / 256, x[1] = 1.0f + 3.0f / 256; /* ties: to even, down then up */
  rc = nc_cuk_to_bf16(st, m, x, h);
  bad = 0;
  for (size_t i = 0; i < m; i++) {
    uint32_t u;
    memcpy(&u, &x[i], 4);
    bad += h[i] != (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
  }
  bad += h[0] != 0x3f80 || h[1] != 0x3f82;
  report("bf16 round", rc, bad, 0);
  rc = nc_cuk_from_bf16(st, m, h, back, 1);
  if (!rc) rc = nc_cuk_from_bf16(st, m, h, back, 1);
  bad = 0;
  for (size_t i = 0; i < m; i++) {
    uint32_t u = (uint32_t)h[i] << 16;
    float f;
    memcpy(&f, &u, 4);
    bad += back[i] != (1.0f + f) + f;
  }
  report("bf16 back, accumulated twice", rc, bad, 0);
  free(x), free(back), free(h);
}

/* Sizes of 0 (no channels, no rows, no elements): nothing launched that CUDA would refuse. */
static void test_empty(void) {
  float f[1] = {0};
  double dd[4] = {0};
  unsigned long long count = 0;
  bn_scratch = dd;
  nc_t4 none = nc_t4_nchw(4, 0, 3, 3), no_images = nc_t4_nchw(0, 3, 3, 3);
  cudaError_t rc = nc_cuk_relu_forward(st, 0, f, f);
  rc |= nc_cuk_add_forward(st, 0, f, f, f, 1);
  rc |= nc_cuk_update(st, 0, f, f, f, 0, 0, 0, NULL, 0);
  rc |= nc_cuk_nonfinite(st, 0, f, &count);
  rc |= nc_cuk_bn_train_forward(st, none, f, f, NULL, NULL, f, f, f, f, 1, bn_scratch, PARTS_MAX);
  rc |=
      nc_cuk_bn_train_backward(st, none, f, f, f, NULL, f, f, f, NULL, NULL, bn_scratch, PARTS_MAX);
  rc |= nc_cuk_bn_eval_backward(st, none, f, f, NULL, f, f, f, NULL, NULL);
  rc |= nc_cuk_bn_forward_apply(st, no_images, f, f, NULL, NULL, f, f, 1);
  rc |= nc_cuk_avgpool_forward(st, no_images, f, f);
  rc |= nc_cuk_loss_direction(st, 0, 0, 8, f, f, 1.0, f, f, dd);
  rc |= nc_cuk_bias_backward(st, 0, 0, f, f);
  rc |= nc_cuk_scale_columns(st, 0, f, f, f);
  report("empty sizes: no refused launch", rc, count, 0);
}

static void test_emulator(void) {
  CHECK(nc_emu_self_test() == 0);
  /* a __syncthreads() one thread alone reaches: the emulator aborts rather than guess */
  for (int lone = 0; lone < 2; lone++) {
    fflush(stdout), fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
      if (!freopen("/dev/null", "w", stderr)) _exit(3);
      nc_emu_diverge(lone);
      _exit(0);
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
  }
}

/* Everything once in each order of blocks and threads: a GPU promises none, so a result that
 * depends on it (a race) differs from the CPU's in one of them. */
int main(void) {
  cpu = nc_backend_cpu();
  test_emulator();
  for (int reverse = 0; reverse < 2; reverse++) {
    printf("-- blocks and threads run %s\n", reverse ? "last to first" : "first to last");
    nc_emu_set_order(reverse);
    nc_rng_seed(&rng, 11);
    test_elementwise();
    test_pool(1, 3, 2, 1), test_pool(0, 3, 2, 1);
    test_pool(1, 1, 1, 1), test_pool(0, 2, 3, 2); /* windows without a pixel */
    test_bias();
    for (int nchw = 0; nchw < 2; nchw++)
      for (int train = 0; train < 2; train++)
        for (int relu = 0; relu < 2; relu++) test_bn(train, relu, 24, nchw, 1, PARTS_MAX);
    test_bn(1, 1, 24, 1, 0, PARTS_MAX); /* no affine parameters */
    test_bn(1, 0, 24, 1, 1, 6);         /* one block per channel */
    test_bn(1, 0, 1, 1, 1, PARTS_MAX), test_bn(1, 1, 1, 1, 0, PARTS_MAX);
    test_bn(0, 1, 1, 1, 0, 6);
    test_loss(9, 33), test_loss(3, 300); /* a row longer than a block's threads */
    test_step_ops();
    test_empty();
  }
  printf("%lu kernel launches ran\n", nc_emu_launches());
  return nc_test_done();
}

// ctest-labels: gpu
/* The CUDA backend against the CPU backend (the reference), on a machine with a GPU; without one
 * (a build without CUDA, or no NVIDIA device node) the test exits 77 and ctest reports it
 * SKIPPED. On a machine with a GPU, a CUDA backend that does not open is a failure.
 *
 * 1. Every operation of the backend table, forward and backward, on the same inputs, in the
 *    NCHW views networks on the CUDA backend use and the CPU's channel-major ones: the normalised
 *    error ‖cuda − cpu‖/‖cpu‖ per op must stay under its tolerance (1e-7 to 1e-4 for fp32
 *    arithmetic; convolutions conv_tol(): 1e-4 fp32, 1e-2 tf32, 3e-2 bf16). The backend's errors
 *    are collected by a sync at every report, so a failure is charged to its op.
 * 2. Three BYOL + DirectPred steps of ResNet-18 width 8 on both backends: the first step's loss
 *    (the forward) at conv_tol(); the later losses and the backbone's update at step_tol(), since
 *    round-off differences grow along a trajectory (see there).
 * 3. Resume across devices: a checkpoint written by the CUDA run continues on the CPU, and the
 *    reverse, from the same state, so the next losses compare a forward again (conv_tol()).
 * NCSSL_TEST_PRECISION=fp32|tf32|bf16 picks the CUDA backend's precision (default fp32; the CPU
 * reference is always fp32). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ncssl/backend.h"
#include "ncssl/net.h"
#include "ncssl/rng.h"
#include "ncssl/ssl.h"
#include "ncssl/status.h"
#include "ncssl/train.h"
#include "testing.h"

static nc_backend *gpu, *cpu;
static nc_precision prec = NC_PRECISION_FP32;
static nc_rng rng;

/* Waits for the CUDA backend's queued work; an error (which the sync clears) is a failure. */
static void gpu_wait(const char *what) {
  if (nc_backend_sync(gpu) == NC_OK) return;
  nc_test_checks++, nc_test_failures++;
  fprintf(stderr, "%s: the CUDA backend failed: %s\n", what, nc_last_error());
}

/* A tensor on both backends with the same contents. */
typedef struct {
  float *c, *g;
  size_t n;
} pair;

static pair make(size_t n, double scale) {
  pair p = {cpu->i->alloc(cpu, n * 4 + 64), gpu->i->alloc(gpu, n * 4 + 64), n};
  for (size_t i = 0; i < n; i++) p.c[i] = (float)(scale * nc_rng_normal(&rng));
  gpu->i->upload(gpu, p.g, p.c, n * 4);
  /* p.c changes next (the CPU's side of the op): the upload must have read it */
  gpu_wait("upload");
  return p;
}

static void drop(pair *p) {
  cpu->i->free(cpu, p->c);
  gpu->i->free(gpu, p->g);
}

/* ‖gpu − cpu‖/‖cpu‖ after the GPU's queued work. */
static double err(pair p) {
  float *h = calloc(p.n, 4); /* defined even when the download fails (reported by the sync) */
  gpu->i->download(gpu, h, p.g, p.n * 4);
  double d = 0, r = 0;
  for (size_t i = 0; i < p.n; i++)
    d += (h[i] - p.c[i]) * (double)(h[i] - p.c[i]), r += p.c[i] * (double)p.c[i];
  free(h);
  return sqrt(d / (r > 0 ? r : 1));
}

/* Normalised error allowed where convolutions are involved: fp32 round-off; TF32's 10 mantissa
 * bits; bf16's 7 (inputs rounded to bf16 by the backend: a few 10⁻³, the CPU at 10⁻⁶). */
static double conv_tol(void) {
  return prec == NC_PRECISION_FP32 ? 1e-4 : prec == NC_PRECISION_TF32 ? 1e-2 : 3e-2;
}

/* One check. The CUDA backend keeps its first error until a sync (and refuses convolutions while
 * one is pending), so every report syncs: an error fails the op that caused it, and the ops after
 * it run normally. !(e <= tol) also fails NaN. */
static void report(const char *op, double e, double tol) {
  const int rc = nc_backend_sync(gpu);
  printf("%-44s %.3g (tol %.2g)\n", op, e, tol);
  nc_test_checks++;
  if (rc != NC_OK) {
    nc_test_failures++;
    fprintf(stderr, "%s: the CUDA backend failed: %s\n", op, nc_last_error());
  } else if (!(e <= tol)) {
    nc_test_failures++;
    fprintf(stderr, "%s: normalised error %.3g over %.2g\n", op, e, tol);
  }
}

/* rc == NC_OK, else a failure with the library's message. */
static int ok(int rc, const char *what) {
  nc_test_checks++;
  if (rc == NC_OK) return 1;
  nc_test_failures++;
  fprintf(stderr, "%s: %s\n", what, nc_last_error());
  return 0;
}

static nc_t4 view(int nchw, int n, int c, int h, int w) {
  return nchw ? nc_t4_nchw(n, c, h, w) : nc_t4_cnhw(n, c, h, w);
}

static void test_conv(const char *name, int cin, int cout, int k, int stride, int pad, int nchw_in,
                      int nchw_out) {
  const int n = 4, h = 16, w = 16;
  nc_conv_cfg cfg = {cin, cout, k, k, stride, pad};
  int oh, ow;
  nc_conv2d_out_hw(&cfg, h, w, &oh, &ow);
  nc_t4 xs = view(nchw_in, n, cin, h, w), ys = view(nchw_out, n, cout, oh, ow);
  pair x = make(nc_t4_numel(xs), 1), W = make((size_t)cout * cin * k * k, 0.2),
       y = make(nc_t4_numel(ys), 0), dy = make(nc_t4_numel(ys), 1), dx = make(nc_t4_numel(xs), 0.1),
       dW = make((size_t)cout * cin * k * k, 0.1);
  size_t wc = cpu->i->conv_workspace(cpu, &cfg, n, h, w),
         wg = gpu->i->conv_workspace(gpu, &cfg, n, h, w);
  void *sc = cpu->i->alloc(cpu, wc + 64), *sg = gpu->i->alloc(gpu, wg + 64);
  cpu->i->conv_forward(cpu, NULL, &cfg, xs, x.c, W.c, ys, y.c, sc, wc);
  gpu->i->conv_forward(gpu, NULL, &cfg, xs, x.g, W.g, ys, y.g, sg, wg);
  cpu->i->conv_backward(cpu, NULL, &cfg, xs, x.c, W.c, ys, dy.c, dx.c, dW.c, sc, wc);
  gpu->i->conv_backward(gpu, NULL, &cfg, xs, x.g, W.g, ys, dy.g, dx.g, dW.g, sg, wg);
  double tol = conv_tol();
  char label[64];
  snprintf(label, sizeof label, "conv %s forward", name), report(label, err(y), tol);
  snprintf(label, sizeof label, "conv %s backward-data", name), report(label, err(dx), tol);
  snprintf(label, sizeof label, "conv %s backward-filter", name), report(label, err(dW), tol);
  cpu->i->free(cpu, sc), gpu->i->free(gpu, sg);
  drop(&x), drop(&W), drop(&y), drop(&dy), drop(&dx), drop(&dW);
}

/* affine 0: no gamma/beta (the projector's batch norm), NULL parameter gradients. */
static void test_bn(int train, int relu, int h, int nchw, int affine) {
  const int n = 8, c = 6;
  nc_t4 s = view(nchw, n, c, h, h);
  size_t m = nc_t4_numel(s);
  pair x = make(m, 2), y = make(m, 0), dy = make(m, 1), dx = make(m, 0.1), g = make(c, 1),
       b = make(c, 1), rm = make(c, 0.1), rv = make(c, 0), sv = make(2 * c, 0), dg = make(c, 0.1),
       db = make(c, 0.1);
  for (int k = 0; k < c; k++) rv.c[k] = 1.0f + 0.1f * k;
  gpu->i->upload(gpu, rv.g, rv.c, c * 4);
  gpu_wait("upload"); /* the CPU's bn_forward updates rv.c next */
  cpu->i->bn_forward(cpu, s, x.c, y.c, affine ? g.c : NULL, affine ? b.c : NULL, rm.c, rv.c, train,
                     sv.c, sv.c + c, relu);
  gpu->i->bn_forward(gpu, s, x.g, y.g, affine ? g.g : NULL, affine ? b.g : NULL, rm.g, rv.g, train,
                     sv.g, sv.g + c, relu);
  /* with the ReLU fused, dy may be overwritten (backend.h): each side's own copy, not reused */
  cpu->i->bn_backward(cpu, s, x.c, relu ? y.c : NULL, dy.c, affine ? g.c : NULL, sv.c, sv.c + c,
                      train, dx.c, affine ? dg.c : NULL, affine ? db.c : NULL);
  gpu->i->bn_backward(gpu, s, x.g, relu ? y.g : NULL, dy.g, affine ? g.g : NULL, sv.g, sv.g + c,
                      train, dx.g, affine ? dg.g : NULL, affine ? db.g : NULL);
  char name[48], label[96];
  snprintf(name, sizeof name, "bn %s%s %s%s%s", h > 1 ? "2d " : "1d",
           h > 1 ? (nchw ? "nchw" : "cnhw") : "", train ? "train" : "eval", relu ? "+relu" : "",
           affine ? "" : " no-affine");
  snprintf(label, sizeof label, "%s forward", name), report(label, err(y), 1e-4);
  snprintf(label, sizeof label, "%s saved mean/invstd", name), report(label, err(sv), 1e-4);
  if (train)
    snprintf(label, sizeof label, "%s running stats", name), report(label, err(rm) + err(rv), 1e-4);
  snprintf(label, sizeof label, "%s backward", name), report(label, err(dx), 1e-4);
  /* untouched (NULL) without affine: still equal */
  snprintf(label, sizeof label, "%s dgamma, dbeta", name), report(label, err(dg) + err(db), 1e-4);
  drop(&x), drop(&y), drop(&dy), drop(&dx), drop(&g), drop(&b), drop(&rm), drop(&rv), drop(&sv);
  drop(&dg), drop(&db);
}

static void test_elementwise(void) {
  const size_t n = 10000;
  pair a = make(n, 1), b = make(n, 1), y = make(n, 0), dy = make(n, 1), dx = make(n, 0.1);
  cpu->i->relu_forward(cpu, n, a.c, y.c), gpu->i->relu_forward(gpu, n, a.g, y.g);
  report("relu forward", err(y), 1e-7);
  cpu->i->relu_backward(cpu, n, y.c, dy.c, dx.c), gpu->i->relu_backward(gpu, n, y.g, dy.g, dx.g);
  report("relu backward", err(dx), 1e-7);
  /* dx == dy: masked in place (dx = dy·[y > 0]), not accumulated */
  cpu->i->relu_backward(cpu, n, y.c, dx.c, dx.c), gpu->i->relu_backward(gpu, n, y.g, dx.g, dx.g);
  report("relu backward in place", err(dx), 1e-7);
  for (int relu = 0; relu < 2; relu++) {
    cpu->i->add_forward(cpu, n, a.c, b.c, y.c, relu),
        gpu->i->add_forward(gpu, n, a.g, b.g, y.g, relu);
    report(relu ? "add+relu forward" : "add forward", err(y), 1e-7);
    cpu->i->add_backward(cpu, n, y.c, dy.c, dx.c, relu),
        gpu->i->add_backward(gpu, n, y.g, dy.g, dx.g, relu);
    report(relu ? "add+relu backward" : "add backward", err(dx) + err(dy), 1e-7);
  }
  /* optimizer, EMA, non-finite */
  pair w = make(n, 1), buf = make(n, 0.01);
  for (int lars = 0; lars < 2; lars++) {
    nc_update u = {0.05f, 0.9f, 4e-4f, lars, 1e-3};
    cpu->i->update(cpu, &u, w.c, a.c, buf.c, n), gpu->i->update(gpu, &u, w.g, a.g, buf.g, n);
    report(lars ? "update lars" : "update sgd", err(w) + err(buf), 1e-6);
  }
  cpu->i->ema(cpu, n, w.c, b.c, 0.996), gpu->i->ema(gpu, n, w.g, b.g, 0.996);
  report("ema", err(w), 1e-7);
  a.c[17] = NAN, a.c[99] = INFINITY, a.c[n - 1] = -INFINITY;
  gpu->i->upload(gpu, a.g, a.c, n * 4);
  const size_t bad_c = cpu->i->nonfinite(cpu, a.c, n), bad_g = gpu->i->nonfinite(gpu, a.g, n);
  printf("nonfinite counts: cpu %zu, cuda %zu (3 expected)\n", bad_c, bad_g);
  report("nonfinite", bad_c == 3 && bad_g == 3 ? 0 : 1, 0);
  drop(&a), drop(&b), drop(&y), drop(&dy), drop(&dx), drop(&w), drop(&buf);
}

static void test_pool(int nchw) {
  const int n = 4, c = 5, h = 12;
  nc_t4 xs = view(nchw, n, c, h, h);
  int oh, ow;
  nc_maxpool_out_hw(3, 2, 1, h, h, &oh, &ow);
  nc_t4 ys = view(nchw, n, c, oh, ow);
  pair x = make(nc_t4_numel(xs), 1), y = make(nc_t4_numel(ys), 0), dy = make(nc_t4_numel(ys), 1),
       dx = make(nc_t4_numel(xs), 0.1), am = make(nc_t4_numel(ys), 0);
  const char *lay = nchw ? "nchw" : "cnhw";
  char label[64];
  cpu->i->maxpool_forward(cpu, 3, 2, 1, xs, x.c, ys, y.c, (int32_t *)am.c);
  gpu->i->maxpool_forward(gpu, 3, 2, 1, xs, x.g, ys, y.g, (int32_t *)am.g);
  snprintf(label, sizeof label, "maxpool %s forward", lay), report(label, err(y), 1e-7);
  cpu->i->maxpool_backward(cpu, 3, 2, 1, xs, dx.c, ys, dy.c, (int32_t *)am.c);
  gpu->i->maxpool_backward(gpu, 3, 2, 1, xs, dx.g, ys, dy.g, (int32_t *)am.g);
  snprintf(label, sizeof label, "maxpool %s backward", lay), report(label, err(dx), 1e-6);
  pair p = make((size_t)n * c, 0), dp = make((size_t)n * c, 1);
  cpu->i->avgpool_forward(cpu, xs, x.c, p.c), gpu->i->avgpool_forward(gpu, xs, x.g, p.g);
  snprintf(label, sizeof label, "avgpool %s forward", lay), report(label, err(p), 1e-6);
  cpu->i->avgpool_backward(cpu, xs, dp.c, dx.c), gpu->i->avgpool_backward(gpu, xs, dp.g, dx.g);
  snprintf(label, sizeof label, "avgpool %s backward", lay), report(label, err(dx), 1e-6);
  drop(&x), drop(&y), drop(&dy), drop(&dx), drop(&am), drop(&p), drop(&dp);
}

static void test_linear_loss(void) {
  /* linear 33 → 17 with bias over 9 rows */
  const int rows = 9, in = 33, out = 17;
  pair lx = make((size_t)rows * in, 1), W = make((size_t)out * in, 0.2), b = make(out, 1),
       ly = make((size_t)rows * out, 0), ldy = make((size_t)rows * out, 1),
       ldx = make((size_t)rows * in, 0.1), dW = make((size_t)out * in, 0.1), db = make(out, 0.1);
  cpu->i->linear_forward(cpu, rows, in, out, lx.c, W.c, b.c, ly.c);
  gpu->i->linear_forward(gpu, rows, in, out, lx.g, W.g, b.g, ly.g);
  report("linear forward", err(ly), 1e-5);
  cpu->i->linear_backward(cpu, rows, in, out, lx.c, W.c, ldy.c, ldx.c, dW.c, db.c);
  gpu->i->linear_backward(gpu, rows, in, out, lx.g, W.g, ldy.g, ldx.g, dW.g, db.g);
  report("linear backward dx", err(ldx), 1e-5);
  report("linear backward dW, db", err(dW) + err(db), 1e-5);
  /* without a bias (b and db NULL) */
  cpu->i->linear_forward(cpu, rows, in, out, lx.c, W.c, NULL, ly.c);
  gpu->i->linear_forward(gpu, rows, in, out, lx.g, W.g, NULL, ly.g);
  report("linear forward, no bias", err(ly), 1e-5);
  cpu->i->linear_backward(cpu, rows, in, out, lx.c, W.c, ldy.c, ldx.c, dW.c, NULL);
  gpu->i->linear_backward(gpu, rows, in, out, lx.g, W.g, ldy.g, ldx.g, dW.g, NULL);
  report("linear backward, no bias", err(ldx) + err(dW), 1e-5);
  /* F̂ on [rows, out]: the first batch replaces what F̂ holds (keep 0), later ones mix (keep ρ) */
  pair F = make((size_t)out * out, 1);
  cpu->i->fhat_update(cpu, rows, out, ly.c, ldy.c, 0.0f, 0.5f, F.c);
  gpu->i->fhat_update(gpu, rows, out, ly.g, ldy.g, 0.0f, 0.5f, F.g);
  report("fhat update, keep 0", err(F), 1e-5);
  cpu->i->fhat_update(cpu, rows, out, lx.c, lx.c, 0.7f, 0.15f, F.c);
  gpu->i->fhat_update(gpu, rows, out, lx.g, lx.g, 0.7f, 0.15f, F.g);
  report("fhat update, keep 0.7", err(F), 1e-5);
  for (int kind = 0; kind < 3; kind++) {
    /* the gradients start non-zero: the loss overwrites them (loss.h) */
    pair q1 = make((size_t)rows * out, 1), q2 = make((size_t)rows * out, 1),
         z1 = make((size_t)rows * out, 1), z2 = make((size_t)rows * out, 1),
         d1 = make((size_t)rows * out, 1), d2 = make((size_t)rows * out, 1),
         e1 = make((size_t)rows * out, 1), e2 = make((size_t)rows * out, 1);
    double lc = cpu->i->loss(cpu, kind, rows, out, q1.c, q2.c, z1.c, z2.c, d1.c, d2.c, e1.c, e2.c);
    double lg = gpu->i->loss(gpu, kind, rows, out, q1.g, q2.g, z1.g, z2.g, d1.g, d2.g, e1.g, e2.g);
    char label[48];
    snprintf(label, sizeof label, "loss %d value", kind),
        report(label, fabs(lg - lc) / fabs(lc), 1e-9);
    snprintf(label, sizeof label, "loss %d gradients", kind);
    report(label, err(d1) + err(d2) + err(e1) + err(e2), 1e-6);
    /* stop-gradient, as the SSL step calls it: dz NULL */
    lc = cpu->i->loss(cpu, kind, rows, out, q2.c, q1.c, z2.c, z1.c, d1.c, d2.c, NULL, NULL);
    lg = gpu->i->loss(gpu, kind, rows, out, q2.g, q1.g, z2.g, z1.g, d1.g, d2.g, NULL, NULL);
    snprintf(label, sizeof label, "loss %d stop-gradient", kind),
        report(label, fabs(lg - lc) / fabs(lc) + err(d1) + err(d2), 1e-6);
    drop(&q1), drop(&q2), drop(&z1), drop(&z2), drop(&d1), drop(&d2), drop(&e1), drop(&e2);
  }
  drop(&lx), drop(&W), drop(&b), drop(&ly), drop(&ldy), drop(&ldx), drop(&dW), drop(&db), drop(&F);
}

/* The buffer functions on their own: alloc (zeroed), upload from host_alloc's page-locked
 * memory, copy, zero, download. */
static void test_buffers(void) {
  const size_t n = 4096;
  float *h = gpu->i->host_alloc(gpu, n * 4), *back = malloc(n * 4);
  float *a = gpu->i->alloc(gpu, n * 4), *b = gpu->i->alloc(gpu, n * 4);
  if (!ok(h && back && a && b ? NC_OK : NC_ENOMEM, "buffers: alloc")) return;
  gpu->i->download(gpu, back, a, n * 4);
  int same = 1;
  for (size_t i = 0; i < n; i++) same &= back[i] == 0.0f;
  report("alloc zeroed", same ? 0 : 1, 0);
  for (size_t i = 0; i < n; i++) h[i] = (float)i + 0.5f;
  gpu->i->upload(gpu, a, h, n * 4);
  gpu->i->copy(gpu, b, a, n * 4);
  gpu->i->zero(gpu, b + 100, 200 * 4);
  gpu->i->download(gpu, back, b, n * 4);
  same = 1;
  for (size_t i = 0; i < n; i++) same &= back[i] == (i >= 100 && i < 300 ? 0.0f : h[i]);
  report("upload, copy, zero, download", same ? 0 : 1, 0);
  gpu->i->free(gpu, a), gpu->i->free(gpu, b), gpu->i->host_free(gpu, h), free(back);
}

/* ---- DirectPred's eigendecomposition, on the host and with cuSOLVER ---- */

/* ‖V diag(w) Vᵀ − A‖/‖A‖ with V's COLUMNS the eigenvectors (row-major n×n). */
static double reconstruction_err(int n, const float *V, const float *w, const float *A) {
  double d = 0, r = 0;
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) {
      double acc = 0;
      for (int k = 0; k < n; k++) acc += (double)V[i * n + k] * w[k] * V[j * n + k];
      d += (acc - A[i * n + j]) * (acc - A[i * n + j]), r += (double)A[i * n + j] * A[i * n + j];
    }
  return sqrt(d / r);
}

static void test_eigh(void) {
  enum { N = 128, M = 256 };
  /* F̂-like: a PSD Gram matrix of M random rows of N features */
  float *X = malloc(sizeof(float) * N * M), *A = malloc(sizeof(float) * N * N);
  float *V = malloc(sizeof(float) * N * N), *wc = malloc(sizeof(float) * N),
        *wg = malloc(sizeof(float) * N);
  for (int i = 0; i < N * M; i++) X[i] = (float)nc_rng_normal(&rng);
  for (int i = 0; i < N; i++)
    for (int j = 0; j < N; j++) {
      double acc = 0;
      for (int k = 0; k < M; k++) acc += (double)X[k * N + i] * X[k * N + j];
      A[i * N + j] = (float)(acc / M);
    }
  memcpy(V, A, sizeof(float) * N * N);
  ok(cpu->i->eigh(cpu, N, V, wc), "eigh on cpu");
  report("eigh cpu reconstruction", reconstruction_err(N, V, wc, A), 1e-5);
  const nc_eigh_where saved = gpu->eigh;
  for (int where = 0; where < 2; where++) {
    gpu->eigh = where ? NC_EIGH_DEVICE : NC_EIGH_HOST;
    float *G = gpu->i->alloc(gpu, sizeof(float) * N * N);
    gpu->i->upload(gpu, G, A, sizeof(float) * N * N);
    ok(gpu->i->eigh(gpu, N, G, wg), where ? "eigh with cusolver" : "eigh on the host");
    gpu->i->download(gpu, V, G, sizeof(float) * N * N);
    double d = 0, r = 0;
    for (int j = 0; j < N; j++) d += fabs(wg[j] - wc[j]), r += fabs(wc[j]);
    char label[64];
    snprintf(label, sizeof label, "eigh %s eigenvalues", where ? "cusolver" : "host");
    report(label, d / r, 1e-5);
    snprintf(label, sizeof label, "eigh %s reconstruction", where ? "cusolver" : "host");
    report(label, reconstruction_err(N, V, wg, A), 1e-5);
    gpu->i->free(gpu, G);
  }
  gpu->eigh = saved;
  /* W_p = U diag(p) Uᵀ from the CPU's eigenvectors: SYRK against the CPU's double sums */
  pair U = make((size_t)N * N, 0), W = make((size_t)N * N, 0);
  memcpy(V, A, sizeof(float) * N * N);
  ok(cpu->i->eigh(cpu, N, V, wc), "eigh on cpu");
  memcpy(U.c, V, sizeof(float) * N * N);
  gpu->i->upload(gpu, U.g, V, sizeof(float) * N * N);
  for (int j = 0; j < N; j++) wc[j] = sqrtf(fmaxf(wc[j], 0) / wc[N - 1]) + 0.1f; /* DirectPred */
  cpu->i->psd_compose(cpu, N, U.c, wc, W.c);
  gpu->i->psd_compose(gpu, N, U.g, wc, W.g);
  report("psd_compose (W_p)", err(W), 1e-5);
  float *Wg = malloc(sizeof(float) * N * N);
  gpu->i->download(gpu, Wg, W.g, sizeof(float) * N * N);
  int symmetric = 1;
  for (int i = 0; i < N; i++)
    for (int j = 0; j < i; j++) symmetric &= Wg[i * N + j] == Wg[j * N + i];
  report("psd_compose symmetric", symmetric ? 0 : 1, 0);
  free(Wg), drop(&U), drop(&W);
  free(X), free(A), free(V), free(wc), free(wg);
}

/* ---- whole steps ---- */

enum { B = 8, HW = 32 };
static float x1[B * 3 * HW * HW], x2[B * 3 * HW * HW];

static nc_ssl_config small(void) {
  nc_ssl_config c = nc_ssl_default();
  c.backbone.width = 8;
  c.batch = B;
  c.predictor = nc_predictor_default(NC_PREDICTOR_DIRECTPRED);
  c.seed = 1;
  return c;
}

/* Normalised distance of the online backbone's weights (host reads: after a step or a load). */
static double weights_err(nc_ssl *a, nc_ssl *b) {
  float *wa, *wb, *g;
  size_t na, nb;
  nc_net_flat(nc_ssl_backbone(a), &wa, &g, &na);
  nc_net_flat(nc_ssl_backbone(b), &wb, &g, &nb);
  return na == nb ? nc_test_rel_dist(wa, wb, na) : 1e9;
}

/* ‖w_a − w_b‖/‖w_b − w0‖: how far apart two runs' backbones are, relative to how far b moved. */
static double update_err(nc_ssl *a, nc_ssl *b, const float *w0) {
  float *wa, *wb, *g;
  size_t na, nb;
  nc_net_flat(nc_ssl_backbone(a), &wa, &g, &na);
  nc_net_flat(nc_ssl_backbone(b), &wb, &g, &nb);
  if (na != nb) return 1e9;
  double d = 0, u = 0;
  for (size_t i = 0; i < na; i++)
    d += (wa[i] - wb[i]) * (double)(wa[i] - wb[i]), u += (wb[i] - w0[i]) * (double)(wb[i] - w0[i]);
  return u > 0 ? sqrt(d / u) : 1e9;
}

/* Tolerances along a trajectory. At batch 8 a step's gradient is sensitive to round-off (a ReLU
 * that flips, batch-norm sums that cancel), so two correct backends drift apart step by step.
 * Measured with the CPU backend against itself with its convolutions perturbed (about 1 ulp, or
 * their inputs rounded to TF32 / bf16), over 3 steps: losses ≤ 4e-4 (1 ulp), 1.4e-2 (TF32),
 * 2.4e-2 (bf16); the backbone's update ‖w_cuda − w_cpu‖/‖w_cpu − w0‖ ≤ 0.06, 0.28, 0.49. A
 * broken backward or update gives O(1) in both (the loss halves over the first step). */
static double step_tol(void) { return prec == NC_PRECISION_FP32 ? 1e-2 : 1e-1; }
static double update_tol(void) {
  return prec == NC_PRECISION_FP32 ? 0.25 : prec == NC_PRECISION_TF32 ? 0.6 : 0.9;
}

static void test_steps_and_resume(void) {
  nc_ssl_config c = small();
  nc_ssl *sg = NULL, *sc = NULL;
  if (!ok(nc_ssl_create_on(gpu, &sg, &c), "create on cuda") ||
      !ok(nc_ssl_create_on(cpu, &sc, &c), "create on cpu")) {
    nc_ssl_free(sg), nc_ssl_free(sc);
    return;
  }
  /* the host reads the managed weights once the create's queued copies are done */
  ok(nc_backend_sync(gpu), "sync after the create");
  report("initial backbone weights equal", weights_err(sg, sc), 0);
  float *w0, *g;
  size_t nw;
  nc_net_flat(nc_ssl_backbone(sc), &w0, &g, &nw);
  float *start = malloc(nw * sizeof(float));
  memcpy(start, w0, nw * sizeof(float));
  for (int k = 0; k < 3; k++) {
    double lg = 0, lc = 0;
    char label[64];
    snprintf(label, sizeof label, "BYOL+DirectPred step %d", k + 1);
    const int both =
        ok(nc_ssl_step(sg, B, x1, x2, &lg), label) & ok(nc_ssl_step(sc, B, x1, x2, &lc), label);
    snprintf(label, sizeof label, "BYOL+DirectPred step %d loss", k + 1);
    /* the first step's loss is the forward of identical networks; later ones follow trajectories */
    report(label, both ? fabs(lg - lc) / fabs(lc) : 1e9, k == 0 ? conv_tol() : step_tol());
  }
  report("  backbone update after 3 (vs the update)", update_err(sg, sc, start), update_tol());
  free(start);
  /* resume across devices: the CUDA run's checkpoint continues on the CPU, and the reverse. The
   * files go to a directory of their own (the sanitizer's run of this test may run alongside). */
  char dir[] = "/tmp/nc_cuda_cross_XXXXXX", pg[64], pc[64];
  if (!ok(mkdtemp(dir) ? NC_OK : NC_EIO, "mkdtemp")) {
    nc_ssl_free(sg), nc_ssl_free(sc);
    return;
  }
  snprintf(pg, sizeof pg, "%s/gpu.safetensors", dir);
  snprintf(pc, sizeof pc, "%s/cpu.safetensors", dir);
  nc_train_state st = {3, 0, {0}, c.seed}, st2 = {0}; /* st2.monitor_corr NULL: not restored */
  ok(nc_train_save(sg, pg, &st, NULL), "save cuda");
  ok(nc_train_save(sc, pc, &st, NULL), "save cpu");
  nc_ssl *rc = NULL, *rg = NULL;
  if (ok(nc_ssl_create_on(cpu, &rc, &c), "create on cpu") &&
      ok(nc_ssl_create_on(gpu, &rg, &c), "create on cuda")) {
    /* nc_train_load writes the managed buffers from the host: the copies the create queued (the
     * target from the online network) must be done first */
    ok(nc_backend_sync(gpu), "sync before the load");
    ok(nc_train_load(rc, pg, &st2), "load cuda -> cpu");
    ok(nc_train_load(rg, pc, &st2), "load cpu -> cuda");
    report("resume cuda -> cpu weights", weights_err(rc, sg), 0);
    report("resume cpu -> cuda weights", weights_err(rg, sc), 0);
    /* the same state on both sides: the next losses compare a forward again */
    double l1 = 0, l2 = 0;
    int both = ok(nc_ssl_step(rc, B, x1, x2, &l1), "resumed step on cpu") &
               ok(nc_ssl_step(sg, B, x1, x2, &l2), "step 4 on cuda");
    report("resume cuda -> cpu next loss", both ? fabs(l1 - l2) / fabs(l2) : 1e9, conv_tol());
    both = ok(nc_ssl_step(rg, B, x1, x2, &l1), "resumed step on cuda") &
           ok(nc_ssl_step(sc, B, x1, x2, &l2), "step 4 on cpu");
    report("resume cpu -> cuda next loss", both ? fabs(l1 - l2) / fabs(l2) : 1e9, conv_tol());
  }
  remove(pg), remove(pc), rmdir(dir);
  nc_ssl_free(sg), nc_ssl_free(sc), nc_ssl_free(rc), nc_ssl_free(rg);
}

/* 1 when this machine has an NVIDIA GPU for the driver (its device nodes). */
static int gpu_present(void) {
  return access("/dev/nvidiactl", F_OK) == 0 || access("/dev/nvidia0", F_OK) == 0;
}

int main(void) {
  const char *p = getenv("NCSSL_TEST_PRECISION");
  if (p && *p && nc_precision_parse(p, &prec)) {
    fprintf(stderr, "NCSSL_TEST_PRECISION: %s\n", nc_last_error());
    return 2;
  }
  /* 77 (skipped) only where there is nothing to test: a build without CUDA, or no GPU. A GPU
   * whose backend does not open (module, driver, cuDNN) is a failure, not a skip. */
  if (!nc_backend_cuda_built()) {
    printf("skipped: this build has no CUDA backend\n");
    return 77;
  }
  if (nc_backend_open(&gpu, "cuda:0", nc_precision_name(prec)) != NC_OK) {
    if (!gpu_present()) {
      printf("skipped: %s\n", nc_last_error());
      return 77;
    }
    fprintf(stderr, "a GPU is present but the CUDA backend did not open: %s\n", nc_last_error());
    return 1;
  }
  cpu = nc_backend_cpu();
  nc_rng_seed(&rng, 5);
  for (size_t i = 0; i < sizeof x1 / sizeof x1[0]; i++) {
    x1[i] = (float)nc_rng_normal(&rng);
    x2[i] = (float)nc_rng_normal(&rng);
  }
  printf("CUDA backend vs CPU, precision %s: normalised error per op\n", nc_precision_name(prec));
  test_buffers();
  /* NCHW → NCHW is what networks on the CUDA backend run; the CNHW views are the CPU's */
  for (int nchw = 1; nchw >= 0; nchw--) {
    const char *lay = nchw ? "nchw" : "cnhw";
    char name[48];
    snprintf(name, sizeof name, "3x3/1 %s", lay);
    test_conv(name, 8, 16, 3, 1, 1, nchw, nchw);
    snprintf(name, sizeof name, "3x3/1 stem nchw->%s", lay);
    test_conv(name, 3, 8, 3, 1, 1, 1, nchw);
    snprintf(name, sizeof name, "3x3/2 %s", lay);
    test_conv(name, 8, 16, 3, 2, 1, nchw, nchw);
    snprintf(name, sizeof name, "1x1/2 downsample %s", lay);
    test_conv(name, 8, 16, 1, 2, 0, nchw, nchw);
    snprintf(name, sizeof name, "7x7/2 stem nchw->%s", lay);
    test_conv(name, 3, 8, 7, 2, 3, 1, nchw);
  }
  for (int train = 0; train < 2; train++)
    for (int relu = 0; relu < 2; relu++)
      test_bn(train, relu, 6, 1, 1), test_bn(train, relu, 6, 0, 1), test_bn(train, relu, 1, 1, 1);
  /* the projector's: 1-d, no affine, with the ReLU */
  test_bn(1, 1, 1, 1, 0), test_bn(0, 1, 1, 1, 0), test_bn(1, 0, 6, 1, 0);
  test_elementwise();
  test_pool(1), test_pool(0);
  test_linear_loss();
  test_eigh();
  test_steps_and_resume();
  ok(nc_backend_sync(gpu), "final sync");
  nc_backend_close(gpu);
  return nc_test_done();
}

// ctest-labels: gpu
/* The CUDA backend against the CPU backend (the reference), on a machine with a GPU; without one
 * (or in a build without CUDA) the test exits 77 and ctest reports it SKIPPED.
 *
 * 1. Every operation, forward and backward, on the same inputs: the normalised error
 *    ‖cuda − cpu‖/‖cpu‖ per op must stay under the precision's tolerance (fp32: 1e-5 for
 *    elementwise ops, 1e-4 for reductions and products; tf32: 1e-2 for convolutions).
 * 2. Three BYOL + DirectPred steps of ResNet-18 width 8 on both backends: losses and weights.
 * 3. Resume across devices: a checkpoint written by the CUDA run continues on the CPU (and the
 *    reverse) with the same next step.
 * NCSSL_TEST_PRECISION=fp32|tf32 picks the precision (default fp32). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* A tensor on both backends with the same contents. */
typedef struct {
  float *c, *g;
  size_t n;
} pair;

static pair make(size_t n, double scale) {
  pair p = {cpu->i->alloc(cpu, n * 4 + 64), gpu->i->alloc(gpu, n * 4 + 64), n};
  for (size_t i = 0; i < n; i++) p.c[i] = (float)(scale * nc_rng_normal(&rng));
  gpu->i->upload(gpu, p.g, p.c, n * 4);
  return p;
}

static void drop(pair *p) {
  cpu->i->free(cpu, p->c);
  gpu->i->free(gpu, p->g);
}

/* ‖gpu − cpu‖/‖cpu‖ after the GPU's queued work. */
static double err(pair p) {
  float *h = malloc(p.n * 4);
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

static void report(const char *op, double e, double tol) {
  printf("%-28s %.3g (tol %.0e)\n", op, e, tol);
  nc_test_checks++;
  if (!(e <= tol)) {
    nc_test_failures++;
    fprintf(stderr, "%s: normalised error %.3g over %.0e\n", op, e, tol);
  }
}

static void test_conv(const char *name, int cin, int cout, int k, int stride, int pad,
                      int nchw_in) {
  const int n = 4, h = 16, w = 16;
  nc_conv_cfg cfg = {cin, cout, k, k, stride, pad};
  int oh, ow;
  nc_conv2d_out_hw(&cfg, h, w, &oh, &ow);
  nc_t4 xs = nchw_in ? nc_t4_nchw(n, cin, h, w) : nc_t4_cnhw(n, cin, h, w);
  nc_t4 ys = nc_t4_cnhw(n, cout, oh, ow);
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

static void test_bn(int train, int relu, int h) {
  const int n = 8, c = 6;
  nc_t4 s = h > 1 ? nc_t4_cnhw(n, c, h, h) : nc_t4_nchw(n, c, 1, 1);
  size_t m = nc_t4_numel(s);
  pair x = make(m, 2), y = make(m, 0), dy = make(m, 1), dx = make(m, 0.1), g = make(c, 1),
       b = make(c, 1), rm = make(c, 0.1), rv = make(c, 0), sv = make(2 * c, 0), dg = make(c, 0.1),
       db = make(c, 0.1);
  for (int k = 0; k < c; k++) rv.c[k] = 1.0f + 0.1f * k;
  gpu->i->upload(gpu, rv.g, rv.c, c * 4);
  cpu->i->bn_forward(cpu, s, x.c, y.c, g.c, b.c, rm.c, rv.c, train, sv.c, sv.c + c, relu);
  gpu->i->bn_forward(gpu, s, x.g, y.g, g.g, b.g, rm.g, rv.g, train, sv.g, sv.g + c, relu);
  cpu->i->bn_backward(cpu, s, x.c, relu ? y.c : NULL, dy.c, g.c, sv.c, sv.c + c, train, dx.c, dg.c,
                      db.c);
  gpu->i->bn_backward(gpu, s, x.g, relu ? y.g : NULL, dy.g, g.g, sv.g, sv.g + c, train, dx.g, dg.g,
                      db.g);
  char label[64];
  const char *what = h > 1 ? "2d" : "1d";
  snprintf(label, sizeof label, "bn %s %s%s forward", what, train ? "train" : "eval",
           relu ? "+relu" : "");
  report(label, err(y), 1e-4);
  report("  saved mean/invstd", err(sv), 1e-4);
  if (train) report("  running statistics", err(rm) + err(rv), 1e-4);
  snprintf(label, sizeof label, "bn %s %s%s backward", what, train ? "train" : "eval",
           relu ? "+relu" : "");
  report(label, err(dx), 1e-4);
  report("  dgamma, dbeta", err(dg) + err(db), 1e-4);
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
  a.c[17] = NAN, a.c[99] = INFINITY;
  gpu->i->upload(gpu, a.g, a.c, n * 4);
  nc_test_checks++;
  if (cpu->i->nonfinite(cpu, a.c, n) != 2 || gpu->i->nonfinite(gpu, a.g, n) != 2)
    nc_test_failures++, fprintf(stderr, "nonfinite: counts differ from 2\n");
  drop(&a), drop(&b), drop(&y), drop(&dy), drop(&dx), drop(&w), drop(&buf);
}

static void test_pool_linear_loss(void) {
  const int n = 4, c = 5, h = 12;
  nc_t4 xs = nc_t4_cnhw(n, c, h, h);
  int oh, ow;
  nc_maxpool_out_hw(3, 2, 1, h, h, &oh, &ow);
  nc_t4 ys = nc_t4_cnhw(n, c, oh, ow);
  pair x = make(nc_t4_numel(xs), 1), y = make(nc_t4_numel(ys), 0), dy = make(nc_t4_numel(ys), 1),
       dx = make(nc_t4_numel(xs), 0.1), am = make(nc_t4_numel(ys), 0);
  cpu->i->maxpool_forward(cpu, 3, 2, 1, xs, x.c, ys, y.c, (int32_t *)am.c);
  gpu->i->maxpool_forward(gpu, 3, 2, 1, xs, x.g, ys, y.g, (int32_t *)am.g);
  report("maxpool forward", err(y), 1e-7);
  cpu->i->maxpool_backward(cpu, 3, 2, 1, xs, dx.c, ys, dy.c, (int32_t *)am.c);
  gpu->i->maxpool_backward(gpu, 3, 2, 1, xs, dx.g, ys, dy.g, (int32_t *)am.g);
  report("maxpool backward", err(dx), 1e-6);
  pair p = make((size_t)n * c, 0), dp = make((size_t)n * c, 1);
  cpu->i->avgpool_forward(cpu, xs, x.c, p.c), gpu->i->avgpool_forward(gpu, xs, x.g, p.g);
  report("avgpool forward", err(p), 1e-6);
  cpu->i->avgpool_backward(cpu, xs, dp.c, dx.c), gpu->i->avgpool_backward(gpu, xs, dp.g, dx.g);
  report("avgpool backward", err(dx), 1e-6);
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
  /* F̂ and the losses on [rows, out] */
  pair F = make((size_t)out * out, 0);
  cpu->i->fhat_update(cpu, rows, out, ly.c, ldy.c, 0.0f, 0.5f, F.c);
  gpu->i->fhat_update(gpu, rows, out, ly.g, ldy.g, 0.0f, 0.5f, F.g);
  report("fhat update", err(F), 1e-5);
  for (int kind = 0; kind < 3; kind++) {
    pair q1 = make((size_t)rows * out, 1), q2 = make((size_t)rows * out, 1),
         z1 = make((size_t)rows * out, 1), z2 = make((size_t)rows * out, 1),
         d1 = make((size_t)rows * out, 0), d2 = make((size_t)rows * out, 0),
         e1 = make((size_t)rows * out, 0), e2 = make((size_t)rows * out, 0);
    double lc = cpu->i->loss(cpu, kind, rows, out, q1.c, q2.c, z1.c, z2.c, d1.c, d2.c, e1.c, e2.c);
    double lg = gpu->i->loss(gpu, kind, rows, out, q1.g, q2.g, z1.g, z2.g, d1.g, d2.g, e1.g, e2.g);
    char label[48];
    snprintf(label, sizeof label, "loss %d value", kind),
        report(label, fabs(lg - lc) / fabs(lc), 1e-9);
    snprintf(label, sizeof label, "loss %d gradients", kind);
    report(label, err(d1) + err(d2) + err(e1) + err(e2), 1e-6);
    drop(&q1), drop(&q2), drop(&z1), drop(&z2), drop(&d1), drop(&d2), drop(&e1), drop(&e2);
  }
  drop(&x), drop(&y), drop(&dy), drop(&dx), drop(&am), drop(&p), drop(&dp), drop(&lx), drop(&W);
  drop(&b), drop(&ly), drop(&ldy), drop(&ldx), drop(&dW), drop(&db), drop(&F);
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
  CHECK(cpu->i->eigh(cpu, N, V, wc) == NC_OK);
  report("eigh cpu reconstruction", reconstruction_err(N, V, wc, A), 1e-5);
  const nc_eigh_where saved = gpu->eigh;
  for (int where = 0; where < 2; where++) {
    gpu->eigh = where ? NC_EIGH_DEVICE : NC_EIGH_HOST;
    float *G = gpu->i->alloc(gpu, sizeof(float) * N * N);
    gpu->i->upload(gpu, G, A, sizeof(float) * N * N);
    CHECK(gpu->i->eigh(gpu, N, G, wg) == NC_OK);
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
  CHECK(cpu->i->eigh(cpu, N, V, wc) == NC_OK);
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

/* Normalised distance of the online backbone's weights. */
static double weights_err(nc_ssl *a, nc_ssl *b) {
  float *wa, *wb, *g;
  size_t na, nb;
  nc_net_flat(nc_ssl_backbone(a), &wa, &g, &na);
  nc_net_flat(nc_ssl_backbone(b), &wb, &g, &nb);
  return na == nb ? nc_test_rel_dist(wa, wb, na) : 1e9;
}

static void test_steps_and_resume(void) {
  nc_ssl_config c = small();
  nc_ssl *sg = NULL, *sc = NULL;
  CHECK(nc_ssl_create_on(gpu, &sg, &c) == NC_OK && nc_ssl_create_on(cpu, &sc, &c) == NC_OK);
  if (!sg || !sc) return;
  for (int k = 0; k < 3; k++) {
    double lg = 0, lc = 0;
    CHECK(nc_ssl_step(sg, B, x1, x2, &lg) == NC_OK && nc_ssl_step(sc, B, x1, x2, &lc) == NC_OK);
    char label[48];
    snprintf(label, sizeof label, "BYOL+DirectPred step %d loss", k + 1);
    report(label, fabs(lg - lc) / fabs(lc), conv_tol());
  }
  report("  backbone weights after 3", weights_err(sg, sc), conv_tol());
  /* resume across devices: the CUDA run's checkpoint continues on the CPU, and the reverse */
  const char *pg = "cuda_cross_gpu.safetensors", *pc = "cuda_cross_cpu.safetensors";
  nc_train_state st = {3, 0, {0}, c.seed}, st2;
  CHECK(nc_train_save(sg, pg, &st, NULL) == NC_OK && nc_train_save(sc, pc, &st, NULL) == NC_OK);
  nc_ssl *rc = NULL, *rg = NULL;
  CHECK(nc_ssl_create_on(cpu, &rc, &c) == NC_OK && nc_ssl_create_on(gpu, &rg, &c) == NC_OK);
  CHECK(nc_train_load(rc, pg, &st2) == NC_OK && nc_train_load(rg, pc, &st2) == NC_OK);
  report("resume cuda -> cpu weights", weights_err(rc, sg), 0);
  report("resume cpu -> cuda weights", weights_err(rg, sc), 0);
  double l1 = 0, l2 = 0;
  CHECK(nc_ssl_step(rc, B, x1, x2, &l1) == NC_OK && nc_ssl_step(sg, B, x1, x2, &l2) == NC_OK);
  report("resume cuda -> cpu next loss", fabs(l1 - l2) / fabs(l2), conv_tol());
  remove(pg), remove(pc);
  nc_ssl_free(sg), nc_ssl_free(sc), nc_ssl_free(rc), nc_ssl_free(rg);
}

int main(void) {
  const char *p = getenv("NCSSL_TEST_PRECISION");
  if (p && nc_precision_parse(p, &prec)) return 2;
  if (nc_backend_open(&gpu, "cuda:0", nc_precision_name(prec)) != NC_OK) {
    printf("skipped: %s\n", nc_last_error());
    return 77;
  }
  cpu = nc_backend_cpu();
  nc_rng_seed(&rng, 5);
  for (size_t i = 0; i < sizeof x1 / sizeof x1[0]; i++) {
    x1[i] = (float)nc_rng_normal(&rng);
    x2[i] = (float)nc_rng_normal(&rng);
  }
  printf("CUDA backend vs CPU, precision %s: normalised error per op\n", nc_precision_name(prec));
  test_conv("3x3/1 cnhw", 8, 16, 3, 1, 1, 0);
  test_conv("3x3/1 nchw stem", 3, 8, 3, 1, 1, 1);
  test_conv("3x3/2", 8, 16, 3, 2, 1, 0);
  test_conv("1x1/2 downsample", 8, 16, 1, 2, 0, 0);
  test_conv("7x7/2 imagenet stem", 3, 8, 7, 2, 3, 1);
  for (int train = 0; train < 2; train++)
    for (int relu = 0; relu < 2; relu++) test_bn(train, relu, 6), test_bn(train, relu, 1);
  test_elementwise();
  test_pool_linear_loss();
  test_eigh();
  test_steps_and_resume();
  CHECK(nc_backend_sync(gpu) == NC_OK);
  nc_backend_close(gpu);
  return nc_test_done();
}

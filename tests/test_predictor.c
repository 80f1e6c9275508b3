// ctest-labels: unit
/* Predictors: DirectPred's W_p from a known F̂ against the closed form, the official order of
 * operations (F̂ before the forward, forward with the previous W_p, freq), directset α = 1/2 =
 * DirectPred, DirectCopy without eigendecomposition = the eigen route, the offset variant,
 * symmetric projection, identity, and input gradients against finite differences. */
#include <string.h>

#include "ncssl/linalg.h"
#include "ncssl/predictor.h"
#include "ncssl/status.h"
#include "testing.h"

enum { D = 6 };

/* A random orthogonal Q (columns) from the eigenvectors of a random symmetric matrix. */
static void random_orthogonal(nc_rng *r, double *Q) {
  double w[D];
  for (int i = 0; i < D; i++)
    for (int j = 0; j <= i; j++) Q[i * D + j] = Q[j * D + i] = nc_rng_normal(r);
  CHECK(nc_eigh_d(D, Q, w) == NC_OK);
}

/* Rows r_j = sqrt(D·s_j)·q_j, so that E_B[f fᵀ] over two identical views is Q diag(s) Qᵀ. */
static void rows_for(const double *Q, const double *s, float *R) {
  for (int j = 0; j < D; j++)
    for (int k = 0; k < D; k++) R[j * D + k] = (float)(sqrt(D * s[j]) * Q[k * D + j]);
}

/* Q diag(p) Qᵀ. */
static void compose(const double *Q, const double *p, double *W) {
  for (int i = 0; i < D; i++)
    for (int j = 0; j < D; j++) {
      double a = 0;
      for (int k = 0; k < D; k++) a += Q[i * D + k] * p[k] * Q[j * D + k];
      W[i * D + j] = a;
    }
}

static nc_predictor *make(nc_predictor_type t, double alpha, int freq, nc_rng *r) {
  nc_predictor_config c = nc_predictor_default(t);
  c.dim = D;
  c.hidden = 8;
  c.alpha = alpha;
  c.freq = freq;
  nc_predictor *p = NULL;
  CHECK(nc_predictor_create(&p, &c, D) == NC_OK);
  if (p) nc_predictor_init(p, r);
  return p;
}

static double max_diff(const float *a, const double *b, int n) {
  double m = 0;
  for (int i = 0; i < n; i++) m = fmax(m, fabs(a[i] - b[i]));
  return m;
}

static void test_closed_form(void) {
  nc_rng r;
  nc_rng_seed(&r, 1);
  double Q[D * D], s[D] = {4, 2, 1, 0.5, 0.1, 0}, p[D], W[D * D], F[D * D];
  random_orthogonal(&r, Q);
  float R[D * D];
  rows_for(Q, s, R);
  nc_predictor *dp = make(NC_PREDICTOR_DIRECTPRED, 0.5, 1, &r);
  CHECK(nc_predictor_corr(dp) == NULL);
  nc_predictor_observe(dp, D, R, R);
  compose(Q, s, F);
  CHECK(max_diff(nc_predictor_corr(dp), F, D * D) < 1e-5);
  CHECK(nc_predictor_after_step(dp) == NC_OK);
  /* p_j = sqrt(s_j/s_max) + ε; the zero eigenvalue gets ε. F̂ is float32, so its zero eigenvalue
   * comes out as ±1e-7·s_max and the square root lifts that to ~3e-4 (how far depends on the
   * ISA's rounding): the bound is 1e-3, still far below ε = 0.1 or any other mistake. */
  for (int j = 0; j < D; j++) p[j] = sqrt(s[j] / 4) + 0.1;
  compose(Q, p, W);
  CHECK(max_diff(nc_predictor_weight(dp), W, D * D) < 1e-3);
  CHECK(nc_predictor_set_seconds(dp) > 0);

  /* directset α = 1/2 is DirectPred, bit for bit. */
  nc_predictor *ds = make(NC_PREDICTOR_DIRECTSET, 0.5, 1, &r);
  nc_predictor_observe(ds, D, R, R);
  CHECK(nc_predictor_after_step(ds) == NC_OK);
  CHECK(memcmp(nc_predictor_weight(ds), nc_predictor_weight(dp), sizeof(float) * D * D) == 0);

  /* directset α = 2: p_j = (s_j/s_max)² + ε. */
  nc_predictor *d2 = make(NC_PREDICTOR_DIRECTSET, 2.0, 1, &r);
  nc_predictor_observe(d2, D, R, R);
  CHECK(nc_predictor_after_step(d2) == NC_OK);
  for (int j = 0; j < D; j++) p[j] = pow(s[j] / 4, 2) + 0.1;
  compose(Q, p, W);
  CHECK(max_diff(nc_predictor_weight(d2), W, D * D) < 1e-5);

  /* DirectCopy (α = 1) by power iteration against the eigen route Q diag(s/s_max + ε) Qᵀ. */
  nc_predictor *dc = make(NC_PREDICTOR_DIRECTSET, 1.0, 1, &r);
  nc_predictor_observe(dc, D, R, R);
  CHECK(nc_predictor_after_step(dc) == NC_OK);
  for (int j = 0; j < D; j++) p[j] = s[j] / 4 + 0.1;
  compose(Q, p, W);
  CHECK(max_diff(nc_predictor_weight(dc), W, D * D) < 1e-5);
  double v[D], tmp[D];
  for (int i = 0; i < D; i++) v[i] = 1;
  CHECK_NEAR(nc_psd_top_eigenvalue(D, nc_predictor_corr(dc), v, tmp), 4.0, 1e-5);

  /* Offset variant (Table 7): p_j = sqrt(max(s_j/s_max − c, 1e-4)), no ε (the official floor). */
  nc_predictor_config c = nc_predictor_default(NC_PREDICTOR_DIRECTPRED);
  c.dim = D;
  c.use_offset = 1;
  c.offset = 0.2;
  nc_predictor *off = NULL;
  CHECK(nc_predictor_create(&off, &c, D) == NC_OK);
  nc_predictor_observe(off, D, R, R);
  CHECK(nc_predictor_after_step(off) == NC_OK);
  for (int j = 0; j < D; j++) p[j] = sqrt(fmax(s[j] / 4 - 0.2, 1e-4));
  compose(Q, p, W);
  CHECK(max_diff(nc_predictor_weight(off), W, D * D) < 1e-5);
  nc_predictor_free(dp);
  nc_predictor_free(ds);
  nc_predictor_free(d2);
  nc_predictor_free(dc);
  nc_predictor_free(off);
}

/* q = f Wᵀ for the linear kinds (no bias). */
static double forward_error(nc_predictor *p, const float *f, const float *W) {
  float q[D * D];
  CHECK(nc_predictor_forward(p, 0, D, f, q) == NC_OK);
  double m = 0;
  for (int i = 0; i < D; i++)
    for (int o = 0; o < D; o++) {
      double want = 0;
      for (int k = 0; k < D; k++) want += (double)f[i * D + k] * W[o * D + k];
      m = fmax(m, fabs(q[i * D + o] - want));
    }
  return m;
}

static void test_order(void) {
  nc_rng r;
  nc_rng_seed(&r, 2);
  double Qa[D * D], Qb[D * D], sa[D] = {3, 1, 1, .5, .2, .1}, sb[D] = {1, 1, 2, 2, .3, .1};
  random_orthogonal(&r, Qa);
  random_orthogonal(&r, Qb);
  float A[D * D], Bm[D * D], W0[D * D], W1[D * D];
  rows_for(Qa, sa, A);
  rows_for(Qb, sb, Bm);
  nc_predictor *p = make(NC_PREDICTOR_DIRECTPRED, 0.5, 2, &r);
  float *W = nc_predictor_weight(p);
  memcpy(W0, W, sizeof W0);
  /* Step 0: F̂ = batch A (first call), the forward still uses the initial W_p. */
  nc_predictor_observe(p, D, A, A);
  CHECK(forward_error(p, A, W0) < 1e-5);
  CHECK(nc_predictor_after_step(p) == NC_OK); /* niter 0: set from F̂ = F_A */
  double Fa[D * D], Fb[D * D], Fm[D * D], pa[D], Wa[D * D];
  compose(Qa, sa, Fa);
  compose(Qb, sb, Fb);
  for (int j = 0; j < D; j++) pa[j] = sqrt(sa[j] / 3) + 0.1;
  compose(Qa, pa, Wa);
  CHECK(max_diff(W, Wa, D * D) < 1e-5);
  memcpy(W1, W, sizeof W1);
  /* Step 1: F̂ = 0.3 F_A + 0.7 F_B before the forward; the forward uses W1 (set from F_A). */
  nc_predictor_observe(p, D, Bm, Bm);
  for (int i = 0; i < D * D; i++) Fm[i] = 0.3 * Fa[i] + 0.7 * Fb[i];
  CHECK(max_diff(nc_predictor_corr(p), Fm, D * D) < 1e-5);
  CHECK(forward_error(p, Bm, W1) < 1e-5);
  /* An "SGD step" between sets survives at niter 1 (freq 2) ... */
  W[1] += 0.25f;
  CHECK(nc_predictor_after_step(p) == NC_OK);
  CHECK(W[1] == W1[1] + 0.25f);
  /* ... and is overwritten at niter 2, from F̂ including the third batch. */
  nc_predictor_observe(p, D, A, A);
  CHECK(nc_predictor_after_step(p) == NC_OK);
  double F3[D * D], U[D * D], s3[D], p3[D], W3[D * D];
  for (int i = 0; i < D * D; i++) U[i] = F3[i] = 0.3 * Fm[i] + 0.7 * Fa[i];
  CHECK(nc_eigh_d(D, U, s3) == NC_OK);
  for (int j = 0; j < D; j++) p3[j] = sqrt(fmax(s3[j], 0) / s3[D - 1]) + 0.1;
  compose(U, p3, W3);
  CHECK(max_diff(W, W3, D * D) < 1e-5);
  CHECK(nc_predictor_niter(p) == 3);
  nc_predictor_free(p);
}

/* Σ q·c for a fixed c, and its input gradient against central differences. */
static void test_gradient(nc_predictor_type t, int symmetric) {
  nc_rng r;
  nc_rng_seed(&r, 3 + t);
  nc_predictor_config c = nc_predictor_default(t);
  c.dim = D;
  c.hidden = 8;
  c.symmetric = symmetric;
  c.bias = 1;
  nc_predictor *p = NULL;
  CHECK(nc_predictor_create(&p, &c, D) == NC_OK);
  nc_predictor_init(p, &r);
  float f[D * D], q[D * D], cw[D * D], df[D * D];
  for (int i = 0; i < D * D; i++) {
    f[i] = (float)nc_rng_normal(&r);
    cw[i] = (float)nc_rng_normal(&r);
  }
  CHECK(nc_predictor_forward(p, 1, D, f, q) == NC_OK);
  CHECK(nc_predictor_backward(p, 1, cw, df) == NC_OK);
  double worst = 0;
  for (int i = 0; i < D * D; i++) {
    float keep = f[i], up = keep + 1e-3f, dn = keep - 1e-3f;
    double lu = 0, ld = 0;
    f[i] = up;
    nc_predictor_forward(p, 0, D, f, q);
    for (int k = 0; k < D * D; k++) lu += (double)q[k] * cw[k];
    f[i] = dn;
    nc_predictor_forward(p, 0, D, f, q);
    for (int k = 0; k < D * D; k++) ld += (double)q[k] * cw[k];
    f[i] = keep;
    double fd = (lu - ld) / ((double)up - dn);
    worst = fmax(worst, fabs(fd - df[i]) / fmax(1, fabs(fd)));
  }
  CHECK(worst < 2e-3);
  if (t == NC_PREDICTOR_IDENTITY) CHECK(memcmp(df, cw, sizeof df) == 0);
  if (symmetric) {
    float *W = nc_predictor_weight(p), before[D * D];
    memcpy(before, W, sizeof before);
    CHECK(nc_predictor_after_step(p) == NC_OK);
    for (int i = 0; i < D; i++)
      for (int j = 0; j < D; j++) {
        CHECK(W[i * D + j] == W[j * D + i]);
        CHECK_NEAR(W[i * D + j], 0.5 * (before[i * D + j] + before[j * D + i]), 1e-7);
      }
  }
  nc_predictor_free(p);
}

int main(void) {
  test_closed_form();
  test_order();
  test_gradient(NC_PREDICTOR_MLP, 0);
  test_gradient(NC_PREDICTOR_LINEAR, 1);
  test_gradient(NC_PREDICTOR_IDENTITY, 0);
  nc_predictor_config c = nc_predictor_default(NC_PREDICTOR_MLP);
  CHECK(nc_predictor_parse("directcopy", &c) == NC_OK && c.type == NC_PREDICTOR_DIRECTSET &&
        c.alpha == 1.0);
  CHECK(nc_predictor_parse("bogus", &c) == NC_EUSAGE);
  return nc_test_done();
}

// ctest-labels: unit
/* The predictor options the paper's tables need: Table 7's offset for both signs with the
 * official 1e-4 floor, Table 1's optimal predictor against its defining equation
 * W_p(F̂ + λ s_max I) = ½(C + Cᵀ) (and the EMA of C, and freq), the official symmetric form of the
 * two-layer predictor, and the refusal of symmetric where it has no meaning. */
#include <string.h>

#include "ncssl/linalg.h"
#include "ncssl/predictor.h"
#include "ncssl/status.h"
#include "testing.h"

enum { D = 6, N = 10 };

static void randn(nc_rng *r, float *x, int n, double scale) {
  for (int i = 0; i < n; i++) x[i] = (float)(scale * nc_rng_normal(r));
}

/* A += w/(2N)·(aᵀb + cᵀe) for [N, D] rows, in double. */
static void add_pair(double *A, double w, const float *a, const float *b, const float *c,
                     const float *e) {
  for (int i = 0; i < D; i++)
    for (int j = 0; j < D; j++) {
      double s = 0;
      for (int k = 0; k < N; k++)
        s += (double)a[k * D + i] * b[k * D + j] + c[k * D + i] * e[k * D + j];
      A[i * D + j] += w * s / (2.0 * N);
    }
}

/* max |W (F + λ s_max I) − ½(C + Cᵀ)| relative to max |C|. */
static double optimal_residual(const float *W, const double *F, const double *C, double ridge) {
  double U[D * D], s[D];
  memcpy(U, F, sizeof U);
  CHECK(nc_eigh_d(D, U, s) == NC_OK);
  double lam = ridge * s[D - 1], worst = 0, cmax = 0;
  for (int i = 0; i < D; i++)
    for (int j = 0; j < D; j++) {
      double acc = 0;
      for (int k = 0; k < D; k++) acc += (double)W[i * D + k] * (F[k * D + j] + (k == j ? lam : 0));
      double m = 0.5 * (C[i * D + j] + C[j * D + i]);
      worst = fmax(worst, fabs(acc - m));
      cmax = fmax(cmax, fabs(C[i * D + j]));
    }
  return worst / cmax;
}

static void test_optimal(void) {
  nc_rng r;
  nc_rng_seed(&r, 21);
  nc_predictor_config c = nc_predictor_default(NC_PREDICTOR_OPTIMAL);
  c.dim = D;
  c.ridge = 0.05;
  c.freq = 2;
  nc_predictor *p = NULL;
  CHECK(nc_predictor_create(&p, &c, N) == NC_OK);
  if (!p) return;
  nc_predictor_init(p, &r);
  CHECK(nc_predictor_cross(p) != NULL);
  float f1[N * D], f2[N * D], z1[N * D], z2[N * D];
  double F[D * D] = {0}, C[D * D] = {0};
  /* Step 0: the first batch replaces both estimates; W_p is set (niter 0). */
  randn(&r, f1, N * D, 1.0), randn(&r, f2, N * D, 1.0);
  randn(&r, z1, N * D, 2.0), randn(&r, z2, N * D, 2.0);
  nc_predictor_observe(p, N, f1, f2);
  nc_predictor_observe_target(p, N, f1, f2, z1, z2);
  add_pair(F, 1.0, f1, f1, f2, f2);
  add_pair(C, 1.0, z2, f1, z1, f2);
  CHECK(nc_predictor_after_step(p) == NC_OK);
  double res = optimal_residual(nc_predictor_weight(p), F, C, c.ridge);
  fprintf(stderr, "optimal: residual after the first set %.2e\n", res);
  CHECK(res < 1e-4);
  /* W_p is not symmetric in general (C's symmetric part times F̂'s inverse). */
  const float *W = nc_predictor_weight(p);
  CHECK(fabs(W[1] - W[D]) > 1e-4);
  /* Step 1 (niter 1, freq 2): estimates move, W_p keeps its SGD value. */
  float keep[D * D];
  memcpy(keep, W, sizeof keep);
  randn(&r, f1, N * D, 1.0), randn(&r, f2, N * D, 1.0);
  randn(&r, z1, N * D, 2.0), randn(&r, z2, N * D, 2.0);
  nc_predictor_observe(p, N, f1, f2);
  nc_predictor_observe_target(p, N, f1, f2, z1, z2);
  for (int i = 0; i < D * D; i++) F[i] *= c.rho, C[i] *= c.rho;
  add_pair(F, 1 - c.rho, f1, f1, f2, f2);
  add_pair(C, 1 - c.rho, z2, f1, z1, f2);
  CHECK(nc_predictor_after_step(p) == NC_OK);
  CHECK(memcmp(keep, W, sizeof keep) == 0);
  /* Step 2: set again from the moving averages. */
  randn(&r, f1, N * D, 1.0), randn(&r, f2, N * D, 1.0);
  randn(&r, z1, N * D, 2.0), randn(&r, z2, N * D, 2.0);
  nc_predictor_observe(p, N, f1, f2);
  nc_predictor_observe_target(p, N, f1, f2, z1, z2);
  for (int i = 0; i < D * D; i++) F[i] *= c.rho, C[i] *= c.rho;
  add_pair(F, 1 - c.rho, f1, f1, f2, f2);
  add_pair(C, 1 - c.rho, z2, f1, z1, f2);
  CHECK(nc_predictor_after_step(p) == NC_OK);
  res = optimal_residual(W, F, C, c.ridge);
  fprintf(stderr, "optimal: residual after the EMA set %.2e\n", res);
  CHECK(res < 1e-4);
  nc_predictor_free(p);
  /* observe_target is a no-op for the others. */
  c = nc_predictor_default(NC_PREDICTOR_DIRECTPRED);
  c.dim = D;
  CHECK(nc_predictor_create(&p, &c, N) == NC_OK);
  CHECK(nc_predictor_cross(p) == NULL);
  nc_predictor_observe_target(p, N, f1, f2, z1, z2);
  nc_predictor_free(p);
  CHECK(nc_predictor_parse("optimal", &c) == NC_OK && c.type == NC_PREDICTOR_OPTIMAL);
}

/* Table 7: p_j = sqrt(max(s_j/s_max − c, 1e-4)) for c > 0 and c < 0 (the working values). */
static void test_offset(void) {
  nc_rng r;
  nc_rng_seed(&r, 22);
  float f[N * D];
  randn(&r, f, N * D, 1.0);
  for (int k = 0; k < N; k++) f[k * D + D - 1] = 0; /* one zero eigenvalue: the floor shows */
  double F[D * D] = {0};
  add_pair(F, 1.0, f, f, f, f);
  double U[D * D], s[D];
  memcpy(U, F, sizeof U);
  CHECK(nc_eigh_d(D, U, s) == NC_OK);
  const double offsets[3] = {0.3, -0.05, -0.1};
  for (int t = 0; t < 3; t++) {
    nc_predictor_config c = nc_predictor_default(NC_PREDICTOR_DIRECTPRED);
    c.dim = D;
    c.use_offset = 1;
    c.offset = offsets[t];
    nc_predictor *p = NULL;
    CHECK(nc_predictor_create(&p, &c, N) == NC_OK);
    if (!p) return;
    nc_predictor_observe(p, N, f, f);
    CHECK(nc_predictor_after_step(p) == NC_OK);
    double worst = 0;
    const float *W = nc_predictor_weight(p);
    for (int i = 0; i < D; i++)
      for (int j = 0; j < D; j++) {
        double w = 0;
        for (int k = 0; k < D; k++)
          w +=
              U[i * D + k] * sqrt(fmax(fmax(s[k], 0) / s[D - 1] - offsets[t], 1e-4)) * U[j * D + k];
        worst = fmax(worst, fabs(W[i * D + j] - w));
      }
    fprintf(stderr, "offset %g: worst %.2e\n", offsets[t], worst);
    CHECK(worst < 1e-4);
    nc_predictor_free(p);
  }
}

/* The two-layer predictor's symmetric form: w = (w0 + w1ᵀ)/2, w0 = w, w1 = wᵀ after each step. */
static void test_mlp_symmetric(void) {
  nc_rng r;
  nc_rng_seed(&r, 23);
  nc_predictor_config c = nc_predictor_default(NC_PREDICTOR_MLP);
  c.dim = D;
  c.hidden = 8;
  c.symmetric = 1;
  nc_predictor *p = NULL;
  CHECK(nc_predictor_create(&p, &c, N) == NC_OK);
  if (!p) return;
  nc_predictor_init(p, &r);
  nc_param_list *pl = nc_predictor_params(p);
  float *w0 = nc_params_find(pl, "predictor.net.0.weight")->w;
  float *w1 = nc_params_find(pl, "predictor.net.3.weight")->w;
  float b0[8 * D], b1[D * 8];
  memcpy(b0, w0, sizeof b0);
  memcpy(b1, w1, sizeof b1);
  CHECK(nc_predictor_after_step(p) == NC_OK);
  int asym = 0;
  for (int i = 0; i < 8; i++)
    for (int j = 0; j < D; j++) {
      CHECK(w0[i * D + j] == w1[j * 8 + i]);
      CHECK_NEAR(w0[i * D + j], 0.5 * (b0[i * D + j] + b1[j * 8 + i]), 1e-7);
      asym += b0[i * D + j] != b1[j * 8 + i];
    }
  CHECK(asym > 0); /* the initial weights were not already symmetric */
  nc_predictor_free(p);
  /* symmetric has no meaning for DirectPred (already symmetric) or identity: refused. */
  c = nc_predictor_default(NC_PREDICTOR_DIRECTPRED);
  c.dim = D;
  c.symmetric = 1;
  CHECK(nc_predictor_create(&p, &c, N) == NC_EINVAL && p == NULL);
}

int main(void) {
  test_optimal();
  test_offset();
  test_mlp_symmetric();
  return nc_test_done();
}

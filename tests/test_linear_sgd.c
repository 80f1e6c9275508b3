// ctest-labels: gradcheck
/* The linear model's minibatch mode: analytic gradients against finite differences of the
 * minibatch loss, the sampler's moments against Σ^s and Σ^d, the expected step against the flow,
 * DirectPred/DirectCopy predictors, and determinism by seed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ncssl/linalg.h"
#include "ncssl/linear.h"
#include "ncssl/status.h"
#include "testing.h"

static void base_params(nc_linear_params *p) {
  nc_linear_defaults(p);
  p->mode = NC_LIN_SGD;
  p->n1 = 4;
  p->n2 = 3;
  p->batch = 16;
  p->dt = 0.05;
}

/* Central differences of the minibatch loss in every entry of W and W_p. */
static void gradient_check(nc_linear_params *p, const char *what) {
  nc_linear m;
  CHECK(nc_linear_init(&m, p) == NC_OK);
  int n1 = m.n1, n2 = m.n2, B = 16;
  double X1[16 * 4], X2[16 * 4], gW[12], gWp[9], W[12], Wp[9], Wa[12];
  nc_linear_sample_views(&m, B, X1, X2);
  memcpy(W, m.W, sizeof W);
  memcpy(Wp, m.Wp, sizeof Wp);
  for (int i = 0; i < 12; i++) Wa[i] = m.Wa[i] + 0.3 * sin(i); /* a target unlike W */
  nc_linear_batch_loss(&m, W, Wp, Wa, B, X1, X2, gW, gWp);
  const double h = 1e-6;
  double worst = 0;
  for (int i = 0; i < n2 * n1; i++) {
    double keep = W[i];
    W[i] = keep + h;
    double lp = nc_linear_batch_loss(&m, W, Wp, Wa, B, X1, X2, NULL, NULL);
    W[i] = keep - h;
    double lm = nc_linear_batch_loss(&m, W, Wp, Wa, B, X1, X2, NULL, NULL);
    W[i] = keep;
    worst = fmax(worst, fabs((lp - lm) / (2 * h) - gW[i]) / (1 + fabs(gW[i])));
  }
  for (int i = 0; i < n2 * n2; i++) {
    double keep = Wp[i];
    Wp[i] = keep + h;
    double lp = nc_linear_batch_loss(&m, W, Wp, Wa, B, X1, X2, NULL, NULL);
    Wp[i] = keep - h;
    double lm = nc_linear_batch_loss(&m, W, Wp, Wa, B, X1, X2, NULL, NULL);
    Wp[i] = keep;
    worst = fmax(worst, fabs((lp - lm) / (2 * h) - gWp[i]) / (1 + fabs(gWp[i])));
  }
  if (!(worst < 1e-7)) fprintf(stderr, "gradient check %s: worst relative error %g\n", what, worst);
  CHECK(worst < 1e-7);
  CHECK(nc_frob_d(1, 12, gW) > 1e-3);
  nc_linear_free(&m);
}

static void gradients(void) {
  nc_linear_params p;
  base_params(&p);
  gradient_check(&p, "stop-gradient, Eqn 1");
  p.symmetric_loss = 1;
  gradient_check(&p, "stop-gradient, symmetrized loss");
  p.symmetric_loss = 0;
  p.stopgrad = 0;
  p.target = NC_TARGET_ONLINE;
  gradient_check(&p, "no stop-gradient");
  p.data = NC_DATA_MULTIPLICATIVE;
  p.preserve = 2;
  p.symmetric_loss = 1;
  gradient_check(&p, "no stop-gradient, symmetrized, scrambled");
}

/* The sampler's second moments are Σ^s (one view with itself) and Σ^d (across views). */
static void sampler_moments(nc_data_kind kind) {
  double spec[4] = {2, 1, 0.5, 0.5}, noise[4] = {0.3, 0.1, 0.2, 0.4};
  nc_linear_params p;
  base_params(&p);
  p.data = kind;
  p.spectrum = spec;
  p.nspectrum = 4;
  if (kind == NC_DATA_ADDITIVE) {
    p.noise = noise;
    p.nnoise = 4;
  } else {
    p.preserve = 2;
  }
  nc_linear m;
  CHECK(nc_linear_init(&m, &p) == NC_OK);
  enum { N = 200000 };
  double *X1 = malloc(sizeof(double) * N * 4), *X2 = malloc(sizeof(double) * N * 4);
  double S[16], D[16];
  nc_linear_sample_views(&m, N, X1, X2);
  nc_mm_d(1, 0, 4, 4, N, 1.0 / N, X1, X1, 0.0, S);
  nc_mm_d(1, 0, 4, 4, N, 1.0 / N, X1, X2, 0.0, D);
  double es = 0, ed = 0;
  for (int i = 0; i < 16; i++) {
    es = fmax(es, fabs(S[i] - m.sig_s[i]));
    ed = fmax(ed, fabs(D[i] - m.sig_d[i]));
  }
  CHECK(es < 0.03); /* ~5 standard errors at N = 2e5 */
  CHECK(ed < 0.03);
  free(X1);
  free(X2);
  nc_linear_free(&m);
}

/* E[SGD update]/α = the flow's right-hand side (the §1.3 mapping), checked with one huge batch. */
static void expected_step_is_the_flow(void) {
  nc_linear_params p;
  base_params(&p);
  p.sigma2 = 0.4;
  p.eta = 0.03;
  p.eta_p = 0.07;
  p.alpha_p = 2.5;
  p.batch = 400000;
  p.dt = 1e-3;
  nc_linear m;
  CHECK(nc_linear_init(&m, &p) == NC_OK);
  for (int i = 0; i < 12; i++) m.Wa[i] = 0.5 * m.W[i] + 0.1 * cos(i);
  double y0[12 + 9 + 12], dy[12 + 9 + 12];
  memcpy(y0, m.y, sizeof y0);
  nc_linear_rhs(&m, m.y, dy);
  CHECK(nc_linear_step(&m) == NC_OK);
  double worst = 0, scale = nc_frob_d(1, 33, dy);
  for (int i = 0; i < 33; i++) worst = fmax(worst, fabs((m.y[i] - y0[i]) / p.dt - dy[i]));
  CHECK(worst < 0.02 * scale);
  CHECK_NEAR(m.t, p.dt, 1e-18);
  nc_linear_free(&m);
}

static void predictors(void) {
  /* Eqn 18 on a hand case: F̂ = R diag(4, 1) Rᵀ gives W_p = R diag(2 + 4ε, 1 + 4ε) Rᵀ. */
  double c = cos(0.3), s = sin(0.3), F[4], Wp[4], work[2 * 4 + 2];
  F[0] = 4 * c * c + s * s;
  F[1] = F[2] = 3 * c * s;
  F[3] = 4 * s * s + c * c;
  CHECK(nc_directpred_predictor(2, F, 0.1, Wp, work) == NC_OK);
  double a = 2.4, b = 1.4;
  CHECK_NEAR(Wp[0], a * c * c + b * s * s, 1e-13);
  CHECK_NEAR(Wp[1], (a - b) * c * s, 1e-13);
  CHECK_NEAR(Wp[3], a * s * s + b * c * c, 1e-13);

  /* In SGD: symmetric stays symmetric, identity stays I, DirectCopy is F̂ + εI. */
  nc_linear_params p;
  base_params(&p);
  p.predictor = NC_PRED_SYMMETRIC;
  nc_linear m;
  CHECK(nc_linear_init(&m, &p) == NC_OK);
  for (int i = 0; i < 20; i++) CHECK(nc_linear_step(&m) == NC_OK);
  CHECK_NEAR(nc_asymmetry_d(3, m.Wp), 0, 0);
  nc_linear_free(&m);
  p.predictor = NC_PRED_IDENTITY;
  CHECK(nc_linear_init(&m, &p) == NC_OK);
  for (int i = 0; i < 5; i++) CHECK(nc_linear_step(&m) == NC_OK);
  for (int i = 0; i < 9; i++) CHECK_NEAR(m.Wp[i], i % 4 == 0, 0);
  nc_linear_free(&m);
  p.predictor = NC_PRED_DIRECTCOPY;
  p.eps = 0.2;
  CHECK(nc_linear_init(&m, &p) == NC_OK);
  for (int i = 0; i < 3; i++) CHECK(nc_linear_step(&m) == NC_OK);
  for (int i = 0; i < 9; i++) CHECK_NEAR(m.Wp[i], m.Fhat[i] + (i % 4 == 0 ? 0.2 : 0), 1e-15);
  nc_linear_free(&m);
  /* DirectPred with freq = 3: W_p is trained between resets and reset on multiples of 3. */
  p.predictor = NC_PRED_DIRECTPRED;
  p.freq = 3;
  CHECK(nc_linear_init(&m, &p) == NC_OK);
  double want[9], w2[2 * 9 + 3];
  for (int i = 0; i < 3; i++) CHECK(nc_linear_step(&m) == NC_OK);
  CHECK(nc_directpred_predictor(3, m.Fhat, p.eps, want, w2) == NC_OK);
  for (int i = 0; i < 9; i++) CHECK_NEAR(m.Wp[i], want[i], 1e-15);
  CHECK(nc_linear_step(&m) == NC_OK);
  double diff = 0;
  for (int i = 0; i < 9; i++) diff = fmax(diff, fabs(m.Wp[i] - want[i]));
  CHECK(diff > 1e-6);
  nc_linear_free(&m);
}

static void determinism(void) {
  nc_linear_params p;
  base_params(&p);
  p.seed = 11;
  nc_linear a, b;
  CHECK(nc_linear_init(&a, &p) == NC_OK);
  CHECK(nc_linear_init(&b, &p) == NC_OK);
  for (int i = 0; i < 30; i++) {
    CHECK(nc_linear_step(&a) == NC_OK);
    CHECK(nc_linear_step(&b) == NC_OK);
  }
  CHECK(memcmp(a.y, b.y, sizeof(double) * a.ny) == 0);
  nc_linear_free(&b);
  p.seed = 12;
  CHECK(nc_linear_init(&b, &p) == NC_OK);
  for (int i = 0; i < 30; i++) CHECK(nc_linear_step(&b) == NC_OK);
  CHECK(memcmp(a.y, b.y, sizeof(double) * a.ny) != 0);
  nc_linear_free(&a);
  nc_linear_free(&b);
}

int main(void) {
  gradients();
  sampler_moments(NC_DATA_ADDITIVE);
  sampler_moments(NC_DATA_MULTIPLICATIVE);
  expected_step_is_the_flow();
  predictors();
  determinism();
  return nc_test_done();
}

// ctest-labels: unit
/* The full-matrix flow against the paper's exact statements (digest §10 items 1-4, 11, 12). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ncssl/linalg.h"
#include "ncssl/linear.h"
#include "ncssl/monitor.h"
#include "ncssl/status.h"
#include "testing.h"

static int run_steps(nc_linear *m, long n) {
  for (long i = 0; i < n; i++)
    if (nc_linear_step(m)) return -1;
  return 0;
}

/* Item 1: W Wᵀ − α_p⁻¹ W_pᵀ W_p = e^{−2ηt} C under Eqns 2-4, any W_a and any data. */
static double theorem1_worst_residual(nc_linear_params *p, double dt, double *c0) {
  nc_linear m;
  nc_monitor mon;
  nc_linear_scalars sc;
  p->dt = dt;
  double worst = 0;
  CHECK(nc_linear_init(&m, p) == NC_OK);
  CHECK(nc_monitor_init(&mon, p->n2) == NC_OK);
  *c0 = nc_frob_d(p->n2, p->n2, m.C0);
  long per = (long)(1.0 / dt + 0.5);
  for (int k = 0; k < 20; k++) {
    CHECK(run_steps(&m, per) == 0);
    CHECK(nc_linear_observe(&m, &mon, &sc) == NC_OK);
    if (sc.invariant_residual > worst) worst = sc.invariant_residual;
  }
  nc_linear_free(&m);
  nc_monitor_free(&mon);
  return worst;
}

static void theorem1_invariant(void) {
  double spec[5] = {2, 1, 0.5, 0.3, 0.1}, noise[5] = {0.1, 0.4, 0.2, 0.3, 0.05};
  nc_linear_params p;
  nc_linear_defaults(&p);
  p.n1 = 5;
  p.n2 = 4;
  p.data = NC_DATA_ADDITIVE;
  p.spectrum = spec;
  p.nspectrum = 5;
  p.noise = noise;
  p.nnoise = 5;
  p.alpha_p = 2;
  p.eta = p.eta_p = 0.05;
  double c0, r1 = theorem1_worst_residual(&p, 0.01, &c0),
             r2 = theorem1_worst_residual(&p, 0.005, &c0);
  CHECK(c0 > 0.1);
  CHECK_NEAR(r2, 0, 5e-8 * c0);
  /* The residual is RK4's error, not drift of the invariant: halving dt divides it by ~2^4. */
  CHECK(r1 / r2 > 12 && r1 / r2 < 20);
  /* Symmetrizing Ẇ_p breaks the exact balance, so the residual is not trivially small. */
  p.predictor = NC_PRED_SYMMETRIC;
  CHECK(theorem1_worst_residual(&p, 0.01, &c0) > 1e-4);
}

/* Item 2: without stop-gradient, ‖W(t)‖ ≤ e^{−(σ²+η)t}‖W(0)‖ whatever W_p does. */
static void theorem2_collapse(void) {
  nc_linear_params p;
  nc_linear_defaults(&p);
  p.n1 = 6;
  p.n2 = 5;
  p.sigma2 = 0.3;
  p.eta = p.eta_p = 0.02;
  p.stopgrad = 0;
  p.target = NC_TARGET_ONLINE;
  p.init_scale = 2.0;
  p.alpha_p = 3.0;
  nc_linear m;
  CHECK(nc_linear_init(&m, &p) == NC_OK);
  double w0 = nc_frob_d(5, 6, m.W), rate = p.sigma2 + p.eta;
  int ok = 1;
  for (int k = 0; k < 400; k++) {
    CHECK(run_steps(&m, 5) == 0);
    if (nc_frob_d(5, 6, m.W) > exp(-rate * m.t) * w0 * (1 + 1e-12)) ok = 0;
  }
  CHECK(ok);
  CHECK(nc_frob_d(5, 6, m.W) < 0.5 * w0);
  nc_linear_free(&m);
}

/* Item 3: W_p = I, W_a = W, stop-gradient: W(t) = e^{−(σ²+η)t} W(0). */
static void no_predictor_closed_form(void) {
  nc_linear_params p;
  nc_linear_defaults(&p);
  p.n1 = 4;
  p.n2 = 3;
  p.sigma2 = 0.5;
  p.eta = 0.03;
  p.predictor = NC_PRED_IDENTITY;
  p.target = NC_TARGET_ONLINE;
  nc_linear m;
  CHECK(nc_linear_init(&m, &p) == NC_OK);
  double W0[12];
  memcpy(W0, m.W, sizeof W0);
  CHECK(run_steps(&m, 300) == 0);
  double f = exp(-(p.sigma2 + p.eta) * m.t), err = 0;
  for (int i = 0; i < 12; i++) err = fmax(err, fabs(m.W[i] - f * W0[i]));
  CHECK_NEAR(err, 0, 1e-10);
  nc_linear_free(&m);
}

/* Item 4: symmetrized isotropic flow at fixed τ: while λ_min(K) ≥ λ0 > 0,
 * ‖[F(t), W_p(t)]‖ ≤ e^{−2λ0 t}‖[F(0), W_p(0)]‖. λ0 is the infimum of λ_min(K) along the run. */
static void theorem3_commutator(void) {
  nc_linear_params p;
  nc_linear_defaults(&p);
  p.n1 = p.n2 = 5;
  p.sigma2 = 0.2;
  p.eta = p.eta_p = 0.2;
  p.alpha_p = 2;
  p.predictor = NC_PRED_SYMMETRIC;
  p.target = NC_TARGET_FIXED_TAU;
  p.tau = 0.8;
  p.dt = 0.01;
  nc_linear m;
  nc_monitor mon;
  nc_linear_scalars sc;
  CHECK(nc_linear_init(&m, &p) == NC_OK);
  CHECK(nc_monitor_init(&mon, 5) == NC_OK);
  enum { NT = 200 };
  double tt[NT + 1], comm[NT + 1], lam0 = INFINITY, K[25], kv[5];
  for (int k = 0; k <= NT; k++) {
    if (k) CHECK(run_steps(&m, 5) == 0);
    CHECK(nc_linear_observe(&m, &mon, &sc) == NC_OK);
    CHECK(nc_linear_theorem3_k(&m, K) == NC_OK);
    CHECK(nc_eigh_d(5, K, kv) == NC_OK);
    if (kv[0] < lam0) lam0 = kv[0];
    tt[k] = m.t;
    comm[k] = mon.commutator;
  }
  CHECK(lam0 > 0);
  int ok = 1;
  for (int k = 0; k <= NT; k++)
    if (comm[k] > exp(-2 * lam0 * tt[k]) * comm[0] * (1 + 1e-9)) ok = 0;
  CHECK(ok);
  CHECK(comm[NT] < 0.05 * comm[0]);
  CHECK(mon.asymmetry < 1e-12);
  nc_linear_free(&m);
  nc_monitor_free(&mon);
}

/* Item 11: at fixed F the non-symmetrized W_p flow goes to W_p* = U τΛ((1+σ²)Λ + η/α_p)⁻¹ Uᵀ. */
static void item11_predictor_fixed_point(void) {
  nc_linear_params p;
  nc_linear_defaults(&p);
  p.n1 = p.n2 = 4;
  p.sigma2 = 0.5;
  p.eta = p.eta_p = 0.4;
  p.alpha_p = 2;
  p.tau = 0.7;
  p.target = NC_TARGET_FIXED_TAU;
  p.freeze_online = 1;
  p.init_scale = 1.5;
  nc_linear m;
  nc_monitor mon;
  nc_linear_scalars sc;
  CHECK(nc_linear_init(&m, &p) == NC_OK);
  CHECK(nc_monitor_init(&mon, 4) == NC_OK);
  CHECK(nc_linear_observe(&m, &mon, &sc) == NC_OK);
  CHECK(mon.asymmetry > 0.3);
  CHECK(run_steps(&m, 6000) == 0);
  CHECK(nc_linear_observe(&m, &mon, &sc) == NC_OK);
  /* Build W_p* from F's eigenpairs. */
  double want[16] = {0};
  for (int j = 0; j < 4; j++) {
    double s = mon.f_eigvals[j], pj = p.tau * s / ((1 + p.sigma2) * s + p.eta / p.alpha_p);
    for (int a = 0; a < 4; a++)
      for (int b = 0; b < 4; b++)
        want[a * 4 + b] += pj * mon.f_eigvecs[a * 4 + j] * mon.f_eigvecs[b * 4 + j];
  }
  double err = 0;
  for (int i = 0; i < 16; i++) err = fmax(err, fabs(m.Wp[i] - want[i]));
  CHECK_NEAR(err, 0, 1e-8);
  CHECK_NEAR(mon.asymmetry, 0, 1e-8);
  nc_linear_free(&m);
  nc_monitor_free(&mon);
}

/* Item 12: without weight decay the fixed points form the manifold W_p W = W Σ^d[Σ^s]⁻¹, W = W_a.
 * Exactly: the special solutions W = S E, W_p = S D S⁻¹ (rows of E left eigenvectors of
 * Σ^d[Σ^s]⁻¹ = diag(D), any invertible S) make the flow stand still. Then a run from a random start
 * converges onto the manifold, and the scalar case converges to w_p* = λ_d/λ_s. */
static void item12_manifold(void) {
  double spec[3] = {1.0, 0.6, 0.3}, noise[3] = {0.2, 0.5, 0.1}, D[3];
  for (int i = 0; i < 3; i++) D[i] = spec[i] / (spec[i] + noise[i]);
  nc_linear_params p;
  nc_linear_defaults(&p);
  p.n1 = 3;
  p.n2 = 2;
  p.data = NC_DATA_ADDITIVE;
  p.spectrum = spec;
  p.nspectrum = 3;
  p.noise = noise;
  p.nnoise = 3;
  p.eta = p.eta_p = 0;
  p.beta = 1.0;
  p.init_scale = 1.5;
  p.dt = 0.02;
  p.seed = 2;
  nc_linear m;
  CHECK(nc_linear_init(&m, &p) == NC_OK);
  /* S = [[2, 1], [0.5, 3]], E picks coordinates 0 and 2. */
  double S[4] = {2, 1, 0.5, 3}, det = 2 * 3 - 0.5,
         Sinv[4] = {3 / det, -1 / det, -0.5 / det, 2 / det};
  double E[6] = {1, 0, 0, 0, 0, 1}, Dm[4] = {D[0], 0, 0, D[2]}, W[6], Wp[4], T[4], dy[6 + 4 + 6];
  nc_mm_d(0, 0, 2, 3, 2, 1.0, S, E, 0.0, W);
  nc_mm_d(0, 0, 2, 2, 2, 1.0, S, Dm, 0.0, T);
  nc_mm_d(0, 0, 2, 2, 2, 1.0, T, Sinv, 0.0, Wp);
  CHECK(nc_linear_set_state(&m, W, Wp, W) == NC_OK);
  nc_linear_rhs(&m, m.y, dy);
  CHECK_NEAR(nc_frob_d(1, 16, dy), 0, 1e-14);
  /* A mismatched eigenvalue is not a fixed point. */
  Dm[3] = D[1];
  nc_mm_d(0, 0, 2, 2, 2, 1.0, S, Dm, 0.0, T);
  nc_mm_d(0, 0, 2, 2, 2, 1.0, T, Sinv, 0.0, Wp);
  CHECK(nc_linear_set_state(&m, W, Wp, W) == NC_OK);
  nc_linear_rhs(&m, m.y, dy);
  CHECK(nc_frob_d(1, 16, dy) > 0.01);
  nc_linear_free(&m);

  CHECK(nc_linear_init(&m, &p) == NC_OK);
  CHECK(run_steps(&m, 12000) == 0);
  double lhs[6], rhs[6];
  nc_mm_d(0, 0, 2, 3, 2, 1.0, m.Wp, m.W, 0.0, lhs);
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 3; j++) rhs[i * 3 + j] = m.W[i * 3 + j] * D[j];
  double wn = nc_frob_d(2, 3, m.W), err = 0, gap = 0;
  for (int i = 0; i < 6; i++) {
    err = fmax(err, fabs(lhs[i] - rhs[i]));
    gap = fmax(gap, fabs(m.W[i] - m.Wa[i]));
  }
  CHECK(wn > 0.1);
  CHECK_NEAR(err, 0, 1e-8 * wn);
  CHECK_NEAR(gap, 0, 1e-8 * wn);
  nc_linear_free(&m);

  /* Scalar: λ_s = 1.5, λ_d = 1 gives w_p = 2/3. */
  double one[1] = {1.0}, half[1] = {0.5};
  p.n1 = p.n2 = 1;
  p.spectrum = one;
  p.nspectrum = 1;
  p.noise = half;
  p.nnoise = 1;
  CHECK(nc_linear_init(&m, &p) == NC_OK);
  double w1[1] = {0.8}, wp1[1] = {0.3};
  CHECK(nc_linear_set_state(&m, w1, wp1, w1) == NC_OK);
  CHECK(run_steps(&m, 20000) == 0);
  CHECK_NEAR(m.Wp[0], 1.0 / 1.5, 1e-8);
  CHECK(fabs(m.W[0]) > 0.1);
  nc_linear_free(&m);

  /* Without a predictor the eigenvalues of Σ^d[Σ^s]⁻¹ are all < 1 here: only collapse. */
  p.n1 = 3;
  p.n2 = 2;
  p.spectrum = spec;
  p.nspectrum = 3;
  p.noise = noise;
  p.nnoise = 3;
  p.predictor = NC_PRED_IDENTITY;
  CHECK(nc_linear_init(&m, &p) == NC_OK);
  double w0 = nc_frob_d(2, 3, m.W);
  CHECK(run_steps(&m, 5000) == 0);
  CHECK(nc_frob_d(2, 3, m.W) < 1e-3 * w0);
  nc_linear_free(&m);
}

/* App. D.2 multiplicative scrambling: Σ^d[Σ^s]⁻¹ = P^c, so W keeps the preserved subspace and
 * forgets the scrambled one. With n2 = the preserved dimension this is forced (W_p = I on it, so
 * W_p B = B must vanish); with n2 larger and η = 0 a rank-deficient scrambled part may remain on
 * the manifold, and weight decay removes it. */
static double scrambled_energy(int n2, double eta, double *kept) {
  double spec[4] = {1.0, 0.4, 0.7, 0.7};
  nc_linear_params p;
  nc_linear_defaults(&p);
  p.n1 = 4;
  p.n2 = n2;
  p.data = NC_DATA_MULTIPLICATIVE;
  p.spectrum = spec;
  p.nspectrum = 4;
  p.preserve = 2;
  p.eta = p.eta_p = eta;
  p.beta = 1;
  p.dt = 0.02;
  nc_linear m;
  CHECK(nc_linear_init(&m, &p) == NC_OK);
  CHECK_NEAR(m.sig_d[2 * 4 + 2], 0, 0);
  CHECK_NEAR(m.sig_s[2 * 4 + 2], 0.7, 1e-15);
  CHECK_NEAR(m.sig_d[1 * 4 + 1], m.sig_s[1 * 4 + 1], 0);
  CHECK(run_steps(&m, 15000) == 0);
  double lost = 0;
  *kept = 0;
  for (int i = 0; i < n2; i++)
    for (int j = 0; j < 4; j++) *(j < 2 ? kept : &lost) += m.W[i * 4 + j] * m.W[i * 4 + j];
  nc_linear_free(&m);
  return lost;
}

static void multiplicative_scrambling(void) {
  double kept;
  CHECK_NEAR(scrambled_energy(2, 0.0, &kept), 0, 1e-20);
  CHECK(kept > 0.5);
  CHECK_NEAR(scrambled_energy(3, 0.02, &kept), 0, 1e-5);
  CHECK(kept > 0.5);
}

static void bad_parameters(void) {
  nc_linear_params p;
  nc_linear m;
  double s2[2] = {1, 2};
  nc_linear_defaults(&p);
  p.n1 = 0;
  CHECK(nc_linear_init(&m, &p) == NC_EINVAL);
  CHECK(strstr(nc_last_error(), "--n1") != NULL);
  nc_linear_defaults(&p);
  p.data = NC_DATA_ADDITIVE;
  p.spectrum = s2;
  p.nspectrum = 2;
  CHECK(nc_linear_init(&m, &p) == NC_EINVAL);
  CHECK(strstr(nc_last_error(), "--spectrum") != NULL);
  nc_linear_defaults(&p);
  p.stopgrad = 0;
  CHECK(nc_linear_init(&m, &p) == NC_EINVAL);
  CHECK(strstr(nc_last_error(), "--no-stopgrad") != NULL);
  nc_linear_defaults(&p);
  p.rho = 1;
  CHECK(nc_linear_init(&m, &p) == NC_EINVAL);
  nc_linear_defaults(&p);
  p.dt = 50; /* far too large: the state overflows and the step says so */
  p.init_scale = 10;
  CHECK(nc_linear_init(&m, &p) == NC_OK);
  int rc = 0;
  for (int i = 0; i < 200 && !rc; i++) rc = nc_linear_step(&m);
  CHECK(rc == NC_ENUMERIC);
  nc_linear_free(&m);
}

int main(void) {
  theorem1_invariant();
  theorem2_collapse();
  no_predictor_closed_form();
  theorem3_commutator();
  item11_predictor_fixed_point();
  item12_manifold();
  multiplicative_scrambling();
  bad_parameters();
  return nc_test_done();
}

// ctest-labels: unit
/* The decoupled per-mode dynamics (Eqns 11-17) against the digest's numbers (§10 items 5, 6, 7,
 * 9, 10), an independent Euler integration of the scalar system (Eqns 104-106), the K matrix of
 * Theorem 3 built in full, and RK4's fourth-order convergence. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ncssl/linalg.h"
#include "ncssl/rng.h"
#include "ncssl/status.h"
#include "ncssl/theory.h"
#include "testing.h"

static nc_mode_state run(nc_mode_params m, nc_mode_state x, double dt, double t_end) {
  long steps = lround(t_end / dt);
  for (long k = 0; k < steps; k++) nc_mode_rk4_step(&m, &x, dt);
  return x;
}

/* Item 5: s − p²/α_p = (s0 − p0²/α_p)e^(−2ηt), the corrected sign of c_j. */
static void test_invariant(void) {
  nc_mode_params m = {2.0, 0.01, 0.0, 0.0, NC_TAU_FIXED};
  nc_mode_state x0 = {0.1, 0.5, 1.0};
  nc_mode_state x = run(m, x0, 0.01, 50.0);
  double closed = nc_mode_invariant_closed_form(&m, &x0, 50.0);
  CHECK_NEAR(closed, 0.182100, 1e-6);
  CHECK_NEAR(nc_mode_invariant(&m, &x), closed, 1e-8);
  /* The paper's printed sign, c = p0²/α_p − s0, would give the opposite number. */
  CHECK(fabs(nc_mode_invariant(&m, &x) + closed) > 0.3);
  /* It also holds under EMA, with σ² > 0, and off the parabola below it. */
  nc_mode_params e = {1.5, 0.03, 0.5, 0.3, NC_TAU_EMA};
  nc_mode_state y0 = {0.7, 0.1, 0.0};
  nc_mode_state y = run(e, y0, 0.005, 20.0);
  CHECK_NEAR(nc_mode_invariant(&e, &y), nc_mode_invariant_closed_form(&e, &y0, 20.0), 1e-9);
}

/* Item 6: η = 0, fixed τ: p → τ/(1+σ²), s(∞) = s(0) + (p(∞)² − p(0)²)/α_p. */
static void test_eta_zero(void) {
  nc_mode_params m = {1.0, 0.0, 0.5, 0.0, NC_TAU_FIXED};
  nc_mode_state x = run(m, (nc_mode_state){0.1, 0.2, 1.0}, 0.01, 100.0);
  CHECK_NEAR(x.p, 0.66667, 1e-5);
  CHECK_NEAR(x.s, 0.63444, 1e-5);
  CHECK_NEAR(x.s, 0.2 + (x.p * x.p - 0.01) / 1.0, 1e-9);
  CHECK(nc_mode_classify(&m, &x, 1e-6) == NC_MODE_CONVERGED);
}

/* Item 7: on the parabola at τ = 1, σ² = 0.5, η = 0.05 the basin boundary is p*₋ = 0.054447. */
static void test_parabola_basins(void) {
  nc_mode_params m = {1.0, 0.05, 0.5, 0.0, NC_TAU_FIXED};
  nc_fixed_points fp;
  CHECK(nc_fixed_points_compute(1.0, 0.5, 0.05, 1.0, &fp) == NC_OK);
  nc_mode_state up = run(m, (nc_mode_state){0.06, 0.06 * 0.06, 1.0}, 0.01, 500.0);
  CHECK_NEAR(up.p, 0.61222, 1e-5);
  CHECK_NEAR(up.s, 0.37481, 1e-5);
  CHECK_NEAR(up.p, fp.p_plus, 1e-8);
  CHECK_NEAR(up.s, fp.s_plus, 1e-8);
  CHECK(nc_mode_classify(&m, &up, 1e-6) == NC_MODE_CONVERGED);
  nc_mode_state down = run(m, (nc_mode_state){0.05, 0.05 * 0.05, 1.0}, 0.01, 500.0);
  CHECK(fabs(down.p) < 1e-9 && down.s < 1e-18);
  CHECK(nc_mode_classify(&m, &down, 1e-6) == NC_MODE_COLLAPSED);
  /* Starting exactly at a fixed point stays there; p*₋'s neighbours leave it on both sides. */
  nc_mode_state at = run(m, (nc_mode_state){fp.p_plus, fp.s_plus, 1.0}, 0.01, 50.0);
  CHECK_NEAR(at.p, fp.p_plus, 1e-12);
  nc_mode_state pm = {fp.p_minus, fp.p_minus * fp.p_minus, 1.0}, dx;
  nc_mode_rhs(&m, &pm, &dx);
  CHECK(fabs(dx.p) < 1e-15 && fabs(dx.s) < 1e-15);
  /* On the parabola ṗ = −(1+σ²)p(p − p*₋)(p − p*₊) (§4.7, with the (1+σ²) the figure omits). */
  for (double p = 0.01; p < 1.0; p += 0.07) {
    nc_mode_state x = {p, p * p, 1.0};
    nc_mode_rhs(&m, &x, &dx);
    CHECK_NEAR(dx.p, -1.5 * p * (p - fp.p_minus) * (p - fp.p_plus), 1e-14);
  }
}

/* The scalar system of App. D.4 (Eqns 104-106, λ_s = 1 + σ², λ_d = 1) with weight decay η on w
 * and w_p, by explicit Euler as the digest did; an independent check of Eqn 13. */
typedef struct {
  double w, wp, wa;
} scalar_state;

static scalar_state scalar_euler(const nc_mode_params *m, scalar_state x, double dt, long steps) {
  double ls = 1.0 + m->sigma2;
  for (long k = 0; k < steps; k++) {
    double err = x.wa - x.wp * x.w * ls;
    scalar_state d = {x.wp * err - m->eta * x.w, m->alpha_p * err * x.w - m->eta * x.wp,
                      m->beta * (x.w - x.wa)};
    x.w += dt * d.w;
    x.wp += dt * d.wp;
    x.wa += dt * d.wa;
  }
  return x;
}

/* Item 9: EMA from w = w_p ∈ {0.5, 0.3, 0.2}, w_a(0) = 0 (τ(0) = 0): τ ≈ 0.78-0.86 at t = 10,
 * then p = 0.9583, s = 0.9183, τ = 1. */
static void test_ema(void) {
  nc_mode_params m = {1.0, 0.04, 0.0, 0.4, NC_TAU_EMA};
  const double w0[3] = {0.5, 0.3, 0.2};
  double prev_tau10 = 2.0;
  for (int i = 0; i < 3; i++) {
    nc_mode_state x0 = {w0[i], w0[i] * w0[i], 0.0};
    nc_mode_state x10 = run(m, x0, 0.01, 10.0);
    scalar_state e = scalar_euler(&m, (scalar_state){w0[i], w0[i], 0.0}, 0.01, 1000);
    double tau_euler = e.wa / e.w;
    CHECK(tau_euler > 0.78 && tau_euler < 0.86);
    CHECK(x10.tau > 0.775 && x10.tau < 0.865);
    CHECK_NEAR(x10.tau, tau_euler, 5e-3); /* Euler's O(dt) error against RK4 */
    CHECK_NEAR(x10.p, e.wp, 5e-3);
    CHECK_NEAR(x10.s, e.w * e.w, 5e-3);
    CHECK(x10.tau < prev_tau10); /* smaller starts lag behind */
    prev_tau10 = x10.tau;
    nc_mode_state xf = run(m, x0, 0.01, 200.0);
    CHECK_NEAR(xf.p, 0.9583, 5e-5);
    CHECK_NEAR(xf.s, 0.9183, 5e-5);
    CHECK_NEAR(xf.tau, 1.0, 1e-6);
    CHECK(nc_mode_classify(&m, &xf, 1e-6) == NC_MODE_CONVERGED);
  }
  /* Eqn 15 on the parabola: τ(t)p(t) = β e^(−βt) ∫_0^t p(t') e^(βt') dt' (trapezoid rule). */
  nc_mode_state x = {0.3, 0.09, 0.0};
  double dt = 0.001, integral = 0.0, worst = 0.0;
  double f_prev = x.p;
  for (long k = 1; k <= 20000; k++) {
    nc_mode_rk4_step(&m, &x, dt);
    double t = (double)k * dt;
    double f = x.p * exp(m.beta * t);
    integral += 0.5 * dt * (f_prev + f);
    f_prev = f;
    double tau15 = m.beta * exp(-m.beta * t) * integral / x.p;
    if (fabs(tau15 - x.tau) > worst) worst = fabs(tau15 - x.tau);
  }
  CHECK(worst < 1e-6);
}

/* Item 10 / Eqn 17: the eigenvalues of Theorem 3's K = (1+σ²)[(α_p/2)F + W_p² − τW_p/(1+σ²)]
 * + (3/2)ηI on an aligned state F = U diag(s) Uᵀ, W_p = U diag(p) Uᵀ are ½[α_p(1+σ²)s_j + η] −
 * Δ_j, so K ≻ 0 exactly when every mode satisfies Δ_j < ½[α_p(1+σ²)s_j + η]. */
static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void test_k_eigenvalues(void) {
  enum { D = 6 };
  nc_rng rng;
  nc_rng_seed(&rng, 17);
  double U[D * D], w[D];
  for (int i = 0; i < D; i++)
    for (int j = 0; j <= i; j++) U[i * D + j] = U[j * D + i] = nc_rng_normal(&rng);
  CHECK(nc_eigh_d(D, U, w) == NC_OK); /* U: a random orthogonal basis */
  nc_mode_params m = {1.7, 0.03, 0.4, 0.0, NC_TAU_FIXED};
  double tau = 0.8, p[D], s[D], want[D];
  for (int j = 0; j < D; j++) {
    p[j] = nc_rng_uniform(&rng) * 1.2 - 0.2;
    s[j] = nc_rng_uniform(&rng);
    want[j] = nc_mode_k_eigenvalue(&m, &(nc_mode_state){p[j], s[j], tau});
    CHECK_NEAR(want[j],
               0.5 * (m.alpha_p * (1 + m.sigma2) * s[j] + m.eta) -
                   nc_mode_delta(&m, &(nc_mode_state){p[j], s[j], tau}),
               1e-15);
  }
  double F[D * D], Wp[D * D], Wp2[D * D], K[D * D], tmp[D * D];
  for (int which = 0; which < 2; which++) {
    const double *diag = which ? p : s;
    double *M = which ? Wp : F;
    memset(tmp, 0, sizeof tmp);
    for (int i = 0; i < D; i++)
      for (int j = 0; j < D; j++) tmp[i * D + j] = U[i * D + j] * diag[j];
    nc_mm_d(0, 1, D, D, D, 1.0, tmp, U, 0.0, M);
  }
  nc_mm_d(0, 0, D, D, D, 1.0, Wp, Wp, 0.0, Wp2);
  double a = 1.0 + m.sigma2;
  for (int i = 0; i < D * D; i++)
    K[i] =
        a * (0.5 * m.alpha_p * F[i] + Wp2[i]) - tau * Wp[i] + (i % (D + 1) == 0 ? 1.5 * m.eta : 0);
  double got[D];
  CHECK(nc_eigh_d(D, K, got) == NC_OK);
  qsort(want, D, sizeof want[0], cmp_double);
  for (int j = 0; j < D; j++) CHECK_NEAR(got[j], want[j], 1e-12);
  /* At small p and τ = 1 (no EMA), Δ ~ p beats the bound's ~ s = p² (§4.8): K is indefinite. */
  nc_mode_params ss = {1.0, 0.0, 0.0, 0.0, NC_TAU_FIXED};
  CHECK(nc_mode_k_eigenvalue(&ss, &(nc_mode_state){0.1, 0.01, 1.0}) < 0);
  CHECK(nc_mode_k_eigenvalue(&ss, &(nc_mode_state){0.1, 0.01, 0.05}) > 0); /* small τ: fine */
}

/* RK4 is fourth order: halving dt divides the error at a fixed time by about 16. */
static void test_rk4_order(void) {
  nc_mode_params m = {1.0, 0.04, 0.2, 0.4, NC_TAU_EMA};
  nc_mode_state x0 = {0.3, 0.2, 0.0};
  nc_mode_state ref = run(m, x0, 0.0005, 8.0);
  double err[3];
  const double dts[3] = {0.4, 0.2, 0.1};
  for (int i = 0; i < 3; i++) {
    nc_mode_state x = run(m, x0, dts[i], 8.0);
    err[i] = fabs(x.p - ref.p) + fabs(x.s - ref.s) + fabs(x.tau - ref.tau);
  }
  for (int i = 0; i < 2; i++) {
    double ratio = err[i] / err[i + 1];
    CHECK(ratio > 12.0 && ratio < 20.0);
    if (!(ratio > 12.0 && ratio < 20.0)) fprintf(stderr, "  RK4 error ratio %g\n", ratio);
  }
}

/* The right-hand side: Eqn 13's two forms agree; fixed τ does not move; s = 0 stays 0. */
static void test_rhs(void) {
  nc_mode_params m = {1.3, 0.02, 0.3, 0.25, NC_TAU_EMA};
  nc_mode_state x = {0.4, 0.3, 0.6}, dx;
  nc_mode_rhs(&m, &x, &dx);
  double gap = x.tau - 1.3 * x.p;
  CHECK_NEAR(dx.p, 1.3 * 0.3 * gap - 0.02 * 0.4, 1e-15);
  CHECK_NEAR(dx.s, 2 * 0.4 * 0.3 * gap - 2 * 0.02 * 0.3, 1e-15);
  CHECK_NEAR(dx.tau * x.s, m.beta * (1 - x.tau) * x.s - x.tau * dx.s / 2, 1e-15); /* Eqn 13 */
  CHECK_NEAR(dx.s, 2 * x.s * nc_mode_delta(&m, &x), 1e-15);
  nc_mode_state on = {0.4, 0.16 / m.alpha_p, 0.6}, don; /* on the parabola ṗ = pΔ */
  nc_mode_rhs(&m, &on, &don);
  CHECK_NEAR(don.p, on.p * nc_mode_delta(&m, &on), 1e-15);
  CHECK_NEAR(dx.p, m.alpha_p * x.s * gap - m.eta * x.p, 1e-15);
  m.tau_mode = NC_TAU_FIXED;
  nc_mode_rhs(&m, &x, &dx);
  CHECK(dx.tau == 0.0);
  nc_mode_state z = run(m, (nc_mode_state){0.5, 0.0, 1.0}, 0.01, 10.0);
  CHECK(z.s == 0.0 && fabs(z.p - 0.5 * exp(-0.2)) < 1e-12);
}

typedef struct {
  long steps[16];
  int calls;
} seen;

static int record(long step, double t, const nc_mode_state *x, int n, void *ctx) {
  seen *s = ctx;
  (void)x;
  (void)n;
  if (s->calls < 16) s->steps[s->calls] = step;
  s->calls++;
  CHECK_NEAR(t, 0.1 * (double)step, 1e-15);
  return 0;
}

static int stop_at_3(long step, double t, const nc_mode_state *x, int n, void *ctx) {
  (void)t, (void)x, (void)n, (void)ctx;
  return step >= 3 ? NC_EIO : 0;
}

/* nc_modes_integrate: observer schedule, many modes advance independently, failures. */
static void test_integrate(void) {
  nc_mode_params m = {1.0, 0.04, 0.0, 0.4, NC_TAU_EMA};
  nc_mode_state x[2] = {{0.5, 0.25, 0.0}, {0.2, 0.04, 0.0}};
  seen s = {{0}, 0};
  CHECK(nc_modes_integrate(&m, x, 2, 0.1, 10, 3, record, &s) == NC_OK);
  CHECK(s.calls == 5 && s.steps[0] == 0 && s.steps[1] == 3 && s.steps[3] == 9 && s.steps[4] == 10);
  nc_mode_state one = run(m, (nc_mode_state){0.2, 0.04, 0.0}, 0.1, 1.0);
  CHECK(one.p == x[1].p && one.s == x[1].s && one.tau == x[1].tau);
  CHECK(nc_modes_integrate(&m, x, 2, 0.1, 10, 1, stop_at_3, NULL) == NC_EIO);
  CHECK(nc_modes_integrate(&m, x, 2, 0.0, 10, 1, NULL, NULL) == NC_EINVAL);
  CHECK(nc_modes_integrate(&m, x, 2, 0.1, 10, 0, NULL, NULL) == NC_EINVAL);
  nc_mode_params bad = m;
  bad.alpha_p = 0;
  CHECK(nc_modes_integrate(&bad, x, 2, 0.1, 10, 1, NULL, NULL) == NC_EINVAL);
  bad = m;
  bad.eta = NAN;
  CHECK(nc_modes_integrate(&bad, x, 2, 0.1, 10, 1, NULL, NULL) == NC_EINVAL);
  nc_mode_state huge = {50.0, 50.0, 1.0};
  nc_mode_params simsiam = {1.0, 0.0, 0.0, 0.0, NC_TAU_FIXED};
  CHECK(nc_modes_integrate(&simsiam, &huge, 1, 10.0, 100, 1, NULL, NULL) == NC_ENUMERIC);
  CHECK(isfinite(huge.p) && isfinite(huge.s));
  CHECK(strstr(nc_last_error(), "finite") != NULL);
}

/* Verdicts from the state. */
static void test_classify(void) {
  nc_mode_params m = {1.0, 0.05, 0.5, 0.0, NC_TAU_FIXED};
  CHECK(nc_mode_classify(&m, &(nc_mode_state){0.0, 0.0, 1.0}, 1e-6) == NC_MODE_COLLAPSED);
  CHECK(nc_mode_classify(&m, &(nc_mode_state){0.3, 0.09, 1.0}, 1e-6) == NC_MODE_MOVING);
  /* tiny s but growing (Δ > 0): not collapsed yet */
  CHECK(nc_mode_classify(&m, &(nc_mode_state){0.3, 1e-9, 1.0}, 1e-6) == NC_MODE_MOVING);
  nc_fixed_points fp;
  CHECK(nc_fixed_points_compute(1.0, 0.5, 0.05, 1.0, &fp) == NC_OK);
  CHECK(nc_mode_classify(&m, &(nc_mode_state){fp.p_plus, fp.s_plus, 1.0}, 1e-6) ==
        NC_MODE_CONVERGED);
  /* p*₋ is a fixed point too, but not the stable one. */
  CHECK(nc_mode_classify(&m, &(nc_mode_state){fp.p_minus, fp.p_minus * fp.p_minus, 1.0}, 1e-6) ==
        NC_MODE_MOVING);
  /* EMA: at p*₊(τ) with τ < 1 the target still moves. */
  nc_mode_params e = {1.0, 0.04, 0.0, 0.4, NC_TAU_EMA};
  CHECK(nc_fixed_points_compute(0.9, 0.0, 0.04, 1.0, &fp) == NC_OK);
  CHECK(nc_mode_classify(&e, &(nc_mode_state){fp.p_plus, fp.s_plus, 0.9}, 1e-6) == NC_MODE_MOVING);
  CHECK(strcmp(nc_mode_verdict_name(NC_MODE_CONVERGED), "converged") == 0);
  CHECK(strcmp(nc_mode_verdict_name(NC_MODE_COLLAPSED), "collapsed") == 0);
  CHECK(strcmp(nc_mode_verdict_name(NC_MODE_MOVING), "moving") == 0);
}

int main(void) {
  test_invariant();
  test_eta_zero();
  test_parabola_basins();
  test_ema();
  test_k_eigenvalues();
  test_rk4_order();
  test_rhs();
  test_integrate();
  test_classify();
  return nc_test_done();
}

#include <math.h>

#include "ncssl/status.h"
#include "ncssl/theory.h"

double nc_mode_delta(const nc_mode_params *m, const nc_mode_state *x) {
  return x->p * (x->tau - (1.0 + m->sigma2) * x->p) - m->eta;
}

void nc_mode_rhs(const nc_mode_params *m, const nc_mode_state *x, nc_mode_state *dx) {
  double gap = x->tau - (1.0 + m->sigma2) * x->p;  /* τ − (1+σ²)p */
  dx->p = m->alpha_p * x->s * gap - m->eta * x->p; /* Eqn 11 */
  double half_log_rate = x->p * gap - m->eta;      /* ṡ/(2s) */
  dx->s = 2.0 * x->s * half_log_rate;              /* Eqn 12 */
  dx->tau = m->tau_mode == NC_TAU_EMA ? m->beta * (1.0 - x->tau) - x->tau * half_log_rate
                                      : 0.0; /* Eqn 13 */
}

void nc_mode_rk4_step(const nc_mode_params *m, nc_mode_state *x, double dt) {
  nc_mode_state k1, k2, k3, k4, y;
  nc_mode_rhs(m, x, &k1);
  y = (nc_mode_state){x->p + 0.5 * dt * k1.p, x->s + 0.5 * dt * k1.s, x->tau + 0.5 * dt * k1.tau};
  nc_mode_rhs(m, &y, &k2);
  y = (nc_mode_state){x->p + 0.5 * dt * k2.p, x->s + 0.5 * dt * k2.s, x->tau + 0.5 * dt * k2.tau};
  nc_mode_rhs(m, &y, &k3);
  y = (nc_mode_state){x->p + dt * k3.p, x->s + dt * k3.s, x->tau + dt * k3.tau};
  nc_mode_rhs(m, &y, &k4);
  x->p += dt / 6.0 * (k1.p + 2 * k2.p + 2 * k3.p + k4.p);
  x->s += dt / 6.0 * (k1.s + 2 * k2.s + 2 * k3.s + k4.s);
  x->tau += dt / 6.0 * (k1.tau + 2 * k2.tau + 2 * k3.tau + k4.tau);
}

double nc_mode_k_eigenvalue(const nc_mode_params *m, const nc_mode_state *x) {
  return 0.5 * (m->alpha_p * (1.0 + m->sigma2) * x->s + m->eta) - nc_mode_delta(m, x);
}

double nc_mode_invariant(const nc_mode_params *m, const nc_mode_state *x) {
  return x->s - x->p * x->p / m->alpha_p;
}

double nc_mode_invariant_closed_form(const nc_mode_params *m, const nc_mode_state *x0, double t) {
  return nc_mode_invariant(m, x0) * exp(-2.0 * m->eta * t);
}

int nc_fixed_points_compute(double tau, double sigma2, double eta, double alpha_p,
                            nc_fixed_points *out) {
  if (!isfinite(tau) || tau <= 0) return nc_fail(NC_EINVAL, "tau must be > 0, got %g", tau);
  if (!isfinite(sigma2) || sigma2 < 0)
    return nc_fail(NC_EINVAL, "sigma2 must be >= 0, got %g", sigma2);
  if (!isfinite(eta) || eta < 0) return nc_fail(NC_EINVAL, "eta must be >= 0, got %g", eta);
  if (!isfinite(alpha_p) || alpha_p <= 0)
    return nc_fail(NC_EINVAL, "alpha_p must be > 0, got %g", alpha_p);
  double a = 1.0 + sigma2;
  out->eta_c = tau * tau / (4.0 * a);
  out->p_minus = out->p_plus = out->s_plus = NAN;
  out->stab_minus = out->stab_plus = -1;
  out->has_nonzero = eta <= out->eta_c;
  /* On the parabola ṗ = −a·p(p − p*₋)(p − p*₊); its slope at 0 is −η. */
  out->stab_zero = eta > 0 ? 1 : 0;
  if (!out->has_nonzero) return NC_OK;
  double disc = sqrt(fmax(tau * tau - 4.0 * eta * a, 0.0));
  out->p_minus = (tau - disc) / (2.0 * a);
  out->p_plus = (tau + disc) / (2.0 * a);
  out->s_plus = out->p_plus * out->p_plus / alpha_p;
  if (disc == 0.0) {
    out->stab_minus = out->stab_plus = 0; /* the two merge: half-stable */
  } else {
    out->stab_minus = eta > 0 ? -1 : 0; /* at η = 0, p*₋ = 0 is the half-stable origin */
    out->stab_plus = 1;
  }
  return NC_OK;
}

int nc_mode_params_check(const nc_mode_params *m) {
  if (!isfinite(m->alpha_p) || m->alpha_p <= 0)
    return nc_fail(NC_EINVAL, "alpha_p must be > 0, got %g", m->alpha_p);
  if (!isfinite(m->eta) || m->eta < 0)
    return nc_fail(NC_EINVAL, "eta must be >= 0, got %g", m->eta);
  if (!isfinite(m->sigma2) || m->sigma2 < 0)
    return nc_fail(NC_EINVAL, "sigma2 must be >= 0, got %g", m->sigma2);
  if (!isfinite(m->beta) || m->beta < 0)
    return nc_fail(NC_EINVAL, "beta must be >= 0, got %g", m->beta);
  if (m->tau_mode != NC_TAU_EMA && m->tau_mode != NC_TAU_FIXED)
    return nc_fail(NC_EINVAL, "unknown tau mode %d", (int)m->tau_mode);
  return NC_OK;
}

static int state_finite(const nc_mode_state *x) {
  return isfinite(x->p) && isfinite(x->s) && isfinite(x->tau);
}

int nc_modes_integrate(const nc_mode_params *m, nc_mode_state *x, int n, double dt, long steps,
                       long every, nc_modes_observer observe, void *ctx) {
  int rc = nc_mode_params_check(m);
  if (rc) return rc;
  if (n < 0 || steps < 0 || every < 1 || !isfinite(dt) || dt <= 0)
    return nc_fail(NC_EINVAL, "bad integration request (n=%d, dt=%g, steps=%ld, every=%ld)", n, dt,
                   steps, every);
  for (int j = 0; j < n; j++)
    if (!state_finite(&x[j])) return nc_fail(NC_EINVAL, "mode %d: initial state not finite", j + 1);
  if (observe && (rc = observe(0, 0.0, x, n, ctx))) return rc;
  for (long k = 1; k <= steps; k++) {
    for (int j = 0; j < n; j++) {
      nc_mode_state next = x[j];
      nc_mode_rk4_step(m, &next, dt);
      if (!state_finite(&next))
        return nc_fail(NC_ENUMERIC, "mode %d is no longer finite at t = %g (try a smaller dt)",
                       j + 1, (double)k * dt);
      x[j] = next;
    }
    /* t = k·dt rather than a running sum, so the time carries no accumulated rounding. */
    if (observe && (k % every == 0 || k == steps) && (rc = observe(k, (double)k * dt, x, n, ctx)))
      return rc;
  }
  return NC_OK;
}

nc_mode_verdict nc_mode_classify(const nc_mode_params *m, const nc_mode_state *x, double tol) {
  if (x->s <= tol && nc_mode_delta(m, x) <= 0) return NC_MODE_COLLAPSED;
  nc_fixed_points fp;
  if (x->s <= tol || nc_fixed_points_compute(x->tau, m->sigma2, m->eta, m->alpha_p, &fp) ||
      !fp.has_nonzero)
    return NC_MODE_MOVING;
  nc_mode_state dx;
  nc_mode_rhs(m, x, &dx);
  int at_rest = fabs(dx.p) <= tol && fabs(dx.s) <= tol && fabs(dx.tau) <= tol;
  return at_rest && fabs(x->p - fp.p_plus) <= tol ? NC_MODE_CONVERGED : NC_MODE_MOVING;
}

const char *nc_mode_verdict_name(nc_mode_verdict v) {
  switch (v) {
    case NC_MODE_COLLAPSED:
      return "collapsed";
    case NC_MODE_CONVERGED:
      return "converged";
    case NC_MODE_MOVING:
      break;
  }
  return "moving";
}

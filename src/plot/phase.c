/* Fixed points of the per-mode (p, s) flow at fixed τ and their 2-D stability (Eqns 11-12). */
#include <math.h>

#include "ncssl/linalg.h"
#include "ncssl/plot.h"
#include "ncssl/status.h"
#include "ncssl/theory.h"

void nc_phase_jacobian(double alpha_p, double sigma2, double eta, double tau, double p, double s,
                       double J[4]) {
  double a = 1.0 + sigma2, gap = tau - a * p; /* τ − (1+σ²)p */
  /* ṗ = α_p s gap − η p,  ṡ = 2 s (p gap − η) */
  J[0] = -alpha_p * a * s - eta;
  J[1] = alpha_p * gap;
  J[2] = 2.0 * s * (tau - 2.0 * a * p);
  J[3] = 2.0 * (p * gap - eta);
}

nc_fp_kind nc_phase_classify(const double J[4], double tol, double wr[2], double wi[2]) {
  double A[4] = {J[0], J[1], J[2], J[3]}, re[2] = {0, 0}, im[2] = {0, 0};
  double scale = 1.0 + nc_frob_d(2, 2, J);
  if (nc_eig_general_d(2, A, re, im) != NC_OK) re[0] = re[1] = NAN;
  for (int k = 0; k < 2; k++) re[k] += 0.0, im[k] += 0.0; /* -0 prints as 0 */
  if (wr) wr[0] = re[0], wr[1] = re[1];
  if (wi) wi[0] = im[0], wi[1] = im[1];
  int neg = 0, pos = 0;
  for (int k = 0; k < 2; k++) {
    if (!isfinite(re[k]) || fabs(re[k]) <= tol * scale) return NC_FP_NONHYPERBOLIC;
    if (re[k] < 0)
      neg++;
    else
      pos++;
  }
  return neg == 2 ? NC_FP_STABLE : pos == 2 ? NC_FP_UNSTABLE : NC_FP_SADDLE;
}

const char *nc_fp_kind_name(nc_fp_kind k) {
  switch (k) {
    case NC_FP_STABLE:
      return "stable";
    case NC_FP_UNSTABLE:
      return "unstable";
    case NC_FP_SADDLE:
      return "saddle";
    default:
      return "half-stable";
  }
}

static void classify_at(double alpha_p, double sigma2, double eta, double tau, nc_phase_point *pt) {
  double J[4];
  nc_phase_jacobian(alpha_p, sigma2, eta, tau, pt->p, pt->s, J);
  pt->kind = nc_phase_classify(J, 1e-9, pt->wr, pt->wi);
}

int nc_phase_fixed_points(double alpha_p, double sigma2, double eta, double tau,
                          nc_phase_point out[3]) {
  nc_fixed_points fp;
  int rc = nc_fixed_points_compute(tau, sigma2, eta, alpha_p, &fp);
  if (rc) return -rc;
  int n = 0;
  out[n++] = (nc_phase_point){.p = 0.0, .s = 0.0};
  if (eta == 0.0) {
    /* The corner where s = 0 meets p = τ/(1+σ²); both lines consist of fixed points. */
    out[n++] = (nc_phase_point){.p = tau / (1.0 + sigma2), .s = 0.0};
  } else if (fp.has_nonzero) {
    /* ṡ = 0 off s = 0 needs p(τ − (1+σ²)p) = η, i.e. p = p*±; then ṗ = 0 puts s on the parabola. */
    out[n++] = (nc_phase_point){.p = fp.p_minus, .s = fp.p_minus * fp.p_minus / alpha_p};
    if (fp.p_plus != fp.p_minus) out[n++] = (nc_phase_point){.p = fp.p_plus, .s = fp.s_plus};
  }
  for (int i = 0; i < n; i++) classify_at(alpha_p, sigma2, eta, tau, &out[i]);
  return n;
}

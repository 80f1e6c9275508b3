/* What the linear model reports: F = W Σ^d Wᵀ and its monitors, the Theorem 1 residual,
 * corr(W_a, W), ‖W‖, and Theorem 3's K. */
#include <math.h>
#include <string.h>

#include "ncssl/linalg.h"
#include "ncssl/linear.h"
#include "ncssl/status.h"

int nc_linear_observe(nc_linear *m, nc_monitor *mon, nc_linear_scalars *out) {
  int n1 = m->n1, n2 = m->n2;
  if (mon->d != n2)
    return nc_fail(NC_EINVAL, "linear: monitor has d = %d, need n2 = %d", mon->d, n2);
  nc_mm_d(0, 0, n2, n1, n1, 1.0, m->W, m->sig_d, 0.0, m->work1);
  nc_mm_d(0, 1, n2, n2, n1, 1.0, m->work1, m->W, 0.0, m->F);
  int rc = nc_monitor_measure(mon, m->F, m->Wp);
  if (rc) return rc;
  /* Theorem 1: W Wᵀ − α_p⁻¹ W_pᵀ W_p − e^{−2ηt} C. */
  double *Rz = m->work2;
  nc_mm_d(0, 1, n2, n2, n1, 1.0, m->W, m->W, 0.0, Rz);
  nc_mm_d(1, 0, n2, n2, n2, -1.0 / m->p.alpha_p, m->Wp, m->Wp, 1.0, Rz);
  nc_axpy_d((size_t)n2 * n2, -exp(-2 * m->p.eta * m->t), m->C0, Rz);
  out->invariant_residual = nc_frob_d(n2, n2, Rz);
  out->corr_wa_w = nc_matrix_corr(n2, n1, m->Wa, m->W);
  out->w_norm = nc_frob_d(n2, n1, m->W);
  return NC_OK;
}

int nc_linear_theorem3_k(nc_linear *m, double *K) {
  const nc_linear_params *p = &m->p;
  int n1 = m->n1, n2 = m->n2;
  if (p->data != NC_DATA_ISOTROPIC)
    return nc_fail(NC_EINVAL, "linear: Theorem 3's K is defined for isotropic data only");
  double tau = 1.0;
  if (p->target == NC_TARGET_FIXED_TAU) tau = p->tau;
  if (p->target == NC_TARGET_EMA) {
    double ww = 0, aw = 0;
    for (long i = 0; i < (long)n2 * n1; i++) {
      ww += m->W[i] * m->W[i];
      aw += m->Wa[i] * m->W[i];
    }
    tau = ww > 0 ? aw / ww : 0.0;
  }
  double s1 = 1 + p->sigma2;
  /* (1+σ²)[(α_p/2) W Wᵀ + W_p² − τ/(1+σ²) W_p] + (η + η_p/2) I: [F, Ẇ_p] brings −η_p L, [Ḟ, W_p]
   * −2η L (Theorem 3's proof with the two decays apart; (3/2)η I when they are equal). */
  nc_mm_d(0, 1, n2, n2, n1, s1 * p->alpha_p / 2, m->W, m->W, 0.0, K);
  nc_mm_d(0, 0, n2, n2, n2, s1, m->Wp, m->Wp, 1.0, K);
  nc_axpy_d((size_t)n2 * n2, -tau, m->Wp, K);
  for (int i = 0; i < n2; i++) K[i * n2 + i] += p->eta + 0.5 * p->eta_p;
  return NC_OK;
}

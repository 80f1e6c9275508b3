/* Private to the per-mode phenomena rows: shared experiment helpers, and the rows that check
 * digest §10's per-mode items (modes_rows.c) next to Observations #1-#10 (phenomena_modes.c). */
#ifndef NCSSL_MODES_ROWS_H
#define NCSSL_MODES_ROWS_H
#include <stddef.h>

#include "ncssl/phenomena.h"
#include "ncssl/theory.h"

/* The RK4 step every row uses; all rows are cheap at this step (the table must stay fast). */
#define NC_ROWS_DT 0.01
/* Verdict tolerance: collapsed means s <= this (and shrinking), converged means within it. */
#define NC_ROWS_TOL 1e-6

/* Integrates n modes to time t_end at NC_ROWS_DT; NC_OK or the integrator's error. */
int nc_rows_integrate(const nc_mode_params *m, nc_mode_state *x, int n, double t_end);
/* Like nc_rows_integrate, also returning the smallest eigenvalue of K (Eqn 17) over all modes
 * and times, and the time it occurred. */
int nc_rows_integrate_kmin(const nc_mode_params *m, nc_mode_state *x, int n, double t_end,
                           double *kmin, double *t_kmin);
/* Counts the modes among x[0..n) whose verdict is v. */
int nc_rows_count(const nc_mode_params *m, const nc_mode_state *x, int n, nc_mode_verdict v);
/* Writes v[0..n) as "a, b, c" with printf format fmt (one %g-like conversion) into buf. */
void nc_rows_list(char *buf, size_t cap, const char *fmt, const double *v, int n);

/* An alignment experiment on the full-matrix isotropic flow (n = 4, σ² = 0, fixed τ): W diagonal
 * with W_ii² = s0[i], W_p = diag(p0) plus a symmetric 1e-6 misalignment; Eqn 7 (symmetrized W_p)
 * unless `trained` (plain Eqn 2). */
typedef struct {
  double tau, eta, eta_p, alpha_p, T;
  const double *s0, *p0;
  int trained;
} nc_align_setup;
typedef struct {
  double comm0, comm_max, comm_end; /* ‖[F, W_p]‖ at the start, its maximum, at the end */
  double rel0, rel_max, rel_end;    /* the same relative to ‖F‖‖W_p‖ */
  double lam_min, lam_at_start;     /* inf_t λ_min(K) (Theorem 3), and at t = 0 */
  double bound_ratio;               /* max_t ‖[F,W_p]‖ / (e^{−2 λ_min t}‖[F,W_p](0)‖) */
  double f_growth, asym_max, p_end; /* ‖F(T)‖/‖F(0)‖, max asymmetry of W_p, top p at the end */
  double k_residual; /* max_t of Theorem 3's identity residual ‖L̇ + KL + LK‖/(‖KL‖ + ‖LK‖) */
} nc_align_run;
int nc_rows_align(const nc_align_setup *a, nc_align_run *out);

/* Rows for digest §10 items 5, 6, 7 and 9. */
int row_modes_invariant(nc_phenomenon *row);
int row_modes_eta_zero(nc_phenomenon *row);
int row_modes_fixed_points(nc_phenomenon *row);
int row_modes_ema_parabola(nc_phenomenon *row);

#endif

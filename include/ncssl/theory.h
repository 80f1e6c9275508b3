/* The paper's linear model, reduced to decoupled per-mode dynamics (Eqns 11-13, digest §4.4-4.8).
 * Notation as in the paper: p (predictor eigenvalue), s (eigenvalue of F), τ (target/online ratio),
 * α_p (relative predictor lr), η (weight decay), β (relative EMA rate), σ² (augmentation variance).
 * Double precision throughout. */
#ifndef NCSSL_THEORY_H
#define NCSSL_THEORY_H

typedef enum {
  NC_TAU_EMA,   /* τ evolves by Eqn 13 (BYOL) */
  NC_TAU_FIXED, /* τ held at its initial value (SimSiam is τ = 1) */
} nc_tau_mode;

typedef struct {
  double alpha_p, eta, sigma2, beta;
  nc_tau_mode tau_mode;
} nc_mode_params;

typedef struct {
  double p, s, tau;
} nc_mode_state;

/* Time derivatives of (p, s, τ) at state x (Eqns 11-13). τ's equation uses the identity
 * ṡ/(2s) = p[τ − (1+σ²)p] − η, so it stays finite as s → 0. */
void nc_mode_rhs(const nc_mode_params *m, const nc_mode_state *x, nc_mode_state *dx);
/* One classical RK4 step of size dt. */
void nc_mode_rk4_step(const nc_mode_params *m, nc_mode_state *x, double dt);
/* Δ = p[τ − (1+σ²)p] − η, so that ṡ = 2sΔ always and ṗ = pΔ on the parabola s = p²/α_p
 * (digest §4.8). */
double nc_mode_delta(const nc_mode_params *m, const nc_mode_state *x);
/* Eigenvalue of Theorem 3's K on an aligned mode: ½[α_p(1+σ²)s + η] − Δ (Eqn 17). */
double nc_mode_k_eigenvalue(const nc_mode_params *m, const nc_mode_state *x);
/* The integral of motion s − p²/α_p (Eqn 14). */
double nc_mode_invariant(const nc_mode_params *m, const nc_mode_state *x);
/* Its closed form at time t from the initial state: (s0 − p0²/α_p)·e^(−2ηt) (corrected sign). */
double nc_mode_invariant_closed_form(const nc_mode_params *m, const nc_mode_state *x0, double t);

/* Checks the parameters (α_p > 0, η, σ², β >= 0, all finite); NC_EINVAL with a message if not. */
int nc_mode_params_check(const nc_mode_params *m);

/* Called by nc_modes_integrate with the step number, time and the n states. A nonzero return
 * stops the integration and is passed on. */
typedef int (*nc_modes_observer)(long step, double t, const nc_mode_state *x, int n, void *ctx);

/* Advances n modes (sharing m; τ is per mode) by `steps` RK4 steps of size dt. `observe`, when
 * not NULL, sees step 0, every `every`-th step (every >= 1) and the last step. Returns NC_OK,
 * NC_EINVAL for bad arguments, NC_ENUMERIC when a state stops being finite (x is left at the last
 * finite state), or the observer's nonzero return. */
int nc_modes_integrate(const nc_mode_params *m, nc_mode_state *x, int n, double dt, long steps,
                       long every, nc_modes_observer observe, void *ctx);

/* Where a mode stands (digest §4.6-4.8). */
typedef enum {
  NC_MODE_MOVING,    /* still moving, or resting somewhere that is neither of the below */
  NC_MODE_COLLAPSED, /* s <= tol and not growing (Δ <= 0): the representation lost the mode */
  NC_MODE_CONVERGED, /* at the stable non-collapsed point: p = p*₊ for its τ, derivatives <= tol */
} nc_mode_verdict;

/* Classifies a state from its values and derivatives. Converged means |p − p*₊(τ)| <= tol,
 * |ṗ|, |ṡ|, |τ̇| <= tol and s > tol; with η = 0, p*₊ = τ/(1+σ²) and any s > 0 qualifies. */
nc_mode_verdict nc_mode_classify(const nc_mode_params *m, const nc_mode_state *x, double tol);
/* "moving", "collapsed" or "converged". */
const char *nc_mode_verdict_name(nc_mode_verdict v);

/* Fixed points of the predictor dynamics on the invariant parabola at fixed τ (Eqn 16, §4.7). */
typedef struct {
  double eta_c;    /* τ²/(4(1+σ²)) */
  int has_nonzero; /* 1 when 0 < η <= η_c (p*₋, p*₊ exist) or η = 0 (p = τ/(1+σ²)) */
  double p_minus;  /* NaN when absent; equals 0 when η = 0 */
  double p_plus;   /* NaN when absent */
  double s_plus;   /* (p*₊)²/α_p, NaN when absent */
  /* Stability of 0, p*₋, p*₊: +1 stable, -1 unstable, 0 half-stable (saddle-node at η = 0). */
  int stab_zero, stab_minus, stab_plus;
} nc_fixed_points;

/* Computes the fixed points; returns NC_EINVAL (with a message) for τ <= 0, σ² < 0, η < 0,
 * α_p <= 0 or non-finite input. */
int nc_fixed_points_compute(double tau, double sigma2, double eta, double alpha_p,
                            nc_fixed_points *out);

#endif

/* The paper's full-matrix linear BYOL/SimSiam model (Eqns 1-4, 7; App. D), double precision.
 * Online W (n2×n1), predictor W_p (n2×n2), target W_a (n2×n1); data statistics Σ^s = E[x1 x1ᵀ]
 * (= X + X') and Σ^d = E[x1 x2ᵀ] (= X). Two modes share one state:
 *   flow: RK4 with a fixed step on Eqns 2-4 written with Σ^s, Σ^d (App. D form, weight decay η
 *         on W and η_p on W_p), or their symmetrized form (--predictor symmetric, Eqn 7);
 *   sgd:  minibatch SGD on sampled Gaussian views with the loss of Eqn 1 (or its symmetrized form),
 *         base lr α, predictor lr α·α_p, EMA rate α·β, weight decay α·η (digest §1.3, item 13);
 *         time t = step·α so both modes share a clock.
 * F, the matrix the monitors look at, is the paper's W X Wᵀ = W Σ^d Wᵀ (W Wᵀ for isotropic data).
 * DirectPred's F̂ estimates the correlation of the predictor input, W Σ^s Wᵀ.
 *
 * DirectPred's scale: this loss is not normalised, so the scale of W_p matters. We use Eqn 18 as
 * printed, p_j = sqrt(s_j) + ε·max_k s_k: with ε = 0 it puts W_p on the invariant parabola
 * s = p² that the trained flow settles on (α_p = 1, §4.5), so its fixed point is p*₊ exactly. The
 * official code's sqrt(s_j/s_max) + ε is scale-free, which is right only under the cosine loss:
 * here it pins the top mode at p = 1 + ε > τ/(1+σ²), so that mode always shrinks and, F̂ being
 * renormalised each time, every mode follows it to 0 (measured: σ² = 0.5, η = 0.05, SimSiam, four
 * modes, ‖W‖ falls from 1.27 to 2e-5 by t = 15). */
#ifndef NCSSL_LINEAR_H
#define NCSSL_LINEAR_H
#include "ncssl/monitor.h"
#include "ncssl/rng.h"

typedef enum { NC_LIN_FLOW, NC_LIN_SGD } nc_linear_mode;

typedef enum {
  NC_DATA_ISOTROPIC,      /* Σ^x = I, Σ^n = σ²I: Σ^s = (1+σ²)I, Σ^d = I */
  NC_DATA_ADDITIVE,       /* Σ^s = Σ^x + Σ^n, Σ^d = Σ^x (diagonal spectra) */
  NC_DATA_MULTIPLICATIVE, /* App. D.2 scrambling: Σ^d = P^c Σ^x P^c, Σ^s = Σ^x (see linear.c) */
} nc_data_kind;

typedef enum {
  NC_PRED_TRAINED,   /* W_p follows Eqn 2 / SGD */
  NC_PRED_IDENTITY,  /* W_p ≡ I (the no-predictor remark) */
  NC_PRED_SYMMETRIC, /* symmetrized flow (Eqn 7) / W_p ← (W_p + W_pᵀ)/2 after each SGD step */
  NC_PRED_DIRECTPRED, /* W_p = U diag(sqrt(s_j) + ε·max s) Uᵀ from F̂ every freq steps (Eqn 18) */
  NC_PRED_DIRECTCOPY, /* W_p = F̂ + εI every freq steps */
} nc_predictor_kind;

typedef enum {
  NC_TARGET_EMA,       /* Ẇ_a = β(W − W_a) (BYOL) */
  NC_TARGET_ONLINE,    /* W_a ≡ W (SimSiam; also the only target allowed without stop-gradient) */
  NC_TARGET_FIXED_TAU, /* W_a ≡ τW with τ held fixed (Assumption 1; Theorem 3, Fig. 9) */
} nc_target_kind;

typedef struct {
  nc_linear_mode mode;
  int n1, n2;
  nc_data_kind data;
  double sigma2;          /* isotropic noise; default noise spectrum of the additive kind */
  const double *spectrum; /* Σ^x diagonal, nspectrum = n1 values (NULL: all 1) */
  int nspectrum;
  const double *noise; /* Σ^n diagonal, n1 values (NULL: all σ²) */
  int nnoise;
  int preserve; /* multiplicative: the first `preserve` coordinates are kept, the rest scrambled */
  nc_predictor_kind predictor;
  nc_target_kind target;
  double beta, tau;
  int stopgrad;       /* 0: the gradient also flows through the target branch (needs W_a ≡ W) */
  int symmetric_loss; /* sgd: ¼E[‖W_p f1 − f2a‖² + ‖W_p f2 − f1a‖²] instead of Eqn 1 */
  double alpha_p, eta, eta_p;
  double rho, eps;   /* DirectPred/DirectCopy: F̂ ← ρF̂ + (1−ρ)·corr, and the ε boost */
  long freq;         /* set W_p from F̂ every freq steps (trained by gradient in between) */
  int freeze_online; /* hold W (and so F) fixed: only W_p and W_a move (item 11) */
  double init_scale; /* W entries ~ N(0, init_scale²/n1), W_p entries ~ N(0, init_scale²/n2) */
  int target_zero_init; /* EMA target starts at 0 (Fig. 7) instead of a copy of W */
  unsigned long long seed;
  double dt;  /* flow: the RK4 step; sgd: the base learning rate α */
  long batch; /* sgd minibatch size */
} nc_linear_params;

typedef struct {
  nc_linear_params p;
  int n1, n2;
  double *sig_s, *sig_d; /* n1×n1 */
  double *y;             /* state: W (n2×n1), then W_p (n2×n2), then W_a (n2×n1) */
  double *W, *Wp, *Wa;   /* views into y */
  double *C0;            /* n2×n2: W(0)W(0)ᵀ − α_p⁻¹W_p(0)ᵀW_p(0) (Theorem 1) */
  double *Fhat;          /* n2×n2 DirectPred/DirectCopy estimate */
  int fhat_ready;
  double *F; /* n2×n2: W Σ^d Wᵀ after nc_linear_observe */
  double t;
  long step;
  nc_rng rng;
  long ny;                            /* number of state entries */
  double *k1, *k2, *k3, *k4, *ytmp;   /* RK4 stages */
  double *work1, *work2, *work3;      /* n2×max(n1,n2) scratch */
  double *X1, *X2, *Z, *R, *gW, *gWp; /* sgd scratch */
  double *sqrt_x, *sqrt_n;            /* per-coordinate standard deviations for sampling */
} nc_linear;

/* Observables beyond the monitors. */
typedef struct {
  double invariant_residual; /* ‖WWᵀ − α_p⁻¹W_pᵀW_p − e^{−2ηt}C‖_F (Theorem 1) */
  double corr_wa_w;          /* ⟨W_a, W⟩/(‖W_a‖‖W‖) (Fig. 7) */
  double w_norm;             /* ‖W‖_F */
} nc_linear_scalars;

/* Fills p with the defaults of `ncssl theory linear` (isotropic, σ² = 0.5, trained predictor,
 * EMA β = 0.4, η = η_p = 0.01, α_p = 1, n1 = n2 = 8, flow dt = 0.01). */
void nc_linear_defaults(nc_linear_params *p);
/* Checks p, builds Σ^s and Σ^d, allocates and draws the initial state from p->seed. Returns NC_OK,
 * NC_EINVAL (message names the matching CLI flag) or NC_ENOMEM. */
int nc_linear_init(nc_linear *m, const nc_linear_params *p);
/* Frees everything (safe on a zeroed model). */
void nc_linear_free(nc_linear *m);
/* Replaces the state (Wa is used by the EMA target only; NULL there means a copy of W, or 0 with
 * target_zero_init; other targets are set to τW); resets t = 0,
 * the Theorem 1 constant C, and DirectPred's F̂. */
int nc_linear_set_state(nc_linear *m, const double *W, const double *Wp, const double *Wa);
/* Advances one RK4 step (flow) or one minibatch step (sgd). NC_ENUMERIC when the state blows up. */
int nc_linear_step(nc_linear *m);
/* The flow's right-hand side at state y (laid out like m->y) into dy. */
void nc_linear_rhs(nc_linear *m, const double *y, double *dy);

/* Draws B pairs of views (rows of X1, X2, each B×n1) from the data model. */
void nc_linear_sample_views(nc_linear *m, int B, double *X1, double *X2);
/* Minibatch loss at (W, W_p, W_a) on views X1, X2 (B×n1); adds nothing, writes dL/dW and dL/dW_p
 * into gW, gWp when non-NULL. Stop-gradient: W_a is a constant; without it W_a = W is used and
 * differentiated. Scratch comes from m. */
double nc_linear_batch_loss(nc_linear *m, const double *W, const double *Wp, const double *Wa,
                            int B, const double *X1, const double *X2, double *gW, double *gWp);

/* Computes F = W Σ^d Wᵀ into m->F, measures the monitors on (F, W_p) and the scalars. */
int nc_linear_observe(nc_linear *m, nc_monitor *mon, nc_linear_scalars *out);
/* Theorem 3's K = (1+σ²)[(α_p/2)F + W_p² − τ/(1+σ²)·W_p] + (η + η_p/2)I (= (3/2)ηI for η_p = η)
 * for isotropic data with F = WWᵀ
 * (τ = 1 for W_a ≡ W, the least-squares ratio ⟨W_a,W⟩/‖W‖² for EMA); NC_EINVAL otherwise. */
int nc_linear_theorem3_k(nc_linear *m, double *K);
/* The DirectPred predictor of Eqn 18 from a symmetric F̂ (n×n): U diag(sqrt(max(s_j,0)) + ε·max s)
 * Uᵀ into Wp; work needs 2n² + n doubles. */
int nc_directpred_predictor(int n, const double *Fhat, double eps, double *Wp, double *work);

#endif

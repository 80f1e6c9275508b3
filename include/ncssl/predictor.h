/* Predictors: one interface {observe, forward, backward, after_step} over several strategies.
 *
 *   mlp        Linear(d, h) → BatchNorm1d(h) → ReLU → Linear(h, d), trained by SGD (BYOL's head);
 *              `symmetric` (Table 3's two-layer rows, the official form) sets after every step
 *              w = (w0 + w1ᵀ)/2, w0 ← w, w1 ← wᵀ for the two weights w0 (h×d) and w1 (d×h).
 *   linear     Linear(d, d), bias optional, trained by SGD; `symmetric` sets
 *              W_p ← (W_p + W_pᵀ)/2 after every step (the paper's "sym W_p", Tables 3 and 5).
 *   directpred W_p set from the correlation F̂ of the predictor input (paper §6, official code):
 *              F̂ ← ρF̂ + (1−ρ)·E_B[f fᵀ] over both views (not centred; first call F̂ = E_B[f fᵀ]);
 *              when niter % freq == 0 (niter from 0): F̂ = U diag(s) Uᵀ (ssyevd) and
 *              W_p = U diag(p) Uᵀ, p_j = max(sqrt(max(s_j, 0)/s_max) + ε, 1e-4);
 *              with `use_offset`, p_j = sqrt(max(s_j/s_max − c, 1e-4)) (Table 7, any sign of c;
 *              the 1e-4 floor is the official code's dyn_eps_inside clamp, c = −dyn_eps);
 *              between sets W_p takes ordinary SGD steps.
 *   optimal    Table 1's plugged-in least-squares predictor: EMA estimates (weight ρ, as F̂) of
 *              F̂ = E[f fᵀ] and C = E[f_a fᵀ] (f_a: the target's output for the other view, the
 *              one q = W_p f is compared with), and when niter % freq == 0
 *              W_p = ½(C + Cᵀ)·(F̂ + λ·s_max·I)⁻¹, the solution of W_p(F̂ + λ s_max I) =
 *              ½(E[f_a fᵀ] + E[f f_aᵀ]). The paper gives no regulariser; we use a ridge λ relative
 *              to F̂'s top eigenvalue s_max (scale-free like ε; `ridge`, default 0.01), because
 *              F̂ of a network with a few dead directions is singular. SGD steps in between.
 *   directset  as directpred with p_j = max((max(s_j, 0)/s_max)^α + ε, 1e-4) (Wang, Chen, Du & Tian
 *              2021): α = 1/2 is DirectPred; α = 1 is DirectCopy, W_p = F̂/s_max + εI, computed
 *              without an eigendecomposition (s_max by power iteration).
 *   identity   no predictor: q = f (the collapse ablation).
 *
 * DirectCopy normalisation: the official code sets W_p = F̂ + εI. We divide by s_max first. The
 * cosine loss ignores the scale of W_p but not the balance between F̂ and εI: without the division
 * ε's weight relative to F̂ drifts with the feature norm during training (and with d), so a given ε
 * means nothing fixed; with it ε is relative to a unit top eigenvalue, the same convention as
 * DirectPred's ε (digest §6.2) and the formula p_j = (s_j/s_max)^α + ε of the directset family.
 *
 * The official order of operations in a step (digest §6.2): observe(f1, f2) BEFORE the predictor
 * forward (F̂ includes this batch), forward with the W_p set at the end of the previous step,
 * backward, optimizer step, then after_step (which may overwrite the SGD step). */
#ifndef NCSSL_PREDICTOR_H
#define NCSSL_PREDICTOR_H
#include "ncssl/backend.h"
#include "ncssl/comm.h"
#include "ncssl/param.h"
#include "ncssl/rng.h"

typedef enum {
  NC_PREDICTOR_MLP = 0,
  NC_PREDICTOR_LINEAR = 1,
  NC_PREDICTOR_DIRECTPRED = 2,
  NC_PREDICTOR_DIRECTSET = 3,
  NC_PREDICTOR_IDENTITY = 4,
  NC_PREDICTOR_OPTIMAL = 5
} nc_predictor_type;

typedef struct {
  nc_predictor_type type;
  int dim;       /* d: input and output width (128) */
  int hidden;    /* mlp hidden width (512) */
  int bn_affine; /* mlp: BatchNorm1d with γ, β (the paper's predictor has affine = False) */
  int bias;      /* linear / directpred / directset: a trained bias (paper default: none) */
  int symmetric; /* linear: W_p ← (W_p + W_pᵀ)/2 after each step; mlp: w1 = w0ᵀ (see above) */
  double rho;    /* F̂ moving-average weight ρ (0.3) */
  double eps;    /* ε added to p_j (0.1) */
  int freq;      /* set W_p when niter % freq == 0 (1) */
  int use_offset; /* directpred: p_j = sqrt(max(s_j/s_max − offset, 0)), no ε */
  double offset;  /* c of Table 7 (in units of s_max) */
  double alpha;   /* directset exponent α (1/2 = DirectPred, 1 = DirectCopy) */
  double ridge;   /* optimal: λ of (F̂ + λ s_max I)⁻¹ (0.01) */
} nc_predictor_config;

typedef struct nc_predictor nc_predictor;

/* Parses "mlp|linear|directpred|directset|directcopy|identity|optimal" (directcopy = directset, α =
 * 1) into cfg->type (and alpha). Returns NC_OK or NC_EUSAGE. */
int nc_predictor_parse(const char *name, nc_predictor_config *cfg);
/* The defaults for a type: d = 128, hidden 512, no bias, ρ 0.3, ε 0.1, freq 1, α 1/2, ridge 0.01.
 */
nc_predictor_config nc_predictor_default(nc_predictor_type type);
/* Builds a predictor for batches of up to `batch` rows, two activation slots (one per view).
 * All memory is allocated here. Returns NC_OK, NC_EINVAL or NC_ENOMEM. */
int nc_predictor_create(nc_predictor **out, const nc_predictor_config *cfg, int batch);
/* The same on backend be (NULL: the CPU): the network and F̂ live there; the eigendecomposition
 * that sets W_p runs on the host (128×128). */
int nc_predictor_create_on(nc_backend *be, nc_predictor **out, const nc_predictor_config *cfg,
                           int batch);
/* Frees it (NULL is fine). */
void nc_predictor_free(nc_predictor *p);
/* PyTorch's default initialisation of the trained weights from rng. */
void nc_predictor_init(nc_predictor *p, nc_rng *rng);
/* The named trainable parameters (an empty list for identity). */
nc_param_list *nc_predictor_params(nc_predictor *p);
/* Accumulates F̂ from this step's (detached) online outputs of both views, n rows each; a no-op
 * for the predictors that do not use F̂. */
void nc_predictor_observe(nc_predictor *p, int n, const float *f1, const float *f2);
/* The optimal predictor's cross term: C ← ρC + (1−ρ)/(2n)·(z2ᵀf1 + z1ᵀf2), z_v the target of
 * view v (q1 = W_p f1 is compared with z2); call after observe in the same step. A no-op for the
 * other predictors. C is summed on the host (after waiting for a GPU backend's queued work).
 * Returns NC_OK or the error of that wait or of a data-parallel run's all-reduce. */
int nc_predictor_observe_target(nc_predictor *p, int n, const float *f1, const float *f2,
                                const float *z1, const float *z2);
/* C (d×d) of the optimal predictor, NULL for the others (for checkpoints). */
float *nc_predictor_cross(nc_predictor *p);
/* Data-parallel runs: with a communicator of more than one rank, observe folds in the GLOBAL
 * batch (Σ f fᵀ and the row count all-reduced; its error, if any, comes back from
 * nc_predictor_forward), so every rank holds the same F̂ and sets the same W_p; with sync_bn the
 * mlp predictor's batch norm is synchronised too (nc_net_set_comm). */
int nc_predictor_set_comm(nc_predictor *p, nc_comm *comm, int sync_bn);
/* q = predictor(f) for n rows into activation slot `slot` (0 or 1). */
int nc_predictor_forward(nc_predictor *p, int slot, int n, const float *f, float *q);
/* Backward of the last forward in slot: parameter gradients accumulate, df is overwritten. */
int nc_predictor_backward(nc_predictor *p, int slot, const float *dq, float *df);
/* After the optimizer step: symmetric projection, or DirectPred's set when niter % freq == 0;
 * then niter++. Returns NC_OK or NC_ENUMERIC (the eigensolver failed). */
int nc_predictor_after_step(nc_predictor *p);
/* F̂ (d×d, row-major) or NULL when the predictor keeps none or has seen no batch yet. */
const float *nc_predictor_corr(const nc_predictor *p);
/* The d×d linear weight W_p (NULL for mlp and identity). */
float *nc_predictor_weight(nc_predictor *p);
/* Steps seen by after_step so far. */
long nc_predictor_niter(const nc_predictor *p);
/* Checkpoint access (added for `ncssl train --resume`): pointers to the state beyond the
 * parameters: F̂ (d×d floats, NULL when unused), batches folded into it, niter, and the
 * power-iteration vector (d doubles, NULL when unused). Any pointer argument may be NULL. */
void nc_predictor_state(nc_predictor *p, float **F, int **seen, long **niter, double **pv);
/* Seconds spent setting W_p from F̂ (eigendecomposition or DirectCopy) so far. */
double nc_predictor_set_seconds(const nc_predictor *p);
/* The largest eigenvalue of a symmetric positive semi-definite d×d matrix by power iteration
 * (double precision; v holds d doubles, a starting vector that is updated in place, so a slowly
 * changing matrix converges in a few iterations). */
double nc_psd_top_eigenvalue(int d, const float *F, double *v, double *tmp);

#endif

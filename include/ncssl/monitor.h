/* Representation monitors shared by the linear model and the deep engine (paper Fig. 2, §9):
 * the spectrum of F (the correlation of the predictor input), the spectrum of W_p, how far W_p
 * and F are from commuting, the per-eigenvector alignment cos(W_p u_j, u_j), the asymmetry of
 * W_p and the effective rank of F. Double precision. A workspace is allocated once
 * (nc_monitor_init); nc_monitor_measure itself calls no allocator (LAPACKE's driver routines
 * still allocate their own internal work arrays). */
#ifndef NCSSL_MONITOR_H
#define NCSSL_MONITOR_H

typedef struct {
  int d;
  /* Results of the last nc_monitor_measure. */
  double *f_eigvals; /* d eigenvalues of F, descending */
  double *f_eigvecs; /* d×d row-major, column j is the eigenvector of f_eigvals[j] */
  double *wp_eig_re; /* d eigenvalues of W_p, real parts, descending */
  double *wp_eig_im; /* their imaginary parts */
  double
      *alignment; /* d values cos(W_p u_j, u_j), u_j = column j of f_eigvecs (0 when W_p u_j = 0) */
  double commutator; /* ‖F W_p − W_p F‖_F */
  double asymmetry;  /* ‖W_p − W_pᵀ‖_F / ‖W_p‖_F (0 when W_p = 0) */
  double
      effective_rank; /* exp(entropy of the normalised eigenvalues of F), see nc_effective_rank */
  /* Scratch space. */
  double *work_a, *work_b, *work_v;
} nc_monitor;

/* Allocates the workspace for d×d matrices; returns NC_OK, NC_EINVAL (d < 1) or NC_ENOMEM. */
int nc_monitor_init(nc_monitor *m, int d);
/* Frees the workspace (safe on a zeroed or already freed monitor). */
void nc_monitor_free(nc_monitor *m);
/* Measures everything above for a symmetric F (d×d) and a square W_p (d×d); NULL W_p measures F
 * only (W_p fields become 0). Returns NC_OK or NC_ENUMERIC (non-finite input, solver failure). */
int nc_monitor_measure(nc_monitor *m, const double *F, const double *Wp);

/* Effective rank of a spectrum: exp(−Σ q_j log q_j) with q_j = max(λ_j, 0)/Σ max(λ_k, 0), the
 * exponential of the Shannon entropy of the normalised eigenvalues (Roy & Vetterli); it is k for k
 * equal non-zero eigenvalues and 0 when all are <= 0. */
double nc_effective_rank(int n, const double *eigvals);
/* Normalised Frobenius inner product ⟨A, B⟩ / (‖A‖_F ‖B‖_F) of two m×n matrices, e.g.
 * corr(W_a, W) of Fig. 7; 0 when either is zero. */
double nc_matrix_corr(int m, int n, const double *A, const double *B);

#endif

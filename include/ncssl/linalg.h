/* Thin wrappers over oneDNN and OpenBLAS (GEMM) and LAPACKE (eigendecompositions), row-major
 * throughout, plus the few small helpers every module needs. */
#ifndef NCSSL_LINALG_H
#define NCSSL_LINALG_H
#include <stddef.h>

/* C = alpha * op(A) op(B) + beta * C, op(X) = X or Xᵀ (ta/tb nonzero = transpose);
 * op(A) is m×k, op(B) is k×n, C is m×n; all row-major and densely packed. nc_mm_f runs oneDNN's
 * SGEMM on the OpenMP threads when built with libdnnl (OpenBLAS's otherwise); nc_mm_d OpenBLAS. */
void nc_mm_d(int ta, int tb, int m, int n, int k, double alpha, const double *A, const double *B,
             double beta, double *C);
void nc_mm_f(int ta, int tb, int m, int n, int k, float alpha, const float *A, const float *B,
             float beta, float *C);

/* C = alpha·op(A)·op(B) + beta·C, row-major with leading dimensions, through the fastest SGEMM
 * this build has: oneDNN's (AVX-512 kernels; ~2× Debian's OpenBLAS 0.3.21 here) for products of
 * 4e6 multiply-adds or more when built with libdnnl, OpenBLAS otherwise. */
void nc_sgemm(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);
/* "oneDNN" or "OpenBLAS": what nc_sgemm uses for large products. */
const char *nc_sgemm_backend(void);

/* OpenBLAS single-threaded until nc_blas_restore(returned value): for calls made inside the
 * caller's own OpenMP threads, and for small LAPACK problems, where OpenBLAS's threads cost more
 * than they give. The thread count found is handed back by nc_blas_restore, so --threads still
 * holds for everything else. */
int nc_blas_single_thread(void);
void nc_blas_restore(int found);

/* Problems up to this size are decomposed with OpenBLAS single-threaded: ssyevd on 128×128
 * (DirectPred's F̂) took 6 ms on one thread and 290–1200 ms on two on a busy 2-core machine,
 * where the second thread waits for a core at each of its many small synchronisations. */
#define NC_EIGH_SINGLE_THREAD_MAX_N 512

/* Symmetric eigendecomposition (dsyevd): A (n×n, symmetric, row-major) is overwritten with the
 * eigenvectors as columns, w gets the eigenvalues in ascending order. */
int nc_eigh_d(int n, double *A, double *w);
/* The float version (ssyevd). */
int nc_eigh_f(int n, float *A, float *w);
/* Eigenvalues of a general real matrix (dgeev, no vectors); A is destroyed. Sorted by real part,
 * descending. */
int nc_eig_general_d(int n, double *A, double *wr, double *wi);

/* Frobenius norm of an m×n matrix. */
double nc_frob_d(int m, int n, const double *A);
/* B = Aᵀ for A m×n (B is n×m); A and B must not overlap. */
void nc_transpose_d(int m, int n, const double *A, double *B);
/* Sets A (n×n) to the identity times a. */
void nc_eye_d(int n, double a, double *A);
/* y += a * x over n entries. */
void nc_axpy_d(size_t n, double a, const double *x, double *y);
/* ‖A − Aᵀ‖_F / ‖A‖_F for square A (0 when A = 0). */
double nc_asymmetry_d(int n, const double *A);

#endif

#include "ncssl/linalg.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ncssl/status.h"

#ifdef NCSSL_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>
#endif

void nc_mm_d(int ta, int tb, int m, int n, int k, double alpha, const double *A, const double *B,
             double beta, double *C) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n,
              k, alpha, A, ta ? m : k, B, tb ? k : n, beta, C, n);
}

void nc_mm_f(int ta, int tb, int m, int n, int k, float alpha, const float *A, const float *B,
             float beta, float *C) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n,
              k, alpha, A, ta ? m : k, B, tb ? k : n, beta, C, n);
}

void nc_sgemm(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc) {
#ifdef NCSSL_HAVE_DNNL
  /* Small products stay in OpenBLAS: outside a thread team oneDNN would start its own. */
  if ((double)m * n * k >= 4e6) {
    dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
#endif
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n,
              k, alpha, A, lda, B, ldb, beta, C, ldc);
}

const char *nc_sgemm_backend(void) {
#ifdef NCSSL_HAVE_DNNL
  return "oneDNN";
#else
  return "OpenBLAS";
#endif
}

int nc_eigh_d(int n, double *A, double *w) {
  for (int i = 0; i < n * n; i++)
    if (!isfinite(A[i])) return nc_fail(NC_ENUMERIC, "eigh: matrix has a non-finite entry");
  lapack_int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', n, A, n, w);
  if (info != 0) return nc_fail(NC_ENUMERIC, "eigh: dsyevd failed (info %d)", (int)info);
  return NC_OK;
}

int nc_eigh_f(int n, float *A, float *w) {
  for (int i = 0; i < n * n; i++)
    if (!isfinite(A[i])) return nc_fail(NC_ENUMERIC, "eigh: matrix has a non-finite entry");
  lapack_int info = LAPACKE_ssyevd(LAPACK_ROW_MAJOR, 'V', 'U', n, A, n, w);
  if (info != 0) return nc_fail(NC_ENUMERIC, "eigh: ssyevd failed (info %d)", (int)info);
  return NC_OK;
}

int nc_eig_general_d(int n, double *A, double *wr, double *wi) {
  for (int i = 0; i < n * n; i++)
    if (!isfinite(A[i])) return nc_fail(NC_ENUMERIC, "eig: matrix has a non-finite entry");
  lapack_int info = LAPACKE_dgeev(LAPACK_ROW_MAJOR, 'N', 'N', n, A, n, wr, wi, NULL, 1, NULL, 1);
  if (info != 0) return nc_fail(NC_ENUMERIC, "eig: dgeev failed (info %d)", (int)info);
  /* Insertion sort by real part, descending: n is small (a predictor's width). */
  for (int i = 1; i < n; i++) {
    double r = wr[i], im = wi[i];
    int j = i - 1;
    while (j >= 0 && wr[j] < r) {
      wr[j + 1] = wr[j];
      wi[j + 1] = wi[j];
      j--;
    }
    wr[j + 1] = r;
    wi[j + 1] = im;
  }
  return NC_OK;
}

double nc_frob_d(int m, int n, const double *A) {
  double s = 0;
  for (long i = 0; i < (long)m * n; i++) s += A[i] * A[i];
  return sqrt(s);
}

void nc_transpose_d(int m, int n, const double *A, double *B) {
  for (int i = 0; i < m; i++)
    for (int j = 0; j < n; j++) B[(long)j * m + i] = A[(long)i * n + j];
}

void nc_eye_d(int n, double a, double *A) {
  memset(A, 0, sizeof(double) * n * n);
  for (int i = 0; i < n; i++) A[i * n + i] = a;
}

void nc_axpy_d(size_t n, double a, const double *x, double *y) {
  for (size_t i = 0; i < n; i++) y[i] += a * x[i];
}

double nc_asymmetry_d(int n, const double *A) {
  double num = 0, den = 0;
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) {
      double d = A[i * n + j] - A[j * n + i];
      num += d * d;
      den += A[i * n + j] * A[i * n + j];
    }
  return den > 0 ? sqrt(num / den) : 0.0;
}

#include "ncssl/linalg.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdint.h>
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

/* With oneDNN every size goes to its SGEMM, which runs on the OpenMP threads the convolutions
 * already use. OpenBLAS's own thread pool, woken by even a 32×512×128 product in a linear layer,
 * keeps spinning afterwards against those OpenMP threads; on the 2-core Xeon that cost the width-16
 * batch-32 training step 20-30% (and its Prescott-class SGEMM kernel is slower as well). */
void nc_mm_f(int ta, int tb, int m, int n, int k, float alpha, const float *A, const float *B,
             float beta, float *C) {
#ifdef NCSSL_HAVE_DNNL
  (void)dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, alpha, A, ta ? m : k, B, tb ? k : n,
                   beta, C, n);
#else
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n,
              k, alpha, A, ta ? m : k, B, tb ? k : n, beta, C, n);
#endif
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

/* What a LAPACK info code means, for messages that name the routine, size and flag. */
int nc_blas_single_thread(void) {
  int found = openblas_get_num_threads();
  if (found > 1) openblas_set_num_threads(1);
  return found;
}

void nc_blas_restore(int found) {
  if (found > 1) openblas_set_num_threads(found);
}

static int lapack_failed(const char *routine, int n, lapack_int info) {
  if (info < 0)
    return nc_fail(NC_ENUMERIC, "%s on a %dx%d matrix: parameter %d had an illegal value", routine,
                   n, n, (int)-info);
  return nc_fail(NC_ENUMERIC, "%s on a %dx%d matrix did not converge (info %d)", routine, n, n,
                 (int)info);
}

/* ?syevd's workspace, from its documentation (JOBZ = 'V'): LWORK = 1 + 6n + 2n², LIWORK = 3 + 5n.
 * Computed here rather than queried: the query returns LWORK as a float, which for ssyevd at
 * n = 4096 rounds 33,579,009 down to 33,579,008, one short, and LAPACK then refuses it
 * ("parameter number 8 had an illegal value"). */
static int syevd_workspace(const char *routine, int n, lapack_int *lwork, lapack_int *liwork) {
  size_t nn = (size_t)n, lw = 1 + 6 * nn + 2 * nn * nn, liw = 3 + 5 * nn;
  if (n <= 1) lw = 1, liw = 1;
  if (lw > (size_t)INT32_MAX || liw > (size_t)INT32_MAX)
    return nc_fail(NC_ENUMERIC,
                   "%s on a %dx%d matrix: its workspace of %zu elements is over "
                   "LAPACK's 32-bit limit",
                   routine, n, n, lw);
  *lwork = (lapack_int)lw;
  *liwork = (lapack_int)liw;
  return NC_OK;
}

static int finite_d(const double *A, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!isfinite(A[i])) return 0;
  return 1;
}

static int finite_f(const float *A, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!isfinite(A[i])) return 0;
  return 1;
}

int nc_eigh_d(int n, double *A, double *w) {
  if (!finite_d(A, (size_t)n * n))
    return nc_fail(NC_ENUMERIC, "eigh: matrix has a non-finite entry");
  lapack_int lwork = 0, liwork = 0;
  int rc = syevd_workspace("LAPACK dsyevd", n, &lwork, &liwork);
  if (rc) return rc;
  double *work = malloc((size_t)lwork * sizeof *work);
  lapack_int *iwork = malloc((size_t)liwork * sizeof *iwork);
  lapack_int info = -1000;
  if (work && iwork) {
    const int found = n <= NC_EIGH_SINGLE_THREAD_MAX_N ? nc_blas_single_thread() : 1;
    info = LAPACKE_dsyevd_work(LAPACK_ROW_MAJOR, 'V', 'U', n, A, n, w, work, lwork, iwork, liwork);
    nc_blas_restore(found);
  }
  free(work), free(iwork);
  if (info == -1000 || info == LAPACK_WORK_MEMORY_ERROR || info == LAPACK_TRANSPOSE_MEMORY_ERROR)
    return nc_fail(NC_ENOMEM, "eigh: out of memory for LAPACK dsyevd on a %dx%d matrix", n, n);
  return info ? lapack_failed("LAPACK dsyevd", n, info) : NC_OK;
}

int nc_eigh_f(int n, float *A, float *w) {
  if (!finite_f(A, (size_t)n * n))
    return nc_fail(NC_ENUMERIC, "eigh: matrix has a non-finite entry");
  lapack_int lwork = 0, liwork = 0;
  int rc = syevd_workspace("LAPACK ssyevd", n, &lwork, &liwork);
  if (rc) return rc;
  float *work = malloc((size_t)lwork * sizeof *work);
  lapack_int *iwork = malloc((size_t)liwork * sizeof *iwork);
  lapack_int info = -1000;
  if (work && iwork) {
    const int found = n <= NC_EIGH_SINGLE_THREAD_MAX_N ? nc_blas_single_thread() : 1;
    info = LAPACKE_ssyevd_work(LAPACK_ROW_MAJOR, 'V', 'U', n, A, n, w, work, lwork, iwork, liwork);
    nc_blas_restore(found);
  }
  free(work), free(iwork);
  if (info == -1000 || info == LAPACK_WORK_MEMORY_ERROR || info == LAPACK_TRANSPOSE_MEMORY_ERROR)
    return nc_fail(NC_ENOMEM, "eigh: out of memory for LAPACK ssyevd on a %dx%d matrix", n, n);
  return info ? lapack_failed("LAPACK ssyevd", n, info) : NC_OK;
}

int nc_eig_general_d(int n, double *A, double *wr, double *wi) {
  if (!finite_d(A, (size_t)n * n))
    return nc_fail(NC_ENUMERIC, "eig: matrix has a non-finite entry");
  lapack_int info = LAPACKE_dgeev(LAPACK_ROW_MAJOR, 'N', 'N', n, A, n, wr, wi, NULL, 1, NULL, 1);
  if (info != 0) return lapack_failed("LAPACK dgeev", n, info);
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

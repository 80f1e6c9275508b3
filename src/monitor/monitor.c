#include "ncssl/monitor.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ncssl/linalg.h"
#include "ncssl/status.h"

int nc_monitor_init(nc_monitor *m, int d) {
  memset(m, 0, sizeof *m);
  if (d < 1) return nc_fail(NC_EINVAL, "monitor: dimension must be >= 1, got %d", d);
  m->d = d;
  size_t dd = (size_t)d * d;
  m->f_eigvals = calloc(d, sizeof(double));
  m->f_eigvecs = calloc(dd, sizeof(double));
  m->wp_eig_re = calloc(d, sizeof(double));
  m->wp_eig_im = calloc(d, sizeof(double));
  m->alignment = calloc(d, sizeof(double));
  m->work_a = calloc(dd, sizeof(double));
  m->work_b = calloc(dd, sizeof(double));
  m->work_v = calloc(d, sizeof(double));
  if (!m->f_eigvals || !m->f_eigvecs || !m->wp_eig_re || !m->wp_eig_im || !m->alignment ||
      !m->work_a || !m->work_b || !m->work_v) {
    nc_monitor_free(m);
    return nc_fail(NC_ENOMEM, "monitor: out of memory for d = %d", d);
  }
  return NC_OK;
}

void nc_monitor_free(nc_monitor *m) {
  free(m->f_eigvals);
  free(m->f_eigvecs);
  free(m->wp_eig_re);
  free(m->wp_eig_im);
  free(m->alignment);
  free(m->work_a);
  free(m->work_b);
  free(m->work_v);
  memset(m, 0, sizeof *m);
}

double nc_effective_rank(int n, const double *eigvals) {
  double total = 0;
  for (int j = 0; j < n; j++) total += eigvals[j] > 0 ? eigvals[j] : 0;
  if (!(total > 0)) return 0.0;
  double entropy = 0;
  for (int j = 0; j < n; j++) {
    double q = eigvals[j] > 0 ? eigvals[j] / total : 0;
    if (q > 0) entropy -= q * log(q);
  }
  return exp(entropy);
}

double nc_matrix_corr(int m, int n, const double *A, const double *B) {
  double ab = 0, aa = 0, bb = 0;
  for (long i = 0; i < (long)m * n; i++) {
    ab += A[i] * B[i];
    aa += A[i] * A[i];
    bb += B[i] * B[i];
  }
  return (aa > 0 && bb > 0) ? ab / sqrt(aa * bb) : 0.0;
}

/* Eigenpairs of F in descending order (dsyevd returns them ascending). */
static int f_spectrum(nc_monitor *m, const double *F) {
  int d = m->d;
  memcpy(m->work_a, F, sizeof(double) * d * d);
  int rc = nc_eigh_d(d, m->work_a, m->work_v);
  if (rc) return rc;
  for (int j = 0; j < d; j++) {
    int src = d - 1 - j;
    m->f_eigvals[j] = m->work_v[src];
    for (int i = 0; i < d; i++) m->f_eigvecs[i * d + j] = m->work_a[i * d + src];
  }
  return NC_OK;
}

int nc_monitor_measure(nc_monitor *m, const double *F, const double *Wp) {
  int d = m->d;
  int rc = f_spectrum(m, F);
  if (rc) return rc;
  m->effective_rank = nc_effective_rank(d, m->f_eigvals);
  if (!Wp) {
    memset(m->wp_eig_re, 0, sizeof(double) * d);
    memset(m->wp_eig_im, 0, sizeof(double) * d);
    memset(m->alignment, 0, sizeof(double) * d);
    m->commutator = m->asymmetry = 0;
    return NC_OK;
  }
  /* [F, W_p] = F W_p − W_p F. */
  nc_mm_d(0, 0, d, d, d, 1.0, F, Wp, 0.0, m->work_a);
  nc_mm_d(0, 0, d, d, d, -1.0, Wp, F, 1.0, m->work_a);
  m->commutator = nc_frob_d(d, d, m->work_a);
  m->asymmetry = nc_asymmetry_d(d, Wp);
  /* Column j of W_p U is W_p u_j. */
  nc_mm_d(0, 0, d, d, d, 1.0, Wp, m->f_eigvecs, 0.0, m->work_a);
  for (int j = 0; j < d; j++) {
    double dot = 0, nn = 0, nu = 0;
    for (int i = 0; i < d; i++) {
      double a = m->work_a[i * d + j], u = m->f_eigvecs[i * d + j];
      dot += a * u;
      nn += a * a;
      nu += u * u;
    }
    m->alignment[j] = (nn > 0 && nu > 0) ? dot / sqrt(nn * nu) : 0.0;
  }
  memcpy(m->work_b, Wp, sizeof(double) * d * d);
  return nc_eig_general_d(d, m->work_b, m->wp_eig_re, m->wp_eig_im);
}

// ctest-labels: unit
/* Monitors against hand-computable cases. */
#include <math.h>
#include <string.h>

#include "ncssl/linalg.h"
#include "ncssl/monitor.h"
#include "ncssl/rng.h"
#include "ncssl/status.h"
#include "testing.h"

static void diagonal_case(void) {
  nc_monitor m;
  CHECK(nc_monitor_init(&m, 3) == NC_OK);
  double F[9] = {3, 0, 0, 0, 1, 0, 0, 0, 2}, Wp[9] = {1, 0, 0, 0, 2, 0, 0, 0, 3};
  CHECK(nc_monitor_measure(&m, F, Wp) == NC_OK);
  CHECK_NEAR(m.f_eigvals[0], 3, 1e-14);
  CHECK_NEAR(m.f_eigvals[1], 2, 1e-14);
  CHECK_NEAR(m.f_eigvals[2], 1, 1e-14);
  /* The top eigenvector of F is ±e_0. */
  CHECK_NEAR(fabs(m.f_eigvecs[0 * 3 + 0]), 1, 1e-14);
  CHECK_NEAR(m.wp_eig_re[0], 3, 1e-14);
  CHECK_NEAR(m.wp_eig_re[2], 1, 1e-14);
  CHECK_NEAR(m.commutator, 0, 1e-14);
  CHECK_NEAR(m.asymmetry, 0, 1e-14);
  for (int j = 0; j < 3; j++) CHECK_NEAR(m.alignment[j], 1, 1e-14);
  double q[3] = {0.5, 2.0 / 6, 1.0 / 6}, h = 0;
  for (int j = 0; j < 3; j++) h -= q[j] * log(q[j]);
  CHECK_NEAR(m.effective_rank, exp(h), 1e-13);
  /* W_p = −I anti-aligns every eigenvector. */
  nc_eye_d(3, -1.0, Wp);
  CHECK(nc_monitor_measure(&m, F, Wp) == NC_OK);
  for (int j = 0; j < 3; j++) CHECK_NEAR(m.alignment[j], -1, 1e-14);
  nc_monitor_free(&m);
}

static void rotation_case(void) {
  nc_monitor m;
  CHECK(nc_monitor_init(&m, 2) == NC_OK);
  /* A 90° rotation: W_p e_j ⟂ e_j, ‖W−Wᵀ‖/‖W‖ = √8/√2 = 2, [F, W_p] = [[0,−1],[−1,0]]. */
  double F[4] = {2, 0, 0, 1}, Wp[4] = {0, -1, 1, 0};
  CHECK(nc_monitor_measure(&m, F, Wp) == NC_OK);
  CHECK_NEAR(m.alignment[0], 0, 1e-14);
  CHECK_NEAR(m.alignment[1], 0, 1e-14);
  CHECK_NEAR(m.asymmetry, 2, 1e-14);
  CHECK_NEAR(m.commutator, sqrt(2.0), 1e-14);
  CHECK_NEAR(m.wp_eig_re[0], 0, 1e-14);
  CHECK_NEAR(fabs(m.wp_eig_im[0]), 1, 1e-14);
  CHECK_NEAR(m.effective_rank, exp(-(2.0 / 3) * log(2.0 / 3) - (1.0 / 3) * log(1.0 / 3)), 1e-13);
  /* F only. */
  CHECK(nc_monitor_measure(&m, F, NULL) == NC_OK);
  CHECK_NEAR(m.commutator, 0, 0);
  nc_monitor_free(&m);
}

/* F and W_p diagonal in one random basis Q commute; W_p u_j = p_j u_j gives alignment sign(p_j)
 * in F's (descending) order. */
static void shared_basis_case(void) {
  enum { D = 6 };
  nc_rng r;
  nc_rng_seed(&r, 7);
  double S[D * D], Q[D * D], w[D];
  for (int i = 0; i < D; i++)
    for (int j = 0; j <= i; j++) S[i * D + j] = S[j * D + i] = nc_rng_normal(&r);
  memcpy(Q, S, sizeof S);
  CHECK(nc_eigh_d(D, Q, w) == NC_OK);
  double s[D] = {0.1, 0.5, 1, 2, 4, 8}, p[D] = {-1, 0.3, 0.7, -0.2, 1.5, 2};
  double F[D * D], Wp[D * D], QS[D * D], QP[D * D];
  for (int i = 0; i < D; i++)
    for (int j = 0; j < D; j++) {
      QS[i * D + j] = Q[i * D + j] * s[j];
      QP[i * D + j] = Q[i * D + j] * p[j];
    }
  nc_mm_d(0, 1, D, D, D, 1.0, QS, Q, 0.0, F);
  nc_mm_d(0, 1, D, D, D, 1.0, QP, Q, 0.0, Wp);
  nc_monitor m;
  CHECK(nc_monitor_init(&m, D) == NC_OK);
  CHECK(nc_monitor_measure(&m, F, Wp) == NC_OK);
  CHECK(m.commutator < 1e-12);
  CHECK(m.asymmetry < 1e-14);
  for (int j = 0; j < D; j++) {
    CHECK_NEAR(m.f_eigvals[j], s[D - 1 - j], 1e-12);
    CHECK_NEAR(m.alignment[j], p[D - 1 - j] > 0 ? 1 : -1, 1e-12);
  }
  CHECK_NEAR(m.wp_eig_re[0], 2, 1e-12);
  CHECK_NEAR(m.wp_eig_re[D - 1], -1, 1e-12);
  nc_monitor_free(&m);
}

int main(void) {
  diagonal_case();
  rotation_case();
  shared_basis_case();
  double ones[4] = {2, 2, 2, 2}, zeros[3] = {0, -1, 0}, some[3] = {1, 1, 0};
  CHECK_NEAR(nc_effective_rank(4, ones), 4, 1e-13);
  CHECK_NEAR(nc_effective_rank(3, zeros), 0, 0);
  CHECK_NEAR(nc_effective_rank(3, some), 2, 1e-13);
  double A[6] = {1, 2, 3, 4, 5, 6}, B[6], O[6] = {0};
  for (int i = 0; i < 6; i++) B[i] = -2 * A[i];
  CHECK_NEAR(nc_matrix_corr(2, 3, A, A), 1, 1e-14);
  CHECK_NEAR(nc_matrix_corr(2, 3, A, B), -1, 1e-14);
  CHECK_NEAR(nc_matrix_corr(2, 3, A, O), 0, 0);
  double P[4] = {1, 0, 0, 1}, Qm[4] = {0, 1, 1, 0};
  CHECK_NEAR(nc_matrix_corr(2, 2, P, Qm), 0, 0);
  nc_monitor m;
  CHECK(nc_monitor_init(&m, 0) == NC_EINVAL);
  double bad[1] = {NAN}, wp1[1] = {1};
  CHECK(nc_monitor_init(&m, 1) == NC_OK);
  CHECK(nc_monitor_measure(&m, bad, wp1) == NC_ENUMERIC);
  nc_monitor_free(&m);
  return nc_test_done();
}

// ctest-labels: unit
/* GEMM and eigendecomposition wrappers against hand-checkable cases. */
#include <string.h>

#include "ncssl/linalg.h"
#include "ncssl/rng.h"
#include "ncssl/status.h"
#include "testing.h"

int main(void) {
  /* GEMM with transposes: C = Aᵀ B for A 2×3, B 2×2 gives 3×2. */
  double A[6] = {1, 2, 3, 4, 5, 6}, B[4] = {1, 0, 0, 1}, C[6];
  nc_mm_d(1, 0, 3, 2, 2, 1.0, A, B, 0.0, C);
  double want[6] = {1, 4, 2, 5, 3, 6};
  for (int i = 0; i < 6; i++) CHECK_NEAR(C[i], want[i], 1e-15);

  /* Eigendecomposition of a random symmetric matrix: A U = U diag(w), ascending w. */
  enum { N = 7 };
  nc_rng r;
  nc_rng_seed(&r, 42);
  double S[N * N], V[N * N], w[N], AV[N * N];
  for (int i = 0; i < N; i++)
    for (int j = 0; j <= i; j++) S[i * N + j] = S[j * N + i] = nc_rng_normal(&r);
  memcpy(V, S, sizeof S);
  CHECK(nc_eigh_d(N, V, w) == NC_OK);
  nc_mm_d(0, 0, N, N, N, 1.0, S, V, 0.0, AV);
  for (int i = 0; i < N; i++)
    for (int j = 0; j < N; j++) CHECK_NEAR(AV[i * N + j], V[i * N + j] * w[j], 1e-12);
  for (int j = 1; j < N; j++) CHECK(w[j - 1] <= w[j]);

  float Sf[N * N], wf[N];
  for (int i = 0; i < N * N; i++) Sf[i] = (float)S[i];
  CHECK(nc_eigh_f(N, Sf, wf) == NC_OK);
  for (int j = 0; j < N; j++) CHECK_NEAR(wf[j], w[j], 1e-4);

  /* Rotation by 90 degrees has eigenvalues ±i. */
  double R[4] = {0, -1, 1, 0}, wr[2], wi[2];
  CHECK(nc_eig_general_d(2, R, wr, wi) == NC_OK);
  CHECK_NEAR(wr[0], 0, 1e-14);
  CHECK_NEAR(fabs(wi[0]), 1, 1e-14);

  /* A NaN entry is refused with a message, not passed to LAPACK. */
  S[3] = NAN;
  CHECK(nc_eigh_d(N, S, w) == NC_ENUMERIC);
  CHECK(strstr(nc_last_error(), "non-finite") != NULL);

  double M[4] = {1, 2, 0, 1};
  CHECK_NEAR(nc_asymmetry_d(2, M), sqrt(8.0 / 6.0), 1e-15);
  return nc_test_done();
}

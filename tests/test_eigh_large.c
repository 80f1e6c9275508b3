// ctest-labels: slow
/* DirectPred with --proj-out 4096 eigendecomposes a 4096x4096 F̂ (issue 11, case 8). */
#include <stdio.h>
#include <stdlib.h>

#include "ncssl/linalg.h"
#include "ncssl/status.h"
#include "testing.h"

/* ssyevd at n = 4096 needs LWORK = 33,579,009, which the float workspace query rounds down to
 * 33,579,008; every even n from 2898 on (LWORK over 2^24) rounds down the same way, and n = 2898
 * costs a third of 4096. The workspace is now computed. A LAPACK refusal would name the routine and
 * size. */
static void test_eigh_large(void) {
  const int n = 2898;
  float *A = calloc((size_t)n * n, sizeof *A), *w = malloc(n * sizeof *w);
  for (int i = 0; i < n; i++) A[(size_t)i * n + i] = (float)(i % 7);
  int rc = nc_eigh_f(n, A, w);
  if (rc) fprintf(stderr, "nc_eigh_f: %s\n", nc_last_error());
  CHECK(rc == NC_OK && w[n - 1] == 6.0f && w[0] == 0.0f);
  free(A), free(w);
}

int main(void) {
  test_eigh_large();
  return nc_test_done();
}

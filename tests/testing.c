#include "testing.h"

int nc_test_failures = 0, nc_test_checks = 0;

int nc_test_done(void) {
  printf("%d passed, %d failed\n", nc_test_checks - nc_test_failures, nc_test_failures);
  return nc_test_failures ? 1 : 0;
}

double nc_test_rel_dist(const float *a, const float *b, size_t n) {
  double d = 0, r = 0;
  for (size_t i = 0; i < n; i++)
    d += (a[i] - b[i]) * (double)(a[i] - b[i]), r += b[i] * (double)b[i];
  return r > 0 ? sqrt(d / r) : sqrt(d);
}

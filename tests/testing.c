#include "testing.h"

int nc_test_failures = 0, nc_test_checks = 0;

int nc_test_done(void) {
  printf("%d passed, %d failed\n", nc_test_checks - nc_test_failures, nc_test_failures);
  return nc_test_failures ? 1 : 0;
}

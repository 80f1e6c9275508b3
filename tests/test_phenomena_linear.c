// ctest-labels: unit
/* Every full-matrix phenomena row runs, fills its fields, and reproduces; together in < 5 s. */
#include <string.h>
#include <time.h>

#include "ncssl/phenomena.h"
#include "ncssl/status.h"
#include "testing.h"

int main(void) {
  struct timespec a, b; /* CPU time: the rows' cost, not the load of a shared machine */
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
  int n = 0;
  for (const nc_phenomenon_fn *f = nc_phenomena_linear_rows; *f; f++, n++) {
    nc_phenomenon row;
    memset(&row, 0, sizeof row);
    int rc = (*f)(&row);
    CHECK(rc == NC_OK);
    CHECK(row.claim[0] && row.setting[0] && row.quantity[0] && row.expected[0] && row.measured[0]);
    /* A field that fills its buffer was probably cut short by snprintf. */
    CHECK(strlen(row.claim) < sizeof row.claim - 1);
    CHECK(strlen(row.setting) < sizeof row.setting - 1);
    CHECK(strlen(row.quantity) < sizeof row.quantity - 1);
    CHECK(strlen(row.expected) < sizeof row.expected - 1);
    CHECK(strlen(row.measured) < sizeof row.measured - 1);
    if (rc || !row.reproduced)
      fprintf(stderr, "row %d did not reproduce: %s | expected %s | measured %s (%s)\n", n,
              row.claim, row.expected, row.measured, rc ? nc_last_error() : "ran");
    CHECK(row.reproduced);
    printf("%-80s  %s\n  measured: %s\n", row.claim, row.reproduced ? "yes" : "NO", row.measured);
  }
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
  double secs = (b.tv_sec - a.tv_sec) + 1e-9 * (b.tv_nsec - a.tv_nsec);
  printf("%d rows in %.2f s\n", n, secs);
  CHECK(n >= 8);
  CHECK(secs < 5.0);
  return nc_test_done();
}

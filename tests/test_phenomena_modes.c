// ctest-labels: unit
/* Every per-mode phenomena row runs, reproduces, fills its strings, gives the same text when run
 * again (everything is seeded), and the whole modes part of the table stays well under 3 s. */
#include <string.h>
#include <time.h>

#include "ncssl/phenomena.h"
#include "ncssl/status.h"
#include "testing.h"

/* CPU time of this process: the budget is the table's cost, which wall time on a machine shared
 * with other builds does not measure. */
static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(void) {
  enum { MAX_ROWS = 64 };
  static char claims[MAX_ROWS][sizeof(((nc_phenomenon *)0)->claim)];
  int n = 0;
  double t0 = now();
  for (const nc_phenomenon_fn *f = nc_phenomena_modes_rows; *f; f++, n++) {
    nc_phenomenon row, again;
    memset(&row, 0, sizeof row);
    memset(&again, 0, sizeof again);
    CHECK((*f)(&row) == NC_OK);
    CHECK(row.reproduced);
    if (!row.reproduced)
      fprintf(stderr, "not reproduced: %s\n  expected: %s\n  measured: %s\n", row.claim,
              row.expected, row.measured);
    CHECK(row.claim[0] && row.setting[0] && row.quantity[0] && row.expected[0] && row.measured[0]);
    /* No string was cut short by its buffer (a cut one fills it to the last byte). */
    CHECK(strlen(row.setting) + 1 < sizeof row.setting);
    CHECK(strlen(row.measured) + 1 < sizeof row.measured);
    CHECK(strlen(row.expected) + 1 < sizeof row.expected);
    CHECK(strlen(row.quantity) + 1 < sizeof row.quantity);
    if (n < MAX_ROWS) memcpy(claims[n], row.claim, sizeof row.claim);
    CHECK((*f)(&again) == NC_OK);
    CHECK(strcmp(row.measured, again.measured) == 0 && again.reproduced == row.reproduced);
  }
  double secs = (now() - t0) / 2; /* every row ran twice */
  printf("%d per-mode rows in %.2f s\n", n, secs);
  /* Observations #1-#10 plus digest items 5, 6, 7, 9. */
  CHECK(n == 14);
  /* The budget holds for optimized builds; unoptimized sanitizer builds run several times slower.
   */
#if defined(__OPTIMIZE__) && !defined(__SANITIZE_ADDRESS__)
  CHECK(secs < 3.0);
#else
  CHECK(secs < 30.0);
#endif
  /* Observations #1-#10 each have a row. */
  for (int k = 1; k <= 10; k++) {
    char tag[16];
    snprintf(tag, sizeof tag, "Obs#%d:", k);
    int found = 0;
    for (int i = 0; i < n && i < MAX_ROWS; i++) found += strncmp(claims[i], tag, strlen(tag)) == 0;
    CHECK(found == 1);
  }
  return nc_test_done();
}

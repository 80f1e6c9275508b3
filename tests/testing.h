/* A tiny test harness: CHECK records a failure and goes on; tests end with nc_test_done(). */
#ifndef NCSSL_TESTING_H
#define NCSSL_TESTING_H
#include <math.h>
#include <stddef.h>
#include <stdio.h>

extern int nc_test_failures, nc_test_checks;

#define CHECK(cond)                                                            \
  do {                                                                         \
    nc_test_checks++;                                                          \
    if (!(cond)) {                                                             \
      nc_test_failures++;                                                      \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                          \
  } while (0)

/* |got - want| <= tol, printing both on failure. */
#define CHECK_NEAR(got, want, tol)                                                                \
  do {                                                                                            \
    double g_ = (got), w_ = (want), t_ = (tol);                                                   \
    nc_test_checks++;                                                                             \
    if (!(fabs(g_ - w_) <= t_)) {                                                                 \
      nc_test_failures++;                                                                         \
      fprintf(stderr, "%s:%d: %s = %.9g, expected %.9g (tol %g)\n", __FILE__, __LINE__, #got, g_, \
              w_, t_);                                                                            \
    }                                                                                             \
  } while (0)

/* ‖a − b‖ / ‖b‖ over n floats, in double (0 when both are 0). */
double nc_test_rel_dist(const float *a, const float *b, size_t n);

/* Prints "N passed, M failed" and returns the process exit code. */
int nc_test_done(void);

#endif

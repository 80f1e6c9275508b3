/* Finite-difference gradient checks shared by the layer and network tests.
 * The loss is L = Σ r_i·y_i with fixed random r (summed in double); each checked entry is perturbed
 * by ±h and the central difference is compared with the analytic gradient. Float forwards limit
 * the accuracy to about 1e-7·|L|/h, so the checks use the whole-tensor relative error
 * ‖num − ana‖ / max(‖num‖, ‖ana‖) rather than single entries. */
#ifndef NCSSL_TEST_GRADCHECK_H
#define NCSSL_TEST_GRADCHECK_H
#include <math.h>
#include <stddef.h>

typedef struct {
  void (*forward)(void *ctx); /* recompute the output from the current inputs */
  const float *y;             /* the output the loss reads */
  size_t ny;
  const double *r; /* loss weights, ny of them */
} gc_problem;

static inline double gc_loss(const gc_problem *p) {
  p->forward(NULL);
  double s = 0;
  for (size_t i = 0; i < p->ny; i++) s += p->r[i] * p->y[i];
  return s;
}

/* Relative error between the analytic gradient `ana` of `x` (n floats) and central differences
 * with step h, checking at most `max_entries` entries spread evenly over x (all when 0). */
static inline double gc_check(const gc_problem *p, float *x, const float *ana, size_t n, float h,
                              size_t max_entries) {
  size_t stride = (max_entries && n > max_entries) ? (n + max_entries - 1) / max_entries : 1;
  double num2 = 0, ana2 = 0, diff2 = 0;
  for (size_t i = 0; i < n; i += stride) {
    float keep = x[i];
    x[i] = keep + h;
    double lp = gc_loss(p);
    x[i] = keep - h;
    double lm = gc_loss(p);
    x[i] = keep;
    /* the step actually taken in float */
    double num = (lp - lm) / ((double)(keep + h) - (double)(keep - h));
    num2 += num * num;
    ana2 += (double)ana[i] * ana[i];
    diff2 += (num - ana[i]) * (num - ana[i]);
  }
  p->forward(NULL);
  double scale = sqrt(num2 > ana2 ? num2 : ana2);
  return scale > 0 ? sqrt(diff2) / scale : sqrt(diff2);
}

/* The same for functions with kinks (ReLU, max-pool inside a network): an entry whose step
 * crosses a kink shows a second difference |L(+h) + L(−h) − 2L(0)| far above the smooth case, and
 * that difference divided by 2h bounds the error the kink can cause; entries where that bound
 * exceeds `kink_tol` times the tensor's gradient scale (root mean square, at least `floor`) are
 * skipped (counted in *skipped). Gradients that are zero in exact
 * arithmetic (a bias before batch norm) are compared absolutely: the denominator is at least
 * `floor` per checked entry. */
static inline double gc_check_kinks(const gc_problem *p, float *x, const float *ana, size_t n,
                                    float h, size_t max_entries, double kink_tol, double floor,
                                    size_t *checked, size_t *skipped) {
  size_t stride = (max_entries && n > max_entries) ? (n + max_entries - 1) / max_entries : 1;
  double l0 = gc_loss(p), num2 = 0, ana2 = 0, diff2 = 0, rms = 0;
  size_t m = 0;
  for (size_t i = 0; i < n; i += stride) rms += (double)ana[i] * ana[i], m++;
  rms = sqrt(rms / m);
  kink_tol *= rms > floor ? rms : floor;
  *checked = *skipped = 0;
  for (size_t i = 0; i < n; i += stride) {
    float keep = x[i];
    x[i] = keep + h;
    double lp = gc_loss(p);
    x[i] = keep - h;
    double lm = gc_loss(p);
    x[i] = keep;
    double step = (double)(keep + h) - (double)(keep - h);
    if (fabs(lp + lm - 2 * l0) / step > kink_tol) {
      (*skipped)++;
      continue;
    }
    (*checked)++;
    double num = (lp - lm) / step;
    num2 += num * num;
    ana2 += (double)ana[i] * ana[i];
    diff2 += (num - ana[i]) * (num - ana[i]);
  }
  p->forward(NULL);
  if (*checked == 0) return 0;
  double scale = sqrt(num2 > ana2 ? num2 : ana2);
  if (scale < floor * sqrt((double)*checked)) scale = floor * sqrt((double)*checked);
  return sqrt(diff2) / scale;
}

#endif

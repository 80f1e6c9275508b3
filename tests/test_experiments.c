// ctest-labels: unit
/* `ncssl reproduce`'s experiments as data: every experiment and claim is well formed, and the
 * verdict is computed from the measurements (it flips when they do, stays undecided within the
 * noise or with a row missing, and one seed cannot beat the scale's noise floor). */
#include <math.h>
#include <string.h>

#include "ncssl/experiments.h"
#include "testing.h"

static void test_data(void) {
  int n;
  const nc_experiment *e = nc_experiments(&n);
  CHECK(n >= 11);
  for (int i = 0; i < n; i++) {
    CHECK(e[i].nrows >= 1 && e[i].nrows <= NC_EXP_MAX_ROWS);
    CHECK(e[i].nclaims >= 1 && e[i].nclaims <= 4);
    CHECK(e[i].name[0] && e[i].title[0] && e[i].paper_data[0]);
    for (int j = 0; j < i; j++) CHECK(strcmp(e[i].name, e[j].name) != 0);
    for (int r = 0; r < e[i].nrows; r++) {
      CHECK(e[i].rows[r].label[0] && strstr(e[i].rows[r].options, "--predictor"));
      for (int q = 0; q < r; q++) CHECK(strcmp(e[i].rows[r].options, e[i].rows[q].options) != 0);
    }
    const unsigned all = (1u << e[i].nrows) - 1;
    for (int c = 0; c < e[i].nclaims; c++) {
      const nc_exp_claim *cl = &e[i].claims[c];
      CHECK(cl->text[0] && cl->a && (cl->a & ~all) == 0);
      if (cl->kind == NC_CLAIM_RISES || cl->kind == NC_CLAIM_FALLS)
        CHECK((cl->a & (cl->a - 1)) == 0); /* one row */
      else
        CHECK(cl->b && (cl->b & ~all) == 0 && (cl->a & cl->b) == 0);
    }
  }
  CHECK(nc_exp_scale_get("quick") && nc_exp_scale_get("small") && nc_exp_scale_get("paper"));
  CHECK(nc_exp_scale_get("huge") == NULL);
  CHECK(nc_exp_scale_get("paper")->seeds == 5);
}

static nc_exp_measure meas(int n, double mean, double std) {
  nc_exp_measure m = {n, mean, std, NAN, NAN, 0};
  return m;
}

static void test_verdicts(void) {
  const nc_exp_scale *small = nc_exp_scale_get("small"), *quick = nc_exp_scale_get("quick");
  nc_exp_claim below = {"a below b", NC_CLAIM_BELOW, NC_METRIC_PROBE, 1u, 2u, 10};
  nc_exp_measure m[2] = {meas(5, 36.6, 1.9), meas(5, 72.9, 0.2)};
  nc_claim_result r = nc_claim_decide(&below, m, 2, small);
  CHECK(r.verdict == NC_VERDICT_REPRODUCED);
  CHECK_NEAR(r.diff, 72.9 - 10 - 36.6, 1e-9);
  /* The same claim on swapped measurements is refuted: the verdict comes from the numbers. */
  nc_exp_measure sw[2] = {m[1], m[0]};
  CHECK(nc_claim_decide(&below, sw, 2, small).verdict == NC_VERDICT_NOT_REPRODUCED);
  /* Within the noise: undecided. */
  nc_exp_measure close[2] = {meas(2, 60, 3), meas(2, 71, 3)};
  CHECK(nc_claim_decide(&below, close, 2, small).verdict == NC_VERDICT_UNDECIDED);
  /* One seed each at the quick scale: a 26-point gap is not enough against its noise floor. */
  nc_exp_measure one[2] = {meas(1, 40, 0), meas(1, 76, 0)};
  CHECK(nc_claim_decide(&below, one, 2, quick).verdict == NC_VERDICT_UNDECIDED);
  CHECK(nc_claim_decide(&below, one, 2, small).verdict == NC_VERDICT_REPRODUCED);
  /* A row without a result: undecided, and counted. */
  nc_exp_measure miss[2] = {meas(0, NAN, 0), m[1]};
  r = nc_claim_decide(&below, miss, 2, small);
  CHECK(r.verdict == NC_VERDICT_UNDECIDED && r.missing == 1);
  /* NOT_BELOW over groups: the worst row of a against the best of b. */
  nc_exp_claim nb = {"a not below b", NC_CLAIM_NOT_BELOW, NC_METRIC_PROBE, 1u | 2u, 4u, 1};
  nc_exp_measure g[3] = {meas(5, 77.9, 0.2), meas(5, 77.5, 0.2), meas(5, 74.5, 0.5)};
  CHECK(nc_claim_decide(&nb, g, 3, small).verdict == NC_VERDICT_REPRODUCED);
  g[1].mean = 70;
  CHECK(nc_claim_decide(&nb, g, 3, small).verdict == NC_VERDICT_NOT_REPRODUCED);
  /* RISES / FALLS on one row's first and last monitor values. */
  nc_exp_claim rises = {"rises", NC_CLAIM_RISES, NC_METRIC_ALIGNMENT, 1u, 0, 0.1};
  nc_exp_measure a = {2, 70, 1, 0.3, 0.9, 0.01};
  CHECK(nc_claim_decide(&rises, &a, 1, small).verdict == NC_VERDICT_REPRODUCED);
  nc_exp_claim falls = {"falls", NC_CLAIM_FALLS, NC_METRIC_ASYMMETRY, 1u, 0, 0.1};
  CHECK(nc_claim_decide(&falls, &a, 1, small).verdict == NC_VERDICT_NOT_REPRODUCED);
  CHECK(nc_claim_decide(&rises, &a, 1, quick).verdict == NC_VERDICT_UNDECIDED);
  CHECK(strcmp(nc_verdict_name(NC_VERDICT_NOT_REPRODUCED), "not reproduced") == 0);
}

static void test_mean_std(void) {
  double x[4] = {1, NAN, 3, 5}, mean, std;
  CHECK(nc_exp_mean_std(x, 4, &mean, &std) == 3);
  CHECK_NEAR(mean, 3, 1e-12);
  CHECK_NEAR(std, 2, 1e-12);
  CHECK(nc_exp_mean_std(x + 1, 1, &mean, &std) == 0 && isnan(mean));
}

int main(void) {
  test_data();
  test_verdicts();
  test_mean_std();
  return nc_test_done();
}

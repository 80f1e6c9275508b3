/* `ncssl theory fixed-points`: η_c, p*₋, p*₊, s*₊ and their stability (digest §4.7). */
#include <math.h>
#include <stdio.h>

#include "cli.h"
#include "ncssl/json.h"
#include "ncssl/status.h"
#include "ncssl/theory.h"

static const char *stab_word(int s) {
  return s > 0 ? "stable" : s < 0 ? "unstable" : "half-stable";
}

int cmd_theory_fixed_points(int argc, char **argv) {
  double tau = 1.0, sigma2 = 0.5, eta = 0.05, alpha_p = 1.0;
  int json = 0;
  const nc_opt opts[] = {
      {"tau", NC_OPT_DOUBLE, &tau, "target/online ratio tau (held fixed)", NC_POSITIVE},
      {"sigma2", NC_OPT_DOUBLE, &sigma2, "augmentation variance sigma^2", NC_NONNEG},
      {"eta", NC_OPT_DOUBLE, &eta, "weight decay eta", NC_NONNEG},
      {"alpha-p", NC_OPT_DOUBLE, &alpha_p, "relative predictor learning rate alpha_p", NC_POSITIVE},
      {"json", NC_OPT_FLAG, &json, "print JSON"},
  };
  const nc_cmd_spec spec = {
      "theory fixed-points",
      "[--tau T] [--sigma2 S] [--eta E] [--alpha-p A] [--json]",
      "Fixed points of the predictor dynamics on the invariant parabola s = p^2/alpha_p at fixed\n"
      "tau (Eqn 16): eta_c = tau^2/(4(1+sigma^2)); for 0 < eta <= eta_c the collapse basin is\n"
      "p < p*-, the useful one p > p*-, which flows to p*+ (s*+ = p*+^2/alpha_p).",
      opts,
      sizeof opts / sizeof opts[0],
      0};
  nc_args args;
  int rc = nc_cli_parse(&spec, argc, argv, &args);
  if (rc >= 0) return rc;

  nc_fixed_points fp;
  if ((rc = nc_fixed_points_compute(tau, sigma2, eta, alpha_p, &fp)))
    return nc_cli_error(nc_cli_exit_code(rc), NULL);

  /* The list of fixed points: 0, then p*₋ and p*₊ when they exist and differ from 0. */
  double pts[3] = {0.0};
  int stab[3] = {fp.stab_zero};
  int n = 1;
  if (fp.has_nonzero) {
    if (fp.p_minus > 0) {
      pts[n] = fp.p_minus;
      stab[n++] = fp.stab_minus;
    }
    pts[n] = fp.p_plus;
    stab[n++] = fp.stab_plus;
  }
  if (json) {
    printf("{\"tau\": ");
    nc_json_num(stdout, tau);
    nc_json_field(stdout, "sigma2", sigma2);
    nc_json_field(stdout, "eta", eta);
    nc_json_field(stdout, "alpha_p", alpha_p);
    nc_json_field(stdout, "eta_c", fp.eta_c);
    nc_json_field(stdout, "p_minus", fp.p_minus);
    nc_json_field(stdout, "p_plus", fp.p_plus);
    nc_json_field(stdout, "s_plus", fp.s_plus);
    printf(", \"fixed_points\": ");
    nc_json_nums(stdout, pts, n);
    printf(", \"stable\": [");
    for (int i = 0; i < n; i++) printf("%s%s", i ? ", " : "", stab[i] > 0 ? "true" : "false");
    printf("], \"stability\": [");
    for (int i = 0; i < n; i++) printf("%s\"%s\"", i ? ", " : "", stab_word(stab[i]));
    printf("]}\n");
    return NC_EXIT_OK;
  }
  printf("tau = %g, sigma^2 = %g, eta = %g, alpha_p = %g\n", tau, sigma2, eta, alpha_p);
  printf("eta_c = tau^2/(4(1+sigma^2)) = %.6f\n", fp.eta_c);
  if (!fp.has_nonzero)
    printf("eta > eta_c: p*- and p*+ do not exist; only p = 0 (stable): collapse is unavoidable\n");
  for (int i = 0; i < n; i++) {
    const char *name = i == 0 ? "p = 0  " : (fp.p_minus > 0 && i == 1) ? "p*-    " : "p*+    ";
    printf("%s = %.6f  %s\n", name, pts[i], stab_word(stab[i]));
  }
  if (fp.has_nonzero) printf("s*+ = p*+^2/alpha_p = %.6f\n", fp.s_plus);
  return NC_EXIT_OK;
}

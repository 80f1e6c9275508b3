/* `ncssl theory modes`: integrates the decoupled per-mode dynamics (Eqns 11-13) with RK4 at a
 * fixed step, for one or many modes at once; trajectory as CSV, final state as text or JSON. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "ncssl/afile.h"
#include "ncssl/json.h"
#include "ncssl/report.h"
#include "ncssl/status.h"
#include "ncssl/theory.h"

/* Most RK4 steps one run may take, so a typo in --t-end cannot hang the machine. */
#define MAX_STEPS 1000000000L

/* A per-mode list must hold one value (broadcast) or one per mode. */
static int check_len(const char *flag, const nc_doubles *d, int n) {
  if (d->n == 0 || d->n == 1 || d->n == n) return NC_OK;
  return nc_fail(NC_EUSAGE, "--%s: has %d values but there are %d modes (give 1 or %d)", flag, d->n,
                 n, n);
}

static double pick(const nc_doubles *d, int j, double fallback) {
  return d->n == 0 ? fallback : d->v[d->n == 1 ? 0 : j];
}

/* Where trajectory rows go: the CSV and/or the kept rows for --plot. */
typedef struct {
  FILE *csv;
  int keep;
  double *t;
  nc_mode_state *x;
  long rows, cap;
} trajectory;

/* The trajectory row callback; write errors surface at nc_afile_commit (ferror). */
static int csv_row(long step, double t, const nc_mode_state *x, int n, void *ctx) {
  (void)step;
  trajectory *tr = ctx;
  if (tr->csv) {
    fprintf(tr->csv, "%.12g", t);
    for (int j = 0; j < n; j++) fprintf(tr->csv, ",%.12g,%.12g,%.12g", x[j].p, x[j].s, x[j].tau);
    fprintf(tr->csv, "\n");
  }
  if (!tr->keep) return NC_OK;
  if (tr->rows == tr->cap) {
    long cap = tr->cap ? 2 * tr->cap : 256;
    double *nt = realloc(tr->t, sizeof(double) * (size_t)cap);
    if (nt) tr->t = nt;
    nc_mode_state *nx = realloc(tr->x, sizeof(nc_mode_state) * (size_t)cap * (size_t)n);
    if (nx) tr->x = nx;
    if (!nt || !nx) return nc_fail(NC_ENOMEM, "--plot: out of memory keeping the trajectory");
    tr->cap = cap;
  }
  tr->t[tr->rows] = t;
  memcpy(tr->x + (size_t)tr->rows * n, x, sizeof(nc_mode_state) * (size_t)n);
  tr->rows++;
  return NC_OK;
}

static void print_json(const nc_mode_params *m, const char *tau_kind, double dt, long steps,
                       const nc_mode_state *x0, const nc_mode_state *x, int n, double tol) {
  double t = (double)steps * dt;
  printf("{\"t\": ");
  nc_json_num(stdout, t);
  printf(", \"steps\": %ld, \"dt\": ", steps);
  nc_json_num(stdout, dt);
  printf(", \"tau_mode\": \"%s\", \"alpha_p\": ", tau_kind);
  nc_json_num(stdout, m->alpha_p);
  nc_json_field(stdout, "eta", m->eta);
  nc_json_field(stdout, "sigma2", m->sigma2);
  nc_json_field(stdout, "beta", m->beta);
  printf(", \"modes\": [");
  for (int j = 0; j < n; j++) {
    const char *keys[] = {"p0",    "s0",          "tau0",      "p",
                          "s",     "tau",         "invariant", "invariant_closed_form",
                          "delta", "k_eigenvalue"};
    double vals[] = {x0[j].p,
                     x0[j].s,
                     x0[j].tau,
                     x[j].p,
                     x[j].s,
                     x[j].tau,
                     nc_mode_invariant(m, &x[j]),
                     nc_mode_invariant_closed_form(m, &x0[j], t),
                     nc_mode_delta(m, &x[j]),
                     nc_mode_k_eigenvalue(m, &x[j])};
    printf("%s{", j ? ", " : "");
    for (size_t k = 0; k < sizeof vals / sizeof vals[0]; k++) {
      printf("%s\"%s\": ", k ? ", " : "", keys[k]);
      nc_json_num(stdout, vals[k]);
    }
    printf(", \"verdict\": \"%s\"}", nc_mode_verdict_name(nc_mode_classify(m, &x[j], tol)));
  }
  printf("]}\n");
}

static void print_text(const nc_mode_params *m, const char *tau_kind, double dt, long steps,
                       const nc_mode_state *x0, const nc_mode_state *x, int n, double tol) {
  double t = (double)steps * dt;
  printf("tau: %s", tau_kind);
  if (m->tau_mode == NC_TAU_EMA) printf(" (beta = %g)", m->beta);
  printf(", alpha_p = %g, eta = %g, sigma^2 = %g; RK4 dt = %g, %ld steps, t = %g\n", m->alpha_p,
         m->eta, m->sigma2, dt, steps, t);
  printf("%4s %10s %10s %8s | %12s %12s %10s | %12s %12s | %s\n", "mode", "p0", "s0", "tau0", "p",
         "s", "tau", "s-p^2/a_p", "closed form", "verdict");
  for (int j = 0; j < n; j++)
    printf("%4d %10.6g %10.6g %8.4g | %12.6f %12.6f %10.6f | %12.4e %12.4e | %s\n", j + 1, x0[j].p,
           x0[j].s, x0[j].tau, x[j].p, x[j].s, x[j].tau, nc_mode_invariant(m, &x[j]),
           nc_mode_invariant_closed_form(m, &x0[j], t),
           nc_mode_verdict_name(nc_mode_classify(m, &x[j], tol)));
}

int cmd_theory_modes(int argc, char **argv) {
  nc_doubles p0 = {{0.5}, 1}, s0 = {{0.25}, 1}, tau0 = {{0}, 0}, tau_fixed = {{0}, 0};
  int simsiam = 0, json = 0;
  double beta = 0.4, eta = 0.04, sigma2 = 0.0, alpha_p = 1.0, dt = 0.01, t_end = 200.0;
  double tol = 1e-6;
  long steps = 0, every = 100;
  const char *csv_path = NULL, *plot_dir = NULL;
  const nc_opt opts[] = {
      {"p0", NC_OPT_DOUBLES, &p0, "initial p_j (one value, or one per mode)"},
      {"s0", NC_OPT_DOUBLES, &s0, "initial s_j >= 0 (one value, or one per mode)", NC_NONNEG},
      {"tau0", NC_OPT_DOUBLES, &tau0,
       "initial tau_j under EMA (one value, or one per mode; default 0, i.e. W_a(0) = 0)",
       NC_NONNEG},
      {"tau", NC_OPT_DOUBLES, &tau_fixed,
       "hold tau_j fixed at T (one value, or one per mode; default: tau evolves by EMA)",
       NC_POSITIVE},
      {"simsiam", NC_OPT_FLAG, &simsiam, "SimSiam: tau = 1 throughout (no EMA)"},
      {"beta", NC_OPT_DOUBLE, &beta, "relative EMA rate beta (Eqn 13)", NC_NONNEG},
      {"eta", NC_OPT_DOUBLE, &eta, "weight decay eta", NC_NONNEG},
      {"sigma2", NC_OPT_DOUBLE, &sigma2, "augmentation variance sigma^2", NC_NONNEG},
      {"alpha-p", NC_OPT_DOUBLE, &alpha_p, "relative predictor learning rate alpha_p", NC_POSITIVE},
      {"dt", NC_OPT_DOUBLE, &dt, "RK4 step", NC_POSITIVE},
      {"t-end", NC_OPT_DOUBLE, &t_end, "integrate up to this time (rounded up to whole steps)",
       NC_POSITIVE},
      {"steps", NC_OPT_INT, &steps, "number of RK4 steps, instead of --t-end (0: use --t-end)",
       NC_RANGE(0, MAX_STEPS)},
      {"every", NC_OPT_INT, &every, "write a CSV row every K steps (and at the last step)",
       NC_RANGE(1, MAX_STEPS)},
      {"csv", NC_OPT_STRING, &csv_path, "write the trajectory (t, then p_j, s_j, tau_j) to FILE"},
      {"plot", NC_OPT_STRING, &plot_dir,
       "draw p_j, s_j, tau_j against t (rows every K steps) into DIR: PNG, SVG, index.html"},
      {"tol", NC_OPT_DOUBLE, &tol, "tolerance of the collapsed/converged verdicts", NC_POSITIVE},
      {"json", NC_OPT_FLAG, &json, "print the final state as JSON"},
  };
  const nc_cmd_spec spec = {
      "theory modes",
      "[--p0 LIST] [--s0 LIST] [--tau0 LIST | --tau LIST | --simsiam] [--beta B] [--eta E]\n"
      "       [--sigma2 S] [--alpha-p A] [--dt H] [--t-end T | --steps N] [--every K]\n"
      "       [--csv FILE] [--plot DIR] [--json]",
      "Integrates the decoupled per-mode dynamics of the linear model (Eqns 11-13) with RK4:\n"
      "  p' = alpha_p s [tau - (1+sigma^2) p] - eta p,  s' = 2 p s [tau - (1+sigma^2) p] - 2 eta "
      "s,\n"
      "  tau' = beta (1 - tau) - tau s'/(2s)  (BYOL's EMA; --tau T holds it, --simsiam sets 1).\n"
      "Reports each mode's final p, s, tau, the invariant s - p^2/alpha_p against its closed form\n"
      "(s0 - p0^2/alpha_p) e^(-2 eta t), and whether the mode collapsed, converged to p*+ or is\n"
      "still moving.",
      opts,
      sizeof opts / sizeof opts[0],
      0};
  nc_args args;
  int rc = nc_cli_parse(&spec, argc, argv, &args);
  if (rc >= 0) return rc;

  if (simsiam && tau_fixed.n)
    return nc_cli_error(NC_EXIT_USAGE, "--tau: cannot be combined with --simsiam (tau = 1)");
  if ((simsiam || tau_fixed.n) && tau0.n)
    return nc_cli_error(NC_EXIT_USAGE, "--tau0: only applies when tau evolves by EMA");
  if (steps > 0 && nc_args_given(&args, &spec, "t-end"))
    return nc_cli_error(NC_EXIT_USAGE, "--steps: give either --steps or --t-end, not both");
  int n = p0.n > s0.n ? p0.n : s0.n;
  if (tau0.n > n) n = tau0.n;
  if (tau_fixed.n > n) n = tau_fixed.n;
  if ((rc = check_len("p0", &p0, n)) || (rc = check_len("s0", &s0, n)) ||
      (rc = check_len("tau0", &tau0, n)) || (rc = check_len("tau", &tau_fixed, n)))
    return nc_cli_error(NC_EXIT_USAGE, NULL);
  if (steps == 0) {
    double want = t_end / dt;
    if (!(want <= (double)MAX_STEPS))
      return nc_cli_error(NC_EXIT_USAGE, "--t-end: t-end/dt needs more than 1e9 steps");
    steps = (long)ceil(want * (1 - 1e-12)); /* whole steps, forgiving rounding in t-end/dt */
    if (steps < 1) steps = 1;
  }

  nc_mode_params m = {alpha_p, eta, sigma2, beta, NC_TAU_EMA};
  const char *tau_kind = "ema";
  if (simsiam || tau_fixed.n) {
    m.tau_mode = NC_TAU_FIXED;
    tau_kind = simsiam ? "simsiam" : "fixed";
  }
  nc_mode_state x0[NC_MAX_LIST], x[NC_MAX_LIST];
  for (int j = 0; j < n; j++) {
    double tau = simsiam ? 1.0 : tau_fixed.n ? pick(&tau_fixed, j, 1.0) : pick(&tau0, j, 0.0);
    x0[j] = x[j] = (nc_mode_state){pick(&p0, j, 0.5), pick(&s0, j, 0.25), tau};
  }

  nc_afile csv = {0};
  if (csv_path) {
    if (nc_afile_open(&csv, csv_path)) return nc_cli_error_flag(NC_EXIT_FAIL, "--csv");
    fprintf(csv.f, "t");
    for (int j = 1; j <= n; j++) fprintf(csv.f, ",p_%d,s_%d,tau_%d", j, j, j);
    fprintf(csv.f, "\n");
  }
  trajectory tr = {csv.f, plot_dir != NULL};
  rc = nc_modes_integrate(&m, x, n, dt, steps, every, csv_path || plot_dir ? csv_row : NULL, &tr);
  if (!rc && plot_dir && nc_report_modes_plot(plot_dir, tr.t, tr.x, (int)tr.rows, n)) {
    free(tr.t);
    free(tr.x);
    nc_afile_abort(&csv);
    return nc_cli_error_flag(NC_EXIT_FAIL, "--plot");
  }
  free(tr.t);
  free(tr.x);
  if (!rc && csv_path && nc_afile_commit(&csv)) return nc_cli_error_flag(NC_EXIT_FAIL, "--csv");
  if (rc) {
    nc_afile_abort(&csv);
    return nc_cli_error(nc_cli_exit_code(rc), NULL);
  }

  if (json)
    print_json(&m, tau_kind, dt, steps, x0, x, n, tol);
  else
    print_text(&m, tau_kind, dt, steps, x0, x, n, tol);
  return NC_EXIT_OK;
}

/* `ncssl theory linear`: the full-matrix linear model (Eqns 1-4, 7; App. D) by RK4 flow or
 * minibatch SGD, with the shared monitors logged to CSV every K steps. */
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
#include "ncssl/linear.h"
#include "ncssl/monitor.h"
#include "ncssl/report.h"
#include "ncssl/status.h"

/* The CSV header: one column per logged quantity, per mode where it has one. */
static void csv_header(FILE *f, int n2) {
  fprintf(f, "step,t");
  for (int j = 1; j <= n2; j++) fprintf(f, ",f_eig_%d", j);
  for (int j = 1; j <= n2; j++) fprintf(f, ",wp_eig_%d", j);
  fprintf(f, ",commutator");
  for (int j = 1; j <= n2; j++) fprintf(f, ",align_%d", j);
  fprintf(f, ",asymmetry,invariant_residual,corr_wa_w,w_norm,effective_rank\n");
}

/* One CSV row; write errors surface at nc_afile_commit (ferror). */
static void csv_row(FILE *f, const nc_linear *m, const nc_monitor *mon,
                    const nc_linear_scalars *sc) {
  int n = mon->d;
  fprintf(f, "%ld,%.10g", m->step, m->t);
  for (int j = 0; j < n; j++) fprintf(f, ",%.10g", mon->f_eigvals[j]);
  for (int j = 0; j < n; j++) fprintf(f, ",%.10g", mon->wp_eig_re[j]);
  fprintf(f, ",%.10g", mon->commutator);
  for (int j = 0; j < n; j++) fprintf(f, ",%.10g", mon->alignment[j]);
  fprintf(f, ",%.10g,%.10g,%.10g,%.10g,%.10g\n", mon->asymmetry, sc->invariant_residual,
          sc->corr_wa_w, sc->w_norm, mon->effective_rank);
}

/* The monitors kept for --plot, one row per logged step. */
typedef struct {
  int d;
  long rows, cap;
  double *step, *f, *wp, *align, *asym, *rank;
} plot_trace;

static int trace_push(plot_trace *tr, const nc_linear *m, const nc_monitor *mon) {
  int d = tr->d;
  if (tr->rows == tr->cap) {
    long cap = tr->cap ? 2 * tr->cap : 128;
    double **arrays[6] = {&tr->step, &tr->f, &tr->wp, &tr->align, &tr->asym, &tr->rank};
    for (int i = 0; i < 6; i++) {
      double *grown =
          realloc(*arrays[i], sizeof(double) * (size_t)cap * (i >= 1 && i <= 3 ? d : 1));
      if (!grown) return nc_fail(NC_ENOMEM, "out of memory keeping the trace");
      *arrays[i] = grown;
    }
    tr->cap = cap;
  }
  size_t r = (size_t)tr->rows++;
  tr->step[r] = (double)m->step;
  memcpy(tr->f + r * d, mon->f_eigvals, sizeof(double) * d);
  memcpy(tr->wp + r * d, mon->wp_eig_re, sizeof(double) * d);
  memcpy(tr->align + r * d, mon->alignment, sizeof(double) * d);
  tr->asym[r] = mon->asymmetry;
  tr->rank[r] = mon->effective_rank;
  return NC_OK;
}

static void trace_free(plot_trace *tr) {
  free(tr->step), free(tr->f), free(tr->wp), free(tr->align), free(tr->asym), free(tr->rank);
}

static void json_list(const char *key, const double *v, int n) {
  printf(", \"%s\": ", key);
  nc_json_nums(stdout, v, n);
}

static void print_summary(int json, const char *mode, const nc_linear *m, const nc_monitor *mon,
                          const nc_linear_scalars *sc) {
  int n = mon->d;
  if (json) {
    printf("{\"mode\": \"%s\", \"steps\": %ld", mode, m->step);
    nc_json_field(stdout, "t", m->t);
    json_list("f_eigvals", mon->f_eigvals, n);
    json_list("wp_eigvals", mon->wp_eig_re, n);
    nc_json_field(stdout, "commutator", mon->commutator);
    json_list("alignment", mon->alignment, n);
    nc_json_field(stdout, "asymmetry", mon->asymmetry);
    nc_json_field(stdout, "invariant_residual", sc->invariant_residual);
    nc_json_field(stdout, "corr_wa_w", sc->corr_wa_w);
    nc_json_field(stdout, "w_norm", sc->w_norm);
    nc_json_field(stdout, "effective_rank", mon->effective_rank);
    printf("}\n");
    return;
  }
  printf("%s: %ld steps, t = %g\n", mode, m->step, m->t);
  printf("eigenvalues of F:   ");
  for (int j = 0; j < n; j++) printf(" %.6g", mon->f_eigvals[j]);
  printf("\neigenvalues of W_p: ");
  for (int j = 0; j < n; j++) printf(" %.6g", mon->wp_eig_re[j]);
  printf("\nalignment cos(W_p u_j, u_j):");
  for (int j = 0; j < n; j++) printf(" %.4f", mon->alignment[j]);
  printf("\n||[F, W_p]||_F = %.6g, asymmetry = %.6g, effective rank = %.4g\n", mon->commutator,
         mon->asymmetry, mon->effective_rank);
  printf("Theorem 1 residual = %.3g, corr(W_a, W) = %.6g, ||W||_F = %.6g\n", sc->invariant_residual,
         sc->corr_wa_w, sc->w_norm);
}

static int parse_choice(const char *s, const char *const *names, int n) {
  for (int i = 0; i < n; i++)
    if (strcmp(s, names[i]) == 0) return i;
  return 0;
}

int cmd_theory_linear(int argc, char **argv) {
  nc_linear_params p;
  nc_linear_defaults(&p);
  const char *mode = "flow", *data = "isotropic", *predictor = "trained", *csv = NULL,
             *plot_dir = NULL;
  long n1 = p.n1, n2 = p.n2, preserve = 0, freq = p.freq, seed = (long)p.seed, batch = p.batch;
  long steps = 2000, every = 100;
  double dt = p.dt, lr = 0.01;
  nc_doubles spectrum = {.n = 0}, noise = {.n = 0};
  int no_ema = 0, no_stopgrad = 0, symmetric_loss = 0, json = 0, freeze = 0, zero_target = 0;
  const nc_opt opts[] = {
      {"mode", NC_OPT_CHOICE, &mode, "flow (RK4 on Eqns 2-4/7) or sgd (minibatch)",
       .choices = "flow|sgd"},
      {"n1", NC_OPT_INT, &n1, "input dimension n1", NC_RANGE(1, 4096)},
      {"n2", NC_OPT_INT, &n2, "output dimension n2 (W_p is n2 x n2)", NC_RANGE(1, 4096)},
      {"data", NC_OPT_CHOICE, &data,
       "isotropic (X = I, X' = sigma^2 I), additive (S^s = S^x + S^n, S^d = S^x) or "
       "multiplicative (App. D.2 scrambling)",
       .choices = "isotropic|additive|multiplicative"},
      {"sigma2", NC_OPT_DOUBLE, &p.sigma2,
       "augmentation variance sigma^2 (additive: default noise)", NC_NONNEG},
      {"spectrum", NC_OPT_DOUBLES, &spectrum, "diagonal of S^x, n1 values > 0 (default all 1)",
       NC_POSITIVE},
      {"noise", NC_OPT_DOUBLES, &noise, "diagonal of S^n, n1 values (default all sigma^2)",
       NC_NONNEG},
      {"preserve", NC_OPT_INT, &preserve,
       "multiplicative: the first m coordinates are preserved, the rest scrambled", NC_NONNEG},
      {"predictor", NC_OPT_CHOICE, &predictor,
       "trained, identity (W_p = I), symmetric (Eqn 7), directpred (Eqn 18) or directcopy "
       "(F^ + eps I)",
       .choices = "trained|identity|symmetric|directpred|directcopy"},
      {"ema", NC_OPT_DOUBLE, &p.beta, "EMA rate beta of the target (Eqn 4)", NC_POSITIVE},
      {"no-ema", NC_OPT_FLAG, &no_ema, "no EMA: W_a = W (SimSiam)"},
      {"tau", NC_OPT_DOUBLE, &p.tau,
       "when given: hold W_a = tau W, tau fixed (Assumption 1; Thm 3, Fig. 9)", NC_POSITIVE},
      {"no-stopgrad", NC_OPT_FLAG, &no_stopgrad,
       "W_a = W and the gradient also flows through it (Theorem 2)"},
      {"symmetric-loss", NC_OPT_FLAG, &symmetric_loss, "sgd: the symmetrized loss (§1.3)"},
      {"alpha-p", NC_OPT_DOUBLE, &p.alpha_p, "relative predictor learning rate alpha_p",
       NC_POSITIVE},
      {"wd", NC_OPT_DOUBLE, &p.eta, "weight decay eta (on W, and on W_p unless --wd-predictor)",
       NC_NONNEG},
      {"wd-predictor", NC_OPT_DOUBLE, &p.eta_p,
       "weight decay on W_p (when not given: the value of --wd)", NC_NONNEG},
      {"rho", NC_OPT_DOUBLE, &p.rho, "DirectPred/DirectCopy: F^ <- rho F^ + (1-rho) corr",
       NC_RANGE(0, 0.999999)},
      {"eps", NC_OPT_DOUBLE, &p.eps,
       "DirectPred: p_j = sqrt(s_j) + eps max s (Eqn 18); DirectCopy: F^ + eps I", NC_NONNEG},
      {"freq", NC_OPT_INT, &freq, "set W_p from F^ every freq steps", NC_RANGE(1, 1e9)},
      {"init-scale", NC_OPT_DOUBLE, &p.init_scale, "W ~ N(0, s^2/n1), W_p ~ N(0, s^2/n2) entrywise",
       NC_POSITIVE},
      {"target-zero-init", NC_OPT_FLAG, &zero_target, "EMA target starts at 0 (Fig. 7)"},
      {"freeze-online", NC_OPT_FLAG, &freeze, "hold W (so F) fixed; only W_p moves (item 11)"},
      {"seed", NC_OPT_INT, &seed, "random seed", NC_NONNEG},
      {"dt", NC_OPT_DOUBLE, &dt, "flow: the RK4 step", NC_POSITIVE},
      {"lr", NC_OPT_DOUBLE, &lr, "sgd: base learning rate alpha (time advances by alpha per step)",
       NC_POSITIVE},
      {"batch", NC_OPT_INT, &batch, "sgd: minibatch size", NC_RANGE(1, 1000000)},
      {"steps", NC_OPT_INT, &steps, "number of steps", NC_RANGE(0, 1e9)},
      {"every", NC_OPT_INT, &every, "log to the CSV every K steps", NC_RANGE(1, 1e9)},
      {"csv", NC_OPT_STRING, &csv, "write the log to this CSV file (atomically)"},
      {"plot", NC_OPT_STRING, &plot_dir,
       "draw the spectra of F and W_p, alignment, asymmetry and effective rank (every K steps) "
       "into DIR: PNG, SVG, index.html"},
      {"json", NC_OPT_FLAG, &json, "print the final summary as JSON"},
  };
  const nc_cmd_spec spec = {
      "theory linear",
      "[--mode flow|sgd] [--predictor P] [--data D] [--no-stopgrad] [--no-ema|--ema B|--tau T] "
      "[--csv FILE] [--plot DIR] [--json] ...",
      "The full-matrix linear BYOL/SimSiam model: W (n2 x n1), W_p (n2 x n2), W_a (n2 x n1).\n"
      "flow integrates Eqns 2-4 (or the symmetrized Eqn 7 with --predictor symmetric) by RK4;\n"
      "sgd runs minibatch SGD on Gaussian views with predictor lr alpha*alpha_p, EMA alpha*beta,\n"
      "weight decay alpha*eta. Logs the spectra of F = W X W^T and W_p, ||[F, W_p]||, alignment,\n"
      "asymmetry, the Theorem 1 residual, corr(W_a, W), ||W|| and the effective rank of F.",
      opts,
      sizeof opts / sizeof opts[0],
      0};
  nc_args args;
  int rc = nc_cli_parse(&spec, argc, argv, &args);
  if (rc >= 0) return rc;

  /* Combinations the option table cannot express. */
  int sgd = strcmp(mode, "sgd") == 0;
  if (sgd && nc_args_given(&args, &spec, "dt"))
    return nc_cli_error(NC_EXIT_USAGE, "--dt: only with --mode flow (use --lr for sgd)");
  if (!sgd && nc_args_given(&args, &spec, "lr"))
    return nc_cli_error(NC_EXIT_USAGE, "--lr: only with --mode sgd (use --dt for flow)");
  if (!sgd && nc_args_given(&args, &spec, "batch"))
    return nc_cli_error(NC_EXIT_USAGE, "--batch: only with --mode sgd");
  int tau_given = nc_args_given(&args, &spec, "tau"),
      ema_given = nc_args_given(&args, &spec, "ema");
  if (no_ema && (tau_given || ema_given))
    return nc_cli_error(NC_EXIT_USAGE,
                        tau_given ? "--tau: cannot be combined with --no-ema (W_a = W is tau = 1)"
                                  : "--ema: cannot be combined with --no-ema");
  if (tau_given && ema_given)
    return nc_cli_error(NC_EXIT_USAGE, "--tau: cannot be combined with --ema (tau is held fixed)");
  if (no_stopgrad && (tau_given || ema_given))
    return nc_cli_error(NC_EXIT_USAGE, "--no-stopgrad: uses W_a = W; drop --tau/--ema");
  if (preserve > n1) return nc_cli_error(NC_EXIT_USAGE, "--preserve: must be <= n1");
  if (nc_args_given(&args, &spec, "preserve") && strcmp(data, "multiplicative") != 0)
    return nc_cli_error(NC_EXIT_USAGE, "--preserve: only with --data multiplicative");

  static const char *const data_names[] = {"isotropic", "additive", "multiplicative"};
  static const char *const pred_names[] = {"trained", "identity", "symmetric", "directpred",
                                           "directcopy"};
  p.mode = sgd ? NC_LIN_SGD : NC_LIN_FLOW;
  p.n1 = (int)n1;
  p.n2 = (int)n2;
  p.data = (nc_data_kind)parse_choice(data, data_names, 3);
  p.predictor = (nc_predictor_kind)parse_choice(predictor, pred_names, 5);
  p.spectrum = spectrum.n ? spectrum.v : NULL;
  p.nspectrum = spectrum.n;
  p.noise = noise.n ? noise.v : NULL;
  p.nnoise = noise.n;
  p.preserve = (int)preserve;
  p.target = (no_ema || no_stopgrad) ? NC_TARGET_ONLINE
             : tau_given             ? NC_TARGET_FIXED_TAU
                                     : NC_TARGET_EMA;
  p.stopgrad = !no_stopgrad;
  p.symmetric_loss = symmetric_loss;
  if (!nc_args_given(&args, &spec, "wd-predictor")) p.eta_p = p.eta;
  p.freq = freq;
  p.freeze_online = freeze;
  p.target_zero_init = zero_target;
  p.seed = (unsigned long long)seed;
  p.dt = sgd ? lr : dt;
  p.batch = batch;

  nc_linear m;
  nc_monitor mon;
  nc_linear_scalars sc;
  if ((rc = nc_linear_init(&m, &p))) return nc_cli_error(nc_cli_exit_code(rc), NULL);
  if ((rc = nc_monitor_init(&mon, p.n2))) {
    nc_linear_free(&m);
    return nc_cli_error(NC_EXIT_FAIL, NULL);
  }
  nc_afile out = {0};
  const char *culprit = NULL; /* the flag to name when the failure is about a file */
  if (csv && (rc = nc_afile_open(&out, csv)) == NC_OK) csv_header(out.f, p.n2);
  if (rc) culprit = "--csv";
  plot_trace trace = {.d = p.n2};
  if (!rc) rc = nc_linear_observe(&m, &mon, &sc);
  if (!rc && csv) csv_row(out.f, &m, &mon, &sc);
  if (!rc && plot_dir) rc = trace_push(&trace, &m, &mon);
  for (long s = 1; s <= steps && !rc; s++) {
    rc = nc_linear_step(&m);
    if (!rc && (csv || plot_dir) && (s % every == 0 || s == steps)) {
      rc = nc_linear_observe(&m, &mon, &sc);
      if (!rc && csv) csv_row(out.f, &m, &mon, &sc);
      if (!rc && plot_dir) rc = trace_push(&trace, &m, &mon);
    }
  }
  if (!rc) rc = nc_linear_observe(&m, &mon, &sc);
  if (!rc && plot_dir) {
    char what[256];
    snprintf(what, sizeof what, "%s, predictor %s, %s data, n2 = %ld, %ld steps", mode, predictor,
             data, n2, steps);
    nc_report_linear_trace tr = {(int)trace.rows, p.n2,       trace.step, trace.f, trace.wp,
                                 trace.align,     trace.asym, trace.rank, what};
    if ((rc = nc_report_linear_plot(plot_dir, &tr))) culprit = "--plot";
  }
  trace_free(&trace);
  if (!rc && csv && (rc = nc_afile_commit(&out))) culprit = "--csv";
  if (rc) {
    nc_afile_abort(&out);
    int code =
        culprit ? nc_cli_error_flag(NC_EXIT_FAIL, culprit) : nc_cli_error(NC_EXIT_FAIL, NULL);
    nc_monitor_free(&mon);
    nc_linear_free(&m);
    return code;
  }
  print_summary(json, mode, &m, &mon, &sc);
  nc_monitor_free(&mon);
  nc_linear_free(&m);
  return NC_EXIT_OK;
}

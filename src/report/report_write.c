/* `ncssl report`: the figures of one or more runs and the page that shows them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ncssl/afile.h"
#include "ncssl/json.h"
#include "ncssl/report.h"
#include "ncssl/status.h"
#include "report_data.h"
#include "report_internal.h"

enum { SEC_TRAINING, SEC_SPECTRUM, SEC_PREDICTOR, SEC_COLLAPSE, SEC_EVAL, NSEC };

static const struct {
  const char *heading, *intro, *absent;
} sections[NSEC] = {
    {"Training", NULL, "no run has step records (loss, learning rate)"},
    {"Spectrum of F\xcc\x82 (Fig. 2, first column)",
     "F\xcc\x82 is the running correlation of the predictor's input, E[f f\xe1\xb5\x80]; its "
     "eigenvalues show how many directions the representation uses.",
     "no run has monitor records with \"f_eigvals\""},
    {"Predictor W_p (Fig. 2, columns 2\xe2\x80\x93"
     "4)",
     "For a linear or DirectPred predictor: its eigenvalues, how well its eigenvectors align with "
     "F\xcc\x82's, and how symmetric it is.",
     "no run logs predictor monitors (\"wp_eig_re\", \"alignment\", \"asymmetry\"): these runs "
     "have no linear or DirectPred predictor, or no monitors yet"},
    {"Collapse", NULL, "no run has monitor records with \"effective_rank\" or \"feature_std\""},
    {"Evaluation", NULL,
     "no run has eval records (\"probe_top1\", \"knn_top1\") or knn records (train --knn-every) "
     "yet"},
};

/* Figures whose data is one matrix (or scalar) per run. */
typedef struct {
  int section;
  const char *stem, *type, *key, *title, *ylabel, *caption, *column_label;
  int log_y;
  double ymin, ymax;
  const char *alias; /* another name the key may be logged under */
} fig_spec;

static const fig_spec specs[] = {
    {SEC_TRAINING, "loss", "step", "loss", "Training loss", "loss (dimensionless)",
     "Should fall, then level off; a loss that drops to its floor at once can mean collapse "
     "(check the effective rank).",
     NULL, 0, 0, 0},
    {SEC_TRAINING, "lr", "step", "lr", "Learning rate", "learning rate (per step)",
     "The schedule actually applied: warm-up and decay should match config.txt.", NULL, 0, 0, 0},
    {SEC_SPECTRUM, "f_eigvals", "monitor", "f_eigvals", "Eigenvalues of F\xcc\x82 over training",
     "eigenvalue (feature units\xc2\xb2, log scale)",
     "Healthy runs keep many eigenvalues up; lines falling away toward 0 are dimensions "
     "collapsing.",
     "\xce\xbb", 1, 0, 0},
    {SEC_PREDICTOR, "wp_eigvals", "monitor", "wp_eig_re", "Eigenvalues of W_p over training",
     "eigenvalue, real part (dimensionless)",
     "They should spread out and order like F\xcc\x82's (DirectPred sets them to "
     "\xe2\x88\x9a\xce\xbb_j + \xce\xb5).",
     "p", 0, 0, 0, "wp_eigvals"},
    {SEC_PREDICTOR, "alignment", "monitor", "alignment",
     "Alignment cos(W_p u_j, u_j) of W_p with F\xcc\x82's eigenvectors",
     "cosine similarity (\xe2\x88\x92"
     "1 to 1)",
     "Rising to 1 means W_p and F\xcc\x82 share eigenvectors, as the theory predicts.", "j", 0,
     -1.05, 1.05},
    {SEC_PREDICTOR, "asymmetry", "monitor", "asymmetry",
     "Asymmetry \xe2\x80\x96W_p \xe2\x88\x92 W_p\xe1\xb5\x80\xe2\x80\x96 / "
     "\xe2\x80\x96W_p\xe2\x80\x96",
     "relative Frobenius norm (dimensionless)",
     "Should decay toward 0: with weight decay the trained predictor becomes symmetric.", NULL, 0,
     0, 0},
    {SEC_EVAL, "knn_online", "knn", "knn_top1", "Online kNN accuracy (train --knn-every)",
     "top-1 on held-out test images (fraction)",
     "Held-out images classified by their nearest labelled training images, during training: it "
     "should rise; a fall back toward chance is collapse.",
     NULL, 0, 0, 1},
    {SEC_COLLAPSE, "feature_std", "monitor", "feature_std", "Feature standard deviation",
     "std per dimension (feature units)",
     "Going to 0 is complete collapse: every image maps to the same point.", NULL, 0, 0, 0},
};

static const char *const step_axis = "step (optimizer updates)";

typedef struct {
  rp_page_fig figs[NSEC][8];
  int nfigs[NSEC];
  nc_report_summary *summary;
  const char *fig_dir;
} page_figs;

/* Section -1: a figure shown elsewhere on the page (the Reproduce section), only counted here. */
static int add_fig(page_figs *pf, int section, const char *stem, const char *title,
                   const char *caption) {
  if (section >= 0) pf->figs[section][pf->nfigs[section]++] = (rp_page_fig){stem, title, caption};
  nc_report_summary *s = pf->summary;
  if (s->figures < (int)(sizeof s->stems / sizeof s->stems[0]))
    snprintf(s->stems[s->figures], sizeof s->stems[0], "%s", stem);
  s->figures++;
  return NC_OK;
}

/* A positive quantity that never changes (a constant learning rate) is drawn from 0 to twice its
 * value, instead of a unit band around it that reaches below 0. */
static void constant_range(const rp_group *groups, int ng, double *ymin, double *ymax) {
  double lo = INFINITY, hi = -INFINITY;
  for (int g = 0; g < ng; g++)
    for (size_t i = 0; i < (size_t)groups[g].n * groups[g].k; i++)
      if (isfinite(groups[g].y[i])) lo = fmin(lo, groups[g].y[i]), hi = fmax(hi, groups[g].y[i]);
  if (hi > 0 && hi - lo <= 1e-9 * hi) *ymin = 0, *ymax = 2 * hi;
}

/* One figure of the spec table: a group per run that has the key. */
static int spec_figure(const fig_spec *sp, const nc_report_run *runs, int n, page_figs *pf) {
  rp_matrix *m = calloc((size_t)n, sizeof *m);
  rp_group *groups = calloc((size_t)n, sizeof *groups);
  int ng = 0, rc = NC_OK, positive = 0;
  if (!m || !groups) rc = nc_fail(NC_ENOMEM, "report: out of memory");
  for (int r = 0; r < n && !rc; r++) {
    if (!runs[r].usable) continue;
    const char *key = rp_key(&runs[r].log, sp->type, sp->key, sp->alias);
    if ((rc = rp_get_matrix(&runs[r].log, sp->type, "step", key, &m[r])) || !m[r].n) continue;
    for (size_t i = 0; i < (size_t)m[r].n * m[r].k; i++) positive |= m[r].y[i] > 0;
    groups[ng++] = (rp_group){runs[r].label, m[r].x, m[r].y, m[r].n, m[r].k, r};
    if (m[r].n == 1) groups[ng - 1].marker = NC_MARK_CIRCLE; /* one point draws no line */
  }
  if (!rc && ng) {
    rp_lines p = {
        pf->fig_dir,           sp->stem, sp->title, step_axis,       sp->ylabel, sp->caption,
        sp->log_y && positive, sp->ymin, sp->ymax,  sp->column_label};
    if (!p.log_y && p.ymin == p.ymax) constant_range(groups, ng, &p.ymin, &p.ymax);
    p.groups = groups, p.ngroups = ng;
    if (!(rc = rp_plot_lines(&p))) rc = add_fig(pf, sp->section, sp->stem, sp->title, sp->caption);
  }
  for (int r = 0; m && r < n; r++) rp_matrix_free(&m[r]);
  free(m);
  free(groups);
  return rc;
}

static int rank_figure(const nc_report_run *runs, int n, page_figs *pf) {
  static const char *title = "Effective rank of the representation";
  static const char *caption =
      "Falling below 2 (dashed) raises the collapse warning (red \xc3\x97): the representation "
      "has shrunk to one or two directions.";
  rp_matrix *m = calloc((size_t)n, sizeof *m);
  rp_group *groups = calloc((size_t)n, sizeof *groups);
  int ng = 0, rc = NC_OK;
  if (!m || !groups) rc = nc_fail(NC_ENOMEM, "report: out of memory");
  for (int r = 0; r < n && !rc; r++) {
    if (!runs[r].usable) continue;
    const char *flag = rp_key(&runs[r].log, "monitor", "collapse", "collapse_warning");
    if ((rc = rp_get_marks(&runs[r].log, flag, "effective_rank", &m[r])) || !m[r].n) continue;
    groups[ng++] = (rp_group){runs[r].label, m[r].x,       m[r].y,      m[r].n,      1,         r,
                              NC_LINE_NONE,  NC_MARK_NONE, m[r].mark_x, m[r].mark_y, m[r].nmark};
    if (m[r].n == 1) groups[ng - 1].marker = NC_MARK_CIRCLE;
  }
  if (!rc && ng) {
    rp_lines p = {pf->fig_dir,
                  "effective_rank",
                  title,
                  step_axis,
                  "effective rank (exp of eigenvalue entropy)",
                  caption};
    p.has_ref = 1, p.ref_y = 2, p.ref_label = "collapse threshold";
    p.mark_label = "collapse warning";
    p.groups = groups, p.ngroups = ng;
    if (!(rc = rp_plot_lines(&p))) rc = add_fig(pf, SEC_COLLAPSE, "effective_rank", title, caption);
  }
  for (int r = 0; m && r < n; r++) rp_matrix_free(&m[r]);
  free(m);
  free(groups);
  return rc;
}

/* Accuracies are logged as fractions in [0, 1]; shown in percent (values > 1 taken as percent). */
static void to_percent(rp_matrix *m) {
  int fraction = 1;
  for (int i = 0; i < m->n; i++) fraction &= !(m->y[i] > 1);
  if (fraction)
    for (int i = 0; i < m->n; i++) m->y[i] *= 100;
}

static int accuracy_figure(const nc_report_run *runs, int n, page_figs *pf) {
  static const char *title = "Linear probe and kNN accuracy";
  static const char *caption =
      "Both should rise over training and stay above the random-init floor; kNN (dashed) is the "
      "cheap proxy of the probe (solid).";
  rp_matrix *m = calloc((size_t)n * 2, sizeof *m);
  rp_group *groups = calloc((size_t)n * 2, sizeof *groups);
  char(*labels)[200] = calloc((size_t)n * 2, sizeof *labels);
  int ng = 0, rc = NC_OK, by_epoch = 1;
  if (!m || !groups || !labels) rc = nc_fail(NC_ENOMEM, "report: out of memory");
  /* Epochs on the x axis when every eval record has one, else steps. */
  for (int r = 0; r < n && !rc; r++)
    for (int i = 0; runs[r].usable && i < runs[r].log.n; i++) {
      double e;
      if (strcmp(runs[r].log.records[i].type, "eval") == 0 &&
          !nc_metric_num(&runs[r].log.records[i], "epoch", &e))
        by_epoch = 0;
    }
  static const char *keys[2] = {"probe_top1", "knn_top1"}, *names[2] = {"probe", "kNN"};
  for (int r = 0; r < n && !rc; r++)
    for (int q = 0; q < 2 && runs[r].usable && !rc; q++) {
      rp_matrix *mm = &m[2 * r + q];
      if ((rc = rp_get_matrix(&runs[r].log, "eval", by_epoch ? "epoch" : "step", keys[q], mm)) ||
          !mm->n)
        continue;
      to_percent(mm);
      snprintf(labels[ng], sizeof labels[ng], "%s %s", runs[r].label, names[q]);
      groups[ng] = (rp_group){labels[ng],
                              mm->x,
                              mm->y,
                              mm->n,
                              1,
                              r,
                              q ? NC_LINE_DASHED : NC_LINE_SOLID,
                              q ? NC_MARK_SQUARE : NC_MARK_CIRCLE};
      ng++;
    }
  if (!rc && ng) {
    rp_lines p = {
        pf->fig_dir, "accuracy", title, by_epoch ? "epoch" : step_axis, "test top-1 accuracy (%)",
        caption};
    p.groups = groups, p.ngroups = ng;
    if (!(rc = rp_plot_lines(&p))) rc = add_fig(pf, SEC_EVAL, "accuracy", title, caption);
  }
  for (int r = 0; m && r < 2 * n; r++) rp_matrix_free(&m[r]);
  free(m);
  free(groups);
  free(labels);
  return rc;
}

/* ---- the page ---- */

static void cell_num(FILE *f, int have, const char *fmt, double v) {
  if (have)
    fprintf(f, "<td class=\"num\">"), fprintf(f, fmt, v), fputs("</td>", f);
  else
    fputs("<td class=\"num\">\xe2\x80\x94</td>", f);
}

static double pct(double v) { return v <= 1 ? 100 * v : v; }

/* A config value as people write it: a number in full (not an integer) as the shortest string
 * that reads back exactly ("0.29999999999999999" from older runs shows as 0.3), text as is. */
static void config_value(char *out, size_t n, const char *value) {
  char *end;
  double x = strtod(value, &end);
  if (end != value && *end == '\0' && isfinite(x) && strpbrk(value, ".eE"))
    nc_fmt_shortest(out, n, x);
  else
    snprintf(out, n, "%s", value);
}

static void runs_table(FILE *f, const nc_report_run *runs, int n) {
  fputs(
      "<section>\n<h2>Runs</h2>\n<div class=\"scroll\"><table>\n<tr><th>run</th>"
      "<th>steps</th><th>epochs</th><th>final loss</th><th>images/s</th>"
      "<th>effective rank</th><th>collapse warnings</th><th>probe top-1 (best)</th>"
      "<th>kNN top-1</th></tr>\n",
      f);
  for (int r = 0; r < n; r++) {
    const nc_metrics_log *log = &runs[r].log;
    int ok = runs[r].usable;
    double steps = 0, epochs = 0, loss = 0, ips = 0, rank = 0, probe = 0, best = 0, knn = 0, e;
    int h_steps = ok && rp_last_num(log, "step", "step", &steps);
    int h_epochs = 0;
    static const char *types[3] = {"step", "monitor", "eval"};
    for (int t = 0; ok && t < 3; t++)
      if (rp_max_num(log, types[t], "epoch", &e) && (!h_epochs || e > epochs))
        epochs = e, h_epochs = 1;
    int h_loss = ok && rp_last_num(log, "step", "loss", &loss);
    int h_ips = ok && rp_mean_num(log, "step", "images_per_s", &ips);
    int h_rank = ok && rp_last_num(log, "monitor", "effective_rank", &rank);
    int h_probe = ok && rp_last_num(log, "eval", "probe_top1", &probe);
    int h_best = ok && (rp_max_num(log, "eval", "probe_best_top1", &best) ||
                        rp_max_num(log, "eval", "probe_top1", &best));
    int h_knn = ok && rp_last_num(log, "eval", "knn_top1", &knn);
    int warnings =
        ok ? rp_count_flag(log, "monitor", rp_key(log, "monitor", "collapse", "collapse_warning"))
           : 0;
    fputs("<tr><td><b>", f);
    rp_html_text(f, runs[r].label);
    fputs("</b><br><code>", f);
    rp_html_text(f, runs[r].dir);
    fputs("</code></td>", f);
    cell_num(f, h_steps, "%.0f", steps);
    cell_num(f, h_epochs, "%.0f", epochs);
    cell_num(f, h_loss, "%.4g", loss);
    cell_num(f, h_ips, "%.0f", ips);
    cell_num(f, h_rank, "%.2f", rank);
    if (ok)
      fprintf(f, "<td class=\"num\">%s%d%s</td>", warnings ? "<b style=\"color:#d62728\">" : "",
              warnings, warnings ? "</b>" : "");
    else
      fputs("<td class=\"num\">\xe2\x80\x94</td>", f);
    fputs("<td class=\"num\">", f);
    if (h_probe) fprintf(f, "%.2f %%", pct(probe));
    if (h_best) fprintf(f, " (%.2f %%)", pct(best));
    if (!h_probe && !h_best) fputs("\xe2\x80\x94", f);
    fputs("</td>", f);
    cell_num(f, h_knn, "%.2f %%", pct(knn));
    fputs("</tr>\n", f);
  }
  fputs("</table></div>\n", f);
  for (int r = 0; r < n; r++) {
    const nc_report_run *run = &runs[r];
    if (!run->has_config) continue;
    /* Up front, only what the run changed; every option in a collapsed table below it. */
    if (run->defaults) {
      fputs("<p>Options of <b>", f);
      rp_html_text(f, run->label);
      fputs("</b> that differ from the defaults:", f);
      int changed = 0;
      char v[64], d[64];
      for (int i = 0; i < run->config.n; i++) {
        const char *key = run->config.items[i].key;
        const char *def = nc_config_get(run->defaults, key);
        config_value(v, sizeof v, run->config.items[i].value);
        if (def) config_value(d, sizeof d, def);
        if (def && strcmp(v, d) == 0) continue;
        if (!changed++)
          fputs(
              "</p>\n<div class=\"scroll\"><table>\n<tr><th>option</th><th>value</th>"
              "<th>default</th></tr>\n",
              f);
        fputs("<tr><th>", f);
        rp_html_text(f, key);
        fputs("</th><td><code>", f);
        rp_html_text(f, v);
        fputs("</code></td><td><code>", f);
        rp_html_text(f, def ? d : "(not a train option)");
        fputs("</code></td></tr>\n", f);
      }
      fputs(changed ? "</table></div>\n" : " none.</p>\n", f);
    }
    fputs("<details><summary>All options of <b>", f);
    rp_html_text(f, run->label);
    fprintf(f, "</b> (config.txt, %d options)</summary>\n<div class=\"scroll\"><table>\n",
            run->config.n);
    for (int i = 0; i < run->config.n; i++) {
      char v[64];
      config_value(v, sizeof v, run->config.items[i].value);
      fputs("<tr><th>", f);
      rp_html_text(f, run->config.items[i].key);
      fputs("</th><td><code>", f);
      rp_html_text(f, v);
      fputs("</code></td></tr>\n", f);
    }
    fputs("</table></div></details>\n", f);
  }
  fputs("</section>\n", f);
}

static void notices_box(FILE *f, const nc_report_run *runs, int n) {
  int any = 0, bad = 0;
  for (int r = 0; r < n; r++) any += runs[r].nnotices, bad += !runs[r].usable;
  if (!any) return;
  fprintf(f, "<div class=\"notice%s\" id=\"notices\"><b>%s</b>\n<ul>\n", bad ? " bad" : "",
          bad ? "Missing data: some runs have nothing to plot" : "Missing or partial data");
  for (int r = 0; r < n; r++)
    for (int i = 0; i < runs[r].nnotices; i++) {
      fputs("<li><b>", f);
      rp_html_text(f, runs[r].label);
      fputs("</b>: ", f);
      rp_html_text(f, runs[r].notices[i]);
      fputs("</li>\n", f);
    }
  fputs("</ul></div>\n", f);
}

static int write_page(const char *out_dir, const nc_report_run *runs, int n, const page_figs *pf,
                      const nc_report_reproduce *rep, const rp_page_fig *rfigs, int nrfigs) {
  char path[4200], title[512] = "ncssl report: ";
  snprintf(path, sizeof path, "%s/report.html", out_dir);
  if (rep) {
    size_t len = strlen(title);
    snprintf(title + len, sizeof title - len, "reproduce (%s scale)%s", rep->scale->name,
             n ? ", " : "");
  }
  for (int r = 0; r < n; r++) {
    size_t len = strlen(title);
    snprintf(title + len, sizeof title - len, "%s%s", r ? ", " : "", runs[r].label);
  }
  nc_afile a = {0};
  int rc = nc_afile_open(&a, path);
  if (rc) return rc;
  char subtitle[160];
  if (rep && !n)
    snprintf(subtitle, sizeof subtitle,
             "%d runs of the paper's experiments; figures are PNG "
             "with SVG alongside.",
             rep->runs);
  else
    snprintf(subtitle, sizeof subtitle, "%d run%s; figures are PNG with SVG alongside.", n,
             n == 1 ? "" : "s");
  rp_html_begin(a.f, title, subtitle);
  if (rep) rp_reproduce_html(a.f, rep, rfigs, nrfigs);
  /* A reproduce folder alone is its tables: its dozens of runs are each a `ncssl report` away. */
  if (n) {
    notices_box(a.f, runs, n);
    runs_table(a.f, runs, n);
  }
  for (int s = 0; s < NSEC && n; s++) {
    if (pf->nfigs[s]) {
      rp_html_figures(a.f, sections[s].heading, sections[s].intro, pf->figs[s], pf->nfigs[s]);
      continue;
    }
    fputs("<section>\n<h2>", a.f);
    rp_html_text(a.f, sections[s].heading);
    fputs("</h2>\n<p class=\"notice\">Not shown: ", a.f);
    rp_html_text(a.f, sections[s].absent);
    fputs(".</p>\n</section>\n", a.f);
  }
  rp_html_end(a.f);
  return nc_afile_commit(&a);
}

int nc_report_write(const nc_report_run *runs, int n, const char *out_dir,
                    nc_report_summary *summary) {
  return nc_report_write_page(runs, n, NULL, out_dir, summary);
}

int nc_report_write_page(const nc_report_run *runs, int n, const nc_report_reproduce *rep,
                         const char *out_dir, nc_report_summary *summary) {
  nc_report_summary local;
  if (!summary) summary = &local;
  memset(summary, 0, sizeof *summary);
  char fig_dir[4200];
  snprintf(fig_dir, sizeof fig_dir, "%s/" NC_REPORT_FIG_DIR, out_dir);
  int rc = nc_mkdir_p(out_dir);
  if (!rc) rc = nc_mkdir_nofollow(fig_dir); /* never a symlink to somewhere else */
  if (rc) return rc;
  page_figs pf = {.summary = summary, .fig_dir = fig_dir};
  rp_page_fig rfigs[3];
  int nrfigs = 0;
  if (rep && !(rc = rp_reproduce_figures(rep, fig_dir, rfigs, &nrfigs)))
    for (int i = 0; i < nrfigs; i++) add_fig(&pf, -1, rfigs[i].stem, rfigs[i].title, NULL);
  for (size_t i = 0; i < sizeof specs / sizeof specs[0] && !rc; i++) {
    if (specs[i].section == SEC_COLLAPSE && !rc) rc = rank_figure(runs, n, &pf);
    if (!rc) rc = spec_figure(&specs[i], runs, n, &pf);
  }
  if (!rc) rc = accuracy_figure(runs, n, &pf);
  if (!rc) rc = write_page(out_dir, runs, n, &pf, rep, rfigs, nrfigs);
  for (int r = 0; r < n; r++) {
    summary->notices += runs[r].nnotices;
    summary->unusable_runs += !runs[r].usable;
  }
  if (rep) summary->notices += rep->nnotices;
  return rc;
}

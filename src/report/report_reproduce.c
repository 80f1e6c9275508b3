/* The "Reproduce" section of a report: the tables of `ncssl reproduce` (built by the same library
 * function it prints them with), each claim's verdict, and Figs 2 and 6 from the runs. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ncssl/json.h"
#include "ncssl/report.h"
#include "ncssl/status.h"
#include "report_data.h"
#include "report_internal.h"

int nc_report_is_reproduce(const char *dir) {
  char path[4200];
  struct stat st;
  snprintf(path, sizeof path, "%s/" NC_EXP_MARKER, dir);
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static const nc_experiment *find_exp(const nc_report_reproduce *rep, const char *name, int *index) {
  for (int e = 0; e < rep->nexp; e++)
    if (strcmp(rep->exps[e].name, name) == 0) {
      if (index) *index = e;
      return &rep->exps[e];
    }
  return NULL;
}

static int add_notice(nc_report_reproduce *rep, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int add_notice(nc_report_reproduce *rep, const char *fmt, ...) {
  char buf[1400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  char **grown = realloc(rep->notices, sizeof(char *) * (size_t)(rep->nnotices + 1));
  if (!grown) return nc_fail(NC_ENOMEM, "report: out of memory");
  rep->notices = grown;
  if (!(rep->notices[rep->nnotices] = strdup(buf)))
    return nc_fail(NC_ENOMEM, "report: out of memory");
  rep->nnotices++;
  return NC_OK;
}

/* Column 0 of a monitor key against step: the top eigenvector's entry for "alignment". */
static int monitor_curve(const nc_metrics_log *log, const char *key, double **x, double **y,
                         int *n) {
  rp_matrix m = {0};
  int rc = rp_get_matrix(log, "monitor", "step", key, &m);
  *x = *y = NULL, *n = 0;
  if (!rc && m.n) {
    *x = malloc(sizeof(double) * (size_t)m.n), *y = malloc(sizeof(double) * (size_t)m.n);
    if (!*x || !*y) {
      rc = nc_fail(NC_ENOMEM, "report: out of memory");
    } else {
      for (int i = 0; i < m.n; i++) (*x)[i] = m.x[i], (*y)[i] = m.y[(size_t)i * m.k];
      *n = m.n;
    }
  }
  rp_matrix_free(&m);
  return rc;
}

/* The Fig. 2 experiment's runs that have monitor records. */
static int load_curves(nc_report_reproduce *rep) {
  const nc_experiment *e = find_exp(rep, "fig2", NULL);
  if (!e) return NC_OK;
  rep->curves = calloc((size_t)e->nrows * rep->seeds, sizeof *rep->curves);
  if (!rep->curves) return nc_fail(NC_ENOMEM, "report: out of memory");
  int rc = NC_OK;
  for (int i = 0; i < e->nrows && !rc; i++)
    for (int k = 0; k < rep->seeds && !rc; k++) {
      char dir[1024], path[1200];
      nc_exp_run_dir(rep->dir, rep->scale->options, e->rows[i].options, k, dir, sizeof dir);
      snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
      struct stat st;
      if (stat(path, &st) != 0) continue; /* not run yet: the table says it is missing */
      nc_metrics_log log = {0};
      if (nc_metrics_read(path, &log)) {
        rc = add_notice(rep, "%s: unreadable, no Fig. 2 curve: %s", path, nc_last_error());
      } else {
        nc_report_curve *c = &rep->curves[rep->ncurves];
        c->row = i, c->seed = k;
        rc = monitor_curve(&log, "alignment", &c->align_step, &c->align, &c->nalign);
        if (!rc) rc = monitor_curve(&log, "asymmetry", &c->asym_step, &c->asym, &c->nasym);
        if (c->nalign || c->nasym) rep->ncurves++;
      }
      nc_metrics_log_free(&log);
    }
  return rc;
}

int nc_report_reproduce_load(nc_report_reproduce *rep, const char *dir) {
  if (!(rep->dir = strdup(dir))) return nc_fail(NC_ENOMEM, "report: out of memory");
  char path[4200];
  snprintf(path, sizeof path, "%s/" NC_EXP_MARKER, dir);
  nc_config c = {0};
  int rc = nc_config_read(&c, path);
  if (!rc) {
    const char *scale = nc_config_get(&c, "scale"), *seeds = nc_config_get(&c, "seeds");
    char *end = NULL;
    long n = seeds ? strtol(seeds, &end, 10) : 0;
    rep->scale = scale ? nc_exp_scale_get(scale) : NULL;
    if (!rep->scale)
      rc = nc_fail(NC_EFORMAT, "%s: no known 'scale' (quick, small or paper)", path);
    else if (!seeds || *end || n < 1 || n > 64)
      rc = nc_fail(NC_EFORMAT, "%s: 'seeds' is not a number from 1 to 64", path);
    rep->seeds = (int)n;
  }
  nc_config_free(&c);
  if (rc) return rc;
  rep->exps = nc_experiments(&rep->nexp);
  if (!(rep->tables = calloc((size_t)rep->nexp, sizeof *rep->tables)))
    return nc_fail(NC_ENOMEM, "report: out of memory");
  for (int e = 0; e < rep->nexp && !rc; e++)
    rc = nc_exp_summarize(&rep->exps[e], rep->scale, rep->seeds, dir, &rep->tables[e]);
  if (!rc) rc = nc_exp_floor_read(rep->scale, rep->seeds, dir, &rep->floor);
  if (rc) return rc;
  /* Runs shared by several tables count once: the run directories, deduplicated. */
  enum { DIR_CAP = 1024 };
  int cap = 0;
  for (int e = 0; e < rep->nexp; e++) cap += rep->exps[e].nrows * rep->seeds;
  char(*dirs)[DIR_CAP] = malloc((size_t)cap * DIR_CAP);
  if (!dirs) return nc_fail(NC_ENOMEM, "report: out of memory");
  for (int e = 0; e < rep->nexp; e++)
    for (int i = 0; i < rep->exps[e].nrows; i++)
      for (int k = 0; k < rep->seeds; k++) {
        char d[DIR_CAP];
        nc_exp_run_dir(dir, rep->scale->options, rep->exps[e].rows[i].options, k, d, sizeof d);
        int seen = 0;
        for (int j = 0; j < rep->runs && !seen; j++) seen = strcmp(dirs[j], d) == 0;
        if (seen) continue;
        memcpy(dirs[rep->runs++], d, DIR_CAP);
        nc_exp_run_result r;
        int found = 0;
        nc_exp_result_read(d, &r, &found); /* already read whole by the tables above */
        rep->done += found;
      }
  free(dirs);
  return load_curves(rep);
}

void nc_report_reproduce_free(nc_report_reproduce *rep) {
  if (!rep) return;
  free(rep->dir);
  free(rep->tables);
  for (int i = 0; i < rep->ncurves; i++) {
    nc_report_curve *c = &rep->curves[i];
    free(c->align_step), free(c->align), free(c->asym_step), free(c->asym);
  }
  free(rep->curves);
  for (int i = 0; i < rep->nnotices; i++) free(rep->notices[i]);
  free(rep->notices);
  memset(rep, 0, sizeof *rep);
}

void nc_report_reproduce_json(FILE *f, const nc_report_reproduce *rep) {
  fprintf(f, "\"reproduce\": {\"dir\": ");
  nc_json_str(f, rep->dir);
  fprintf(f, ", \"scale\": ");
  nc_json_str(f, rep->scale->name);
  fprintf(f, ", \"seeds\": %d, \"runs\": %d, \"done\": %d, \"random_init_floor\": ", rep->seeds,
          rep->runs, rep->done);
  nc_exp_floor_json(f, &rep->floor);
  fprintf(f, ", \"experiments\": [");
  for (int e = 0; e < rep->nexp; e++) {
    fprintf(f, "%s", e ? ", " : "");
    nc_exp_summary_json(f, &rep->exps[e], &rep->tables[e]);
  }
  fprintf(f, "]}");
}

/* ---- figures ---- */

/* α_p of a row: its --alpha-p option, else 1 (the paper's and `ncssl train`'s default). */
static double row_alpha_p(const nc_exp_row *row) {
  const char *p = strstr(row->options, "--alpha-p ");
  return p ? strtod(p + strlen("--alpha-p "), NULL) : 1.0;
}

static const rp_page_fig fig2_figs[2] = {
    {"reproduce-fig2-alignment", "Fig. 2: alignment cos(W_p u_1, u_1) over training",
     "W_p applied to F\xcc\x82's top eigenvector u_1 against u_1 itself, one line per run of the "
     "fig2 rows: the paper's curve rises toward 1 as W_p's eigenvectors align with F\xcc\x82's."},
    {"reproduce-fig2-asymmetry",
     "Fig. 2: asymmetry \xe2\x80\x96W_p \xe2\x88\x92 W_p\xe1\xb5\x80\xe2\x80\x96 / "
     "\xe2\x80\x96W_p\xe2\x80\x96 over training",
     "One line per run of the fig2 rows: for the regular W_p the paper's curve falls toward 0 (W_p "
     "becomes symmetric); the symmetric W_p stays at 0."},
};
static const rp_page_fig fig6_fig = {
    "reproduce-fig6", "Fig. 6: top-1 against \xce\xb1_p (symmetric W_p, no EMA)",
    "Mean over seeds of each fig6 row (solid: best probe top-1; dashed: kNN). The paper: "
    "\xce\xb1_p "
    "= 1 collapses, \xce\xb1_p > 1 trains. Rows without a result are left out."};

static int fig2_figure(const nc_report_reproduce *rep, const char *fig_dir, int which,
                       rp_page_fig *figs, int *nfigs) {
  const nc_experiment *e = find_exp(rep, "fig2", NULL);
  rp_group *groups = calloc((size_t)(rep->ncurves ? rep->ncurves : 1), sizeof *groups);
  char(*labels)[128] = calloc((size_t)(rep->ncurves ? rep->ncurves : 1), sizeof *labels);
  int ng = 0, rc = NC_OK;
  if (!groups || !labels) rc = nc_fail(NC_ENOMEM, "report: out of memory");
  for (int i = 0; i < rep->ncurves && !rc; i++) {
    const nc_report_curve *c = &rep->curves[i];
    int n = which ? c->nasym : c->nalign;
    if (!n) continue;
    if (rep->seeds > 1)
      snprintf(labels[ng], sizeof labels[ng], "%s, seed %d", e->rows[c->row].label, c->seed);
    else
      snprintf(labels[ng], sizeof labels[ng], "%s", e->rows[c->row].label);
    groups[ng] = (rp_group){
        labels[ng], which ? c->asym_step : c->align_step, which ? c->asym : c->align, n, 1, c->row};
    if (n == 1) groups[ng].marker = NC_MARK_CIRCLE; /* one point draws no line */
    ng++;
  }
  if (!rc && ng) {
    const rp_page_fig *f = &fig2_figs[which];
    rp_lines p = {fig_dir,
                  f->stem,
                  f->title,
                  "step (optimizer updates)",
                  which ? "relative Frobenius norm (dimensionless)"
                        : "cosine similarity (\xe2\x88\x92"
                          "1 to 1)",
                  f->caption};
    if (!which) p.ymin = -1.05, p.ymax = 1.05;
    p.groups = groups, p.ngroups = ng;
    if (!(rc = rp_plot_lines(&p))) figs[(*nfigs)++] = *f;
  }
  free(groups);
  free(labels);
  return rc;
}

static int fig6_figure(const nc_report_reproduce *rep, const char *fig_dir, rp_page_fig *figs,
                       int *nfigs) {
  int ei;
  const nc_experiment *e = find_exp(rep, "fig6", &ei);
  if (!e) return NC_OK;
  const nc_exp_summary *s = &rep->tables[ei];
  double x[NC_EXP_MAX_ROWS], probe[NC_EXP_MAX_ROWS], knn[NC_EXP_MAX_ROWS];
  int n = 0;
  for (int i = 0; i < e->nrows; i++)
    if (s->m[i].n > 0) /* a row without a result is not a point */
      x[n] = row_alpha_p(&e->rows[i]), probe[n] = s->m[i].mean, knn[n] = s->knn_mean[i], n++;
  if (!n) return NC_OK;
  rp_group g[2] = {{"probe top-1 (best)", x, probe, n, 1, 0, NC_LINE_SOLID, NC_MARK_CIRCLE},
                   {"kNN top-1", x, knn, n, 1, 1, NC_LINE_DASHED, NC_MARK_SQUARE}};
  rp_lines p = {fig_dir,
                fig6_fig.stem,
                fig6_fig.title,
                "\xce\xb1_p (predictor learning-rate multiplier)",
                "test top-1 accuracy (%)",
                fig6_fig.caption};
  p.groups = g, p.ngroups = 2;
  int rc = rp_plot_lines(&p);
  if (!rc) figs[(*nfigs)++] = fig6_fig;
  return rc;
}

int rp_reproduce_figures(const nc_report_reproduce *rep, const char *fig_dir, rp_page_fig *figs,
                         int *nfigs) {
  *nfigs = 0;
  int rc = fig2_figure(rep, fig_dir, 0, figs, nfigs);
  if (!rc) rc = fig2_figure(rep, fig_dir, 1, figs, nfigs);
  if (!rc) rc = fig6_figure(rep, fig_dir, figs, nfigs);
  return rc;
}

/* ---- the section ---- */

static void table(FILE *f, const nc_experiment *e, const nc_exp_summary *s) {
  int spans = 0;
  for (int i = 0; i < e->nrows; i++) spans |= s->m[i].n > 0 && !isnan(s->m[i].first);
  fprintf(f, "<h3 id=\"exp-%s\">", e->name);
  rp_html_text(f, e->name);
  fputs(": ", f);
  rp_html_text(f, e->title);
  fputs("</h3>\n<p class=\"intro\">Paper: ", f);
  rp_html_text(f, e->paper_data);
  fputs(
      "</p>\n<div class=\"scroll\"><table>\n<tr><th>row</th><th>paper (top-1 %)</th>"
      "<th>ours: probe top-1, best (%)</th><th>kNN top-1 (%)</th><th>seeds</th>",
      f);
  if (spans) fputs("<th>alignment first \xe2\x86\x92 last</th>", f);
  fputs("</tr>\n", f);
  for (int i = 0; i < e->nrows; i++) {
    const nc_exp_measure *m = &s->m[i];
    fputs("<tr><td>", f);
    rp_html_text(f, e->rows[i].label);
    fputs("<br><code>", f);
    rp_html_text(f, e->rows[i].options);
    fputs("</code></td><td class=\"num\">", f);
    rp_html_text(f, *e->rows[i].paper ? e->rows[i].paper : "\xe2\x80\x94");
    fputs("</td>", f);
    if (m->n) {
      fprintf(f, "<td class=\"num\">%.2f \xc2\xb1 %.2f</td>", m->mean, m->std);
      if (isnan(s->knn_mean[i]))
        fputs("<td class=\"num\">\xe2\x80\x94</td>", f);
      else
        fprintf(f, "<td class=\"num\">%.2f \xc2\xb1 %.2f</td>", s->knn_mean[i], s->knn_std[i]);
    } else {
      fputs("<td class=\"missing\" colspan=\"2\">missing: no run has a result</td>", f);
    }
    fprintf(f, "<td class=\"num\">%d of %d</td>", m->n, s->seeds);
    if (spans) {
      if (m->n && !isnan(m->first))
        fprintf(f, "<td class=\"num\">%.3f \xe2\x86\x92 %.3f</td>", m->first, m->last);
      else
        fputs("<td class=\"num\">\xe2\x80\x94</td>", f);
    }
    fputs("</tr>\n", f);
  }
  fputs("</table></div>\n<ul class=\"claims\">\n", f);
  for (int c = 0; c < e->nclaims; c++) {
    const nc_claim_result *r = &s->cr[c];
    fputs("<li>", f);
    rp_html_text(f, e->claims[c].text);
    fprintf(f, ": <b class=\"verdict %s\">%s</b> ",
            r->verdict == NC_VERDICT_REPRODUCED       ? "yes"
            : r->verdict == NC_VERDICT_NOT_REPRODUCED ? "no"
                                                      : "open",
            nc_verdict_name(r->verdict));
    if (r->missing)
      fprintf(f, "(%d row%s without a result)", r->missing, r->missing > 1 ? "s" : "");
    else
      fprintf(f, "(margin %+.3g \xc2\xb1 %.2g)", r->diff, r->se);
    fputs("</li>\n", f);
  }
  fputs("</ul>\n", f);
}

void rp_reproduce_html(FILE *f, const nc_report_reproduce *rep, const rp_page_fig *figs,
                       int nfigs) {
  fputs("<section id=\"reproduce\">\n<h2>Reproduce: the paper's experiments</h2>\n", f);
  fputs("<p class=\"intro\">Folder <code>", f);
  rp_html_text(f, rep->dir);
  fprintf(f,
          "</code>, scale <b>%s</b> (%s), %d seed%s per row: %d of %d runs have a result. Ours is "
          "the mean \xc2\xb1 std over the seeds that have one. A claim is <i>reproduced</i> when "
          "its margin exceeds twice its standard error (the scale's noise floor standing in for "
          "the spread of one seed), <i>not reproduced</i> below minus twice, <i>undecided</i> "
          "otherwise or when a row has no result. The same tables as <code>ncssl reproduce "
          "--scale %s --out ",
          rep->scale->name, rep->scale->summary, rep->seeds, rep->seeds > 1 ? "s" : "", rep->done,
          rep->runs, rep->scale->name);
  rp_html_text(f, rep->dir);
  fputs("</code>.</p>\n", f);
  if (rep->floor.n)
    fprintf(f,
            "<p class=\"intro\">Random-init floor (the same backbone untrained, evaluated as "
            "every run): probe <b>%.2f \xc2\xb1 %.2f</b>, kNN %.2f (%d seed%s). A row below it "
            "learned features worse than none.</p>\n",
            rep->floor.probe, rep->floor.probe_std, rep->floor.knn, rep->floor.n,
            rep->floor.n > 1 ? "s" : "");
  if (rep->nnotices) {
    fputs("<div class=\"notice\"><ul>\n", f);
    for (int i = 0; i < rep->nnotices; i++) {
      fputs("<li>", f);
      rp_html_text(f, rep->notices[i]);
      fputs("</li>\n", f);
    }
    fputs("</ul></div>\n", f);
  }
  for (int e = 0; e < rep->nexp; e++) table(f, &rep->exps[e], &rep->tables[e]);
  fputs("</section>\n", f);
  rp_html_figures(f, "Reproduce: Figs 2 and 6 from the runs",
                  nfigs ? NULL
                        : "Not shown: no fig2 run has monitor records and no fig6 row has a "
                          "result yet.",
                  figs, nfigs);
}

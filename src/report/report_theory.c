/* Figures of the simulated dynamics (`ncssl theory modes|linear --plot DIR`), drawn like a run's
 * report so theory and training sit side by side. */
#include <stdio.h>
#include <stdlib.h>

#include "ncssl/afile.h"
#include "ncssl/report.h"
#include "ncssl/status.h"
#include "report_internal.h"

static int write_index(const char *dir, const char *title, const char *what, const char *heading,
                       const rp_page_fig *figs, int n) {
  char path[4200];
  snprintf(path, sizeof path, "%s/index.html", dir);
  nc_afile a = {0};
  int rc = nc_afile_open(&a, path);
  if (rc) return rc;
  rp_html_begin(a.f, title, what);
  rp_html_figures(a.f, heading, NULL, figs, n);
  rp_html_end(a.f);
  return nc_afile_commit(&a);
}

static int make_dirs(const char *dir, char *fig_dir, size_t size) {
  snprintf(fig_dir, size, "%s/" NC_REPORT_FIG_DIR, dir);
  int rc = nc_mkdir_p(dir);
  return rc ? rc : nc_mkdir_nofollow(fig_dir); /* never a symlink to somewhere else */
}

int nc_report_modes_plot(const char *dir, const double *t, const nc_mode_state *x, int rows,
                         int n) {
  if (rows < 1 || n < 1 || !t || !x) return nc_fail(NC_EINVAL, "report: no trajectory to plot");
  char fig_dir[4200];
  int rc = make_dirs(dir, fig_dir, sizeof fig_dir);
  if (rc) return rc;
  double *y = malloc(sizeof(double) * (size_t)rows * (size_t)n);
  if (!y) return nc_fail(NC_ENOMEM, "report: out of memory");
  static const rp_page_fig figs[3] = {
      {"modes-p", "Predictor eigenvalue p_j against time",
       "Each mode settles at p*+ (stable, non-collapsed) or falls to 0 (collapsed); weight decay "
       "above \xce\xb7_c collapses every mode."},
      {"modes-s", "Eigenvalue s_j of W W\xe1\xb5\x80 against time",
       "s_j tracks p_j\xc2\xb2/\xce\xb1_p (the invariant): modes whose s_j decays to 0 are "
       "collapsed dimensions of the representation."},
      {"modes-tau", "Target ratio \xcf\x84_j against time",
       "Under EMA \xcf\x84_j rises toward 1 as the target catches up; SimSiam holds it at 1."},
  };
  static const char *ylabels[3] = {"p_j (dimensionless)", "s_j (dimensionless)",
                                   "\xcf\x84_j (dimensionless)"};
  for (int q = 0; q < 3 && !rc; q++) {
    for (int i = 0; i < rows; i++)
      for (int j = 0; j < n; j++) {
        const nc_mode_state *st = &x[(size_t)i * n + j];
        y[(size_t)i * n + j] = q == 0 ? st->p : q == 1 ? st->s : st->tau;
      }
    rp_group g = {NULL, t, y, rows, n, 0, NC_LINE_SOLID};
    rp_lines p = {fig_dir,    figs[q].stem,   figs[q].title, "time t (flow units)",
                  ylabels[q], figs[q].caption};
    p.column_label = "mode";
    p.groups = &g, p.ngroups = 1;
    rc = rp_plot_lines(&p);
  }
  free(y);
  if (!rc)
    rc = write_index(dir, "ncssl theory modes",
                     "The decoupled per-mode dynamics (Eqns 11\xe2\x80\x93"
                     "13), integrated by RK4.",
                     "Per-mode dynamics", figs, 3);
  return rc;
}

int nc_report_linear_plot(const char *dir, const nc_report_linear_trace *tr) {
  if (!tr || tr->rows < 1 || tr->d < 1) return nc_fail(NC_EINVAL, "report: no trace to plot");
  char fig_dir[4200];
  int rc = make_dirs(dir, fig_dir, sizeof fig_dir);
  if (rc) return rc;
  static const rp_page_fig figs[5] = {
      {"linear-f_eigvals", "Eigenvalues of F = W \xce\xa3\xe1\xb5\x88 W\xe1\xb5\x80",
       "Fig. 2, first column: eigenvalues that stay up are the dimensions the model keeps; those "
       "falling to 0 collapse."},
      {"linear-wp_eigvals", "Eigenvalues of W_p (real parts)",
       "Fig. 2, second column: they spread and order like F's when W_p and F align."},
      {"linear-alignment", "Alignment cos(W_p u_j, u_j)",
       "Fig. 2, third column: rising to 1 means W_p shares F's eigenvectors (Sec. 3.2)."},
      {"linear-asymmetry",
       "Asymmetry \xe2\x80\x96W_p \xe2\x88\x92 W_p\xe1\xb5\x80\xe2\x80\x96 / "
       "\xe2\x80\x96W_p\xe2\x80\x96",
       "Fig. 2, fourth column: decays toward 0 with weight decay (W_p becomes symmetric)."},
      {"linear-effective_rank", "Effective rank of F",
       "Below 2 (dashed) the representation has collapsed to one or two directions."},
  };
  const double *data[5] = {tr->f_eigvals, tr->wp_eigvals, tr->alignment, tr->asymmetry,
                           tr->effective_rank};
  static const char *ylabels[5] = {
      "eigenvalue (dimensionless, log scale)", "eigenvalue (dimensionless)",
      "cosine similarity (\xe2\x88\x92"
      "1 to 1)",
      "relative Frobenius norm (dimensionless)", "effective rank (exp of eigenvalue entropy)"};
  static const char *columns[5] = {"\xce\xbb", "p", "j", NULL, NULL};
  int nfig = 0;
  rp_page_fig shown[5];
  for (int q = 0; q < 5 && !rc; q++) {
    if (!data[q]) continue;
    int k = q < 3 ? tr->d : 1, positive = 0;
    for (size_t i = 0; q == 0 && i < (size_t)tr->rows * k; i++) positive |= data[q][i] > 0;
    rp_group g = {NULL, tr->step, data[q], tr->rows, k, 0, NC_LINE_SOLID};
    if (tr->rows == 1) g.marker = NC_MARK_CIRCLE;
    rp_lines p = {fig_dir,    figs[q].stem,    figs[q].title,     "step (RK4 steps or SGD updates)",
                  ylabels[q], figs[q].caption, q == 0 && positive};
    if (q == 2) p.ymin = -1.05, p.ymax = 1.05;
    if (q == 4) p.has_ref = 1, p.ref_y = 2, p.ref_label = "collapse threshold";
    p.column_label = columns[q];
    p.groups = &g, p.ngroups = 1;
    if (!(rc = rp_plot_lines(&p))) shown[nfig++] = figs[q];
  }
  if (!rc)
    rc = write_index(dir, "ncssl theory linear", tr->what, "The linear model over training", shown,
                     nfig);
  return rc;
}

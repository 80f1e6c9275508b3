/* Reports: the paper's pictures (Fig. 2 and friends) for training runs and for the simulated
 * dynamics, as PNG + SVG figures through the plot module and one static, self-contained HTML page
 * that references them relatively (no network, no JavaScript).
 *
 * A run is a run directory (runlog.h). Loading never fails on missing or damaged data: each missing
 * piece becomes a one-line notice shown on the page, so a report of a run that was killed, is still
 * starting, or never existed says what is missing instead of failing. The metrics keys read are
 * listed in docs/formats.md. */
#ifndef NCSSL_REPORT_H
#define NCSSL_REPORT_H
#include <stdio.h>

#include "ncssl/experiments.h"
#include "ncssl/runlog.h"
#include "ncssl/theory.h"

/* The folder, under the output directory, that holds a page's figures. */
#define NC_REPORT_FIG_DIR "report-figures"

typedef struct {
  char *dir;   /* the run directory as given */
  char *label; /* legend entry: the directory's last component (made unique by nc_report_label) */
  int has_config;
  nc_config config;
  int has_metrics; /* metrics.jsonl was read (it may still hold no records) */
  nc_metrics_log log;
  int usable;     /* at least one record to plot */
  char **notices; /* what is missing or damaged, one line each */
  int nnotices;
  const nc_config *defaults; /* optional (not owned): options equal to these are not listed up
                                front, only in the collapsed table of all options */
} nc_report_run;

/* Loads a run directory into run (zero it first). Missing or damaged parts become notices.
 * Returns NC_OK, or NC_ENOMEM. */
int nc_report_load(nc_report_run *run, const char *dir);
/* Frees a loaded run (safe on a zeroed one). */
void nc_report_run_free(nc_report_run *run);
/* Makes the labels of runs[0..n) distinct by appending " (2)", " (3)", … to repeats. */
int nc_report_label(nc_report_run *runs, int n);

typedef struct {
  int figures;        /* figures written (each a PNG and an SVG) */
  char stems[16][32]; /* their file stems, under NC_REPORT_FIG_DIR */
  int notices;        /* notices shown on the page */
  int unusable_runs;  /* runs with nothing to plot */
} nc_report_summary;

/* Writes out_dir/report.html and its figures under out_dir/NC_REPORT_FIG_DIR (out_dir is created
 * when missing). Figures overlay every run that has the data, one legend entry per run. Returns
 * NC_OK, NC_EIO or NC_ENOMEM (the message names the file). */
int nc_report_write(const nc_report_run *runs, int n, const char *out_dir,
                    nc_report_summary *summary);

/* ---- A reproduce folder (`ncssl reproduce --out DIR`): its tables and Figs 2 and 6 ---- */

/* One Fig. 2 run's monitor curves: alignment cos(W_p u_1, u_1) (element 0 of "alignment") and
 * asymmetry against step. */
typedef struct {
  int row, seed;
  double *align_step, *align;
  int nalign;
  double *asym_step, *asym;
  int nasym;
} nc_report_curve;

typedef struct {
  char *dir;
  const nc_exp_scale *scale;
  int seeds; /* per row, from DIR/reproduce.txt */
  const nc_experiment *exps;
  int nexp;
  nc_exp_summary *tables;  /* one per experiment, as nc_exp_summarize builds them */
  int runs, done;          /* runs of all tables (shared rows once each), and those with a result */
  nc_exp_floor floor;      /* the scale's random-init floor (n = 0 when it has not run) */
  nc_report_curve *curves; /* the fig2 experiment's runs that logged monitors */
  int ncurves;
  char **notices; /* runs whose curves could not be read, one line each */
  int nnotices;
} nc_report_reproduce;

/* Whether dir is a reproduce folder (it holds NC_EXP_MARKER). */
int nc_report_is_reproduce(const char *dir);
/* Loads a reproduce folder (zero rep first): every table from its runs' result.txt and the Fig. 2
 * runs' metrics.jsonl. Runs without result.txt are missing, an unreadable metrics.jsonl is a
 * notice; a malformed reproduce.txt or result.txt is an error (NC_EFORMAT or NC_EIO, the message
 * naming the file), since its numbers would be wrong. Returns NC_OK otherwise. */
int nc_report_reproduce_load(nc_report_reproduce *rep, const char *dir);
void nc_report_reproduce_free(nc_report_reproduce *rep);
/* `"reproduce": {"dir", "scale", "seeds", "runs", "done", "random_init_floor", "experiments":
 * [...]}` with each table
 * as nc_exp_summary_json writes it. */
void nc_report_reproduce_json(FILE *f, const nc_report_reproduce *rep);

/* nc_report_write with an optional reproduce folder (rep may be NULL; runs may be empty when rep
 * is given): its "Reproduce" section (one table per experiment, each claim's verdict, the Fig. 2
 * and Fig. 6 figures) comes first. */
int nc_report_write_page(const nc_report_run *runs, int n, const nc_report_reproduce *rep,
                         const char *out_dir, nc_report_summary *summary);

/* ---- Simulated dynamics, for `ncssl theory … --plot DIR` ---- */

/* The per-mode dynamics: p_j, s_j and τ_j against t (rows of x, n modes each, row-major
 * rows × n), written as DIR/modes-{p,s,tau}.{png,svg} and DIR/index.html. */
int nc_report_modes_plot(const char *dir, const double *t, const nc_mode_state *x, int rows, int n);

/* The full-matrix linear model over time: rows observations at step[i] of d eigenvalues of F,
 * real parts of the eigenvalues of W_p, alignments (each rows × d, row-major) and the asymmetry
 * and effective rank (rows), written as DIR/linear-*.{png,svg} and DIR/index.html. */
typedef struct {
  int rows, d;
  const double *step, *f_eigvals, *wp_eigvals, *alignment, *asymmetry, *effective_rank;
  const char *what; /* one line naming the setting, shown on the page (may be NULL) */
} nc_report_linear_trace;
int nc_report_linear_plot(const char *dir, const nc_report_linear_trace *tr);

#endif

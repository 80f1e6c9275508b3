/* The paper's deep-network experiments (digest §7) as data, for `ncssl reproduce`: each
 * experiment is its rows (the paper's hyperparameters as `ncssl train` options), the numbers the
 * paper printed for them, and its claims, each a criterion computed from the runs' measurements
 * (never a verdict written in). A scale adds the options that fit a budget (data, network, length,
 * seeds) and the evaluation protocol. Running the rows is the CLI's; reading what they left
 * (result.txt) and the tables built from it are here, so `ncssl reproduce` and `ncssl report`
 * print the same numbers. */
#ifndef NCSSL_EXPERIMENTS_H
#define NCSSL_EXPERIMENTS_H
#include <stddef.h>
#include <stdio.h>

#define NC_EXP_MAX_ROWS 17

typedef struct {
  const char *label; /* e.g. "sym W_p, no EMA" */
  const char
      *options;      /* `ncssl train` options of the paper's setting, e.g. "--symmetric --ema 0" */
  const char *paper; /* the paper's number as printed ("36.62±1.85"), "" when it has none */
} nc_exp_row;

/* What a claim compares. Rows are given as bit masks over the experiment's rows. */
typedef enum {
  NC_CLAIM_BELOW,     /* every row of a is below every row of b by more than margin (points) */
  NC_CLAIM_NOT_BELOW, /* no row of a is more than margin below any row of b */
  NC_CLAIM_RISES,     /* metric of row a rises over training by more than margin (last − first) */
  NC_CLAIM_FALLS,     /* metric of row a falls over training by more than margin (first − last) */
} nc_claim_kind;

typedef enum {
  NC_METRIC_PROBE,     /* best linear-probe test top-1, in points (%) */
  NC_METRIC_ALIGNMENT, /* cos(W_p u_1, u_1) for F's top eigenvector u_1, from monitor records */
  NC_METRIC_ASYMMETRY, /* ‖W_p − W_pᵀ‖/‖W_p‖, from monitor records */
} nc_metric_kind;

typedef struct {
  const char *text; /* the claim in words */
  nc_claim_kind kind;
  nc_metric_kind metric;
  unsigned a, b; /* row masks (b unused for RISES/FALLS; a is one row there) */
  double margin;
} nc_exp_claim;

typedef struct {
  const char *name;       /* "table3-1layer" (for --only and directory names) */
  const char *title;      /* "Table 3, one-layer linear predictor: symmetric vs regular W_p" */
  const char *paper_data; /* where the paper's numbers come from ("STL-10, 100 ep, 5 seeds") */
  nc_exp_row rows[NC_EXP_MAX_ROWS];
  int nrows;
  nc_exp_claim claims[4];
  int nclaims;
} nc_experiment;

typedef struct {
  const char *name;    /* quick | small | paper */
  const char *summary; /* one line for --list */
  const char *options; /* added before every row's options */
  int seeds;
  /* Evaluation: the first eval_train / eval_test images (0 = all), probe epochs, kNN k. */
  int eval_train, eval_test, probe_epochs, knn_k;
  /* The smallest standard error assumed for a mean (points of top-1), so one seed cannot decide
   * a difference smaller than the run-to-run noise of this scale; noise_monitor is the same for
   * alignment/asymmetry changes. */
  double noise, noise_monitor;
} nc_exp_scale;

/* The experiments, in the paper's order; count in *n. */
const nc_experiment *nc_experiments(int *n);
/* A scale by name, NULL when unknown. */
const nc_exp_scale *nc_exp_scale_get(const char *name);

/* Measurements of one row over its seeds (NaN where missing). */
typedef struct {
  int n;              /* seeds with a result */
  double mean, std;   /* of the metric over those seeds (std 0 for one seed) */
  double first, last; /* RISES/FALLS: the metric's first and last monitor value, seed-averaged */
  double dstd;        /* std over seeds of (last − first) */
} nc_exp_measure;

typedef enum {
  NC_VERDICT_UNDECIDED = 0,
  NC_VERDICT_REPRODUCED,
  NC_VERDICT_NOT_REPRODUCED
} nc_verdict;

typedef struct {
  nc_verdict verdict;
  double diff; /* the claim's margin of truth: > 0 means it holds (points, or metric units) */
  double se;   /* its standard error (with the scale's noise floor) */
  int missing; /* rows of the claim without any result */
} nc_claim_result;

/* Decides a claim from the rows' measurements m[0..nrows): reproduced when diff > 2·se, not
 * reproduced when diff < −2·se, undecided in between or when a row has no result; se uses the
 * scale's noise floors. */
nc_claim_result nc_claim_decide(const nc_exp_claim *c, const nc_exp_measure *m, int nrows,
                                const nc_exp_scale *sc);
/* "reproduced", "not reproduced", "undecided". */
const char *nc_verdict_name(nc_verdict v);
/* Mean and sample standard deviation of x[0..n) (NaN entries skipped); returns the count used. */
int nc_exp_mean_std(const double *x, int n, double *mean, double *std);

/* ---- A reproduce folder: OUT/reproduce.txt and the run directories OUT/runs/... ---- */

/* Written by `ncssl reproduce` before it runs anything ("scale = ...", "seeds = ..."): it marks
 * OUT as a reproduce folder and says which runs belong to its tables. */
#define NC_EXP_MARKER "reproduce.txt"

/* The run directory of (the scale's options, a row's options, seed) under out:
 * out/runs/<readable slug of the row>-<hash of both option strings>-s<seed>. */
void nc_exp_run_dir(const char *out, const char *scale_opts, const char *row_opts, int seed,
                    char *dir, size_t cap);

/* What one finished run measured, as its result.txt holds it (NaN where absent). */
typedef struct {
  double probe, knn; /* best linear-probe and kNN test top-1, points (%) */
  double align_first, align_last, asym_first, asym_last; /* monitor spans */
  double seconds;
} nc_exp_run_result;

/* Reads dir/result.txt into r: NC_OK with *found = 1; NC_OK with *found = 0 (r all NaN) when the
 * file does not exist (the run is not finished); NC_EFORMAT or NC_EIO, the message naming the
 * file, when it is not "key = value" lines, lacks probe_best_top1 or knn_top1, or has a value
 * that is not a number. */
int nc_exp_result_read(const char *dir, nc_exp_run_result *r, int *found);

/* The random-init floor of a scale: its backbone untrained (initialised as `ncssl train --seed`
 * initialises it) and evaluated as every run is. Fashion-MNIST's untrained features are already
 * far above chance, so a trained row is read against this, not against 10%. Its run directory is
 * nc_exp_run_dir(out, the scale's options, NC_EXP_FLOOR, seed). */
#define NC_EXP_FLOOR "random-init"

typedef struct {
  int n;                   /* seeds with a result */
  double probe, probe_std; /* best linear-probe test top-1 over those seeds, points (%) */
  double knn, knn_std;
} nc_exp_floor;

/* The floor over seeds 0..seeds-1 under out (n = 0 when none has run); NC_OK or the error of a
 * malformed result.txt. */
int nc_exp_floor_read(const nc_exp_scale *sc, int seeds, const char *out, nc_exp_floor *f);
/* Writes the floor as a JSON object ({"n": 0} when it has not run). */
void nc_exp_floor_json(FILE *f, const nc_exp_floor *fl);

/* One experiment's table: per row the probe measures over seeds (with the alignment spans), kNN
 * mean and std, and each claim's result. */
typedef struct {
  int seeds; /* seeds asked for per row */
  nc_exp_measure m[NC_EXP_MAX_ROWS];
  double knn_mean[NC_EXP_MAX_ROWS], knn_std[NC_EXP_MAX_ROWS];
  nc_claim_result cr[4];
} nc_exp_summary;

/* Builds e's table from the result.txt of its runs (seeds 0..seeds-1) under out; runs without
 * one count as missing. NC_OK, or the error of a malformed result.txt (nothing else is read). */
int nc_exp_summarize(const nc_experiment *e, const nc_exp_scale *sc, int seeds, const char *out,
                     nc_exp_summary *s);
/* Writes e's table as one JSON object (name, title, paper_data, rows, claims), as `ncssl
 * reproduce --json` prints it. */
void nc_exp_summary_json(FILE *f, const nc_experiment *e, const nc_exp_summary *s);

#endif

/* `ncssl theory phenomena`: one small experiment per claim of the paper, each of which measures
 * something from a run and decides itself whether the claim reproduced. */
#ifndef NCSSL_PHENOMENA_H
#define NCSSL_PHENOMENA_H

typedef struct {
  char claim[96];     /* e.g. "Obs#4: larger eta widens the collapse basin" */
  char setting[192];  /* the parameters of the experiment */
  char quantity[160]; /* what was measured */
  char expected[160]; /* what the theory predicts, in words and numbers */
  char measured[192]; /* what the run gave */
  int reproduced;     /* computed from the run, never written in */
} nc_phenomenon;

/* A row's experiment: fills `row`; returns NC_OK, or an error code when it could not run. */
typedef int (*nc_phenomenon_fn)(nc_phenomenon *row);

/* The rows, NULL-terminated: per-mode experiments, full-matrix experiments, and the rows for
 * Assumption 1, §4.9 and the symmetric-loss remark. */
extern const nc_phenomenon_fn nc_phenomena_modes_rows[];
extern const nc_phenomenon_fn nc_phenomena_linear_rows[];
extern const nc_phenomenon_fn nc_phenomena_more_rows[];

/* Number of rows nc_phenomena_run fills. */
int nc_phenomena_count(void);
/* Runs every row into rows[0..nc_phenomena_count()); returns NC_OK or the first failure. */
int nc_phenomena_run(nc_phenomenon *rows);

#endif

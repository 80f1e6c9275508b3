/* Series and final numbers from a metrics log (keys in docs/formats.md). */
#ifndef NCSSL_REPORT_DATA_H
#define NCSSL_REPORT_DATA_H
#include "ncssl/runlog.h"

/* n rows at x[i] of k values (row-major); missing entries are NaN. Optional marked points. */
typedef struct {
  double *x, *y;
  int n, k;
  double *mark_x, *mark_y;
  int nmark;
} rp_matrix;

void rp_matrix_free(rp_matrix *m);
/* key when some record of type has it, else alias when one has that, else key (alias may be NULL):
 * for fields logged under two names (docs/formats.md). */
const char *rp_key(const nc_metrics_log *log, const char *type, const char *key, const char *alias);
/* Records of `type` with a numeric xkey and a number or list under key, in file order; m->n = 0
 * when none. Returns NC_OK or NC_ENOMEM. */
int rp_get_matrix(const nc_metrics_log *log, const char *type, const char *xkey, const char *key,
                  rp_matrix *m);
/* The monitor series ykey against step, plus marks at the monitors whose flag_key is true. */
int rp_get_marks(const nc_metrics_log *log, const char *flag_key, const char *ykey, rp_matrix *m);
/* The last finite number under key in records of type; 0 when none. */
int rp_last_num(const nc_metrics_log *log, const char *type, const char *key, double *v);
/* The largest finite number; 0 when none. */
int rp_max_num(const nc_metrics_log *log, const char *type, const char *key, double *v);
/* The mean of the finite numbers; 0 when none. */
int rp_mean_num(const nc_metrics_log *log, const char *type, const char *key, double *v);
/* How many records of type have key true (non-zero). */
int rp_count_flag(const nc_metrics_log *log, const char *type, const char *key);

#endif

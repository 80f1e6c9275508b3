/* Run directories: what `ncssl train --out RUN_DIR` leaves behind and `ncssl report` reads.
 *
 *   config.txt     every effective option, one "key = value" line each (keys in the order set),
 *                  written atomically; '#' starts a comment line when read back
 *   metrics.jsonl  one JSON object per line, appended and flushed line by line:
 *                    {"type": "step", "step": 120, "epoch": 1, "loss": 3.91, "lr": 0.03,
 *                     "images_per_s": 812.5}
 *                    {"type": "monitor", "step": ..., "epoch": ..., "f_eigvals": [...], ...}
 *                    {"type": "eval", "epoch": ..., "probe_top1": ..., "probe_test_top1": [...]}
 *                  every record has a string "type"; numbers are full precision, NaN/Inf as null
 *
 * A process killed mid-write can leave a half-written last line; the reader reports it instead of
 * failing, and nc_metrics_open(append) cuts it off before appending. */
#ifndef NCSSL_RUNLOG_H
#define NCSSL_RUNLOG_H
#include <stddef.h>

#include "ncssl/afile.h"
#include "ncssl/monitor.h"
#include "ncssl/probe.h"

/* Files: nc_mkdir_p and nc_write_atomic are in afile.h. */

/* ---- config.txt ---- */

typedef struct {
  char *key, *value;
} nc_config_entry;

typedef struct {
  nc_config_entry *items;
  int n, cap;
} nc_config; /* zero-initialise before use */

/* Sets key to value, replacing an earlier value in place. Keys are non-empty without whitespace,
 * '=' or '#'; values are one line (no '\n' or '\r'). Returns NC_OK, NC_EINVAL or NC_ENOMEM. */
int nc_config_set(nc_config *c, const char *key, const char *value);
/* Like nc_config_set with a printf-formatted value. */
int nc_config_setf(nc_config *c, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The value of key, NULL if absent. */
const char *nc_config_get(const nc_config *c, const char *key);
/* Frees every entry and resets to empty. */
void nc_config_free(nc_config *c);
/* The "key = value\n" text (malloc'd, NUL-terminated); NULL when out of memory. */
char *nc_config_text(const nc_config *c);
/* Writes the text atomically to path. */
int nc_config_write(const nc_config *c, const char *path);
/* Reads a file of "key = value" lines (spaces around '=' and at line ends ignored; blank lines and
 * lines starting with '#' skipped) into c, appending/replacing. Returns NC_OK, NC_EIO or
 * NC_EFORMAT naming "path:line" and what is wrong (no '=', empty or bad key, duplicate key). */
int nc_config_read(nc_config *c, const char *path);

/* ---- metrics.jsonl, writing ---- */

typedef struct nc_metrics nc_metrics;

/* Opens path for writing: truncates it (append = 0) or appends after cutting off a half-written
 * last line (append = 1). Returns NC_OK, NC_EIO or NC_ENOMEM. */
int nc_metrics_open(nc_metrics **out, const char *path, int append);
/* Closes the file (NULL is fine). */
void nc_metrics_close(nc_metrics *m);
/* Starts a record {"type": type, ...}; the fields below add to it; nc_metrics_end writes the line
 * with one write and flushes it. A record is built in memory, so nothing reaches the file before
 * nc_metrics_end. */
int nc_metrics_begin(nc_metrics *m, const char *type);
void nc_metrics_int(nc_metrics *m, const char *key, long long v);
void nc_metrics_num(nc_metrics *m, const char *key, double v);
void nc_metrics_bool(nc_metrics *m, const char *key, int v);
void nc_metrics_str(nc_metrics *m, const char *key, const char *v);
void nc_metrics_nums(nc_metrics *m, const char *key, const double *v, int n);
/* Writes the record begun by nc_metrics_begin. Returns NC_OK, NC_EINVAL (no record begun, or a
 * field call failed to allocate) or NC_EIO. */
int nc_metrics_end(nc_metrics *m);
/* A whole per-step record: {"type": "step", step, epoch, loss, lr, images_per_s,
 * input_wait_ms}; input_wait_ms is how long the step waited for its batch from the loader. */
int nc_metrics_step(nc_metrics *m, long step, int epoch, double loss, double lr,
                    double images_per_s, double input_wait_ms);

/* A per-epoch monitor record {"type": "monitor", step, epoch, f_eigvals [d] (descending),
 * effective_rank, alignment [d], wp_eig_re [d], wp_eig_im [d], asymmetry, commutator, feature_std,
 * collapse} from a measured nc_monitor (has_wp = 0 leaves out the W_p fields). */
int nc_metrics_monitor(nc_metrics *m, long step, int epoch, const nc_monitor *mon, int has_wp,
                       double feature_std, int collapse);
/* An evaluation record {"type": "eval", step, epoch, probe_top1, probe_best_top1,
 * probe_best_epoch, probe_test_top1 [epochs], probe_train_loss [epochs], knn_top1}; probe may be
 * NULL and knn_top1 NaN for "not run" (those fields are then left out). */
int nc_metrics_eval(nc_metrics *m, long step, int epoch, const nc_probe_result *probe,
                    double knn_top1);

/* For a resumed run: rewrites path atomically keeping only the records whose "step" is <= step
 * (records without a step are kept) and dropping a half-written last line, so the resumed run
 * appends where the checkpoint was taken. A missing file is fine. Returns NC_OK, NC_EIO,
 * NC_EFORMAT (a bad line that is not the last, named "path:line") or NC_ENOMEM. */
int nc_metrics_rewind(const char *path, long step);

/* ---- metrics.jsonl, reading ---- */

typedef enum {
  NC_MV_NULL = 0, /* null */
  NC_MV_BOOL,     /* num is 0 or 1 */
  NC_MV_NUM,      /* num */
  NC_MV_STR,      /* str */
  NC_MV_NUMS,     /* nums[n] (null entries read as NaN) */
  NC_MV_OTHER     /* a nested object or a mixed array, kept as its JSON text in str */
} nc_mv_kind;

typedef struct {
  char *key;
  nc_mv_kind kind;
  double num;
  char *str;
  double *nums;
  int n;
} nc_metric_field;

typedef struct {
  const char *type; /* the "type" field ("" when absent) */
  long line;        /* 1-based line number in the file */
  nc_metric_field *fields;
  int n;
} nc_metric_record;

typedef struct {
  nc_metric_record *records;
  int n;
  long torn_line; /* 0, or the line number of a half-written last line that was skipped */
} nc_metrics_log;

/* Reads every line. A last line without its final newline that does not parse is skipped and
 * reported in torn_line; any other bad line fails with NC_EFORMAT naming "path:line". Blank lines
 * are skipped. Returns NC_OK, NC_EIO, NC_EFORMAT or NC_ENOMEM. */
int nc_metrics_read(const char *path, nc_metrics_log *log);
/* Frees everything read. */
void nc_metrics_log_free(nc_metrics_log *log);
/* A field of a record, NULL if absent. */
const nc_metric_field *nc_metric_get(const nc_metric_record *r, const char *key);
/* The numeric value of a field: 1 and *v set when it is a number, bool or null (NaN), else 0. */
int nc_metric_num(const nc_metric_record *r, const char *key, double *v);
/* Collects (x, y) over the records of one type that have both keys as numbers, in file order;
 * *x and *y are malloc'd (free them), *n their length. Returns NC_OK or NC_ENOMEM. */
int nc_metrics_series(const nc_metrics_log *log, const char *type, const char *xkey,
                      const char *ykey, double **x, double **y, int *n);

#endif

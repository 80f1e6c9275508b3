/* Loading run directories for a report: every missing or damaged piece becomes a notice. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ncssl/report.h"
#include "ncssl/status.h"

static int add_notice(nc_report_run *run, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int add_notice(nc_report_run *run, const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  char **grown = realloc(run->notices, sizeof(char *) * (size_t)(run->nnotices + 1));
  if (!grown) return nc_fail(NC_ENOMEM, "report: out of memory");
  run->notices = grown;
  if (!(run->notices[run->nnotices] = strdup(buf)))
    return nc_fail(NC_ENOMEM, "report: out of memory");
  run->nnotices++;
  return NC_OK;
}

/* The last non-empty path component ("runs/a/" -> "a"); "." and "/" stay as given. */
static char *base_label(const char *dir) {
  size_t len = strlen(dir);
  while (len > 1 && dir[len - 1] == '/') len--;
  size_t start = len;
  while (start > 0 && dir[start - 1] != '/') start--;
  if (start == len) start = 0;
  char *out = malloc(len - start + 1);
  if (out) memcpy(out, dir + start, len - start), out[len - start] = '\0';
  return out;
}

static int count_type(const nc_metrics_log *log, const char *type) {
  int n = 0;
  for (int i = 0; i < log->n; i++) n += strcmp(log->records[i].type, type) == 0;
  return n;
}

int nc_report_load(nc_report_run *run, const char *dir) {
  if (!(run->dir = strdup(dir)) || !(run->label = base_label(dir)))
    return nc_fail(NC_ENOMEM, "report: out of memory");
  struct stat st;
  if (stat(dir, &st) != 0)
    return add_notice(run, "run directory not found (%s): nothing to show", strerror(errno));
  if (!S_ISDIR(st.st_mode)) return add_notice(run, "%s: not a directory: nothing to show", dir);

  char path[4200];
  snprintf(path, sizeof path, "%s/config.txt", dir);
  int rc;
  if (stat(path, &st) != 0) {
    if ((rc = add_notice(run, "no config.txt: the run's configuration is unknown"))) return rc;
  } else if (nc_config_read(&run->config, path) != NC_OK) {
    if ((rc = add_notice(run, "config.txt unreadable: %s", nc_last_error()))) return rc;
    nc_config_free(&run->config);
  } else {
    run->has_config = 1;
  }

  snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
  if (stat(path, &st) != 0)
    return add_notice(run, "no metrics.jsonl: the run has logged nothing yet, nothing to plot");
  if (nc_metrics_read(path, &run->log) != NC_OK) {
    nc_metrics_log_free(&run->log);
    memset(&run->log, 0, sizeof run->log);
    return add_notice(run, "metrics.jsonl unreadable, nothing to plot: %s", nc_last_error());
  }
  run->has_metrics = 1;
  if (run->log.torn_line &&
      (rc = add_notice(run,
                       "metrics.jsonl line %ld is half-written (skipped): the run was killed or "
                       "is still writing",
                       run->log.torn_line)))
    return rc;
  int steps = count_type(&run->log, "step"), monitors = count_type(&run->log, "monitor"),
      evals = count_type(&run->log, "eval");
  run->usable = steps + monitors + evals > 0;
  if (!run->usable)
    return add_notice(run, "metrics.jsonl holds no step, monitor or eval records: nothing to plot");
  if (!steps && (rc = add_notice(run, "no \"step\" records: no loss or learning-rate curves")))
    return rc;
  if (!monitors &&
      (rc = add_notice(run,
                       "no \"monitor\" records: no spectra, effective rank or collapse "
                       "warnings")))
    return rc;
  if (!evals && (rc = add_notice(run, "no \"eval\" records: no probe or kNN accuracy yet")))
    return rc;
  return NC_OK;
}

void nc_report_run_free(nc_report_run *run) {
  if (!run) return;
  free(run->dir);
  free(run->label);
  nc_config_free(&run->config);
  if (run->has_metrics) nc_metrics_log_free(&run->log);
  for (int i = 0; i < run->nnotices; i++) free(run->notices[i]);
  free(run->notices);
  memset(run, 0, sizeof *run);
}

int nc_report_label(nc_report_run *runs, int n) {
  for (int i = 1; i < n; i++) {
    int repeats = 1;
    for (int j = 0; j < i; j++) repeats += strcmp(runs[j].label, runs[i].label) == 0;
    if (repeats == 1) continue;
    size_t len = strlen(runs[i].label) + 16;
    char *label = malloc(len);
    if (!label) return nc_fail(NC_ENOMEM, "report: out of memory");
    snprintf(label, len, "%s (%d)", runs[i].label, repeats);
    free(runs[i].label);
    runs[i].label = label;
  }
  return NC_OK;
}

/* Pulling plottable series out of a run's metrics log. */
#include "report_data.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ncssl/status.h"

void rp_matrix_free(rp_matrix *m) {
  free(m->x);
  free(m->y);
  free(m->mark_x);
  free(m->mark_y);
  memset(m, 0, sizeof *m);
}

/* Width of the widest list under key in records of type (0 when none has it). */
static int list_width(const nc_metrics_log *log, const char *type, const char *key, int *count) {
  int k = 0;
  *count = 0;
  for (int i = 0; i < log->n; i++) {
    if (strcmp(log->records[i].type, type) != 0) continue;
    const nc_metric_field *f = nc_metric_get(&log->records[i], key);
    if (!f) continue;
    int w = f->kind == NC_MV_NUMS ? f->n : (f->kind == NC_MV_NUM || f->kind == NC_MV_NULL);
    if (w > k) k = w;
    (*count)++;
  }
  return k;
}

const char *rp_key(const nc_metrics_log *log, const char *type, const char *key,
                   const char *alias) {
  if (!alias) return key;
  for (int i = 0; i < log->n; i++)
    if (strcmp(log->records[i].type, type) == 0 && nc_metric_get(&log->records[i], key)) return key;
  for (int i = 0; i < log->n; i++)
    if (strcmp(log->records[i].type, type) == 0 && nc_metric_get(&log->records[i], alias))
      return alias;
  return key;
}

int rp_get_matrix(const nc_metrics_log *log, const char *type, const char *xkey, const char *key,
                  rp_matrix *m) {
  memset(m, 0, sizeof *m);
  int count = 0, k = list_width(log, type, key, &count);
  if (k == 0 || count == 0) return NC_OK;
  m->x = malloc(sizeof(double) * (size_t)count);
  m->y = malloc(sizeof(double) * (size_t)count * (size_t)k);
  if (!m->x || !m->y) {
    rp_matrix_free(m);
    return nc_fail(NC_ENOMEM, "report: out of memory");
  }
  m->k = k;
  for (int i = 0; i < log->n; i++) {
    const nc_metric_record *r = &log->records[i];
    if (strcmp(r->type, type) != 0) continue;
    const nc_metric_field *f = nc_metric_get(r, key);
    double x;
    if (!f || !nc_metric_num(r, xkey, &x) || !isfinite(x)) continue;
    double *row = m->y + (size_t)m->n * k;
    for (int j = 0; j < k; j++) row[j] = NAN;
    if (f->kind == NC_MV_NUMS)
      for (int j = 0; j < f->n; j++) row[j] = f->nums[j];
    else if (f->kind == NC_MV_NUM)
      row[0] = f->num;
    m->x[m->n++] = x;
  }
  if (m->n == 0) rp_matrix_free(m);
  return NC_OK;
}

int rp_get_marks(const nc_metrics_log *log, const char *flag_key, const char *ykey, rp_matrix *m) {
  int rc = rp_get_matrix(log, "monitor", "step", ykey, m);
  if (rc || m->n == 0) return rc;
  m->mark_x = malloc(sizeof(double) * (size_t)log->n);
  m->mark_y = malloc(sizeof(double) * (size_t)log->n);
  if (!m->mark_x || !m->mark_y) {
    rp_matrix_free(m);
    return nc_fail(NC_ENOMEM, "report: out of memory");
  }
  for (int i = 0; i < log->n; i++) {
    const nc_metric_record *r = &log->records[i];
    double flag, x, y;
    if (strcmp(r->type, "monitor") != 0 || !nc_metric_num(r, flag_key, &flag) || !(flag != 0) ||
        isnan(flag) || !nc_metric_num(r, "step", &x) || !nc_metric_num(r, ykey, &y))
      continue;
    m->mark_x[m->nmark] = x;
    m->mark_y[m->nmark++] = y;
  }
  return NC_OK;
}

int rp_last_num(const nc_metrics_log *log, const char *type, const char *key, double *v) {
  for (int i = log->n - 1; i >= 0; i--)
    if (strcmp(log->records[i].type, type) == 0 && nc_metric_num(&log->records[i], key, v) &&
        isfinite(*v))
      return 1;
  return 0;
}

int rp_max_num(const nc_metrics_log *log, const char *type, const char *key, double *v) {
  int found = 0;
  double x;
  for (int i = 0; i < log->n; i++)
    if (strcmp(log->records[i].type, type) == 0 && nc_metric_num(&log->records[i], key, &x) &&
        isfinite(x) && (!found || x > *v))
      *v = x, found = 1;
  return found;
}

int rp_mean_num(const nc_metrics_log *log, const char *type, const char *key, double *v) {
  int n = 0;
  double sum = 0, x;
  for (int i = 0; i < log->n; i++)
    if (strcmp(log->records[i].type, type) == 0 && nc_metric_num(&log->records[i], key, &x) &&
        isfinite(x))
      sum += x, n++;
  if (n) *v = sum / n;
  return n > 0;
}

int rp_count_flag(const nc_metrics_log *log, const char *type, const char *key) {
  int n = 0;
  double x;
  for (int i = 0; i < log->n; i++)
    n += strcmp(log->records[i].type, type) == 0 && nc_metric_num(&log->records[i], key, &x) &&
         x != 0 && !isnan(x);
  return n;
}

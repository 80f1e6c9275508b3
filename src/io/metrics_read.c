/* metrics.jsonl reader (runlog.h): one jansson parse per line, flattened into fields. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ncssl/afile.h"
#include "ncssl/runlog.h"
#include "ncssl/status.h"

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

static void free_record(nc_metric_record *r) {
  for (int i = 0; i < r->n; i++) {
    free(r->fields[i].key);
    free(r->fields[i].str);
    free(r->fields[i].nums);
  }
  free(r->fields);
  memset(r, 0, sizeof *r);
}

void nc_metrics_log_free(nc_metrics_log *log) {
  for (int i = 0; i < log->n; i++) free_record(&log->records[i]);
  free(log->records);
  memset(log, 0, sizeof *log);
}

/* One JSON value into a field; 0 when out of memory. */
static int fill_field(nc_metric_field *fd, const char *key, json_t *v) {
  if (!(fd->key = dup_str(key))) return 0;
  fd->num = NAN;
  if (json_is_array(v)) {
    size_t n = json_array_size(v), i;
    json_t *e;
    int numeric = 1;
    json_array_foreach(v, i, e) numeric &= json_is_number(e) || json_is_null(e);
    if (numeric) {
      fd->kind = NC_MV_NUMS;
      fd->n = (int)n;
      if (!(fd->nums = malloc((n ? n : 1) * sizeof *fd->nums))) return 0;
      json_array_foreach(v, i, e) fd->nums[i] = json_is_null(e) ? NAN : json_number_value(e);
      return 1;
    }
  }
  switch (json_typeof(v)) {
    case JSON_NULL:
      fd->kind = NC_MV_NULL;
      return 1;
    case JSON_TRUE:
    case JSON_FALSE:
      fd->kind = NC_MV_BOOL;
      fd->num = json_is_true(v);
      return 1;
    case JSON_INTEGER:
    case JSON_REAL:
      fd->kind = NC_MV_NUM;
      fd->num = json_number_value(v);
      return 1;
    case JSON_STRING:
      fd->kind = NC_MV_STR;
      return (fd->str = dup_str(json_string_value(v))) != NULL;
    default:
      fd->kind = NC_MV_OTHER; /* an object or a mixed array, kept as text */
      return (fd->str = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)) != NULL;
  }
}

/* Parses one line into r; returns NC_OK, NC_EFORMAT (message without location) or NC_ENOMEM. */
static int parse_line(const char *text, size_t len, nc_metric_record *r, char *why,
                      size_t why_len) {
  json_error_t err;
  json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
  if (!root) {
    snprintf(why, why_len, "%s (column %d)", err.text, err.column);
    return NC_EFORMAT;
  }
  int rc = NC_OK;
  if (!json_is_object(root)) {
    snprintf(why, why_len, "not a JSON object");
    rc = NC_EFORMAT;
  } else {
    size_t n = json_object_size(root);
    r->fields = calloc(n ? n : 1, sizeof *r->fields);
    const char *key;
    json_t *v;
    if (!r->fields) rc = NC_ENOMEM;
    json_object_foreach(root, key, v) {
      if (rc) break;
      if (!fill_field(&r->fields[r->n++], key, v)) rc = NC_ENOMEM;
    }
    const nc_metric_field *t = rc ? NULL : nc_metric_get(r, "type");
    r->type = t && t->kind == NC_MV_STR ? t->str : "";
  }
  json_decref(root);
  return rc;
}

int nc_metrics_read(const char *path, nc_metrics_log *log) {
  memset(log, 0, sizeof *log);
  FILE *f = NULL;
  int orc = nc_fopen_input(path, 1, &f); /* a run's file: no symlink, no FIFO */
  if (orc) return orc;
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  int rc = NC_OK, rcap = 0;
  for (long lineno = 1; (len = getline(&line, &cap, f)) >= 0; lineno++) {
    int complete = len > 0 && line[len - 1] == '\n';
    size_t blank = strspn(line, " \t\r\n");
    if ((ssize_t)blank == len) continue;
    if (log->n == rcap) {
      rcap = rcap ? 2 * rcap : 256;
      nc_metric_record *recs = realloc(log->records, (size_t)rcap * sizeof *recs);
      if (!recs) {
        rc = nc_fail(NC_ENOMEM, "out of memory reading %s", path);
        break;
      }
      log->records = recs;
    }
    nc_metric_record *r = &log->records[log->n];
    memset(r, 0, sizeof *r);
    r->line = lineno;
    char why[200];
    int prc = parse_line(line, (size_t)len, r, why, sizeof why);
    if (prc == NC_OK) {
      log->n++;
      continue;
    }
    free_record(r);
    if (prc == NC_ENOMEM) {
      rc = nc_fail(NC_ENOMEM, "out of memory reading %s", path);
      break;
    }
    /* A half-written last line (a run killed mid-write) is expected: report it, keep the rest. */
    if (!complete && fgetc(f) == EOF) {
      log->torn_line = lineno;
      break;
    }
    rc = nc_fail(NC_EFORMAT, "%s:%ld: %s", path, lineno, why);
    break;
  }
  if (rc == NC_OK && ferror(f)) rc = nc_fail(NC_EIO, "cannot read %s: %s", path, strerror(errno));
  free(line);
  fclose(f);
  if (rc) nc_metrics_log_free(log);
  return rc;
}

const nc_metric_field *nc_metric_get(const nc_metric_record *r, const char *key) {
  for (int i = 0; i < r->n; i++)
    if (strcmp(r->fields[i].key, key) == 0) return &r->fields[i];
  return NULL;
}

int nc_metric_num(const nc_metric_record *r, const char *key, double *v) {
  const nc_metric_field *f = nc_metric_get(r, key);
  if (!f || !(f->kind == NC_MV_NUM || f->kind == NC_MV_BOOL || f->kind == NC_MV_NULL)) return 0;
  *v = f->num;
  return 1;
}

int nc_metrics_series(const nc_metrics_log *log, const char *type, const char *xkey,
                      const char *ykey, double **x, double **y, int *n) {
  *x = malloc((log->n ? (size_t)log->n : 1) * sizeof **x);
  *y = malloc((log->n ? (size_t)log->n : 1) * sizeof **y);
  *n = 0;
  if (!*x || !*y) {
    free(*x);
    free(*y);
    *x = *y = NULL;
    return nc_fail(NC_ENOMEM, "out of memory");
  }
  for (int i = 0; i < log->n; i++) {
    const nc_metric_record *r = &log->records[i];
    double a, b;
    if (strcmp(r->type, type) == 0 && nc_metric_num(r, xkey, &a) && nc_metric_num(r, ykey, &b)) {
      (*x)[*n] = a;
      (*y)[*n] = b;
      (*n)++;
    }
  }
  return NC_OK;
}

int nc_metrics_rewind(const char *path, long step) {
  struct stat lst;
  if (lstat(path, &lst) != 0 && errno == ENOENT) return NC_OK;
  FILE *f = NULL;
  int orc = nc_fopen_input(path, 1, &f); /* a run's file: no symlink, no FIFO */
  if (orc) return orc;
  char *line = NULL, *out = NULL;
  size_t cap = 0, out_size = 0;
  ssize_t len;
  int rc = NC_OK;
  FILE *kept = open_memstream(&out, &out_size);
  if (!kept) rc = nc_fail(NC_ENOMEM, "out of memory");
  for (long lineno = 1; rc == NC_OK && (len = getline(&line, &cap, f)) >= 0; lineno++) {
    if ((ssize_t)strspn(line, " \t\r\n") == len) continue;
    json_error_t err;
    json_t *root = json_loadb(line, (size_t)len, JSON_REJECT_DUPLICATES, &err);
    int complete = line[len - 1] == '\n';
    if (!root || !json_is_object(root)) {
      json_decref(root);
      if (!complete) break; /* the half-written last line */
      rc = nc_fail(NC_EFORMAT, "%s:%ld: %s", path, lineno, root ? "not a JSON object" : err.text);
      break;
    }
    json_t *s = json_object_get(root, "step");
    if (!json_is_number(s) || json_number_value(s) <= (double)step) {
      fwrite(line, 1, (size_t)len, kept);
      if (!complete) fputc('\n', kept);
    }
    json_decref(root);
  }
  if (rc == NC_OK && ferror(f)) rc = nc_fail(NC_EIO, "cannot read %s: %s", path, strerror(errno));
  free(line);
  fclose(f);
  if (kept && fclose(kept) != 0 && rc == NC_OK) rc = nc_fail(NC_ENOMEM, "out of memory");
  if (rc == NC_OK) rc = nc_write_atomic(path, out ? out : "", out_size);
  free(out);
  return rc;
}

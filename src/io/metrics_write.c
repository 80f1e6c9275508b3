/* metrics.jsonl writer: each record is built in memory and written with one fwrite + fflush. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ncssl/afile.h"
#include "ncssl/json.h"
#include "ncssl/runlog.h"
#include "ncssl/status.h"

struct nc_metrics {
  FILE *file;
  char *path;
  FILE *rec; /* the record being built (open_memstream), NULL between records */
  char *buf;
  size_t size;
};

/* Cuts a half-written last line (no final newline) off the file. */
static int drop_torn_tail(const char *path) {
  struct stat lst;
  if (lstat(path, &lst) != 0 && errno == ENOENT) return NC_OK;
  FILE *f = NULL;
  int orc = nc_open_run_file(path, 1, &f); /* no symlink, no FIFO */
  if (orc) return orc;
  struct stat st;
  int rc = NC_OK;
  if (fstat(fileno(f), &st) == 0 && st.st_size > 0) {
    off_t keep = st.st_size;
    char c[4096];
    /* Scan backwards for the last newline. */
    while (keep > 0) {
      size_t chunk = keep < (off_t)sizeof c ? (size_t)keep : sizeof c;
      if (fseeko(f, keep - (off_t)chunk, SEEK_SET) != 0 || fread(c, 1, chunk, f) != chunk) {
        rc = nc_fail(NC_EIO, "cannot read %s", path);
        break;
      }
      if (keep == st.st_size && c[chunk - 1] == '\n') break; /* already whole */
      size_t i = chunk;
      while (i > 0 && c[i - 1] != '\n') i--;
      keep -= (off_t)(chunk - i);
      if (i > 0) break;
    }
    if (rc == NC_OK && keep != st.st_size && ftruncate(fileno(f), keep) != 0)
      rc = nc_fail(NC_EIO, "cannot truncate %s: %s", path, strerror(errno));
  }
  fclose(f);
  return rc;
}

int nc_metrics_open(nc_metrics **out, const char *path, int append) {
  *out = NULL;
  if (append) {
    int rc = drop_torn_tail(path);
    if (rc) return rc;
  }
  nc_metrics *m = calloc(1, sizeof *m);
  if (!m || !(m->path = malloc(strlen(path) + 1))) {
    free(m);
    return nc_fail(NC_ENOMEM, "out of memory");
  }
  strcpy(m->path, path);
  int rc = nc_open_run_file(path, append, &m->file); /* a planted symlink is refused */
  if (rc) {
    free(m->path);
    free(m);
    return rc;
  }
  *out = m;
  return NC_OK;
}

static void drop_record(nc_metrics *m) {
  if (m->rec) fclose(m->rec);
  free(m->buf);
  m->rec = NULL;
  m->buf = NULL;
  m->size = 0;
}

void nc_metrics_close(nc_metrics *m) {
  if (!m) return;
  drop_record(m);
  fclose(m->file);
  free(m->path);
  free(m);
}

int nc_metrics_begin(nc_metrics *m, const char *type) {
  drop_record(m);
  if (!(m->rec = open_memstream(&m->buf, &m->size))) return nc_fail(NC_ENOMEM, "out of memory");
  fputs("{\"type\": ", m->rec);
  nc_json_str(m->rec, type);
  return NC_OK;
}

static int key(nc_metrics *m, const char *k) {
  if (!m->rec) return 0;
  fputs(", ", m->rec);
  nc_json_str(m->rec, k);
  fputs(": ", m->rec);
  return 1;
}

void nc_metrics_int(nc_metrics *m, const char *k, long long v) {
  if (key(m, k)) fprintf(m->rec, "%lld", v);
}

void nc_metrics_num(nc_metrics *m, const char *k, double v) {
  if (key(m, k)) nc_json_num(m->rec, v);
}

void nc_metrics_bool(nc_metrics *m, const char *k, int v) {
  if (key(m, k)) fputs(v ? "true" : "false", m->rec);
}

void nc_metrics_str(nc_metrics *m, const char *k, const char *v) {
  if (key(m, k)) nc_json_str(m->rec, v);
}

void nc_metrics_nums(nc_metrics *m, const char *k, const double *v, int n) {
  if (key(m, k)) nc_json_nums(m->rec, v, n);
}

int nc_metrics_end(nc_metrics *m) {
  if (!m->rec) return nc_fail(NC_EINVAL, "metrics: no record begun");
  fputs("}\n", m->rec);
  int bad = ferror(m->rec);
  if (fclose(m->rec) != 0) bad = 1;
  m->rec = NULL;
  if (bad) {
    drop_record(m);
    return nc_fail(NC_EINVAL, "metrics: out of memory building a record");
  }
  int rc = NC_OK;
  if (fwrite(m->buf, 1, m->size, m->file) != m->size || fflush(m->file) != 0)
    rc = nc_fail(NC_EIO, "cannot write %s: %s", m->path, strerror(errno));
  drop_record(m);
  return rc;
}

int nc_metrics_step(nc_metrics *m, long step, int epoch, double loss, double lr,
                    double images_per_s, double input_wait_ms) {
  int rc = nc_metrics_begin(m, "step");
  if (rc) return rc;
  nc_metrics_int(m, "step", step);
  nc_metrics_int(m, "epoch", epoch);
  nc_metrics_num(m, "loss", loss);
  nc_metrics_num(m, "lr", lr);
  nc_metrics_num(m, "images_per_s", images_per_s);
  nc_metrics_num(m, "input_wait_ms", input_wait_ms);
  return nc_metrics_end(m);
}

int nc_metrics_monitor(nc_metrics *m, long step, int epoch, const nc_monitor *mon, int has_wp,
                       double feature_std, int collapse) {
  int rc = nc_metrics_begin(m, "monitor");
  if (rc) return rc;
  nc_metrics_int(m, "step", step);
  nc_metrics_int(m, "epoch", epoch);
  nc_metrics_nums(m, "f_eigvals", mon->f_eigvals, mon->d);
  nc_metrics_num(m, "effective_rank", mon->effective_rank);
  if (has_wp) {
    nc_metrics_nums(m, "alignment", mon->alignment, mon->d);
    nc_metrics_nums(m, "wp_eig_re", mon->wp_eig_re, mon->d);
    nc_metrics_nums(m, "wp_eig_im", mon->wp_eig_im, mon->d);
    nc_metrics_num(m, "asymmetry", mon->asymmetry);
    nc_metrics_num(m, "commutator", mon->commutator);
  }
  nc_metrics_num(m, "feature_std", feature_std);
  nc_metrics_bool(m, "collapse", collapse);
  return nc_metrics_end(m);
}

int nc_metrics_eval(nc_metrics *m, long step, int epoch, const nc_probe_result *probe,
                    double knn_top1) {
  int rc = nc_metrics_begin(m, "eval");
  if (rc) return rc;
  nc_metrics_int(m, "step", step);
  nc_metrics_int(m, "epoch", epoch);
  if (probe) {
    nc_metrics_num(m, "probe_top1", probe->final_top1);
    nc_metrics_num(m, "probe_best_top1", probe->best_top1);
    nc_metrics_int(m, "probe_best_epoch", probe->best_epoch);
    nc_metrics_nums(m, "probe_test_top1", probe->test_top1, probe->epochs);
    nc_metrics_nums(m, "probe_train_loss", probe->train_loss, probe->epochs);
  }
  if (knn_top1 == knn_top1) nc_metrics_num(m, "knn_top1", knn_top1);
  return nc_metrics_end(m);
}

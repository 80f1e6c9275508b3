/* A reproduce folder's runs: where each lives, what its result.txt says, and the tables built from
 * them. One code path for `ncssl reproduce` and `ncssl report`, so both print the same numbers. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ncssl/experiments.h"
#include "ncssl/json.h"
#include "ncssl/runlog.h"
#include "ncssl/status.h"

enum { MAX_SEEDS = 64 };

void nc_exp_run_dir(const char *out, const char *scale_opts, const char *row_opts, int seed,
                    char *dir, size_t cap) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a over both option strings */
  for (const char *s = scale_opts; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  for (const char *s = row_opts; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  char slug[64];
  int n = 0;
  int token_start = 1; /* drop the dashes that start an option ("--ema 0" -> "ema_0") */
  for (const char *s = row_opts; *s && n < 48; s++) {
    char c = *s;
    if (c == '-' && token_start) continue;
    token_start = c == ' ';
    slug[n++] = (c == ' ' || c == '-') ? '_' : c;
  }
  slug[n] = 0;
  snprintf(dir, cap, "%s/runs/%s-%08llx-s%d", out, slug, (unsigned long long)(h & 0xffffffffu),
           seed);
}

/* A value of result.txt: absent is NaN unless required; present must be a number ("nan" is one:
 * a run writes it for a monitor metric it does not have). */
static int result_num(const nc_config *c, const char *path, const char *key, int required,
                      double *v) {
  const char *s = nc_config_get(c, key);
  *v = NAN;
  if (!s)
    return required ? nc_fail(NC_EFORMAT, "%s: no '%s' (not a finished run's result)", path, key)
                    : NC_OK;
  char *end;
  errno = 0;
  *v = strtod(s, &end);
  if (end == s || *end) return nc_fail(NC_EFORMAT, "%s: '%s' is not a number: %s", path, key, s);
  return NC_OK;
}

int nc_exp_result_read(const char *dir, nc_exp_run_result *r, int *found) {
  char path[1200];
  snprintf(path, sizeof path, "%s/result.txt", dir);
  r->probe = r->knn = r->align_first = r->align_last = r->asym_first = r->asym_last = NAN;
  r->seconds = NAN;
  *found = 0;
  struct stat st;
  if (stat(path, &st) != 0) return NC_OK;
  nc_config c = {0};
  int rc = nc_config_read(&c, path); /* its message names path:line */
  if (!rc) rc = result_num(&c, path, "probe_best_top1", 1, &r->probe);
  if (!rc) rc = result_num(&c, path, "knn_top1", 1, &r->knn);
  if (!rc) rc = result_num(&c, path, "alignment_first", 0, &r->align_first);
  if (!rc) rc = result_num(&c, path, "alignment_last", 0, &r->align_last);
  if (!rc) rc = result_num(&c, path, "asymmetry_first", 0, &r->asym_first);
  if (!rc) rc = result_num(&c, path, "asymmetry_last", 0, &r->asym_last);
  if (!rc) rc = result_num(&c, path, "seconds", 0, &r->seconds);
  nc_config_free(&c);
  *found = rc == NC_OK;
  return rc;
}

/* The measure of one row over seeds from per-seed first/last values (the RISES/FALLS spans). */
static void span_measure(const double *first, const double *last, int seeds, nc_exp_measure *m) {
  double d[MAX_SEEDS], sd;
  for (int k = 0; k < seeds; k++) d[k] = last[k] - first[k];
  nc_exp_mean_std(first, seeds, &m->first, &sd);
  nc_exp_mean_std(last, seeds, &m->last, &sd);
  nc_exp_mean_std(d, seeds, &sd, &m->dstd);
}

int nc_exp_summarize(const nc_experiment *e, const nc_exp_scale *sc, int seeds, const char *out,
                     nc_exp_summary *s) {
  if (seeds < 1 || seeds > MAX_SEEDS)
    return nc_fail(NC_EINVAL, "reproduce: %d seeds (1 to %d)", seeds, MAX_SEEDS);
  memset(s, 0, sizeof *s);
  s->seeds = seeds;
  /* Every run's result first, so a malformed file stops everything before any number is used. */
  nc_exp_run_result(*res)[MAX_SEEDS] = malloc(sizeof *res * NC_EXP_MAX_ROWS);
  if (!res) return nc_fail(NC_ENOMEM, "reproduce: out of memory");
  for (int i = 0; i < e->nrows; i++)
    for (int k = 0; k < seeds; k++) {
      char dir[1024];
      int found;
      nc_exp_run_dir(out, sc->options, e->rows[i].options, k, dir, sizeof dir);
      int rc = nc_exp_result_read(dir, &res[i][k], &found);
      if (rc) {
        free(res);
        return rc;
      }
    }
  double asym_first[NC_EXP_MAX_ROWS][MAX_SEEDS], asym_last[NC_EXP_MAX_ROWS][MAX_SEEDS];
  for (int i = 0; i < e->nrows; i++) {
    double probe[MAX_SEEDS], knn[MAX_SEEDS], af[MAX_SEEDS], al[MAX_SEEDS];
    for (int k = 0; k < seeds; k++) {
      const nc_exp_run_result *r = &res[i][k];
      probe[k] = r->probe, knn[k] = r->knn, af[k] = r->align_first, al[k] = r->align_last;
      asym_first[i][k] = r->asym_first, asym_last[i][k] = r->asym_last;
    }
    nc_exp_measure *m = &s->m[i];
    m->n = nc_exp_mean_std(probe, seeds, &m->mean, &m->std);
    nc_exp_mean_std(knn, seeds, &s->knn_mean[i], &s->knn_std[i]);
    span_measure(af, al, seeds, m); /* the alignment spans; asymmetry claims swap theirs in */
  }
  for (int c = 0; c < e->nclaims; c++) {
    nc_exp_measure mm[NC_EXP_MAX_ROWS];
    memcpy(mm, s->m, sizeof mm);
    if (e->claims[c].metric == NC_METRIC_ASYMMETRY)
      for (int i = 0; i < e->nrows; i++) {
        double sd;
        mm[i].n = nc_exp_mean_std(asym_first[i], seeds, &mm[i].first, &sd);
        span_measure(asym_first[i], asym_last[i], seeds, &mm[i]);
      }
    s->cr[c] = nc_claim_decide(&e->claims[c], mm, e->nrows, sc);
  }
  free(res);
  return NC_OK;
}

void nc_exp_summary_json(FILE *f, const nc_experiment *e, const nc_exp_summary *s) {
  fprintf(f, "{\"name\": ");
  nc_json_str(f, e->name);
  fprintf(f, ", \"title\": ");
  nc_json_str(f, e->title);
  fprintf(f, ", \"paper_data\": ");
  nc_json_str(f, e->paper_data);
  fprintf(f, ", \"rows\": [");
  for (int i = 0; i < e->nrows; i++) {
    const nc_exp_measure *m = &s->m[i];
    fprintf(f, "%s{\"label\": ", i ? ", " : "");
    nc_json_str(f, e->rows[i].label);
    fprintf(f, ", \"options\": ");
    nc_json_str(f, e->rows[i].options);
    fprintf(f, ", \"paper\": ");
    nc_json_str(f, e->rows[i].paper);
    fprintf(f, ", \"seeds\": %d", m->n);
    nc_json_field(f, "probe_mean", m->mean);
    nc_json_field(f, "probe_std", m->std);
    nc_json_field(f, "knn_mean", s->knn_mean[i]);
    nc_json_field(f, "alignment_first", m->first);
    nc_json_field(f, "alignment_last", m->last);
    fprintf(f, "}");
  }
  fprintf(f, "], \"claims\": [");
  for (int c = 0; c < e->nclaims; c++) {
    fprintf(f, "%s{\"claim\": ", c ? ", " : "");
    nc_json_str(f, e->claims[c].text);
    fprintf(f, ", \"verdict\": ");
    nc_json_str(f, nc_verdict_name(s->cr[c].verdict));
    nc_json_field(f, "margin", s->cr[c].diff);
    nc_json_field(f, "se", s->cr[c].se);
    fprintf(f, ", \"rows_missing\": %d}", s->cr[c].missing);
  }
  fprintf(f, "]}");
}

int nc_exp_floor_read(const nc_exp_scale *sc, int seeds, const char *out, nc_exp_floor *f) {
  double probe[MAX_SEEDS], knn[MAX_SEEDS];
  if (seeds > MAX_SEEDS) seeds = MAX_SEEDS;
  for (int k = 0; k < seeds; k++) {
    char dir[1200];
    nc_exp_run_dir(out, sc->options, NC_EXP_FLOOR, k, dir, sizeof dir);
    nc_exp_run_result r;
    int found, rc = nc_exp_result_read(dir, &r, &found);
    if (rc) return rc;
    probe[k] = r.probe, knn[k] = r.knn;
  }
  f->n = nc_exp_mean_std(probe, seeds, &f->probe, &f->probe_std);
  nc_exp_mean_std(knn, seeds, &f->knn, &f->knn_std);
  return NC_OK;
}

void nc_exp_floor_json(FILE *f, const nc_exp_floor *fl) {
  if (!fl->n) {
    fprintf(f, "{\"n\": 0}");
    return;
  }
  fprintf(f, "{\"n\": %d, \"probe\": %.4f, \"probe_std\": %.4f, \"knn\": %.4f, \"knn_std\": %.4f}",
          fl->n, fl->probe, fl->probe_std, fl->knn, fl->knn_std);
}

// ctest-labels: unit
/* The report: synthetic run directories written with the runlog writer (whole, damaged, missing)
 * give a page whose every <img> exists, whose figures have titles and captions, whose header
 * holds the configuration (escaped) and the final numbers, and whose notices say what is
 * missing. Also the theory figure pages, and a reproduce folder's section (tables, verdicts, Figs 2
 * and 6; missing runs shown as missing; a malformed result.txt refused). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ncssl/data.h"
#include "ncssl/experiments.h"
#include "ncssl/json.h"
#include "ncssl/report.h"
#include "ncssl/status.h"
#include "testing.h"

static char tmp[64];

static char *read_all(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) n = 0;
  if (buf) buf[n] = '\0';
  fclose(f);
  return buf;
}

static int is_png(const char *path) {
  char *b = read_all(path);
  int ok = b && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0;
  free(b);
  return ok;
}

static int exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

static int count(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
  return n;
}

/* A run: steps 1..nsteps, a monitor every 10 steps (with predictor keys when wp), an eval at
 * steps 20 and 40 (probe 0.5 then 0.6, kNN 0.4 then 0.55). The last monitor raises a collapse
 * warning. Records are written as `ncssl train` does (nc_metrics_monitor, nc_metrics_eval), or
 * with aliases = 1 field by field under the other names docs/formats.md accepts. */
static void write_run_as(const char *dir, int nsteps, int wp, const char *config_value,
                         int aliases) {
  char path[256];
  CHECK(nc_mkdir_p(dir) == NC_OK);
  nc_config cfg = {0};
  nc_config_set(&cfg, "method", "byol");
  nc_config_set(&cfg, "predictor", wp ? "directpred" : "mlp");
  nc_config_set(&cfg, "note", config_value);
  snprintf(path, sizeof path, "%s/config.txt", dir);
  CHECK(nc_config_write(&cfg, path) == NC_OK);
  nc_config_free(&cfg);
  nc_metrics *m = NULL;
  snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
  CHECK(nc_metrics_open(&m, path, 0) == NC_OK);
  if (!m) return;
  for (int s = 1; s <= nsteps; s++) {
    int epoch = (s - 1) / 20 + 1;
    CHECK(nc_metrics_step(m, s, epoch, 2.0 / (1 + 0.1 * s), 0.03 * (1 - (double)s / (nsteps + 1)),
                          800, 0) == NC_OK);
    if (s % 10 == 0) {
      double f[4] = {1.0, 0.5, 0.1 / s, 1e-3 / s}, p[4], a[4] = {0.9, 0.8, 0.5, NAN};
      for (int j = 0; j < 4; j++) p[j] = sqrt(f[j]) + 0.1;
      double rank = s == nsteps ? 1.5 : 2.5, zero[4] = {0};
      if (!aliases) {
        nc_monitor mon = {.d = 4,
                          .f_eigvals = f,
                          .wp_eig_re = p,
                          .wp_eig_im = zero,
                          .alignment = a,
                          .asymmetry = 1.0 / s,
                          .effective_rank = rank};
        CHECK(nc_metrics_monitor(m, s, epoch, &mon, wp, 0.3, s == nsteps) == NC_OK);
      } else {
        nc_metrics_begin(m, "monitor");
        nc_metrics_int(m, "step", s);
        nc_metrics_int(m, "epoch", epoch);
        nc_metrics_nums(m, "f_eigvals", f, 4);
        if (wp) {
          nc_metrics_nums(m, "wp_eigvals", p, 4);
          nc_metrics_nums(m, "alignment", a, 4);
          nc_metrics_num(m, "asymmetry", 1.0 / s);
        }
        nc_metrics_num(m, "effective_rank", rank);
        nc_metrics_num(m, "feature_std", 0.3);
        nc_metrics_bool(m, "collapse_warning", s == nsteps);
        CHECK(nc_metrics_end(m) == NC_OK);
      }
    }
    if (s == 20 || s == 40) {
      double curve[2] = {s == 20 ? 0.45 : 0.58, s == 20 ? 0.5 : 0.6}, losses[2] = {1, 0.9};
      nc_probe_result probe = {2, curve[1], curve[1], 2, curve, losses};
      CHECK(nc_metrics_eval(m, s, epoch, &probe, s == 20 ? 0.4 : 0.55) == NC_OK);
    }
  }
  nc_metrics_close(m);
}

static void write_run(const char *dir, int nsteps, int wp, const char *config_value) {
  write_run_as(dir, nsteps, wp, config_value, 0);
}

/* Every <img src> names a PNG that exists beside the page, with its SVG; returns how many. */
static int check_images(const char *out, const char *html) {
  int n = 0;
  for (const char *p = html; (p = strstr(p, "<img src=\"")); n++) {
    p += strlen("<img src=\"");
    const char *end = strchr(p, '"');
    char path[512];
    snprintf(path, sizeof path, "%s/%.*s", out, (int)(end - p), p);
    CHECK(is_png(path));
    strcpy(path + strlen(path) - 3, "svg");
    CHECK(exists(path));
  }
  return n;
}

/* Every figure has a bold title and a caption of at least a few words, and an alt text. */
static void check_figures(const char *html) {
  int figures = count(html, "<figure ");
  CHECK(figures == count(html, "<figcaption><b>"));
  CHECK(figures == count(html, "\" alt=\""));
  for (const char *p = html; (p = strstr(p, "<figcaption><b>")); p++) {
    const char *bold_end = strstr(p, ".</b> "), *end = strstr(p, "</figcaption>");
    CHECK(bold_end && end && bold_end < end && end - bold_end > 30);
  }
  CHECK(strstr(html, "<script") == NULL); /* static: no JavaScript */
  CHECK(strstr(html, "http://") == NULL); /* self-contained: nothing from the network */
  CHECK(strstr(html, "https://") == NULL);
}

static char *page_of(const char *out) {
  char path[256];
  snprintf(path, sizeof path, "%s/report.html", out);
  return read_all(path);
}

static void test_whole_run(void) {
  char dir[128], out[128];
  snprintf(dir, sizeof dir, "%s/whole", tmp);
  write_run(dir, 50, 1, "<b>&\"x\"");
  nc_report_run run = {0};
  CHECK(nc_report_load(&run, dir) == NC_OK);
  CHECK(run.usable && run.has_config && run.nnotices == 0);
  CHECK(strcmp(run.label, "whole") == 0);
  nc_report_summary s;
  snprintf(out, sizeof out, "%s/whole-out", tmp); /* created by the writer */
  CHECK(nc_report_write(&run, 1, out, &s) == NC_OK);
  CHECK(s.figures == 9 && s.notices == 0 && s.unusable_runs == 0);
  char *html = page_of(out);
  CHECK(html != NULL);
  if (html) {
    CHECK(check_images(out, html) == 9);
    check_figures(html);
    static const char *stems[] = {"loss",      "lr",        "f_eigvals",   "wp_eigvals",
                                  "alignment", "asymmetry", "feature_std", "effective_rank",
                                  "accuracy"};
    for (size_t i = 0; i < sizeof stems / sizeof stems[0]; i++) {
      char needle[64];
      snprintf(needle, sizeof needle, "report-figures/%s.png", stems[i]);
      CHECK(strstr(html, needle) != NULL);
    }
    CHECK(strstr(html, "&lt;b&gt;&amp;&quot;x&quot;") != NULL); /* config value, escaped */
    CHECK(strstr(html, "<b>&\"x\"") == NULL);
    CHECK(strstr(html, "<td class=\"num\">50</td>") != NULL);   /* steps */
    CHECK(strstr(html, "60.00 %") != NULL);                     /* final probe */
    CHECK(strstr(html, "55.00 %") != NULL);                     /* final kNN */
    CHECK(strstr(html, "<td class=\"num\">1.50</td>") != NULL); /* final effective rank */
    CHECK(strstr(html, ">1</b></td>") != NULL);                 /* one collapse warning */
    CHECK(strstr(html, "Not shown") == NULL);
    CHECK(strstr(html, "id=\"notices\"") == NULL);
  }
  free(html);
  nc_report_run_free(&run);
}

/* Two runs overlaid, one without predictor monitors, with the same directory name. */
static void test_two_runs(void) {
  char a[128], b[128], out[128];
  snprintf(a, sizeof a, "%s/x/run", tmp);
  snprintf(b, sizeof b, "%s/y/run/", tmp);
  write_run_as(a, 30, 1, "a", 1); /* the other accepted key names */
  write_run(b, 40, 0, "b");
  nc_report_run runs[2] = {{0}};
  CHECK(nc_report_load(&runs[0], a) == NC_OK && nc_report_load(&runs[1], b) == NC_OK);
  CHECK(nc_report_label(runs, 2) == NC_OK);
  CHECK(strcmp(runs[0].label, "run") == 0 && strcmp(runs[1].label, "run (2)") == 0);
  snprintf(out, sizeof out, "%s/two", tmp);
  nc_report_summary s;
  CHECK(nc_report_write(runs, 2, out, &s) == NC_OK);
  CHECK(s.figures == 9); /* the predictor figures show the run that has them */
  char *html = page_of(out);
  if (html) {
    CHECK(check_images(out, html) == 9);
    CHECK(strstr(html, "run (2)") != NULL);
    CHECK(count(html, "<details") == 2);
  }
  free(html);
  nc_report_run_free(&runs[0]);
  nc_report_run_free(&runs[1]);

  /* Only the run without a predictor: those figures are replaced by a notice. */
  nc_report_run r = {0};
  CHECK(nc_report_load(&r, b) == NC_OK);
  snprintf(out, sizeof out, "%s/nopred", tmp);
  CHECK(nc_report_write(&r, 1, out, &s) == NC_OK);
  CHECK(s.figures == 6);
  html = page_of(out);
  if (html) {
    CHECK(check_images(out, html) == 6);
    CHECK(strstr(html, "wp_eigvals.png") == NULL);
    CHECK(strstr(html, "Not shown: no run logs predictor monitors") != NULL);
  }
  free(html);
  nc_report_run_free(&r);
}

/* Loads dir, writes its page to out, and checks the page has the notice. Returns usable. */
static int damaged(const char *dir, const char *out, const char *notice, int figures) {
  nc_report_run r = {0};
  CHECK(nc_report_load(&r, dir) == NC_OK);
  int found = 0;
  for (int i = 0; i < r.nnotices; i++) found |= strstr(r.notices[i], notice) != NULL;
  CHECK(found);
  if (!found) fprintf(stderr, "  (%s: no notice containing '%s')\n", dir, notice);
  nc_report_summary s;
  CHECK(nc_report_write(&r, 1, out, &s) == NC_OK);
  CHECK(s.figures == figures);
  CHECK(s.unusable_runs == !r.usable);
  char *html = page_of(out);
  CHECK(html && strstr(html, "id=\"notices\"") != NULL);
  if (html) {
    CHECK(check_images(out, html) == figures);
    check_figures(html);
  }
  free(html);
  int usable = r.usable;
  nc_report_run_free(&r);
  return usable;
}

static void test_damaged_runs(void) {
  char dir[128], out[128], path[160];
  /* A directory that does not exist. */
  snprintf(dir, sizeof dir, "%s/nowhere", tmp);
  snprintf(out, sizeof out, "%s/out-missing", tmp);
  CHECK(!damaged(dir, out, "run directory not found", 0));
  CHECK(!exists(dir));
  /* An empty directory: no config, no metrics. */
  snprintf(dir, sizeof dir, "%s/empty", tmp);
  CHECK(nc_mkdir_p(dir) == NC_OK);
  CHECK(!damaged(dir, dir, "no metrics.jsonl", 0));
  CHECK(!damaged(dir, dir, "no config.txt", 0));
  /* An empty metrics file. */
  snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
  FILE *f = fopen(path, "w");
  fclose(f);
  CHECK(!damaged(dir, dir, "no step, monitor or eval records", 0));
  /* Steps only (a run that has not reached its first monitor). */
  snprintf(dir, sizeof dir, "%s/early", tmp);
  write_run(dir, 5, 1, "v");
  CHECK(damaged(dir, dir, "no \"monitor\" records", 2));
  /* A half-written last line: reported, the rest plotted. */
  snprintf(dir, sizeof dir, "%s/torn", tmp);
  write_run(dir, 30, 1, "v");
  snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
  f = fopen(path, "a");
  fputs("{\"type\": \"monitor\", \"step\": 31, \"f_eig", f);
  fclose(f);
  CHECK(damaged(dir, dir, "is half-written", 9));
  /* A damaged line in the middle: unreadable, nothing to plot, the reader's message shown. */
  snprintf(dir, sizeof dir, "%s/garbled", tmp);
  write_run(dir, 30, 1, "v");
  snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
  char *text = read_all(path);
  f = fopen(path, "w");
  if (text && f) {
    char *second = strchr(text, '\n') + 1;
    fwrite(text, 1, (size_t)(second - text), f);
    fputs("{not json\n", f);
    fputs(second, f);
  }
  if (f) fclose(f);
  free(text);
  CHECK(!damaged(dir, dir, "metrics.jsonl unreadable", 0));
  /* A config.txt that is not "key = value". */
  snprintf(dir, sizeof dir, "%s/badconfig", tmp);
  write_run(dir, 30, 1, "v");
  snprintf(path, sizeof path, "%s/config.txt", dir);
  f = fopen(path, "w");
  fputs("this line has no equals sign\n", f);
  fclose(f);
  CHECK(damaged(dir, dir, "config.txt unreadable", 9));
}

/* The theory pages: one figure per quantity, an index that shows them all. */
static void test_theory_pages(void) {
  enum { ROWS = 40, N = 3 };
  double t[ROWS];
  nc_mode_state x[ROWS * N];
  for (int i = 0; i < ROWS; i++) {
    t[i] = i;
    for (int j = 0; j < N; j++) x[i * N + j] = (nc_mode_state){0.5 + 0.01 * i * j, 0.25, 1.0};
  }
  char dir[128];
  snprintf(dir, sizeof dir, "%s/theory-modes", tmp);
  CHECK(nc_report_modes_plot(dir, t, x, ROWS, N) == NC_OK);
  char *html = read_all(strcat(strcpy((char[160]){0}, dir), "/index.html"));
  CHECK(html != NULL);
  if (html) {
    CHECK(check_images(dir, html) == 3);
    check_figures(html);
  }
  free(html);
  CHECK(nc_report_modes_plot(dir, t, x, 0, N) == NC_EINVAL);

  double f[ROWS * N], w[ROWS * N], a[ROWS * N], asym[ROWS], rank[ROWS];
  for (int i = 0; i < ROWS; i++) {
    for (int j = 0; j < N; j++)
      f[i * N + j] = exp(-0.1 * i * j), w[i * N + j] = sqrt(f[i * N + j]), a[i * N + j] = 0.9;
    asym[i] = exp(-0.1 * i), rank[i] = 3 - 0.02 * i;
  }
  nc_report_linear_trace tr = {ROWS, N, t, f, w, a, asym, rank, "test trace"};
  snprintf(dir, sizeof dir, "%s/theory-linear", tmp);
  CHECK(nc_report_linear_plot(dir, &tr) == NC_OK);
  html = read_all(strcat(strcpy((char[160]){0}, dir), "/index.html"));
  if (html) {
    CHECK(check_images(dir, html) == 5);
    check_figures(html);
    CHECK(strstr(html, "test trace") != NULL);
  }
  free(html);
}

/* The configuration table: values as the shortest string that reads back (an old run's
 * 0.29999999999999999 shows as 0.3), only options that differ from the defaults up front, all of
 * them in a collapsed table; the caption under the figure only (not drawn into it: the SVG has
 * no <desc> copy of it); the lr axis without an exponent multiplier above it. */
static void test_config_table(void) {
  char buf[40];
  static const struct {
    double v;
    const char *want;
  } fmt[] = {{0.3, "0.3"},
             {4e-4, "4e-4"},
             {0.03, "0.03"},
             {1200, "1200"},
             {1e-12, "1e-12"},
             {0.996, "0.996"},
             {0.1 + 0.2, "0.30000000000000004"}};
  for (size_t i = 0; i < sizeof fmt / sizeof fmt[0]; i++) {
    nc_fmt_shortest(buf, sizeof buf, fmt[i].v);
    if (strcmp(buf, fmt[i].want)) fprintf(stderr, "shortest(%.17g) = %s\n", fmt[i].v, buf);
    CHECK(strcmp(buf, fmt[i].want) == 0);
  }
  char dir[128], out[128], path[256];
  snprintf(dir, sizeof dir, "%s/cfg", tmp);
  write_run(dir, 50, 1, "x");
  nc_config cfg = {0}, defaults = {0};
  snprintf(path, sizeof path, "%s/config.txt", dir);
  CHECK(nc_config_read(&cfg, path) == NC_OK);
  nc_config_set(&cfg, "lr", "0.29999999999999999");
  nc_config_set(&cfg, "wd", "0.00040000000000000002");
  CHECK(nc_config_write(&cfg, path) == NC_OK);
  nc_config_set(&defaults, "method", "byol");
  nc_config_set(&defaults, "predictor", "mlp");
  nc_config_set(&defaults, "note", "x");
  nc_config_set(&defaults, "lr", "0.03");
  nc_config_set(&defaults, "wd", "4e-4");
  nc_report_run run = {0};
  CHECK(nc_report_load(&run, dir) == NC_OK);
  run.defaults = &defaults;
  snprintf(out, sizeof out, "%s/cfg-out", tmp);
  nc_report_summary s;
  CHECK(nc_report_write(&run, 1, out, &s) == NC_OK);
  char *html = page_of(out);
  CHECK(html != NULL);
  if (html) {
    const char *details = strstr(html, "<details>");
    const char *front = strstr(html, "differ from the defaults");
    CHECK(details && front && front < details);
    /* Up front: lr and predictor changed; wd (4e-4 both ways) and method are not listed. */
    char up[4096] = "";
    if (details && front) snprintf(up, sizeof up, "%.*s", (int)(details - front), front);
    CHECK(strstr(up, "<th>lr</th><td><code>0.3</code></td><td><code>0.03</code>") != NULL);
    CHECK(strstr(up, "<th>predictor</th><td><code>directpred</code>") != NULL);
    CHECK(strstr(up, "<th>wd</th>") == NULL && strstr(up, "<th>method</th>") == NULL);
    /* All of them, collapsed, shortest form. */
    CHECK(details && strstr(details, "<th>wd</th><td><code>4e-4</code>") != NULL);
    CHECK(details && strstr(details, "<th>method</th>") != NULL);
    CHECK(strstr(html, "0.29999") == NULL && strstr(html, "<details open") == NULL);
  }
  free(html);
  snprintf(path, sizeof path, "%s/report-figures/lr.svg", out);
  char *svg = read_all(path);
  CHECK(svg && strstr(svg, "<desc>") == NULL);
  free(svg);
  /* The top-left corner above the y axis (where PLplot puts "(x10^-2)") stays white. */
  snprintf(path, sizeof path, "%s/report-figures/lr.png", out);
  uint8_t *file = NULL, *px = NULL;
  size_t len = 0;
  int h = 0, w = 0;
  CHECK(nc_read_file(path, &file, &len) == NC_OK);
  CHECK(file && nc_image_decode_raw(file, len, path, 1, &px, &h, &w) == NC_OK);
  int dark = 0;
  for (int y = 0; px && y < 40 && y < h; y++)
    for (int x = 0; x < 100 && x < w; x++) dark += px[(size_t)y * w + x] < 128;
  CHECK(px && dark == 0);
  free(file), free(px);
  nc_report_run_free(&run);
  nc_config_free(&cfg), nc_config_free(&defaults);
}

/* ---- a reproduce folder ---- */

static const nc_experiment *exp_named(const char *name) {
  int n;
  const nc_experiment *e = nc_experiments(&n);
  for (int i = 0; i < n; i++)
    if (strcmp(e[i].name, name) == 0) return &e[i];
  return NULL;
}

/* A finished run of experiment `name`'s row at seed, as `ncssl reproduce` leaves it: result.txt,
 * and for monitors > 0 a metrics.jsonl with that many monitor records (alignment rising from
 * 0.2, asymmetry falling from 0.8). */
static void repro_run(const char *out, const char *name, int row, int seed, double probe,
                      double knn, int monitors) {
  const nc_experiment *e = exp_named(name);
  CHECK(e && row < e->nrows);
  if (!e) return;
  char dir[1024], path[1200];
  nc_exp_run_dir(out, nc_exp_scale_get("quick")->options, e->rows[row].options, seed, dir,
                 sizeof dir);
  CHECK(nc_mkdir_p(dir) == NC_OK);
  if (monitors) {
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    nc_metrics *m = NULL;
    CHECK(nc_metrics_open(&m, path, 0) == NC_OK);
    for (int i = 0; m && i < monitors; i++) {
      double f[3] = {1, 0.5, 0.1}, p[3] = {1, 0.7, 0.3}, zero[3] = {0};
      double a[3] = {0.2 + 0.1 * i, 0.1, 0.0};
      nc_monitor mon = {.d = 3,
                        .f_eigvals = f,
                        .wp_eig_re = p,
                        .wp_eig_im = zero,
                        .alignment = a,
                        .asymmetry = 0.8 - 0.1 * i,
                        .effective_rank = 2.5};
      CHECK(nc_metrics_monitor(m, 10 * (i + 1), 1, &mon, 1, 0.3, 0) == NC_OK);
    }
    nc_metrics_close(m);
  }
  nc_config c = {0};
  nc_config_setf(&c, "probe_best_top1", "%.17g", probe);
  nc_config_setf(&c, "knn_top1", "%.17g", knn);
  nc_config_setf(&c, "alignment_first", "%.17g", monitors ? 0.2 : NAN);
  nc_config_setf(&c, "alignment_last", "%.17g", monitors ? 0.2 + 0.1 * (monitors - 1) : NAN);
  nc_config_setf(&c, "asymmetry_first", "%.17g", monitors ? 0.8 : NAN);
  nc_config_setf(&c, "asymmetry_last", "%.17g", monitors ? 0.8 - 0.1 * (monitors - 1) : NAN);
  snprintf(path, sizeof path, "%s/result.txt", dir);
  CHECK(nc_config_write(&c, path) == NC_OK);
  nc_config_free(&c);
}

/* A table as nc_exp_summary_json writes it (malloc'd). */
static char *summary_json(const nc_experiment *e, const nc_exp_summary *s) {
  FILE *f = tmpfile();
  if (!f) return NULL;
  nc_exp_summary_json(f, e, s);
  long n = ftell(f);
  char *buf = malloc((size_t)n + 1);
  rewind(f);
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) n = 0;
  if (buf) buf[n] = '\0';
  fclose(f);
  return buf;
}

/* The text between `from` and the next `to` (empty when absent), for checks within one table. */
static void between(char *buf, size_t n, const char *html, const char *from, const char *to) {
  const char *a = strstr(html, from), *b = a ? strstr(a + 1, to) : NULL;
  snprintf(buf, n, "%.*s", a ? (int)(b ? b - a : (long)strlen(a)) : 0, a ? a : "");
}

static void test_reproduce_folder(void) {
  char out[128], path[1200];
  snprintf(out, sizeof out, "%s/repro", tmp);
  CHECK(nc_mkdir_p(out) == NC_OK);
  CHECK(!nc_report_is_reproduce(out));
  snprintf(path, sizeof path, "%s/" NC_EXP_MARKER, out);
  FILE *f = fopen(path, "w");
  fputs("scale = quick\nseeds = 2\n", f);
  fclose(f);
  CHECK(nc_report_is_reproduce(out));
  /* Fig. 2: both rows, both seeds, with monitors (one without metrics.jsonl). */
  repro_run(out, "fig2", 0, 0, 50, 45, 4);
  repro_run(out, "fig2", 0, 1, 52, 47, 4);
  repro_run(out, "fig2", 1, 0, 51, 46, 3);
  repro_run(out, "fig2", 1, 1, 53, 48, 0);
  /* Fig. 6: alpha_p = 2 and 10 (one seed each); alpha_p = 5 never ran; alpha_p = 1 is Table 3's
   * "sym, no EMA, no bias" row (the same options: one run serves both tables). */
  repro_run(out, "fig6", 1, 0, 60, 55, 0);
  repro_run(out, "fig6", 3, 0, 62, 56, 0);
  /* Table 3's collapse claim: symmetric without EMA 21 ± 1.41, regular 71 ± 1.41. */
  for (int k = 0; k < 2; k++) {
    repro_run(out, "table3-1layer", 4, k, 20 + 2 * k, 10, 0);
    repro_run(out, "table3-1layer", 6, k, 20 + 2 * k, 10, 0);
    repro_run(out, "table3-1layer", 5, k, 70 + 2 * k, 60, 0);
    repro_run(out, "table3-1layer", 7, k, 70 + 2 * k, 60, 0);
  }

  nc_report_reproduce rep = {0};
  CHECK(nc_report_reproduce_load(&rep, out) == NC_OK);
  CHECK(rep.seeds == 2 && rep.scale && strcmp(rep.scale->name, "quick") == 0);
  CHECK(rep.done == 14 && rep.runs > rep.done);
  CHECK(rep.ncurves == 3 && rep.nnotices == 0);
  /* The tables are the library's, as `ncssl reproduce` prints them. */
  int ei = -1;
  for (int e = 0; e < rep.nexp; e++)
    if (strcmp(rep.exps[e].name, "fig6") == 0) ei = e;
  CHECK(ei >= 0);
  if (ei >= 0) {
    nc_exp_summary s;
    CHECK(nc_exp_summarize(&rep.exps[ei], rep.scale, 2, out, &s) == NC_OK);
    char *a = summary_json(&rep.exps[ei], &s), *b = summary_json(&rep.exps[ei], &rep.tables[ei]);
    CHECK(a && b && strcmp(a, b) == 0);
    free(a), free(b);
    CHECK(s.m[0].n == 2 && s.m[2].n == 0 && s.m[3].n == 1);
    CHECK_NEAR(s.m[0].mean, 21, 1e-12);
    CHECK(s.cr[0].verdict == NC_VERDICT_UNDECIDED && s.cr[0].missing == 1);
  }
  nc_report_summary sum;
  char page_dir[160];
  snprintf(page_dir, sizeof page_dir, "%s/page", out);
  CHECK(nc_report_write_page(NULL, 0, &rep, page_dir, &sum) == NC_OK);
  CHECK(sum.figures == 3);
  CHECK(strcmp(sum.stems[0], "reproduce-fig2-alignment") == 0);
  CHECK(strcmp(sum.stems[1], "reproduce-fig2-asymmetry") == 0);
  CHECK(strcmp(sum.stems[2], "reproduce-fig6") == 0);
  char *html = page_of(page_dir);
  CHECK(html != NULL);
  if (html) {
    CHECK(check_images(page_dir, html) == 3);
    check_figures(html);
    CHECK(strstr(html, "<h2>Reproduce: the paper's experiments</h2>") != NULL);
    CHECK(strstr(html, "14 of ") != NULL);        /* runs with a result */
    CHECK(strstr(html, "<h2>Runs</h2>") == NULL); /* a folder alone is its tables */
    int n;
    nc_experiments(&n);
    CHECK(count(html, "<h3 id=\"exp-") == n);
    char t[16384];
    between(t, sizeof t, html, "id=\"exp-fig6\"", "<h3");
    /* alpha_p = 1: mean ± std of 20 and 22, kNN 10 twice, 2 of 2 seeds. */
    CHECK(strstr(t,
                 "<td class=\"num\">21.00 \xc2\xb1 1.41</td><td class=\"num\">10.00 \xc2\xb1 "
                 "0.00</td><td class=\"num\">2 of 2</td>") != NULL);
    CHECK(strstr(t, "<td class=\"num\">60.00 \xc2\xb1 0.00</td>") != NULL);
    /* alpha_p = 5 never ran: missing, no number. */
    char row[1024];
    between(row, sizeof row, t, "sym, no EMA, alpha_p=5", "</tr>");
    const char *cells = strstr(row, "</code></td>");
    CHECK(cells && strcmp(cells + strlen("</code></td>"),
                          "<td class=\"num\">\xe2\x80\x94</td><td class=\"missing\" "
                          "colspan=\"2\">missing: no run has a result</td><td class=\"num\">0 "
                          "of 2</td>") == 0);
    CHECK(strstr(t, "undecided</b> (1 row without a result)") != NULL);
    between(t, sizeof t, html, "id=\"exp-table3-1layer\"", "<h3");
    CHECK(strstr(t,
                 "36.62\xc2\xb1"
                 "1.85") != NULL); /* the paper's number beside ours */
    CHECK(strstr(t, "<td class=\"num\">21.00 \xc2\xb1 1.41</td>") != NULL);
    CHECK(strstr(t,
                 "collapses: &gt; 10 points below the regular one: <b class=\"verdict "
                 "yes\">reproduced</b> (margin +40 \xc2\xb1 10)") != NULL);
    between(t, sizeof t, html, "id=\"exp-fig2\"", "</section>");
    CHECK(strstr(t, "0.200 \xe2\x86\x92 0.500") != NULL); /* alignment first -> last */
    CHECK(strstr(t, "missing") == NULL);
  }
  free(html);

  /* Beside a run: both on one page. */
  char rundir[160];
  snprintf(rundir, sizeof rundir, "%s/one-run", tmp);
  write_run(rundir, 30, 1, "v");
  nc_report_run run = {0};
  CHECK(nc_report_load(&run, rundir) == NC_OK);
  snprintf(page_dir, sizeof page_dir, "%s/repro-and-run", tmp);
  CHECK(nc_report_write_page(&run, 1, &rep, page_dir, &sum) == NC_OK);
  CHECK(sum.figures == 12);
  html = page_of(page_dir);
  CHECK(html && strstr(html, "<h2>Runs</h2>") && strstr(html, "id=\"reproduce\""));
  if (html) CHECK(check_images(page_dir, html) == 12);
  free(html);
  nc_report_run_free(&run);
  nc_report_reproduce_free(&rep);

  /* A malformed result.txt: an error naming the file, nothing loaded. */
  const nc_experiment *e6 = exp_named("fig6");
  char dir[1024];
  nc_exp_run_dir(out, nc_exp_scale_get("quick")->options, e6->rows[1].options, 0, dir, sizeof dir);
  snprintf(path, sizeof path, "%s/result.txt", dir);
  f = fopen(path, "a");
  fputs("half a line\n", f);
  fclose(f);
  CHECK(nc_report_reproduce_load(&rep, out) == NC_EFORMAT);
  CHECK(strstr(nc_last_error(), path) != NULL);
  nc_report_reproduce_free(&rep);
  f = fopen(path, "w");
  fputs("knn_top1 = 50\n", f); /* no probe: not a finished run's result */
  fclose(f);
  CHECK(nc_report_reproduce_load(&rep, out) == NC_EFORMAT);
  CHECK(strstr(nc_last_error(), "probe_best_top1") != NULL);
  nc_report_reproduce_free(&rep);
  /* A marker without a known scale. */
  snprintf(path, sizeof path, "%s/" NC_EXP_MARKER, out);
  f = fopen(path, "w");
  fputs("scale = huge\nseeds = 1\n", f);
  fclose(f);
  CHECK(nc_report_reproduce_load(&rep, out) == NC_EFORMAT);
  CHECK(strstr(nc_last_error(), NC_EXP_MARKER) != NULL);
  nc_report_reproduce_free(&rep);
}

int main(void) {
  snprintf(tmp, sizeof tmp, "/tmp/ncssl-report-XXXXXX");
  CHECK(mkdtemp(tmp) != NULL);
  test_whole_run();
  test_two_runs();
  test_damaged_runs();
  test_theory_pages();
  test_config_table();
  test_reproduce_folder();
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  CHECK(system(cmd) == 0);
  return nc_test_done();
}

// ctest-labels: unit
/* The report: synthetic run directories written with the runlog writer (whole, damaged, missing)
 * give a page whose every <img> exists, whose figures have titles and captions, whose header
 * holds the configuration (escaped) and the final numbers, and whose notices say what is
 * missing. Also the theory figure pages. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ncssl/data.h"
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
                          800) == NC_OK);
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

int main(void) {
  snprintf(tmp, sizeof tmp, "/tmp/ncssl-report-XXXXXX");
  CHECK(mkdtemp(tmp) != NULL);
  test_whole_run();
  test_two_runs();
  test_damaged_runs();
  test_theory_pages();
  test_config_table();
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  CHECK(system(cmd) == 0);
  return nc_test_done();
}

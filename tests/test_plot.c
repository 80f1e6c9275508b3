// ctest-labels: unit
/* The plot module: PNG/SVG files from one figure, silent success, clean failures; the phase
 * portrait's fixed points and their 2-D (Jacobian) stability. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ncssl/plot.h"
#include "ncssl/status.h"
#include "ncssl/theory.h"
#include "testing.h"

static char tmpdir[64];

static char *read_all(const char *path, long *size) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  *size = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)*size + 1);
  if (buf && fread(buf, 1, (size_t)*size, f) != (size_t)*size) *size = -1;
  if (buf) buf[*size > 0 ? *size : 0] = '\0';
  fclose(f);
  return buf;
}

static int exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A PNG starts with its 8-byte signature, then the IHDR chunk holding width and height. */
static void check_png(const char *path, uint32_t w, uint32_t h) {
  long n = 0;
  unsigned char *b = (unsigned char *)read_all(path, &n);
  CHECK(b != NULL && n > 1000);
  if (!b || n < 24) {
    free(b);
    return;
  }
  static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  CHECK(memcmp(b, sig, 8) == 0);
  CHECK(memcmp(b + 12, "IHDR", 4) == 0);
  CHECK(be32(b + 16) == w);
  CHECK(be32(b + 20) == h);
  free(b);
}

/* Runs fn with stderr sent to a file; returns how many bytes were printed there. */
static long stderr_bytes_during(int (*fn)(void *), void *arg, int *rc) {
  char path[128];
  snprintf(path, sizeof path, "%s/stderr.txt", tmpdir);
  fflush(stderr);
  int saved = dup(2);
  FILE *f = fopen(path, "w");
  dup2(fileno(f), 2);
  *rc = fn(arg);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  fclose(f);
  long n = 0;
  free(read_all(path, &n));
  remove(path);
  return n;
}

typedef struct {
  const nc_figure *fig;
  const char *stem;
} write_args;

static int do_write(void *a) {
  write_args *w = a;
  return nc_plot_write(w->fig, w->stem);
}

static void test_figure_files(void) {
  double x[50], y[50], sx[3] = {1, 2, 3}, sy[3] = {2, 0.5, 8};
  for (int i = 0; i < 50; i++) x[i] = i * 0.1, y[i] = exp(-x[i]) + 0.01;
  double ax[2] = {1, 3}, ay[2] = {1, 2}, au[2] = {1, 0}, av[2] = {0, 1};
  nc_plot_series series[] = {
      {x, y, 50, "decay", NC_COLOR_BLUE, NC_LINE_SOLID},
      {x, y, 50, "dashed copy", NC_COLOR_BLACK, NC_LINE_DASHED, 1.0},
      {sx, sy, 3, "points", NC_COLOR_RED, NC_LINE_NONE, 0, NC_MARK_CIRCLE, 1.5, 1},
      {sx, sy, 3, NULL, NC_COLOR_GREEN, NC_LINE_NONE, 0, NC_MARK_CROSS},
  };
  nc_plot_arrows arrows = {ax, ay, au, av, 2, "field", NC_COLOR_GREY, 1};
  nc_plot_text text = {2, 4, "a note", NC_COLOR_BLACK, 0.5};
  nc_figure fig = {.title = "Loss #u2#d & <friends>",
                   .xlabel = "step",
                   .ylabel = "loss (nats)",
                   .caption = "what to look for\nsecond line",
                   .series = series,
                   .nseries = 4,
                   .arrows = &arrows,
                   .narrows = 1,
                   .texts = &text,
                   .ntexts = 1};
  char stem[128], png[140], svg[140];
  snprintf(stem, sizeof stem, "%s/fig", tmpdir);
  snprintf(png, sizeof png, "%s.png", stem);
  snprintf(svg, sizeof svg, "%s.svg", stem);
  int rc = -1;
  write_args w = {&fig, stem};
  long printed = stderr_bytes_during(do_write, &w, &rc);
  CHECK(rc == NC_OK);
  CHECK(printed == 0); /* library code prints nothing on success */
  check_png(png, 900, 650);
  long n = 0;
  char *text_svg = read_all(svg, &n);
  CHECK(text_svg != NULL && n > 100);
  if (text_svg) {
    CHECK(strstr(text_svg, "<svg") != NULL);
    CHECK(strstr(text_svg, "</svg>") != NULL);
    /* The title as text, PLplot escapes removed and XML escaped. */
    CHECK(strstr(text_svg, "<title>Loss 2 &amp; &lt;friends&gt;</title>") != NULL);
    CHECK(strstr(text_svg, "<desc>what to look for second line</desc>") != NULL);
  }
  free(text_svg);
  CHECK(!exists(strcat(strcpy((char[160]){0}, png), ".partial")));

  /* Log y axis and a chosen size. */
  fig.log_y = 1;
  fig.width_px = 640, fig.height_px = 480;
  snprintf(png, sizeof png, "%s/log.png", tmpdir);
  CHECK(nc_plot_write_file(&fig, png, "png") == NC_OK);
  check_png(png, 640, 480);
  remove(png);
  CHECK(nc_plot_write_file(&fig, png, "gif") == NC_EINVAL);
  CHECK(!exists(png));
  remove(svg);
  snprintf(png, sizeof png, "%s.png", stem);
  remove(png);

  /* Figures that make no sense are refused before anything is written. */
  nc_plot_series bad = {x, y, 50, "nothing to draw", 0, NC_LINE_NONE, 0, NC_MARK_NONE};
  nc_figure fig_bad = {.title = "bad", .series = &bad, .nseries = 1};
  CHECK(nc_plot_write(&fig_bad, stem) == NC_EINVAL);
  fig.ymin = -1, fig.ymax = 10; /* log axis through zero */
  CHECK(nc_plot_write(&fig, stem) == NC_EINVAL);
  CHECK(!exists(png));
}

static void test_unwritable(void) {
  double x[2] = {0, 1};
  nc_plot_series s = {x, x, 2, "line", NC_COLOR_BLUE, NC_LINE_SOLID};
  nc_figure fig = {.title = "t", .series = &s, .nseries = 1};
  /* Not writable even as root: /dev/null is not a directory. */
  nc_clear_error();
  CHECK(nc_plot_write(&fig, "/dev/null/sub/fig") == NC_EIO);
  CHECK(strstr(nc_last_error(), "/dev/null/sub/fig.png") != NULL);

  /* The PNG renders, then the SVG cannot be written (its temporary name is a directory): the
   * write fails, names the SVG, and leaves no PNG behind. */
  char stem[128], blocker[160], path[160];
  snprintf(stem, sizeof stem, "%s/half", tmpdir);
  snprintf(blocker, sizeof blocker, "%s.svg.partial", stem);
  CHECK(mkdir(blocker, 0700) == 0);
  nc_clear_error();
  CHECK(nc_plot_write(&fig, stem) == NC_EIO);
  CHECK(strstr(nc_last_error(), "half.svg") != NULL);
  snprintf(path, sizeof path, "%s.png", stem);
  CHECK(!exists(path));
  snprintf(path, sizeof path, "%s.png.partial", stem);
  CHECK(!exists(path));
  snprintf(path, sizeof path, "%s.svg", stem);
  CHECK(!exists(path));
  rmdir(blocker);
}

/* The analytic Jacobian against central differences of nc_mode_rhs (τ held fixed). */
static void test_jacobian_fd(void) {
  const double cases[][6] = {
      /* alpha_p, sigma2, eta, tau, p, s */
      {1.0, 0.0, 0.01, 1.0, 0.3, 0.7}, {2.0, 0.5, 0.05, 0.8, -0.4, 1.3},
      {0.5, 1.5, 0.0, 1.0, 1.2, 0.2},  {3.0, 0.2, 1.0, 0.3, 0.05, 0.01},
      {1.0, 0.0, 0.0, 1.0, 0.0, 0.0},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    const double *k = cases[c];
    nc_mode_params m = {.alpha_p = k[0], .sigma2 = k[1], .eta = k[2], .tau_mode = NC_TAU_FIXED};
    double J[4];
    nc_phase_jacobian(k[0], k[1], k[2], k[3], k[4], k[5], J);
    const double h = 1e-6;
    for (int col = 0; col < 2; col++) {
      nc_mode_state xp = {k[4] + (col == 0 ? h : 0), k[5] + (col == 1 ? h : 0), k[3]};
      nc_mode_state xm = {k[4] - (col == 0 ? h : 0), k[5] - (col == 1 ? h : 0), k[3]};
      nc_mode_state dp, dm;
      nc_mode_rhs(&m, &xp, &dp);
      nc_mode_rhs(&m, &xm, &dm);
      CHECK_NEAR(J[0 * 2 + col], (dp.p - dm.p) / (2 * h), 1e-7 * (1 + fabs(J[col])));
      CHECK_NEAR(J[1 * 2 + col], (dp.s - dm.s) / (2 * h), 1e-7 * (1 + fabs(J[2 + col])));
    }
  }
}

static void test_classify(void) {
  double wr[2], wi[2];
  CHECK(nc_phase_classify((double[4]){-1, 0, 0, -2}, 1e-9, wr, wi) == NC_FP_STABLE);
  CHECK_NEAR(wr[0] + wr[1], -3, 1e-12);
  CHECK(nc_phase_classify((double[4]){1, 3, 0, 2}, 1e-9, NULL, NULL) == NC_FP_UNSTABLE);
  CHECK(nc_phase_classify((double[4]){1, 0, 0, -1}, 1e-9, NULL, NULL) == NC_FP_SADDLE);
  /* A stable focus: complex eigenvalues −1 ± 5i. */
  CHECK(nc_phase_classify((double[4]){-1, 5, -5, -1}, 1e-9, wr, wi) == NC_FP_STABLE);
  CHECK_NEAR(fabs(wi[0]), 5, 1e-12);
  /* A centre and a zero eigenvalue are not hyperbolic. */
  CHECK(nc_phase_classify((double[4]){0, 1, -1, 0}, 1e-9, NULL, NULL) == NC_FP_NONHYPERBOLIC);
  CHECK(nc_phase_classify((double[4]){0, 0, 0, -1}, 1e-9, NULL, NULL) == NC_FP_NONHYPERBOLIC);
  CHECK(strcmp(nc_fp_kind_name(NC_FP_SADDLE), "saddle") == 0);
}

static void test_phase_fixed_points(void) {
  nc_phase_point pt[3];
  /* η > η_c = 1/6 (τ = 1, σ² = 0.5): only the origin, stable with eigenvalues −η, −2η. */
  int n = nc_phase_fixed_points(1.0, 0.5, 0.2, 1.0, pt);
  CHECK(n == 1);
  CHECK(pt[0].p == 0 && pt[0].s == 0 && pt[0].kind == NC_FP_STABLE);
  CHECK_NEAR(fmin(pt[0].wr[0], pt[0].wr[1]), -0.4, 1e-12);
  CHECK_NEAR(fmax(pt[0].wr[0], pt[0].wr[1]), -0.2, 1e-12);

  /* 0 < η < η_c: the digest's p*₋ = 0.054447 (a saddle in the plane) and p*₊ = 0.612220
   * (stable), both on the parabola s = p²/α_p; the origin stays stable. */
  n = nc_phase_fixed_points(1.0, 0.5, 0.05, 1.0, pt);
  CHECK(n == 3);
  CHECK(pt[0].kind == NC_FP_STABLE);
  CHECK_NEAR(pt[1].p, 0.054447, 1e-6);
  CHECK_NEAR(pt[2].p, 0.612220, 1e-6);
  CHECK(pt[1].kind == NC_FP_SADDLE);
  CHECK(pt[2].kind == NC_FP_STABLE);
  nc_mode_params m = {.alpha_p = 1.0, .sigma2 = 0.5, .eta = 0.05, .tau_mode = NC_TAU_FIXED};
  for (int i = 0; i < 3; i++) { /* they are fixed points of Eqns 11-12 */
    nc_mode_state x = {pt[i].p, pt[i].s, 1.0}, d;
    nc_mode_rhs(&m, &x, &d);
    CHECK_NEAR(d.p, 0, 1e-14);
    CHECK_NEAR(d.s, 0, 1e-14);
    CHECK_NEAR(pt[i].s, pt[i].p * pt[i].p, 1e-14);
  }
  /* α_p = 2, σ² = 0, η = 0.04, τ = 1: p*₋ = 0.041742, p*₊ = 0.958258, s = p²/2. */
  n = nc_phase_fixed_points(2.0, 0.0, 0.04, 1.0, pt);
  CHECK(n == 3);
  CHECK_NEAR(pt[2].s, 0.958258 * 0.958258 / 2, 1e-5);
  CHECK(pt[1].kind == NC_FP_SADDLE && pt[2].kind == NC_FP_STABLE);

  /* η = 0: the origin and (τ/(1+σ²), 0) sit on lines of fixed points: not hyperbolic. */
  n = nc_phase_fixed_points(1.0, 0.5, 0.0, 1.0, pt);
  CHECK(n == 2);
  CHECK(pt[0].kind == NC_FP_NONHYPERBOLIC && pt[1].kind == NC_FP_NONHYPERBOLIC);
  CHECK_NEAR(pt[1].p, 1.0 / 1.5, 1e-15);

  /* η = η_c: p*₋ and p*₊ merge into one half-stable point. */
  n = nc_phase_fixed_points(1.0, 0.0, 0.25, 1.0, pt);
  CHECK(n == 2);
  CHECK(pt[1].kind == NC_FP_NONHYPERBOLIC);

  CHECK(nc_phase_fixed_points(1.0, -1.0, 0.1, 1.0, pt) < 0);
}

static void test_portrait(void) {
  char stem[128], png[140], svg[140];
  snprintf(stem, sizeof stem, "%s/portrait", tmpdir);
  nc_phase_spec sp = {.tau = 1,
                      .sigma2 = 0,
                      .eta = 0.01,
                      .alpha_p = 1,
                      .pmin = -0.5,
                      .pmax = 1.5,
                      .smin = -0.05,
                      .smax = 1.5,
                      .grid = 8,
                      .trajectories = 6,
                      .width_px = 500,
                      .height_px = 400};
  CHECK(nc_phase_portrait_write(&sp, stem) == NC_OK);
  snprintf(png, sizeof png, "%s.png", stem);
  snprintf(svg, sizeof svg, "%s.svg", stem);
  check_png(png, 500, 400);
  long n = 0;
  char *text = read_all(svg, &n);
  CHECK(text && strstr(text, "η = 0.01") != NULL);
  free(text);
  remove(png);
  remove(svg);
  sp.pmax = sp.pmin; /* empty window */
  CHECK(nc_phase_portrait_write(&sp, stem) == NC_EINVAL);
  CHECK(!exists(png));
}

/* PLplot's global state is guarded inside the module: figures written from several threads at once
 * all come out whole. */
typedef struct {
  char stem[128];
  int rc;
} thread_job;

static void *thread_write(void *arg) {
  thread_job *job = arg;
  double x[3] = {0, 1, 2}, y[3] = {1, 3, 2};
  nc_plot_series s = {x, y, 3, "series", NC_COLOR_ORANGE, NC_LINE_SOLID, 0, NC_MARK_SQUARE};
  nc_figure fig = {
      .title = job->stem, .series = &s, .nseries = 1, .width_px = 300, .height_px = 200};
  job->rc = nc_plot_write(&fig, job->stem);
  return NULL;
}

static void test_threads(void) {
  enum { N = 4 };
  pthread_t th[N];
  thread_job jobs[N];
  for (int i = 0; i < N; i++) {
    snprintf(jobs[i].stem, sizeof jobs[i].stem, "%s/thread%d", tmpdir, i);
    jobs[i].rc = -1;
    CHECK(pthread_create(&th[i], NULL, thread_write, &jobs[i]) == 0);
  }
  for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
  for (int i = 0; i < N; i++) {
    char path[sizeof jobs[i].stem + 8];
    CHECK(jobs[i].rc == NC_OK);
    snprintf(path, sizeof path, "%.127s.png", jobs[i].stem);
    check_png(path, 300, 200);
    remove(path);
    snprintf(path, sizeof path, "%.127s.svg", jobs[i].stem);
    long n = 0;
    char *text = read_all(path, &n);
    CHECK(text && strstr(text, jobs[i].stem) != NULL);
    free(text);
    remove(path);
  }
}

int main(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/nc_test_plot.XXXXXX");
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 1;
  }
  test_figure_files();
  test_unwritable();
  test_jacobian_fd();
  test_classify();
  test_phase_fixed_points();
  test_portrait();
  test_threads();
  rmdir(tmpdir);
  return nc_test_done();
}

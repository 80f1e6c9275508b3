/* nc_figure -> PNG/SVG through PLplot's cairo devices. All PLplot use of the project lives in this
 * folder; this file owns the process-wide PLplot lock and the error handlers. */
#include "ncssl/plot.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <plplot.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ncssl/status.h"

/* PLplot's state is global: one figure at a time in the whole process. */
static pthread_mutex_t plot_lock = PTHREAD_MUTEX_INITIALIZER;
/* plexit() would print and exit(); its handler jumps back here instead. */
static jmp_buf plot_escape;
static char plot_error[256];

static int on_plexit(PLCHAR_VECTOR msg) {
  snprintf(plot_error, sizeof plot_error, "PLplot: %s", msg && msg[0] ? msg : "fatal error");
  longjmp(plot_escape, 1);
}

/* plabort() prints a warning by default; record it instead (the write then fails). */
static void on_plabort(PLCHAR_VECTOR msg) {
  if (!plot_error[0])
    snprintf(plot_error, sizeof plot_error, "PLplot: %s", msg && msg[0] ? msg : "error");
}

/* PLplot's cairo devices load drivers through libltdl and fonts through fontconfig/pango, which
 * keep process-lifetime caches that are never freed; tell LeakSanitizer (sanitizer builds) that
 * those are not the project's leaks. A weak hook: unused in ordinary builds. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) {
  return "leak:libfontconfig.so\nleak:libltdl.so\nleak:libpango\nleak:libglib-2.0.so\n"
         "leak:libgobject-2.0.so\n";
}
/* ...and keep its report of those suppressions out of stderr (LSAN_OPTIONS still overrides). */
const char *__lsan_default_options(void);
const char *__lsan_default_options(void) { return "print_suppressions=0"; }

/* Colour map 0 layout: fixed entries, then one entry per drawn item (legend needs indices). */
static const double PI = 3.14159265358979323846;

enum { COL_BG = 0, COL_FG = 1, COL_GRID = 2, COL_FIRST_ITEM = 3 };

typedef struct {
  const nc_figure *fig;
  double xmin, xmax, ymin, ymax; /* world window; y in log10 units when log_y */
  double mm_per_x, mm_per_y;     /* world -> millimetres on the page, for arrows */
  double vp_width_mm;
} frame;

static void set_color(int index, unsigned rgb, double alpha) {
  plscol0a(index, (rgb >> 16) & 0xff, (rgb >> 8) & 0xff, rgb & 0xff, alpha);
}

static double world_y(const frame *fr, double y) {
  return fr->fig->log_y ? (y > 0 ? log10(y) : NAN) : y;
}

static int line_style_index(nc_line_style s) {
  return s == NC_LINE_DASHED ? 3 : s == NC_LINE_DOTTED ? 2 : 1; /* pllsty's built-in patterns */
}

static const char *marker_glyph(nc_marker m) {
  switch (m) {
    case NC_MARK_CIRCLE:
      return "●";
    case NC_MARK_SQUARE:
      return "■";
    case NC_MARK_TRIANGLE:
      return "▲";
    case NC_MARK_DIAMOND:
      return "◆";
    case NC_MARK_CROSS:
      return "×";
    case NC_MARK_PLUS:
      return "+";
    default:
      return "";
  }
}

/* ---- validation and axis ranges ---- */

static int check_figure(const nc_figure *fig) {
  if (!fig) return nc_fail(NC_EINVAL, "plot: no figure");
  if (fig->nseries < 0 || fig->narrows < 0 || fig->ntexts < 0 || (fig->nseries && !fig->series) ||
      (fig->narrows && !fig->arrows) || (fig->ntexts && !fig->texts))
    return nc_fail(NC_EINVAL, "plot: figure item counts and arrays disagree");
  for (int i = 0; i < fig->nseries; i++) {
    const nc_plot_series *s = &fig->series[i];
    if (s->n < 0 || (s->n && (!s->x || !s->y)))
      return nc_fail(NC_EINVAL, "plot: series %d has n = %d but no data", i, s->n);
    if (s->line == NC_LINE_NONE && s->marker == NC_MARK_NONE)
      return nc_fail(NC_EINVAL, "plot: series %d has neither a line nor a marker", i);
  }
  for (int i = 0; i < fig->narrows; i++) {
    const nc_plot_arrows *a = &fig->arrows[i];
    if (a->n < 0 || (a->n && (!a->x || !a->y || !a->u || !a->v)))
      return nc_fail(NC_EINVAL, "plot: arrow field %d has n = %d but no data", i, a->n);
  }
  int w = fig->width_px, h = fig->height_px;
  if (w < 0 || h < 0 || w > 10000 || h > 10000)
    return nc_fail(NC_EINVAL, "plot: size %d x %d out of range", w, h);
  if (fig->log_y && fig->ymin != fig->ymax && !(fig->ymin > 0 && fig->ymax > 0))
    return nc_fail(NC_EINVAL, "plot: a log y axis needs ymin, ymax > 0 (got %g, %g)", fig->ymin,
                   fig->ymax);
  if ((fig->xmin != fig->xmax && !(fig->xmax > fig->xmin)) ||
      (fig->ymin != fig->ymax && !(fig->ymax > fig->ymin)))
    return nc_fail(NC_EINVAL, "plot: axis range needs min < max");
  return NC_OK;
}

static void extend(double *lo, double *hi, double v) {
  if (!isfinite(v)) return;
  if (v < *lo) *lo = v;
  if (v > *hi) *hi = v;
}

/* Fills the world window: the figure's ranges, or the data's with a 4% margin. */
static void fit_ranges(const nc_figure *fig, frame *fr) {
  double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
  for (int i = 0; i < fig->nseries; i++)
    for (int k = 0; k < fig->series[i].n; k++) {
      double y = world_y(fr, fig->series[i].y[k]);
      if (!isfinite(y) || !isfinite(fig->series[i].x[k])) continue;
      extend(&xlo, &xhi, fig->series[i].x[k]);
      extend(&ylo, &yhi, y);
    }
  for (int i = 0; i < fig->narrows; i++)
    for (int k = 0; k < fig->arrows[i].n; k++) {
      extend(&xlo, &xhi, fig->arrows[i].x[k]);
      extend(&ylo, &yhi, world_y(fr, fig->arrows[i].y[k]));
    }
  if (!(xlo <= xhi)) xlo = 0, xhi = 1;
  if (!(ylo <= yhi)) ylo = 0, yhi = 1;
  if (xhi - xlo < 1e-300) xlo -= 0.5, xhi += 0.5;
  if (yhi - ylo < 1e-300) ylo -= 0.5, yhi += 0.5;
  double mx = 0.04 * (xhi - xlo), my = 0.04 * (yhi - ylo);
  fr->xmin = fig->xmin != fig->xmax ? fig->xmin : xlo - mx;
  fr->xmax = fig->xmin != fig->xmax ? fig->xmax : xhi + mx;
  fr->ymin = fig->ymin != fig->ymax ? world_y(fr, fig->ymin) : ylo - my;
  fr->ymax = fig->ymin != fig->ymax ? world_y(fr, fig->ymax) : yhi + my;
}

/* ---- drawing ---- */

static void draw_series_line(const frame *fr, const nc_plot_series *s) {
  double *wx = malloc(sizeof(double) * (size_t)s->n), *wy = malloc(sizeof(double) * (size_t)s->n);
  if (!wx || !wy) goto done;
  int run = 0; /* a run of consecutive drawable points */
  for (int k = 0; k <= s->n; k++) {
    double y = k < s->n ? world_y(fr, s->y[k]) : NAN;
    if (k < s->n && isfinite(s->x[k]) && isfinite(y)) {
      wx[run] = s->x[k];
      wy[run++] = y;
      continue;
    }
    if (run >= 2) plline(run, wx, wy);
    run = 0;
  }
done:
  free(wx);
  free(wy);
}

/* Markers are polygons in millimetres around the point (exactly centred, unlike font glyphs). */
static void marker_polygon(nc_marker m, double r, double *mx, double *my, int *n) {
  switch (m) {
    case NC_MARK_SQUARE:
      *n = 4;
      for (int k = 0; k < 4; k++)
        mx[k] = (k == 1 || k == 2 ? 0.85 : -0.85) * r, my[k] = (k < 2 ? -0.85 : 0.85) * r;
      return;
    case NC_MARK_TRIANGLE:
      *n = 3;
      for (int k = 0; k < 3; k++)
        mx[k] = r * 1.15 * sin(2 * PI * k / 3), my[k] = r * 1.15 * cos(2 * PI * k / 3);
      return;
    case NC_MARK_DIAMOND:
      *n = 4;
      for (int k = 0; k < 4; k++)
        mx[k] = r * 1.2 * sin(PI * k / 2), my[k] = r * 1.2 * cos(PI * k / 2);
      return;
    default: /* circle */
      *n = 32;
      for (int k = 0; k < 32; k++)
        mx[k] = r * cos(2 * PI * k / 32), my[k] = r * sin(2 * PI * k / 32);
  }
}

static void draw_markers(const frame *fr, const nc_plot_series *s, int color) {
  PLFLT def_mm, cur_mm;
  plgchr(&def_mm, &cur_mm);
  double r = 0.45 * (s->marker_size > 0 ? s->marker_size : 1.0) * def_mm; /* radius, mm */
  double mx[32], my[32], px[33], py[33];
  int n = 0;
  int lines = s->marker == NC_MARK_CROSS || s->marker == NC_MARK_PLUS;
  if (!lines) marker_polygon(s->marker, r, mx, my, &n);
  for (int k = 0; k < s->n; k++) {
    double x = s->x[k], y = world_y(fr, s->y[k]);
    if (!isfinite(x) || !isfinite(y) || x < fr->xmin || x > fr->xmax || y < fr->ymin ||
        y > fr->ymax)
      continue;
    plcol0(color);
    if (lines) {
      double a = s->marker == NC_MARK_CROSS ? PI / 4 : 0;
      for (int arm = 0; arm < 2; arm++, a += PI / 2) {
        double lx[2] = {x - r * cos(a) / fr->mm_per_x, x + r * cos(a) / fr->mm_per_x};
        double ly[2] = {y - r * sin(a) / fr->mm_per_y, y + r * sin(a) / fr->mm_per_y};
        plwidth(2.0);
        plline(2, lx, ly);
      }
      continue;
    }
    for (int i = 0; i < n; i++) px[i] = x + mx[i] / fr->mm_per_x, py[i] = y + my[i] / fr->mm_per_y;
    px[n] = px[0], py[n] = py[0];
    plfill(n, px, py);
    if (s->marker_outline) {
      plcol0(COL_FG);
      plwidth(1.2);
      plline(n + 1, px, py);
    }
  }
}

static void draw_arrows(const frame *fr, const nc_plot_arrows *a) {
  double length_mm = (a->length > 0 ? a->length : 0.035) * fr->vp_width_mm;
  double head = a->head_size > 0 ? a->head_size : 0.35;
  double max_mm = 0; /* the longest arrow on screen, for unnormalized fields */
  for (int k = 0; k < a->n; k++) {
    double dy = fr->fig->log_y ? a->v[k] / (a->y[k] * log(10.0)) : a->v[k];
    double m = hypot(a->u[k] * fr->mm_per_x, dy * fr->mm_per_y);
    if (isfinite(m) && m > max_mm) max_mm = m;
  }
  if (!(max_mm > 0)) return;
  for (int k = 0; k < a->n; k++) {
    double y0 = world_y(fr, a->y[k]);
    double dy = fr->fig->log_y ? a->v[k] / (a->y[k] * log(10.0)) : a->v[k];
    double ex = a->u[k] * fr->mm_per_x, ey = dy * fr->mm_per_y; /* on-screen direction, mm */
    double m = hypot(ex, ey);
    if (!isfinite(m) || !isfinite(a->x[k]) || !isfinite(y0) || m <= 1e-12 * max_mm) continue;
    double len = a->normalize ? length_mm : length_mm * m / max_mm;
    ex *= len / m, ey *= len / m;
    /* Centred on its point; the head is a filled triangle at the tip. */
    double tx = a->x[k] + 0.5 * ex / fr->mm_per_x, ty = y0 + 0.5 * ey / fr->mm_per_y;
    double bx = a->x[k] - 0.5 * ex / fr->mm_per_x, by = y0 - 0.5 * ey / fr->mm_per_y;
    double hl = head * len, hw = 0.45 * hl;          /* head length and half-width, mm */
    double ux = ex / len, uy = ey / len;             /* unit direction on screen */
    double basex_mm = -ux * hl, basey_mm = -uy * hl; /* tip -> base of the head, mm */
    double xs[3] = {tx, tx + (basex_mm - uy * hw) / fr->mm_per_x,
                    tx + (basex_mm + uy * hw) / fr->mm_per_x};
    double ys[3] = {ty, ty + (basey_mm + ux * hw) / fr->mm_per_y,
                    ty + (basey_mm - ux * hw) / fr->mm_per_y};
    double lx[2] = {bx, tx + basex_mm / fr->mm_per_x}, ly[2] = {by, ty + basey_mm / fr->mm_per_y};
    plline(2, lx, ly);
    plfill(3, xs, ys);
  }
}

/* The legend: one entry per labelled series or arrow field, in the order given. */
static void draw_legend(const nc_figure *fig) {
  enum { MAX_ENTRIES = 32 };
  PLINT opt[MAX_ENTRIES], text_col[MAX_ENTRIES], line_col[MAX_ENTRIES], line_sty[MAX_ENTRIES];
  PLINT sym_col[MAX_ENTRIES], sym_num[MAX_ENTRIES], box_col[MAX_ENTRIES], box_pat[MAX_ENTRIES];
  PLFLT line_w[MAX_ENTRIES], sym_scale[MAX_ENTRIES], box_scale[MAX_ENTRIES], box_w[MAX_ENTRIES];
  const char *text[MAX_ENTRIES], *sym[MAX_ENTRIES];
  int n = 0;
  for (int i = 0; i < fig->nseries && n < MAX_ENTRIES; i++) {
    const nc_plot_series *s = &fig->series[i];
    if (!s->label || !s->label[0]) continue;
    opt[n] = (s->line != NC_LINE_NONE ? PL_LEGEND_LINE : 0) |
             (s->marker != NC_MARK_NONE ? PL_LEGEND_SYMBOL : 0);
    text[n] = s->label;
    line_col[n] = sym_col[n] = COL_FIRST_ITEM + i;
    line_sty[n] = line_style_index(s->line);
    line_w[n] = s->line_width > 0 ? s->line_width : 2.0;
    sym[n] = marker_glyph(s->marker);
    sym_scale[n] = s->marker_size > 0 && s->marker_size < 1.0 ? s->marker_size : 1.0;
    n++;
  }
  for (int i = 0; i < fig->narrows && n < MAX_ENTRIES; i++) {
    const nc_plot_arrows *a = &fig->arrows[i];
    if (!a->label || !a->label[0]) continue;
    opt[n] = PL_LEGEND_SYMBOL;
    text[n] = a->label;
    line_col[n] = sym_col[n] = COL_FIRST_ITEM + fig->nseries + i;
    line_sty[n] = 1;
    line_w[n] = 1;
    sym[n] = "→";
    sym_scale[n] = 1.3;
    n++;
  }
  if (n == 0 || fig->legend == NC_LEGEND_HIDDEN) return;
  for (int k = 0; k < n; k++) {
    text_col[k] = COL_FG;
    sym_num[k] = 1;
    box_col[k] = box_pat[k] = 0;
    box_scale[k] = box_w[k] = 0;
  }
  PLINT pos = PL_POSITION_INSIDE;
  switch (fig->legend) {
    case NC_LEGEND_TOP_LEFT:
      pos |= PL_POSITION_TOP | PL_POSITION_LEFT;
      break;
    case NC_LEGEND_BOTTOM_RIGHT:
      pos |= PL_POSITION_BOTTOM | PL_POSITION_RIGHT;
      break;
    case NC_LEGEND_BOTTOM_LEFT:
      pos |= PL_POSITION_BOTTOM | PL_POSITION_LEFT;
      break;
    case NC_LEGEND_OUTSIDE_RIGHT:
      /* Centred beside the axes: with TOP added, PLplot puts it above the axes' corner. */
      pos = PL_POSITION_OUTSIDE | PL_POSITION_RIGHT;
      break;
    default:
      pos |= PL_POSITION_TOP | PL_POSITION_RIGHT;
      break;
  }
  double off_x = fig->legend == NC_LEGEND_OUTSIDE_RIGHT ? 0.02 : 0.015;
  PLFLT width, height;
  double off_y = fig->legend == NC_LEGEND_OUTSIDE_RIGHT ? 0.0 : 0.015;
  pllegend(&width, &height, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX, pos, off_x, off_y, 0.06,
           COL_BG, COL_FG, 1, 0, 0, n, opt, 0.8, 0.85, 1.9, 0.0, text_col, text, box_col, box_pat,
           box_scale, box_w, line_col, line_sty, line_w, sym_col, sym_scale, sym_num, sym);
}

/* The caption, one plmtex per '\n'-separated line, left-aligned under the x label. */
static void draw_caption(const char *caption) {
  char line[512];
  plschr(0, 0.85);
  for (int i = 0; *caption; i++) {
    size_t len = strcspn(caption, "\n");
    snprintf(line, sizeof line, "%.*s", (int)(len < sizeof line ? len : sizeof line - 1), caption);
    plmtex("b", 6.2 + 1.8 * i, 0.0, 0.0, line);
    caption += len + (caption[len] == '\n');
  }
  plschr(0, 1.0);
}

/* Linear y-axis tick labels as the shortest %g string (0.03, 4e-04, 1200), so PLplot never
 * factors out a "(x10^-2)" multiplier: it is drawn above the axis, where the top margin clipped
 * it and 0.03 read as 3. */
static void y_label(PLINT axis, PLFLT value, char *label, PLINT length, PLPointer data) {
  const double span = *(const double *)data;
  if (axis != PL_Y_AXIS) return;
  if (fabs(value) < 1e-9 * span) value = 0; /* -0 and round-off at zero (1.4e-17 for 0) */
  snprintf(label, (size_t)length, "%g", value);
}

static void render(const nc_figure *fig) {
  frame fr = {.fig = fig};
  fit_ranges(fig, &fr);
  int ncol = COL_FIRST_ITEM + fig->nseries + fig->narrows + fig->ntexts;
  plscmap0n(ncol);
  set_color(COL_BG, 0xffffff, 1.0);
  set_color(COL_FG, 0x000000, 1.0);
  set_color(COL_GRID, 0xdddddd, 1.0);
  for (int i = 0; i < fig->nseries; i++) set_color(COL_FIRST_ITEM + i, fig->series[i].color, 1.0);
  for (int i = 0; i < fig->narrows; i++)
    set_color(COL_FIRST_ITEM + fig->nseries + i, fig->arrows[i].color, 1.0);
  for (int i = 0; i < fig->ntexts; i++)
    set_color(COL_FIRST_ITEM + fig->nseries + fig->narrows + i, fig->texts[i].color, 1.0);

  pladv(0);
  /* Margins in character heights, so that labels fit at any image size. */
  int caption_lines = 0;
  if (fig->caption && fig->caption[0]) {
    caption_lines = 1;
    for (const char *c = fig->caption; *c; c++) caption_lines += *c == '\n';
  }
  PLFLT ch_def, ch_mm, px0, px1, py0, py1;
  plgchr(&ch_def, &ch_mm);
  plgspa(&px0, &px1, &py0, &py1);
  double left = 6.6 * ch_mm, top = 3.2 * ch_mm;
  double bottom = (caption_lines ? 5.4 + 1.8 * caption_lines : 4.4) * ch_mm;
  double right = fig->legend == NC_LEGEND_OUTSIDE_RIGHT ? 0.28 * (px1 - px0) : 2.5 * ch_mm;
  plsvpa(left, px1 - px0 - right, bottom, py1 - py0 - top);
  plwind(fr.xmin, fr.xmax, fr.ymin, fr.ymax);
  PLFLT sx0, sx1, sy0, sy1, vx0, vx1, vy0, vy1;
  plgspa(&sx0, &sx1, &sy0, &sy1);
  plgvpd(&vx0, &vx1, &vy0, &vy1);
  fr.vp_width_mm = (vx1 - vx0) * (sx1 - sx0);
  fr.mm_per_x = fr.vp_width_mm / (fr.xmax - fr.xmin);
  fr.mm_per_y = (vy1 - vy0) * (sy1 - sy0) / (fr.ymax - fr.ymin);

  const char *yopt = fig->log_y ? "gl" : "g";
  plcol0(COL_GRID);
  plwidth(1.0);
  plbox("g", 0, 0, yopt, 0, 0);

  for (int i = 0; i < fig->narrows; i++) {
    plcol0(COL_FIRST_ITEM + fig->nseries + i);
    plwidth(1.2);
    pllsty(1);
    draw_arrows(&fr, &fig->arrows[i]);
  }
  for (int i = 0; i < fig->nseries; i++) {
    const nc_plot_series *s = &fig->series[i];
    if (s->line == NC_LINE_NONE || s->n < 2) continue;
    plcol0(COL_FIRST_ITEM + i);
    plwidth(s->line_width > 0 ? s->line_width : 2.0);
    pllsty(line_style_index(s->line));
    draw_series_line(&fr, s);
  }
  pllsty(1);
  for (int i = 0; i < fig->nseries; i++)
    if (fig->series[i].marker != NC_MARK_NONE)
      draw_markers(&fr, &fig->series[i], COL_FIRST_ITEM + i);
  for (int i = 0; i < fig->ntexts; i++) {
    const nc_plot_text *t = &fig->texts[i];
    double y = world_y(&fr, t->y);
    if (!t->text || !isfinite(t->x) || !isfinite(y)) continue;
    plcol0(COL_FIRST_ITEM + fig->nseries + fig->narrows + i);
    plschr(0, 0.9);
    plptex(t->x, y, 1, 0, t->just, t->text);
    plschr(0, 1.0);
  }

  plcol0(COL_FG);
  plwidth(1.0);
  double span = fr.ymax - fr.ymin;
  plslabelfunc(y_label, &span);
  plbox("bcnst", 0, 0, fig->log_y ? "bcnstvl" : "bcnstvo", 0, 0);
  plslabelfunc(NULL, NULL);
  if (fig->xlabel) plmtex("b", 3.0, 0.5, 0.5, fig->xlabel);
  if (fig->ylabel) plmtex("l", 4.6, 0.5, 0.5, fig->ylabel);
  if (caption_lines) draw_caption(fig->caption);
  if (fig->title) {
    plschr(0, 1.15);
    plmtex("t", 1.6, 0.5, 0.5, fig->title);
    plschr(0, 1.0);
  }
  draw_legend(fig);
}

/* Whether PLplot has device `dev` (plinit would otherwise ask on stdin for another). Caller holds
 * the lock. */
static int device_available(const char *dev) {
  enum { MAX_DEVICES = 128 };
  PLCHAR_VECTOR menu[MAX_DEVICES], names[MAX_DEVICES];
  PLCHAR_VECTOR *pm = menu, *pn = names;
  int n = MAX_DEVICES;
  plgDevs(&pm, &pn, &n);
  for (int i = 0; i < n && i < MAX_DEVICES; i++)
    if (names[i] && strcmp(names[i], dev) == 0) return 1;
  return 0;
}

/* Renders fig on device `dev` into the open file f (PLplot closes it). Holds the lock. */
static int render_to(const nc_figure *fig, const char *dev, FILE *f, const char *path) {
  pthread_mutex_lock(&plot_lock);
  if (!device_available(dev)) {
    fclose(f);
    pthread_mutex_unlock(&plot_lock);
    return nc_fail(NC_EIO, "%s: PLplot has no '%s' device (install plplot-driver-cairo)", path,
                   dev);
  }
  plot_error[0] = '\0';
  plsexit(on_plexit);
  plsabort(on_plabort);
  volatile int started = 0;
  if (setjmp(plot_escape) == 0) {
    plsdev(dev);
    plsfile(f);
    plspage(0, 0, fig->width_px ? fig->width_px : 900, fig->height_px ? fig->height_px : 650, 0, 0);
    plscolbg(255, 255, 255);
    plinit();
    started = 1;
    plsfont(PL_FCI_SANS, -1, -1);
    render(fig);
    started = 0;
    plend();
  } else if (started) {
    started = 0;
    plsexit(NULL);
    plend(); /* best effort: release the stream (this also closes f) */
  }
  plsexit(NULL);
  plsabort(NULL);
  int rc = plot_error[0] ? nc_fail(NC_EIO, "%s: %s", path, plot_error) : NC_OK;
  pthread_mutex_unlock(&plot_lock);
  return rc;
}

/* Writes text to f as XML character data, without PLplot's escapes (#u, #d; ## is '#'). */
static void put_xml_text(FILE *f, const char *text) {
  for (const char *c = text; *c; c++) {
    if (c[0] == '#' && c[1] == '#') {
      fputc('#', f);
      c++;
    } else if (c[0] == '#' && c[1]) {
      c++; /* drop the escape and its letter */
    } else if (*c == '&') {
      fputs("&amp;", f);
    } else if (*c == '<') {
      fputs("&lt;", f);
    } else if (*c == '>') {
      fputs("&gt;", f);
    } else {
      fputc(*c == '\n' ? ' ' : *c, f);
    }
  }
}

/* Cairo draws text as glyph outlines; give the SVG its title and caption as text (for browsers,
 * screen readers and search) right after the opening <svg ...> tag. */
static int svg_add_metadata(const nc_figure *fig, const char *tmp, const char *path) {
  if (!(fig->title && fig->title[0]) && !(fig->caption && fig->caption[0])) return NC_OK;
  FILE *f = fopen(tmp, "rb");
  char *buf = NULL;
  long size = -1;
  if (f && fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
      (buf = malloc((size_t)size + 1)) && fread(buf, 1, (size_t)size, f) == (size_t)size) {
    buf[size] = '\0';
  } else {
    size = -1;
  }
  if (f) fclose(f);
  char *svg = size >= 0 ? strstr(buf, "<svg") : NULL;
  char *end = svg ? strchr(svg, '>') : NULL;
  if (!end) {
    free(buf);
    return nc_fail(NC_EIO, "%s: the SVG device wrote no <svg> element", path);
  }
  f = fopen(tmp, "wb");
  if (!f) {
    free(buf);
    return nc_fail(NC_EIO, "cannot write %s: %s", path, strerror(errno));
  }
  size_t head = (size_t)(end + 1 - buf);
  fwrite(buf, 1, head, f);
  if (fig->title && fig->title[0]) {
    fputs("\n<title>", f);
    put_xml_text(f, fig->title);
    fputs("</title>", f);
  }
  if (fig->caption && fig->caption[0]) {
    fputs("\n<desc>", f);
    put_xml_text(f, fig->caption);
    fputs("</desc>", f);
  }
  fwrite(buf + head, 1, (size_t)size - head, f);
  free(buf);
  if (fclose(f) != 0) return nc_fail(NC_EIO, "cannot write %s: %s", path, strerror(errno));
  return NC_OK;
}

static int write_to_temp(const nc_figure *fig, const char *path, const char *format, char *tmp,
                         size_t tmp_size) {
  const char *dev = strcmp(format, "png") == 0   ? "pngcairo"
                    : strcmp(format, "svg") == 0 ? "svgcairo"
                                                 : NULL;
  if (!dev) return nc_fail(NC_EINVAL, "plot: unknown format '%s' (png or svg)", format);
  if ((size_t)snprintf(tmp, tmp_size, "%s.partial", path) >= tmp_size)
    return nc_fail(NC_EINVAL, "plot: path too long: %s", path);
  /* A fresh file of our own: a leftover or a planted symlink of that name is removed first, and
   * O_EXCL | O_NOFOLLOW makes sure nothing is written through a link. */
  unlink(tmp);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
  FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
  if (!f) {
    int err = errno;
    if (fd >= 0) close(fd);
    return nc_fail(NC_EIO, "cannot write %s: %s", path, strerror(err));
  }
  int rc = render_to(fig, dev, f, path);
  if (!rc && strcmp(format, "svg") == 0) rc = svg_add_metadata(fig, tmp, path);
  if (rc) remove(tmp);
  return rc;
}

static int commit(const char *tmp, const char *path) {
  if (rename(tmp, path) == 0) return NC_OK;
  int err = errno;
  remove(tmp);
  return nc_fail(NC_EIO, "cannot write %s: %s", path, strerror(err));
}

int nc_plot_write_file(const nc_figure *fig, const char *path, const char *format) {
  int rc = check_figure(fig);
  if (rc) return rc;
  if (!path || !format) return nc_fail(NC_EINVAL, "plot: no output path or format");
  char tmp[4096];
  if ((rc = write_to_temp(fig, path, format, tmp, sizeof tmp))) return rc;
  return commit(tmp, path);
}

int nc_plot_write(const nc_figure *fig, const char *stem) {
  int rc = check_figure(fig);
  if (rc) return rc;
  if (!stem || !stem[0]) return nc_fail(NC_EINVAL, "plot: empty output stem");
  char png[4096], svg[4096], png_tmp[4200], svg_tmp[4200];
  if ((size_t)snprintf(png, sizeof png, "%s.png", stem) >= sizeof png ||
      (size_t)snprintf(svg, sizeof svg, "%s.svg", stem) >= sizeof svg)
    return nc_fail(NC_EINVAL, "plot: path too long: %s", stem);
  /* Both files render to temporaries first, so a failure leaves neither behind. */
  if ((rc = write_to_temp(fig, png, "png", png_tmp, sizeof png_tmp))) return rc;
  if ((rc = write_to_temp(fig, svg, "svg", svg_tmp, sizeof svg_tmp))) {
    remove(png_tmp);
    return rc;
  }
  if ((rc = commit(png_tmp, png))) {
    remove(svg_tmp);
    return rc;
  }
  if ((rc = commit(svg_tmp, svg))) {
    remove(png);
    return rc;
  }
  return NC_OK;
}

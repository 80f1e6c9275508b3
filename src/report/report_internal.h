/* Shared pieces of the report module: line figures over groups of series, and the HTML page. */
#ifndef NCSSL_REPORT_INTERNAL_H
#define NCSSL_REPORT_INTERNAL_H
#include <stdio.h>

#include "ncssl/plot.h"
#include "ncssl/report.h"

/* Most columns of one matrix drawn as separate lines; wider matrices are subsampled evenly. */
#define RP_MAX_COLUMNS 16

/* One group of lines: y is n × k row-major, column j drawn against x. A group is one run (or one
 * quantity of a run); its lines share a colour unless the figure has a single group, whose
 * columns then get a colour ramp and per-column legend entries. */
typedef struct {
  const char *label; /* legend entry of the group (NULL: none) */
  const double *x, *y;
  int n, k;
  int slot;             /* colour/line-style slot (the run's index) */
  nc_line_style line;   /* NC_LINE_NONE: the slot's style */
  nc_marker marker;     /* markers on every point (also when n == 1) */
  const double *mark_x; /* optional highlighted points (e.g. collapse warnings), red crosses */
  const double *mark_y;
  int nmark;
} rp_group;

typedef struct {
  const char *dir, *stem; /* writes dir/stem.png and dir/stem.svg */
  const char *title, *xlabel, *ylabel, *caption;
  int log_y;
  double ymin, ymax;        /* equal: fit the data */
  const char *column_label; /* single group, k > 1: legend "column_label j" (PLplot text) */
  int has_ref;              /* draw a dashed horizontal reference line at ref_y */
  double ref_y;
  const char *ref_label;
  const char *mark_label; /* legend entry of the highlighted points */
  const rp_group *groups;
  int ngroups;
} rp_lines;

/* Draws the figure; NC_OK, NC_EINVAL, NC_EIO or NC_ENOMEM. */
int rp_plot_lines(const rp_lines *p);
/* Colour of run slot i (a qualitative palette). */
unsigned rp_slot_color(int i);
/* Copies text into out with PLplot's escape character doubled ("#" -> "##"). */
void rp_plot_escape(char *out, size_t size, const char *text);

/* ---- the page ---- */

/* A figure on the page: NC_REPORT_FIG_DIR/stem.png, linked to its SVG. */
typedef struct {
  const char *stem, *title, *caption;
} rp_page_fig;

/* Writes text with &, <, >, " escaped. */
void rp_html_text(FILE *f, const char *text);
/* The page's head (title, inline stylesheet) and opening <main>, with an <h1>. */
void rp_html_begin(FILE *f, const char *title, const char *subtitle);
/* A section of figures: <h2>, an optional intro line, then the figures in a grid. */
void rp_html_figures(FILE *f, const char *heading, const char *intro, const rp_page_fig *figs,
                     int n);
/* Closes the page. */
void rp_html_end(FILE *f);

/* ---- the Reproduce section (report_reproduce.c) ---- */

/* Draws Figs 2 and 6 of a reproduce folder into fig_dir; figs (room for 3) gets those drawn. */
int rp_reproduce_figures(const nc_report_reproduce *rep, const char *fig_dir, rp_page_fig *figs,
                         int *nfigs);
/* The section: a table per experiment with its claims' verdicts, then the figures. */
void rp_reproduce_html(FILE *f, const nc_report_reproduce *rep, const rp_page_fig *figs, int nfigs);

#endif

/* Line figures over groups of series (runs, or the columns of a spectrum over time). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ncssl/status.h"
#include "report_internal.h"

/* A qualitative palette that stays distinct when printed in grey (paired with line styles). */
static const unsigned slot_colors[] = {NC_COLOR_BLUE, NC_COLOR_ORANGE, NC_COLOR_GREEN,
                                       NC_COLOR_RED,  NC_COLOR_PURPLE, 0x8c564bu,
                                       0xe377c2u,     NC_COLOR_GREY};
static const nc_line_style slot_lines[] = {NC_LINE_SOLID, NC_LINE_DASHED, NC_LINE_DOTTED};

unsigned rp_slot_color(int i) {
  return slot_colors[(unsigned)i % (sizeof slot_colors / sizeof slot_colors[0])];
}

/* Colour ramp for the columns of one matrix: dark blue (largest eigenvalue) to yellow-green. */
static unsigned ramp_color(double t) {
  static const unsigned stops[] = {0x440154u, 0x3b528bu, 0x21918cu, 0x5ec962u, 0xb5de2bu};
  const int ns = (int)(sizeof stops / sizeof stops[0]);
  if (!(t > 0)) t = 0;
  if (t > 1) t = 1;
  double u = t * (ns - 1);
  int i = (int)u;
  if (i >= ns - 1) return stops[ns - 1];
  double f = u - i;
  unsigned out = 0;
  for (int sh = 16; sh >= 0; sh -= 8) {
    double a = (stops[i] >> sh) & 0xff, b = (stops[i + 1] >> sh) & 0xff;
    out |= (unsigned)lround(a + f * (b - a)) << sh;
  }
  return out;
}

void rp_plot_escape(char *out, size_t size, const char *text) {
  size_t o = 0;
  for (const char *c = text ? text : ""; *c && o + 2 < size; c++) {
    if (*c == '#') out[o++] = '#';
    out[o++] = *c;
  }
  out[o] = '\0';
}

/* The columns of a k-column matrix to draw: all when few, else an even spread with both ends. */
static int pick_columns(int k, int *cols) {
  if (k <= RP_MAX_COLUMNS) {
    for (int j = 0; j < k; j++) cols[j] = j;
    return k;
  }
  for (int i = 0; i < RP_MAX_COLUMNS; i++)
    cols[i] = (int)lround((double)i * (k - 1) / (RP_MAX_COLUMNS - 1));
  return RP_MAX_COLUMNS;
}

int rp_plot_lines(const rp_lines *p) {
  int single = p->ngroups == 1 && p->groups[0].k > 1;
  int max_series = 1;
  for (int g = 0; g < p->ngroups; g++) max_series += RP_MAX_COLUMNS + 1;
  nc_plot_series *series = calloc((size_t)max_series, sizeof *series);
  double **owned = calloc((size_t)max_series, sizeof *owned);
  char(*labels)[96] = calloc((size_t)max_series, sizeof *labels);
  double ref_x[2], ref_y[2];
  int ns = 0, rc = NC_OK;
  if (!series || !owned || !labels) {
    rc = nc_fail(NC_ENOMEM, "report: out of memory drawing %s", p->stem);
    goto done;
  }
  double xlo = INFINITY, xhi = -INFINITY;
  for (int g = 0; g < p->ngroups; g++) {
    const rp_group *gr = &p->groups[g];
    int cols[RP_MAX_COLUMNS], nc = pick_columns(gr->k, cols);
    for (int i = 0; i < gr->n; i++)
      if (isfinite(gr->x[i])) xlo = fmin(xlo, gr->x[i]), xhi = fmax(xhi, gr->x[i]);
    for (int c = 0; c < nc; c++) {
      double *y = malloc(sizeof(double) * (size_t)(gr->n ? gr->n : 1));
      if (!y) {
        rc = nc_fail(NC_ENOMEM, "report: out of memory drawing %s", p->stem);
        goto done;
      }
      owned[ns] = y;
      for (int i = 0; i < gr->n; i++) y[i] = gr->y[(size_t)i * gr->k + cols[c]];
      nc_plot_series *s = &series[ns];
      s->x = gr->x, s->y = y, s->n = gr->n;
      s->line = gr->line != NC_LINE_NONE ? gr->line : slot_lines[gr->slot % 3];
      s->marker = gr->marker;
      s->marker_size = 0.8;
      if (single) {
        s->color = ramp_color(nc > 1 ? (double)c / (nc - 1) : 0);
        s->line = NC_LINE_SOLID;
        /* Legend: every column when few, else the two ends (the ramp says the rest). */
        if (p->column_label && (nc <= 8 || c == 0 || c == nc - 1)) {
          snprintf(labels[ns], sizeof labels[ns], "%s %d%s", p->column_label, cols[c] + 1,
                   c == 0                  ? " (largest)"
                   : c == nc - 1 && nc > 2 ? " (smallest)"
                                           : "");
          s->label = labels[ns];
        }
      } else {
        s->color = rp_slot_color(gr->slot);
        if (c == 0 && gr->label && p->ngroups > 1) { /* one group needs no legend entry */
          rp_plot_escape(labels[ns], sizeof labels[ns], gr->label);
          s->label = labels[ns];
        }
      }
      /* Columns after the first are drawn thinner so one run's bundle reads as one. */
      s->line_width = c == 0 ? 2.0 : 1.2;
      ns++;
    }
  }
  for (int g = 0; g < p->ngroups; g++) {
    const rp_group *gr = &p->groups[g];
    if (!gr->nmark) continue;
    int first = 1;
    for (int h = 0; h < g; h++) first &= !p->groups[h].nmark;
    series[ns++] =
        (nc_plot_series){gr->mark_x,   gr->mark_y,   gr->nmark, first ? p->mark_label : NULL,
                         NC_COLOR_RED, NC_LINE_NONE, 0,         NC_MARK_CROSS,
                         1.4};
  }
  if (p->has_ref && xlo <= xhi) {
    ref_x[0] = xlo, ref_x[1] = xhi, ref_y[0] = ref_y[1] = p->ref_y;
    series[ns++] =
        (nc_plot_series){ref_x, ref_y, 2, p->ref_label, NC_COLOR_GREY, NC_LINE_DASHED, 1.2};
  }
  int labelled = 0;
  for (int i = 0; i < ns; i++) labelled += series[i].label != NULL;
  /* No caption inside the image: the page shows it once, under the figure. */
  nc_figure fig = {.title = p->title,
                   .xlabel = p->xlabel,
                   .ylabel = p->ylabel,
                   .ymin = p->ymin,
                   .ymax = p->ymax,
                   .log_y = p->log_y,
                   .legend = labelled ? NC_LEGEND_OUTSIDE_RIGHT : NC_LEGEND_HIDDEN,
                   .series = series,
                   .nseries = ns};
  char stem[4200];
  snprintf(stem, sizeof stem, "%s/%s", p->dir, p->stem);
  rc = nc_plot_write(&fig, stem);
done:
  for (int i = 0; owned && i < max_series; i++) free(owned[i]);
  free(owned);
  free(series);
  free(labels);
  return rc;
}

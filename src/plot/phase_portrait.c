/* The (p, s) phase portrait of Eqns 11-12 at fixed τ: the paper's Fig. 3, as an nc_figure. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "ncssl/plot.h"
#include "ncssl/status.h"
#include "ncssl/theory.h"

enum { TRAJ_MAX_POINTS = 2000, TRAJ_MAX_STEPS = 60000, CURVE_POINTS = 400 };

/* The i-th point of the base-b van der Corput sequence: spreads start points evenly. */
static double van_der_corput(unsigned i, unsigned b) {
  double x = 0, f = 1.0 / b;
  for (; i; i /= b, f /= b) x += f * (i % b);
  return x;
}

/* Integrates one trajectory (forward in time for dir = +1, backward for -1) with RK4 until it
 * leaves the window or comes to rest. The step shrinks where the flow is fast so that each step
 * moves at most 0.3% of the window on screen; the path (not the timing) is what is drawn, thinned
 * to a point every 0.3% of the window. Returns the number of points written. */
static int trajectory(const nc_phase_spec *sp, double p0, double s0, int dir, double *ps,
                      double *ss) {
  nc_mode_params m = {
      .alpha_p = sp->alpha_p, .eta = sp->eta, .sigma2 = sp->sigma2, .tau_mode = NC_TAU_FIXED};
  nc_mode_state x = {p0, s0, sp->tau};
  double wp = sp->pmax - sp->pmin, ws = sp->smax - sp->smin;
  /* RK4 stays stable for dt·|λ| < 2.7; bound |λ| by the Jacobian's size over the window. */
  double pm = fmax(fabs(sp->pmin), fabs(sp->pmax)), sm = fmax(fabs(sp->smin), fabs(sp->smax));
  double a = 1 + sp->sigma2;
  double lam = sp->alpha_p * a * sm + sp->eta + sp->alpha_p * (sp->tau + a * pm) +
               2 * sm * (sp->tau + 2 * a * pm) + 2 * (pm * (sp->tau + a * pm) + sp->eta);
  double dt_max = 1.0 / (lam + 1e-12);
  int n = 0;
  ps[n] = x.p, ss[n++] = x.s;
  for (int step = 0; step < TRAJ_MAX_STEPS && n < TRAJ_MAX_POINTS; step++) {
    nc_mode_state d;
    nc_mode_rhs(&m, &x, &d);
    double speed = hypot(d.p / wp, d.s / ws); /* window widths per unit time */
    if (!(speed * dt_max > 1e-8)) break;      /* at rest (a fixed point) */
    double dt = fmin(dt_max, 0.003 / speed);
    nc_mode_rk4_step(&m, &x, dir * dt);
    if (!isfinite(x.p) || !isfinite(x.s)) break;
    int outside = x.p < sp->pmin - 0.05 * wp || x.p > sp->pmax + 0.05 * wp ||
                  x.s < sp->smin - 0.05 * ws || x.s > sp->smax + 0.05 * ws;
    if (outside || hypot((x.p - ps[n - 1]) / wp, (x.s - ss[n - 1]) / ws) > 0.003)
      ps[n] = x.p, ss[n++] = x.s;
    if (outside) break;
  }
  /* The last point, so the line ends where the integration did. */
  if (n < TRAJ_MAX_POINTS && (x.p != ps[n - 1] || x.s != ss[n - 1])) ps[n] = x.p, ss[n++] = x.s;
  return n;
}

static int check_spec(const nc_phase_spec *sp) {
  nc_fixed_points fp;
  int rc = nc_fixed_points_compute(sp->tau, sp->sigma2, sp->eta, sp->alpha_p, &fp);
  if (rc) return rc;
  if (!(sp->pmax > sp->pmin) || !(sp->smax > sp->smin) || !isfinite(sp->pmin + sp->pmax) ||
      !isfinite(sp->smin + sp->smax))
    return nc_fail(NC_EINVAL, "phase portrait: empty window p [%g, %g], s [%g, %g]", sp->pmin,
                   sp->pmax, sp->smin, sp->smax);
  if (sp->grid < 2 || sp->grid > 200)
    return nc_fail(NC_EINVAL, "phase portrait: grid must be in [2, 200], got %d", sp->grid);
  if (sp->trajectories < 0 || sp->trajectories > 1000)
    return nc_fail(NC_EINVAL, "phase portrait: trajectories must be in [0, 1000], got %d",
                   sp->trajectories);
  return NC_OK;
}

/* Everything the figure points at; freed in one place. */
typedef struct {
  double *buf;
  nc_plot_series *series;
  nc_plot_arrows arrows;
  nc_plot_text texts[3];
} portrait;

int nc_phase_portrait_write(const nc_phase_spec *sp, const char *stem) {
  int rc = check_spec(sp);
  if (rc) return rc;
  nc_phase_point fps[3];
  int nfp = nc_phase_fixed_points(sp->alpha_p, sp->sigma2, sp->eta, sp->tau, fps);
  if (nfp < 0) return -nfp;

  int g = sp->grid, nt = sp->trajectories;
  size_t n_arrow = (size_t)g * g;
  size_t doubles = 4 * n_arrow + 4 * (size_t)nt * TRAJ_MAX_POINTS + 2 * CURVE_POINTS + 64;
  portrait P = {0};
  P.buf = calloc(doubles, sizeof(double));
  P.series = calloc((size_t)nt + 8, sizeof(nc_plot_series));
  if (!P.buf || !P.series) {
    free(P.buf);
    free(P.series);
    return nc_fail(NC_ENOMEM, "phase portrait: out of memory");
  }
  double *cur = P.buf;
  nc_mode_params m = {
      .alpha_p = sp->alpha_p, .eta = sp->eta, .sigma2 = sp->sigma2, .tau_mode = NC_TAU_FIXED};
  double wp = sp->pmax - sp->pmin, ws = sp->smax - sp->smin;

  /* The flow field, sampled at cell centres. */
  double *ax = cur, *ay = cur + n_arrow, *au = cur + 2 * n_arrow, *av = cur + 3 * n_arrow;
  cur += 4 * n_arrow;
  for (int i = 0; i < g; i++)
    for (int j = 0; j < g; j++) {
      size_t k = (size_t)i * g + j;
      nc_mode_state x = {sp->pmin + (j + 0.5) * wp / g, sp->smin + (i + 0.5) * ws / g, sp->tau}, d;
      nc_mode_rhs(&m, &x, &d);
      ax[k] = x.p, ay[k] = x.s, au[k] = d.p, av[k] = d.s;
    }
  P.arrows = (nc_plot_arrows){ax,        ay, au,       av, (int)n_arrow, "direction of the flow",
                              0x6baed6u, 1,  0.45 / g, 0.4};

  int ns = 0;
  for (int t = 0; t < nt; t++) {
    /* A low-discrepancy spread of starts over the window (skipping index 0, the corner). */
    double p0 = sp->pmin + wp * (0.02 + 0.96 * van_der_corput(t + 1, 2));
    double s0 = sp->smin + ws * (0.02 + 0.96 * van_der_corput(t + 1, 3));
    /* The flow line through the start: its past (reversed), then its future. */
    double *tp = cur, *ts = cur + 2 * TRAJ_MAX_POINTS;
    cur += 4 * TRAJ_MAX_POINTS;
    int nb = trajectory(sp, p0, s0, -1, tp, ts);
    for (int i = 0, j = nb - 1; i < j; i++, j--) {
      double t1 = tp[i], t2 = ts[i];
      tp[i] = tp[j], ts[i] = ts[j], tp[j] = t1, ts[j] = t2;
    }
    int n = nb - 1 + trajectory(sp, p0, s0, 1, tp + nb - 1, ts + nb - 1);
    P.series[ns++] = (nc_plot_series){
        tp, ts, n, t == 0 ? "trajectories (RK4)" : NULL, NC_COLOR_BLUE, NC_LINE_SOLID, 1.3};
  }

  /* The invariant parabola s = p²/α_p: where η > 0 pulls every trajectory. */
  double *qp = cur, *qs = cur + CURVE_POINTS;
  cur += 2 * CURVE_POINTS;
  for (int k = 0; k < CURVE_POINTS; k++) {
    qp[k] = sp->pmin + wp * k / (CURVE_POINTS - 1);
    qs[k] = qp[k] * qp[k] / sp->alpha_p;
    if (qs[k] > sp->smax + ws) qs[k] = NAN; /* keep PLplot's clipping to short segments */
  }
  P.series[ns++] = (nc_plot_series){qp,
                                    qs,
                                    CURVE_POINTS,
                                    "s = p#u2#d/α#dp#u (invariant parabola)",
                                    NC_COLOR_BLACK,
                                    NC_LINE_DASHED,
                                    2.0};

  if (sp->eta == 0.0) {
    /* Lines of fixed points. Their normal eigenvalue decides whether nearby flow is attracted:
     * on s = 0 it is 2p(τ − (1+σ²)p) (repelling for 0 < p < τ/(1+σ²)); on p = τ/(1+σ²) it is
     * −α_p(1+σ²)s < 0 (attracting for s > 0). */
    double c = sp->tau / (1.0 + sp->sigma2);
    double *L = cur;
    cur += 12;
    double lo = fmin(sp->pmin, 0) - wp, hi = fmax(sp->pmax, c) + wp;
    L[0] = lo, L[1] = 0, L[2] = c, L[3] = hi; /* attracting parts of s = 0: x pairs */
    L[4] = L[5] = L[6] = L[7] = 0;
    L[8] = 0, L[9] = c, L[10] = 0, L[11] = 0; /* repelling part of s = 0 */
    double *V = cur;
    cur += 4;
    V[0] = V[1] = c, V[2] = 0, V[3] = fmax(sp->smax, 0) + ws; /* p = c, s >= 0 */
    P.series[ns++] = (nc_plot_series){
        L, L + 4, 2, "line of fixed points, attracting (η = 0)", NC_COLOR_RED, NC_LINE_SOLID, 4.0};
    P.series[ns++] = (nc_plot_series){L + 2, L + 6, 2, NULL, NC_COLOR_RED, NC_LINE_SOLID, 4.0};
    P.series[ns++] = (nc_plot_series){V, V + 2, 2, NULL, NC_COLOR_RED, NC_LINE_SOLID, 4.0};
    P.series[ns++] = (nc_plot_series){
        L + 8,          L + 10,        2,  "line of fixed points, repelling (η = 0)",
        NC_COLOR_GREEN, NC_LINE_SOLID, 4.0};
  }

  /* Isolated fixed points, one series per stability class so each gets a legend entry. */
  static const struct {
    nc_fp_kind kind;
    unsigned color;
    const char *label;
  } classes[] = {
      {NC_FP_STABLE, NC_COLOR_RED, "stable fixed point"},
      {NC_FP_UNSTABLE, NC_COLOR_GREEN, "unstable fixed point"},
      {NC_FP_SADDLE, NC_COLOR_BLACK, "saddle"},
      {NC_FP_NONHYPERBOLIC, NC_COLOR_BLACK, "half-stable fixed point"},
  };
  for (int c = 0; c < 4; c++) {
    double *fx = cur, *fy = cur + 3;
    int n = 0;
    for (int i = 0; i < nfp; i++)
      if (fps[i].kind == classes[c].kind) fx[n] = fps[i].p, fy[n++] = fps[i].s;
    if (!n) continue;
    cur += 6;
    int black = classes[c].color == NC_COLOR_BLACK; /* drawn smaller, on top of coloured ones */
    P.series[ns++] = (nc_plot_series){fx,
                                      fy,
                                      n,
                                      classes[c].label,
                                      classes[c].color,
                                      NC_LINE_NONE,
                                      0,
                                      NC_MARK_CIRCLE,
                                      black ? 1.1 : 1.7,
                                      !black};
  }

  /* Name p*₋ and p*₊ next to their points. */
  int ntext = 0;
  if (sp->eta > 0 && nfp == 3) {
    const char *names[2] = {"p*₋", "p*₊"};
    for (int i = 1; i < 3; i++) {
      P.texts[ntext++] = (nc_plot_text){fps[i].p + 0.025 * wp, fps[i].s + 0.035 * ws, names[i - 1],
                                        NC_COLOR_BLACK, 0.0};
    }
  }

  char title[200], caption[240];
  snprintf(title, sizeof title, "(p, s) flow at fixed τ:  τ = %g, σ#u2#d = %g, η = %g, α#dp#u = %g",
           sp->tau, sp->sigma2, sp->eta, sp->alpha_p);
  nc_fixed_points fp;
  nc_fixed_points_compute(sp->tau, sp->sigma2, sp->eta, sp->alpha_p, &fp);
  if (sp->eta == 0)
    snprintf(
        caption, sizeof caption,
        "η = 0: s = 0 and p = τ/(1+σ#u2#d) = %.4g are lines of fixed points; trajectories keep\n"
        "s − p#u2#d/α#dp#u constant, so a start above the dashed parabola avoids collapse.",
        sp->tau / (1 + sp->sigma2));
  else if (fp.has_nonzero)
    snprintf(caption, sizeof caption,
             "0 < η ≤ η#dc#u = %.4g: the saddle p*₋ = %.4g separates collapse (to 0) from the\n"
             "stable p*₊ = %.4g; weight decay pulls every trajectory onto the dashed parabola.",
             fp.eta_c, fp.p_minus, fp.p_plus);
  else
    snprintf(
        caption, sizeof caption,
        "η > η#dc#u = τ#u2#d/(4(1+σ#u2#d)) = %.4g: only the origin remains and it is stable,\nso "
        "every mode collapses whatever its start.",
        fp.eta_c);
  nc_figure fig = {
      .title = title,
      .xlabel = "p  (eigenvalue of the predictor W#dp#u, dimensionless)",
      .ylabel = "s  (eigenvalue of F = WW#uT#d, dimensionless)",
      .caption = caption,
      .xmin = sp->pmin,
      .xmax = sp->pmax,
      .ymin = sp->smin,
      .ymax = sp->smax,
      .legend = NC_LEGEND_TOP_LEFT,
      .width_px = sp->width_px,
      .height_px = sp->height_px,
      .series = P.series,
      .nseries = ns,
      .arrows = &P.arrows,
      .narrows = 1,
      .texts = P.texts,
      .ntexts = ntext,
  };
  rc = nc_plot_write(&fig, stem);
  free(P.buf);
  free(P.series);
  return rc;
}

/* Figures for people to look at: a small declarative layer over PLplot (cairo devices).
 *
 * The caller fills an nc_figure (title, axis labels, line/scatter series, arrow fields, text) with
 * plain arrays it owns, then nc_plot_write(fig, "dir/stem") renders it twice, once per device, to
 * dir/stem.png and dir/stem.svg (900×650 by default, white background, sans-serif fonts).
 *
 * Text is UTF-8 and may use PLplot's escapes: "#u…#d" raises (superscript), "#d…#u" lowers
 * (subscript), "##" is a literal '#'. Colours are 0xRRGGBB.
 *
 * PLplot keeps global state, so every call here is serialized by a mutex; nothing here prints on
 * success, and failures (an unwritable path, an invalid figure, a PLplot error) come back as an
 * nc_code with a message naming the path, never as an exit. A failed write leaves no files. */
#ifndef NCSSL_PLOT_H
#define NCSSL_PLOT_H

/* Colours used by the project's pictures (paper's Fig. 3 conventions for fixed points). */
#define NC_COLOR_BLACK 0x000000u
#define NC_COLOR_RED 0xd62728u
#define NC_COLOR_GREEN 0x2ca02cu
#define NC_COLOR_BLUE 0x1f77b4u
#define NC_COLOR_LIGHT_BLUE 0x9ecae1u
#define NC_COLOR_ORANGE 0xff7f0eu
#define NC_COLOR_PURPLE 0x9467bdu
#define NC_COLOR_GREY 0x7f7f7fu

typedef enum {
  NC_LINE_NONE = 0, /* no line: a scatter series (give it a marker) */
  NC_LINE_SOLID,
  NC_LINE_DASHED,
  NC_LINE_DOTTED,
} nc_line_style;

typedef enum {
  NC_MARK_NONE = 0,
  NC_MARK_CIRCLE, /* filled */
  NC_MARK_SQUARE,
  NC_MARK_TRIANGLE,
  NC_MARK_DIAMOND,
  NC_MARK_CROSS,
  NC_MARK_PLUS,
} nc_marker;

/* Points (x[i], y[i]), joined by a line and/or marked. Non-finite points (and, on a log axis,
 * y <= 0) break the line instead of being drawn. */
typedef struct {
  const double *x, *y;
  int n;
  const char *label; /* legend entry; NULL or "" for none */
  unsigned color;
  nc_line_style line;
  double line_width; /* in PLplot width units; 0 means 2 */
  nc_marker marker;
  double marker_size; /* relative to the text height; 0 means 1 */
  int marker_outline; /* nonzero: draw a thin black ring around each marker */
} nc_plot_series;

/* Arrows at (x[i], y[i]) pointing along (u[i], v[i]) given in data units per unit of time; the
 * direction is drawn as it looks on the axes (so it stays tangent to curves whatever the aspect).
 */
typedef struct {
  const double *x, *y, *u, *v;
  int n;
  const char *label;
  unsigned color;
  int normalize;    /* nonzero: every arrow has the same on-screen length (the flow's direction) */
  double length;    /* longest arrow as a fraction of the plot width; 0 means 0.035 */
  double head_size; /* arrowhead length as a fraction of the arrow; 0 means 0.35 */
} nc_plot_arrows;

/* A text label at data coordinates (x, y). */
typedef struct {
  double x, y;
  const char *text;
  unsigned color;
  double just; /* 0 left-aligned at x, 0.5 centred, 1 right-aligned */
} nc_plot_text;

typedef enum {
  NC_LEGEND_TOP_RIGHT = 0,
  NC_LEGEND_TOP_LEFT,
  NC_LEGEND_BOTTOM_RIGHT,
  NC_LEGEND_BOTTOM_LEFT,
  NC_LEGEND_OUTSIDE_RIGHT, /* to the right of the axes (the plot area shrinks to make room) */
  NC_LEGEND_HIDDEN,
} nc_legend_pos;

typedef struct {
  const char *title;
  const char *xlabel, *ylabel;   /* with units, e.g. "step" or "loss (nats)" */
  const char *caption;           /* one line under the plot; NULL for none */
  double xmin, xmax, ymin, ymax; /* axis ranges; xmin == xmax (or ymin == ymax) fits the data */
  int log_y;                     /* nonzero: logarithmic y axis (ymin, ymax are then > 0) */
  int width_px, height_px;       /* 0 means 900 × 650 */
  nc_legend_pos legend;          /* entries: labelled series, then labelled arrow fields (<= 32) */
  const nc_plot_series *series;
  int nseries;
  const nc_plot_arrows *arrows;
  int narrows;
  const nc_plot_text *texts;
  int ntexts;
} nc_figure;

/* Writes stem.png and stem.svg (the directory must exist). NC_EINVAL for an inconsistent figure,
 * NC_EIO when a file cannot be written; the message names the path. */
int nc_plot_write(const nc_figure *fig, const char *stem);
/* Writes one file; format is "png" or "svg". */
int nc_plot_write_file(const nc_figure *fig, const char *path, const char *format);

/* ---- Phase portraits of the per-mode dynamics (Eqns 11-12 at fixed τ, the paper's Fig. 3) ---- */

typedef enum {
  NC_FP_STABLE = 0,   /* both eigenvalues have negative real part */
  NC_FP_UNSTABLE,     /* both positive */
  NC_FP_SADDLE,       /* real eigenvalues of opposite sign */
  NC_FP_NONHYPERBOLIC /* an eigenvalue with zero real part: half-stable, decided by higher order */
} nc_fp_kind;

/* The Jacobian J = ∂(ṗ, ṡ)/∂(p, s) at (p, s) with τ fixed, analytic, row-major [[∂ṗ/∂p, ∂ṗ/∂s],
 * [∂ṡ/∂p, ∂ṡ/∂s]]. */
void nc_phase_jacobian(double alpha_p, double sigma2, double eta, double tau, double p, double s,
                       double J[4]);
/* Classifies a 2×2 Jacobian by its eigenvalues (returned in wr/wi when not NULL); eigenvalues
 * with |Re| <= tol·(1 + ‖J‖) count as zero. */
nc_fp_kind nc_phase_classify(const double J[4], double tol, double wr[2], double wi[2]);
/* "stable", "unstable", "saddle" or "half-stable". */
const char *nc_fp_kind_name(nc_fp_kind k);

typedef struct {
  double p, s;
  nc_fp_kind kind;
  double wr[2], wi[2]; /* the Jacobian's eigenvalues */
} nc_phase_point;

/* The isolated fixed points of (ṗ, ṡ) at fixed τ: the origin, and for 0 < η <= η_c the points
 * (p*±, p*±²/α_p); for η = 0, the origin and (τ/(1+σ²), 0) where the two lines of fixed points
 * s = 0 and p = τ/(1+σ²) meet. Returns how many were written to out (at most 3), or a negative
 * nc_code with a message for invalid parameters. */
int nc_phase_fixed_points(double alpha_p, double sigma2, double eta, double tau,
                          nc_phase_point out[3]);

/* What the phase portrait shows. */
typedef struct {
  double tau, sigma2, eta, alpha_p;
  double pmin, pmax, smin, smax;
  int grid;                /* arrows per axis */
  int trajectories;        /* sample trajectories (RK4) */
  int width_px, height_px; /* image size; 0 means 900 × 650 */
} nc_phase_spec;

/* Draws the portrait to stem.png / stem.svg: normalized flow arrows, trajectories, the fixed
 * points coloured by stability (stable red, unstable green, saddle/half-stable black), the η = 0
 * lines of fixed points, and the invariant parabola s = p²/α_p dashed. */
int nc_phase_portrait_write(const nc_phase_spec *spec, const char *stem);

#endif

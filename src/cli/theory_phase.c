/* `ncssl theory phase`: the (p, s) phase portrait of Eqns 11-12 at fixed τ (the paper's Fig. 3). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "ncssl/json.h"
#include "ncssl/plot.h"
#include "ncssl/status.h"
#include "ncssl/theory.h"

/* Creates every missing directory above the file stem `path` (like mkdir -p on its dirname). */
static int make_parent_dirs(const char *path) {
  char dir[4096];
  if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir)
    return nc_fail(NC_EINVAL, "--out: path too long");
  char *slash = strrchr(dir, '/');
  if (!slash || slash == dir) return NC_OK;
  *slash = '\0';
  for (char *q = dir + 1;; q++) {
    if (*q != '/' && *q != '\0') continue;
    char saved = *q;
    *q = '\0';
    struct stat st;
    if (stat(dir, &st) != 0) {
      if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return nc_fail(NC_EIO, "cannot create directory %s: %s", dir, strerror(errno));
    } else if (!S_ISDIR(st.st_mode)) {
      return nc_fail(NC_EIO, "cannot write %s: %s is not a directory", path, dir);
    }
    *q = saved;
    if (!saved) break;
  }
  return NC_OK;
}

/* A "--flag A,B" window: two finite numbers with A < B. */
static int check_range(const char *flag, const nc_doubles *r, int given) {
  if (!given) return NC_OK;
  if (r->n != 2 || !(r->v[0] < r->v[1]))
    return nc_fail(NC_EUSAGE, "--%s: expected two numbers A,B with A < B", flag);
  return NC_OK;
}

static void print_point_json(const nc_phase_point *pt) {
  printf("{\"p\": ");
  nc_json_num(stdout, pt->p);
  nc_json_field(stdout, "s", pt->s);
  printf(", \"stability\": \"%s\", \"stable\": %s, \"eigenvalues\": [", nc_fp_kind_name(pt->kind),
         pt->kind == NC_FP_STABLE ? "true" : "false");
  for (int k = 0; k < 2; k++) {
    printf("%s[", k ? ", " : "");
    nc_json_num(stdout, pt->wr[k]);
    printf(", ");
    nc_json_num(stdout, pt->wi[k]);
    printf("]");
  }
  printf("]}");
}

int cmd_theory_phase(int argc, char **argv) {
  double tau = 1.0, sigma2 = 0.0, eta = 0.01, alpha_p = 1.0;
  long grid = 21, trajectories = 24;
  nc_doubles prange = {{0}, 0}, srange = {{0}, 0}, size = {{900, 650}, 2};
  const char *out = "phase";
  int json = 0;
  const nc_opt opts[] = {
      {"tau", NC_OPT_DOUBLE, &tau, "target/online ratio tau (held fixed)", NC_POSITIVE},
      {"sigma2", NC_OPT_DOUBLE, &sigma2, "augmentation variance sigma^2", NC_NONNEG},
      {"eta", NC_OPT_DOUBLE, &eta, "weight decay eta", NC_NONNEG},
      {"alpha-p", NC_OPT_DOUBLE, &alpha_p, "relative predictor learning rate alpha_p", NC_POSITIVE},
      {"p-range", NC_OPT_DOUBLES, &prange,
       "window in p as A,B (default -0.5c,1.5c with c = tau/(1+sigma^2))"},
      {"s-range", NC_OPT_DOUBLES, &srange,
       "window in s as A,B (default -0.06c^2/alpha_p,1.5c^2/alpha_p)"},
      {"grid", NC_OPT_INT, &grid, "flow arrows per axis", NC_RANGE(2, 200)},
      {"trajectories", NC_OPT_INT, &trajectories, "sample trajectories drawn (RK4)",
       NC_RANGE(0, 1000)},
      {"size", NC_OPT_DOUBLES, &size, "image size in pixels as W,H"},
      {"out", NC_OPT_STRING, &out, "output stem: writes STEM.png and STEM.svg"},
      {"json", NC_OPT_FLAG, &json, "print the fixed points in the window and the files as JSON"},
  };
  const nc_cmd_spec spec = {
      "theory phase",
      "[--tau T] [--sigma2 S] [--eta E] [--alpha-p A] [--p-range A,B] [--s-range A,B] [--grid N]\n"
      "       [--trajectories N] [--size W,H] [--out STEM] [--json]",
      "Draws the (p, s) phase portrait of the per-mode dynamics (Eqns 11-12) at fixed tau, as in\n"
      "the paper's Fig. 3 (tau = 1, alpha_p = 1, eta = 0, 0.01, 1): normalized flow arrows, "
      "sample\n"
      "trajectories, fixed points coloured by the stability of their 2x2 Jacobian (stable red,\n"
      "unstable green, saddle or half-stable black), the eta = 0 lines of fixed points and the\n"
      "invariant parabola s = p^2/alpha_p (dashed).",
      opts,
      sizeof opts / sizeof opts[0],
      0};
  nc_args args;
  int prange_given = 0, srange_given = 0;
  int rc = nc_cli_parse(&spec, argc, argv, &args);
  if (rc >= 0) return rc;
  prange_given = prange.n > 0;
  srange_given = srange.n > 0;
  if (check_range("p-range", &prange, prange_given) ||
      check_range("s-range", &srange, srange_given))
    return nc_cli_error(NC_EXIT_USAGE, NULL);
  if (size.n != 2 || size.v[0] != (int)size.v[0] || size.v[1] != (int)size.v[1] ||
      size.v[0] < 200 || size.v[1] < 150 || size.v[0] > 4000 || size.v[1] > 4000)
    return nc_cli_error(NC_EXIT_USAGE, "--size: expected W,H in pixels, 200..4000 x 150..4000");
  if (!out[0]) return nc_cli_error(NC_EXIT_USAGE, "--out: must not be empty");

  double c = tau / (1.0 + sigma2);
  nc_phase_spec ps = {
      .tau = tau,
      .sigma2 = sigma2,
      .eta = eta,
      .alpha_p = alpha_p,
      .pmin = prange_given ? prange.v[0] : -0.5 * c,
      .pmax = prange_given ? prange.v[1] : 1.5 * c,
      .smin = srange_given ? srange.v[0] : -0.04 * 1.5 * c * c / alpha_p,
      .smax = srange_given ? srange.v[1] : 1.5 * c * c / alpha_p,
      .grid = (int)grid,
      .trajectories = (int)trajectories,
      .width_px = (int)size.v[0],
      .height_px = (int)size.v[1],
  };
  nc_phase_point fps[3];
  int nfp = nc_phase_fixed_points(alpha_p, sigma2, eta, tau, fps);
  if (nfp < 0) return nc_cli_error(nc_cli_exit_code(-nfp), NULL);
  if ((rc = make_parent_dirs(out)) || (rc = nc_phase_portrait_write(&ps, out)))
    return nc_cli_error(nc_cli_exit_code(rc), NULL);

  int in_window[3], nin = 0;
  for (int i = 0; i < nfp; i++) {
    in_window[i] =
        fps[i].p >= ps.pmin && fps[i].p <= ps.pmax && fps[i].s >= ps.smin && fps[i].s <= ps.smax;
    nin += in_window[i];
  }
  if (json) {
    printf("{\"tau\": ");
    nc_json_num(stdout, tau);
    nc_json_field(stdout, "sigma2", sigma2);
    nc_json_field(stdout, "eta", eta);
    nc_json_field(stdout, "alpha_p", alpha_p);
    nc_json_field(stdout, "eta_c", tau * tau / (4.0 * (1.0 + sigma2)));
    printf(", \"p_range\": [");
    nc_json_num(stdout, ps.pmin);
    printf(", ");
    nc_json_num(stdout, ps.pmax);
    printf("], \"s_range\": [");
    nc_json_num(stdout, ps.smin);
    printf(", ");
    nc_json_num(stdout, ps.smax);
    printf("], \"fixed_points\": [");
    for (int i = 0, k = 0; i < nfp; i++) {
      if (!in_window[i]) continue;
      printf("%s", k++ ? ", " : "");
      print_point_json(&fps[i]);
    }
    printf("], \"fixed_point_lines\": [");
    if (eta == 0.0) {
      printf("{\"s\": 0}, {\"p\": ");
      nc_json_num(stdout, c);
      printf("}");
    }
    printf("], \"files\": [");
    char path[4200];
    snprintf(path, sizeof path, "%s.png", out);
    nc_json_str(stdout, path);
    printf(", ");
    snprintf(path, sizeof path, "%s.svg", out);
    nc_json_str(stdout, path);
    printf("]}\n");
    return NC_EXIT_OK;
  }
  printf("tau = %g, sigma^2 = %g, eta = %g, alpha_p = %g; window p [%g, %g], s [%g, %g]\n", tau,
         sigma2, eta, alpha_p, ps.pmin, ps.pmax, ps.smin, ps.smax);
  if (eta == 0.0) printf("lines of fixed points: s = 0 and p = %.6g\n", c);
  printf("%d fixed point%s in the window%s\n", nin, nin == 1 ? "" : "s", nin ? ":" : "");
  for (int i = 0; i < nfp; i++)
    if (in_window[i])
      printf("  (p, s) = (%.6f, %.6f)  %-11s eigenvalues %.4g%+.4gi, %.4g%+.4gi\n", fps[i].p,
             fps[i].s, nc_fp_kind_name(fps[i].kind), fps[i].wr[0], fps[i].wi[0], fps[i].wr[1],
             fps[i].wi[1]);
  printf("wrote %s.png and %s.svg\n", out, out);
  return NC_EXIT_OK;
}

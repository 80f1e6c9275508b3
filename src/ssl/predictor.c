/* The predictor strategies behind one interface (see predictor.h). */
#include "ncssl/predictor.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ncssl/clock.h"
#include "ncssl/linalg.h"
#include "ncssl/net.h"
#include "ncssl/status.h"

#define P_FLOOR 1e-4 /* the official code clamps p_j at 1e-4 */

struct nc_predictor {
  nc_predictor_config cfg;
  nc_net *net;         /* NULL for identity */
  nc_param_list empty; /* the parameters of identity */
  float *W;            /* the d×d weight inside net (linear kinds) */
  float *w0, *w1;      /* mlp: the h×d and d×h weights (symmetric form) */
  float *C, *M, *inv;  /* optimal: E[f_a fᵀ], ½(C + Cᵀ), (F̂ + λ s_max I)⁻¹ */
  /* F̂ and the workspace for setting W_p from it (directpred / directset). */
  float *F, *U, *s;
  double *pv, *ptmp; /* power-iteration vector and scratch */
  int seen;          /* batches folded into F̂ */
  int last_n[2];     /* rows of the last forward per slot (identity's backward needs it) */
  long niter;
  double set_seconds;
  nc_comm *comm;     /* F̂ from the global batch over these ranks (NULL: this process's batch) */
  int observe_error; /* observe's all-reduce or wait for the device failed: the next forward's */
  nc_backend *be;    /* where net and F̂ live; W_p is set on the host (through be's mapping) */
};

static int uses_corr(const nc_predictor_config *c) {
  return c->type == NC_PREDICTOR_DIRECTPRED || c->type == NC_PREDICTOR_DIRECTSET ||
         c->type == NC_PREDICTOR_OPTIMAL;
}

int nc_predictor_parse(const char *name, nc_predictor_config *cfg) {
  static const struct {
    const char *name;
    nc_predictor_type type;
  } names[] = {{"mlp", NC_PREDICTOR_MLP},
               {"linear", NC_PREDICTOR_LINEAR},
               {"directpred", NC_PREDICTOR_DIRECTPRED},
               {"directset", NC_PREDICTOR_DIRECTSET},
               {"directcopy", NC_PREDICTOR_DIRECTSET},
               {"identity", NC_PREDICTOR_IDENTITY},
               {"optimal", NC_PREDICTOR_OPTIMAL}};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcmp(name, names[i].name) == 0) {
      cfg->type = names[i].type;
      if (strcmp(name, "directcopy") == 0) cfg->alpha = 1.0;
      return NC_OK;
    }
  return nc_fail(NC_EUSAGE,
                 "unknown predictor '%s' (mlp, linear, directpred, directset, "
                 "directcopy, identity, optimal)",
                 name);
}

nc_predictor_config nc_predictor_default(nc_predictor_type type) {
  nc_predictor_config c;
  memset(&c, 0, sizeof c);
  c.type = type;
  c.dim = 128;
  c.hidden = 512;
  c.rho = 0.3;
  c.eps = 0.1;
  c.freq = 1;
  c.alpha = 0.5;
  c.ridge = 0.01;
  return c;
}

int nc_predictor_create(nc_predictor **out, const nc_predictor_config *cfg, int batch) {
  return nc_predictor_create_on(NULL, out, cfg, batch);
}

int nc_predictor_create_on(nc_backend *be, nc_predictor **out, const nc_predictor_config *cfg,
                           int batch) {
  *out = NULL;
  const int d = cfg->dim;
  if (d <= 0 || batch <= 0) return nc_fail(NC_EINVAL, "predictor: dim %d, batch %d", d, batch);
  if (cfg->freq < 1) return nc_fail(NC_EINVAL, "predictor: freq must be >= 1, got %d", cfg->freq);
  if (uses_corr(cfg) && !(cfg->rho >= 0 && cfg->rho < 1))
    return nc_fail(NC_EINVAL, "predictor: rho must be in [0, 1), got %g", cfg->rho);
  if (cfg->type == NC_PREDICTOR_DIRECTSET && !(cfg->alpha > 0))
    return nc_fail(NC_EINVAL, "predictor: alpha must be > 0, got %g", cfg->alpha);
  if (cfg->type == NC_PREDICTOR_OPTIMAL && !(cfg->ridge >= 0))
    return nc_fail(NC_EINVAL, "predictor: ridge must be >= 0, got %g", cfg->ridge);
  if (cfg->symmetric && cfg->type != NC_PREDICTOR_LINEAR && cfg->type != NC_PREDICTOR_MLP)
    return nc_fail(NC_EINVAL, "predictor: symmetric applies to the linear and mlp predictors only");
  nc_predictor *p = calloc(1, sizeof *p);
  if (!p) return nc_fail(NC_ENOMEM, "predictor: out of memory");
  p->cfg = *cfg;
  p->be = be ? be : nc_backend_cpu();
  int rc = NC_OK;
  switch (cfg->type) {
    case NC_PREDICTOR_MLP:
      rc = nc_mlp_build_on(p->be, &p->net, d, cfg->hidden, d, cfg->bn_affine, batch, 2, 1,
                           "predictor");
      if (rc == NC_OK) {
        p->w0 = nc_params_find(nc_net_params(p->net), "predictor.net.0.weight")->w;
        p->w1 = nc_params_find(nc_net_params(p->net), "predictor.net.3.weight")->w;
      }
      break;
    case NC_PREDICTOR_LINEAR:
    case NC_PREDICTOR_DIRECTPRED:
    case NC_PREDICTOR_DIRECTSET:
    case NC_PREDICTOR_OPTIMAL:
      rc = nc_linear_net_build_on(p->be, &p->net, d, d, cfg->bias, batch, 2, 1, "predictor");
      if (rc == NC_OK) p->W = nc_params_find(nc_net_params(p->net), "predictor.weight")->w;
      break;
    case NC_PREDICTOR_IDENTITY:
      break;
    default:
      rc = nc_fail(NC_EINVAL, "predictor: unknown type %d", (int)cfg->type);
  }
  if (rc == NC_OK && uses_corr(cfg)) {
    size_t dd = (size_t)d * d;
    p->F = p->be->i->alloc(p->be, dd * sizeof(float));
    p->U = p->be->i->alloc(p->be, dd * sizeof(float)); /* eigh's matrix: backend memory */
    p->s = malloc((size_t)d * sizeof(float));
    p->pv = malloc((size_t)d * sizeof(double));
    p->ptmp = malloc((size_t)d * sizeof(double));
    if (!p->F || !p->U || !p->s || !p->pv || !p->ptmp)
      rc = nc_fail(NC_ENOMEM, "predictor: out of memory");
    else /* a start with a component along every direction */
      for (int i = 0; i < d; i++) p->pv[i] = 1.0 + 0.01 * i;
  }
  if (rc == NC_OK && cfg->type == NC_PREDICTOR_OPTIMAL) {
    size_t dd = (size_t)d * d;
    p->C = calloc(dd, sizeof(float));
    p->M = malloc(dd * sizeof(float));
    p->inv = p->be->i->alloc(p->be, dd * sizeof(float)); /* psd_compose's output */
    if (!p->C || !p->M || !p->inv) rc = nc_fail(NC_ENOMEM, "predictor: out of memory");
  }
  if (rc != NC_OK) {
    nc_predictor_free(p);
    return rc;
  }
  *out = p;
  return NC_OK;
}

void nc_predictor_free(nc_predictor *p) {
  if (!p) return;
  nc_net_free(p->net);
  if (p->F) p->be->i->free(p->be, p->F);
  if (p->U) p->be->i->free(p->be, p->U);
  free(p->s);
  free(p->pv);
  free(p->ptmp);
  free(p->C);
  free(p->M);
  if (p->inv) p->be->i->free(p->be, p->inv);
  free(p);
}

void nc_predictor_init(nc_predictor *p, nc_rng *rng) {
  if (p->net) nc_net_init(p->net, rng);
}

nc_param_list *nc_predictor_params(nc_predictor *p) {
  return p->net ? nc_net_params(p->net) : &p->empty;
}

int nc_predictor_set_comm(nc_predictor *p, nc_comm *comm, int sync_bn) {
  p->comm = comm;
  return p->net ? nc_net_set_comm(p->net, sync_bn ? comm : NULL) : NC_OK;
}

/* The host is about to read tensors of the predictor's backend: on a device whose operations
 * are queued (CUDA's managed memory), they are final only once the queued work is done. */
static int wait_for_device(nc_predictor *p) {
  return p->be->kind == NC_DEVICE_CPU ? NC_OK : nc_backend_sync(p->be);
}

/* One batch of the GLOBAL size folded into an EMA estimate over the ranks:
 * M ← keep·M + w/(2·rows)·Σ_ranks (a1ᵀb1 + a2ᵀb2), rows summed over the ranks, w = 1 − ρ (or 1
 * and keep 0 for the first batch). F̂ takes a = b = f, the optimal predictor's C takes a = z, b = f.
 * This rank's sum goes through U (free until after_step); a failure of the wait for the device or
 * of an all-reduce is kept for the next forward to report. */
static void fold_global(nc_predictor *p, int n, const float *a1, const float *b1, const float *a2,
                        const float *b2, int first, float *M) {
  const int d = p->cfg.dim;
  int rc = wait_for_device(p);
  if (rc) {
    p->observe_error = rc;
    return;
  }
  nc_mm_f(1, 0, d, d, n, 1.0f, a1, b1, 0.0f, p->U);
  nc_mm_f(1, 0, d, d, n, 1.0f, a2, b2, 1.0f, p->U);
  double rows = n;
  rc = nc_comm_allreduce_f(p->comm, p->U, (size_t)d * d, NC_COMM_SUM);
  if (!rc) rc = nc_comm_allreduce_d(p->comm, &rows, 1, NC_COMM_SUM);
  if (rc) {
    p->observe_error = rc;
    return;
  }
  const float keep = first ? 0.0f : (float)p->cfg.rho;
  const float add = (float)((first ? 1.0 : 1.0 - p->cfg.rho) / (2.0 * rows));
  for (size_t i = 0; i < (size_t)d * d; i++) M[i] = keep * M[i] + add * p->U[i];
}

static int data_parallel(const nc_predictor *p) { return p->comm && nc_comm_size(p->comm) > 1; }

void nc_predictor_observe(nc_predictor *p, int n, const float *f1, const float *f2) {
  if (!uses_corr(&p->cfg)) return;
  if (data_parallel(p)) { /* F̂ from the global batch */
    fold_global(p, n, f1, f1, f2, f2, !p->seen, p->F);
    p->seen++;
    return;
  }
  const int d = p->cfg.dim;
  /* F̂ ← ρF̂ + (1−ρ)/(2n)·(f1ᵀf1 + f2ᵀf2); the first batch replaces F̂. */
  const float keep = p->seen ? (float)p->cfg.rho : 0.0f;
  const float add = (float)((p->seen ? 1.0 - p->cfg.rho : 1.0) / (2.0 * n));
  p->be->i->fhat_update(p->be, n, d, f1, f2, keep, add, p->F);
  p->seen++;
}

int nc_predictor_observe_target(nc_predictor *p, int n, const float *f1, const float *f2,
                                const float *z1, const float *z2) {
  if (p->cfg.type != NC_PREDICTOR_OPTIMAL) return NC_OK;
  const int d = p->cfg.dim;
  /* observe has already counted this batch: seen == 1 is the first, which replaces C. */
  const int first = p->seen <= 1;
  if (data_parallel(p)) { /* the global batch's C, as F̂ */
    fold_global(p, n, z2, f1, z1, f2, first, p->C);
    return p->observe_error;
  }
  int rc = wait_for_device(p); /* C is summed on the host (a Table 1 estimator, not a hot path) */
  if (rc) return rc;
  const float keep = first ? 0.0f : (float)p->cfg.rho;
  const float add = (float)((first ? 1.0 : 1.0 - p->cfg.rho) / (2.0 * n));
  nc_mm_f(1, 0, d, d, n, add, z2, f1, keep, p->C); /* C_ij = E[z_i f_j]: E[f_a fᵀ] */
  nc_mm_f(1, 0, d, d, n, add, z1, f2, 1.0f, p->C);
  return NC_OK;
}

float *nc_predictor_cross(nc_predictor *p) { return p->C; }

int nc_predictor_forward(nc_predictor *p, int slot, int n, const float *f, float *q) {
  if (slot < 0 || slot > 1) return nc_fail(NC_EINVAL, "predictor: slot %d not 0 or 1", slot);
  if (p->observe_error) return p->observe_error;
  p->last_n[slot] = n;
  if (!p->net) {
    p->be->i->copy(p->be, q, f, (size_t)n * p->cfg.dim * sizeof(float));
    return NC_OK;
  }
  return nc_net_forward(p->net, slot, n, f, q);
}

int nc_predictor_backward(nc_predictor *p, int slot, const float *dq, float *df) {
  if (slot < 0 || slot > 1) return nc_fail(NC_EINVAL, "predictor: slot %d not 0 or 1", slot);
  if (!p->net) {
    p->be->i->copy(p->be, df, dq, (size_t)p->last_n[slot] * p->cfg.dim * sizeof(float));
    return NC_OK;
  }
  return nc_net_backward(p->net, slot, dq, df);
}

double nc_psd_top_eigenvalue(int d, const float *F, double *v, double *tmp) {
  double lambda = 0, norm = 0;
  for (int i = 0; i < d; i++) norm += v[i] * v[i];
  norm = sqrt(norm);
  if (!(norm > 0)) {
    for (int i = 0; i < d; i++) v[i] = 1.0;
    norm = sqrt((double)d);
  }
  for (int i = 0; i < d; i++) v[i] /= norm;
  for (int it = 0; it < 2000; it++) {
    /* tmp = F v; the Rayleigh quotient vᵀFv converges as (s_2/s_1)^(2k). */
    double rq = 0, nn = 0;
    for (int i = 0; i < d; i++) {
      double acc = 0;
      const float *row = F + (size_t)i * d;
      for (int j = 0; j < d; j++) acc += row[j] * v[j];
      tmp[i] = acc;
      rq += acc * v[i];
      nn += acc * acc;
    }
    nn = sqrt(nn);
    if (!(nn > 0)) return 0.0; /* F v = 0: F is zero on the start vector's span */
    for (int i = 0; i < d; i++) v[i] = tmp[i] / nn;
    int done = it > 0 && fabs(rq - lambda) <= 1e-13 * fabs(rq);
    lambda = rq;
    if (done) break;
  }
  return lambda;
}

/* p_j from a normalised eigenvalue x = max(s_j, 0)/s_max. */
static double eigen_map(const nc_predictor_config *c, double x) {
  if (c->type == NC_PREDICTOR_DIRECTPRED && c->use_offset) {
    /* Table 7, as the official code computes it (dyn_eps_inside, c = −dyn_eps): s_j/s_max − c
     * floored at 1e-4 inside the square root. The paper prints a floor of 0, which for c > 0
     * makes W_p singular; the table's numbers come from the code. */
    return sqrt(fmax(x - c->offset, P_FLOOR));
  }
  double a = c->type == NC_PREDICTOR_DIRECTSET ? c->alpha : 0.5;
  double base = a == 0.5 ? sqrt(x) : pow(x, a); /* sqrt: bit-identical to directpred at α=1/2 */
  return fmax(base + c->eps, P_FLOOR);
}

/* W_p from F̂: DirectCopy without eigendecomposition, everything else through the backend's
 * eigh. */
static int set_from_corr(nc_predictor *p) {
  const int d = p->cfg.dim;
  const nc_predictor_config *c = &p->cfg;
  if (c->type == NC_PREDICTOR_DIRECTSET && c->alpha == 1.0) {
    double smax = nc_psd_top_eigenvalue(d, p->F, p->pv, p->ptmp);
    if (!(smax > 0)) return nc_fail(NC_ENUMERIC, "directcopy: F has no positive eigenvalue");
    /* p_j = s_j/s_max + ε ≥ 1e-4 holds for PSD F̂ and ε ≥ 1e-4, so no clamp is needed. */
    const float inv = (float)(1.0 / smax), eps = (float)c->eps;
    for (int i = 0; i < d; i++)
      for (int j = 0; j < d; j++)
        p->W[(size_t)i * d + j] = p->F[(size_t)i * d + j] * inv + (i == j ? eps : 0.0f);
    return NC_OK;
  }
  p->be->i->copy(p->be, p->U, p->F, (size_t)d * d * sizeof(float));
  int rc = p->be->i->eigh(p->be, d, p->U, p->s);
  if (rc != NC_OK) return rc;
  double smax = p->s[d - 1]; /* ascending order */
  if (!(smax > 0)) return nc_fail(NC_ENUMERIC, "directpred: F has no positive eigenvalue");
  float *pj = p->s; /* p_j overwrites s_j in place */
  for (int j = 0; j < d; j++) pj[j] = (float)eigen_map(c, fmax(p->s[j], 0.0) / smax);
  p->be->i->psd_compose(p->be, d, p->U, pj, p->W); /* W_p = U diag(p) Uᵀ, exactly symmetric */
  return NC_OK;
}

/* Table 1: W_p = ½(C + Cᵀ)·(F̂ + λ s_max I)⁻¹, the inverse through F̂'s eigenvectors. */
static int set_optimal(nc_predictor *p) {
  const int d = p->cfg.dim;
  p->be->i->copy(p->be, p->U, p->F, (size_t)d * d * sizeof(float));
  int rc = p->be->i->eigh(p->be, d, p->U, p->s);
  if (rc != NC_OK) return rc;
  double smax = p->s[d - 1];
  if (!(smax > 0)) return nc_fail(NC_ENUMERIC, "optimal predictor: F has no positive eigenvalue");
  const double lambda = p->cfg.ridge * smax;
  if (!(lambda > 0) && !(p->s[0] > 0))
    return nc_fail(NC_ENUMERIC, "optimal predictor: F is singular and the ridge is 0");
  for (int j = 0; j < d; j++) p->s[j] = (float)(1.0 / (fmax(p->s[j], 0.0) + lambda));
  p->be->i->psd_compose(p->be, d, p->U, p->s, p->inv);
  for (int i = 0; i < d; i++)
    for (int j = 0; j <= i; j++)
      p->M[(size_t)i * d + j] = p->M[(size_t)j * d + i] =
          0.5f * (p->C[(size_t)i * d + j] + p->C[(size_t)j * d + i]);
  if ((rc = nc_backend_sync(p->be))) return rc; /* the host product reads inv */
  nc_mm_f(0, 0, d, d, d, 1.0f, p->M, p->inv, 0.0f, p->W);
  return NC_OK;
}

int nc_predictor_after_step(nc_predictor *p) {
  const int d = p->cfg.dim;
  int rc = NC_OK;
  /* W_p (or the MLP's w0, w1) and F̂ are read and written on the host below: the device's queued
   * work (the optimizer's update of those very weights) comes first */
  if (p->cfg.symmetric || uses_corr(&p->cfg))
    if ((rc = nc_backend_sync(p->be))) return rc;
  if (p->cfg.type == NC_PREDICTOR_LINEAR && p->cfg.symmetric) {
    for (int i = 0; i < d; i++)
      for (int j = 0; j < i; j++) {
        float *a = &p->W[(size_t)i * d + j], *b = &p->W[(size_t)j * d + i];
        float m = (*a + *b) * 0.5f;
        *a = *b = m;
      }
  } else if (p->cfg.type == NC_PREDICTOR_MLP && p->cfg.symmetric) {
    /* The official two-layer form: w = (w0 + w1ᵀ)/2, w0 = w, w1 = wᵀ. */
    const int h = p->cfg.hidden;
    for (int i = 0; i < h; i++)
      for (int j = 0; j < d; j++) {
        float *a = &p->w0[(size_t)i * d + j], *b = &p->w1[(size_t)j * h + i];
        float m = (*a + *b) * 0.5f;
        *a = *b = m;
      }
  } else if (uses_corr(&p->cfg) && p->seen > 0 && p->niter % p->cfg.freq == 0) {
    double t0 = nc_now_seconds();
    rc = p->cfg.type == NC_PREDICTOR_OPTIMAL ? set_optimal(p) : set_from_corr(p);
    if (!rc) rc = nc_backend_sync(p->be); /* the set's device work counts in its time */
    p->set_seconds += nc_now_seconds() - t0;
  }
  p->niter++;
  return rc;
}

const float *nc_predictor_corr(const nc_predictor *p) { return p->seen ? p->F : NULL; }

float *nc_predictor_weight(nc_predictor *p) { return p->W; }

long nc_predictor_niter(const nc_predictor *p) { return p->niter; }

double nc_predictor_set_seconds(const nc_predictor *p) { return p->set_seconds; }

void nc_predictor_state(nc_predictor *p, float **F, int **seen, long **niter, double **pv) {
  if (F) *F = p->F;
  if (seen) *seen = &p->seen;
  if (niter) *niter = &p->niter;
  if (pv) *pv = p->pv;
}

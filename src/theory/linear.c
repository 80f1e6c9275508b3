/* The full-matrix linear model: set-up, data statistics, the flow (Eqns 2-4 / 7) and RK4. */
#include "ncssl/linear.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ncssl/linalg.h"
#include "ncssl/status.h"

void nc_linear_defaults(nc_linear_params *p) {
  memset(p, 0, sizeof *p);
  p->mode = NC_LIN_FLOW;
  p->n1 = p->n2 = 8;
  p->data = NC_DATA_ISOTROPIC;
  p->sigma2 = 0.5;
  p->predictor = NC_PRED_TRAINED;
  p->target = NC_TARGET_EMA;
  p->beta = 0.4;
  p->tau = 1.0;
  p->stopgrad = 1;
  p->alpha_p = 1.0;
  p->eta = p->eta_p = 0.01;
  p->rho = 0.3;
  p->eps = 0.1;
  p->freq = 1;
  p->init_scale = 1.0;
  p->seed = 1;
  p->dt = 0.01;
  p->batch = 256;
}

static int check_params(const nc_linear_params *p) {
  if (p->n1 < 1 || p->n1 > 4096) return nc_fail(NC_EINVAL, "--n1: must be in [1, 4096]");
  if (p->n2 < 1 || p->n2 > 4096) return nc_fail(NC_EINVAL, "--n2: must be in [1, 4096]");
  if (!(p->dt > 0) || !isfinite(p->dt))
    return nc_fail(NC_EINVAL, p->mode == NC_LIN_SGD ? "--lr: must be > 0" : "--dt: must be > 0");
  if (!(p->alpha_p > 0) || !isfinite(p->alpha_p))
    return nc_fail(NC_EINVAL, "--alpha-p: must be > 0");
  if (!(p->eta >= 0) || !isfinite(p->eta)) return nc_fail(NC_EINVAL, "--wd: must be >= 0");
  if (!(p->eta_p >= 0) || !isfinite(p->eta_p))
    return nc_fail(NC_EINVAL, "--wd-predictor: must be >= 0");
  if (!(p->sigma2 >= 0) || !isfinite(p->sigma2))
    return nc_fail(NC_EINVAL, "--sigma2: must be >= 0");
  if (p->target == NC_TARGET_EMA && (!(p->beta > 0) || !isfinite(p->beta)))
    return nc_fail(NC_EINVAL, "--ema: must be > 0");
  if (p->target == NC_TARGET_FIXED_TAU && (!(p->tau > 0) || !isfinite(p->tau)))
    return nc_fail(NC_EINVAL, "--tau: must be > 0");
  if (!(p->rho >= 0 && p->rho < 1)) return nc_fail(NC_EINVAL, "--rho: must be in [0, 1)");
  if (!(p->eps >= 0) || !isfinite(p->eps)) return nc_fail(NC_EINVAL, "--eps: must be >= 0");
  if (p->freq < 1) return nc_fail(NC_EINVAL, "--freq: must be >= 1");
  if (!(p->init_scale > 0) || !isfinite(p->init_scale))
    return nc_fail(NC_EINVAL, "--init-scale: must be > 0");
  if (p->mode == NC_LIN_SGD && (p->batch < 1 || p->batch > 1000000))
    return nc_fail(NC_EINVAL, "--batch: must be in [1, 1000000]");
  if (!p->stopgrad && p->target != NC_TARGET_ONLINE)
    return nc_fail(NC_EINVAL, "--no-stopgrad: needs W_a = W (it cannot be combined with --tau)");
  if (p->symmetric_loss && p->mode != NC_LIN_SGD)
    return nc_fail(NC_EINVAL, "--symmetric-loss: only with --mode sgd");
  if (p->data == NC_DATA_ISOTROPIC && (p->spectrum || p->noise))
    return nc_fail(NC_EINVAL, "%s: only with --data additive or multiplicative",
                   p->spectrum ? "--spectrum" : "--noise");
  if (p->data == NC_DATA_MULTIPLICATIVE && p->noise)
    return nc_fail(NC_EINVAL, "--noise: not used by --data multiplicative");
  if (p->spectrum) {
    if (p->nspectrum != p->n1)
      return nc_fail(NC_EINVAL, "--spectrum: expected n1 = %d values, got %d", p->n1, p->nspectrum);
    for (int i = 0; i < p->n1; i++)
      if (!(p->spectrum[i] > 0) || !isfinite(p->spectrum[i]))
        return nc_fail(NC_EINVAL, "--spectrum: every value must be > 0");
  }
  if (p->noise) {
    if (p->nnoise != p->n1)
      return nc_fail(NC_EINVAL, "--noise: expected n1 = %d values, got %d", p->n1, p->nnoise);
    for (int i = 0; i < p->n1; i++)
      if (!(p->noise[i] >= 0) || !isfinite(p->noise[i]))
        return nc_fail(NC_EINVAL, "--noise: every value must be >= 0");
  }
  if (p->data == NC_DATA_MULTIPLICATIVE && (p->preserve < 0 || p->preserve > p->n1))
    return nc_fail(NC_EINVAL, "--preserve: must be in [0, n1 = %d]", p->n1);
  return NC_OK;
}

/* Σ^s and Σ^d (diagonal here) and the per-coordinate standard deviations used by the sampler.
 * Multiplicative scrambling (App. D.2) keeps coordinates [0, preserve) and replaces the rest by
 * B x_scr with B_ij ~ N(0, 1/k). Then Σ^d = P^c Σ^x P^c exactly, and E[x1 x1ᵀ] keeps Σ^x on the
 * preserved block and puts the mean of Σ^x's scrambled block on the scrambled one: the paper's
 * Σ^s = Σ^x holds exactly when that block is isotropic. Flow and sgd both use these exact moments
 * so that the SGD runs average to the flow. */
static void build_statistics(nc_linear *m) {
  const nc_linear_params *p = &m->p;
  int n = m->n1;
  memset(m->sig_s, 0, sizeof(double) * n * n);
  memset(m->sig_d, 0, sizeof(double) * n * n);
  double scr_mean = 0;
  int k = n - p->preserve;
  for (int i = 0; i < n; i++) {
    double sx = p->spectrum ? p->spectrum[i] : 1.0;
    double sn = p->noise ? p->noise[i] : p->sigma2;
    m->sqrt_x[i] = sqrt(sx);
    if (p->data == NC_DATA_MULTIPLICATIVE) {
      m->sqrt_n[i] = 0;
      if (i >= p->preserve) scr_mean += sx / k;
    } else {
      m->sqrt_n[i] = sqrt(sn);
      m->sig_s[i * n + i] = sx + sn;
      m->sig_d[i * n + i] = sx;
    }
  }
  if (p->data == NC_DATA_MULTIPLICATIVE)
    for (int i = 0; i < n; i++) {
      double sx = m->sqrt_x[i] * m->sqrt_x[i];
      m->sig_s[i * n + i] = i < p->preserve ? sx : scr_mean;
      m->sig_d[i * n + i] = i < p->preserve ? sx : 0.0;
    }
}

/* F̂'s input: the correlation of the predictor input under the flow, W Σ^s Wᵀ, into out (n2×n2). */
static void input_correlation(nc_linear *m, double *out) {
  nc_mm_d(0, 0, m->n2, m->n1, m->n1, 1.0, m->W, m->sig_s, 0.0, m->work1);
  nc_mm_d(0, 1, m->n2, m->n2, m->n1, 1.0, m->work1, m->W, 0.0, out);
}

int nc_directpred_predictor(int n, const double *Fhat, double eps, double *Wp, double *work) {
  double *U = work, *V = work + (size_t)n * n, *s = work + 2 * (size_t)n * n;
  memcpy(U, Fhat, sizeof(double) * n * n);
  int rc = nc_eigh_d(n, U, s);
  if (rc) return rc;
  double smax = s[n - 1] > 0 ? s[n - 1] : 0;
  /* Eqn 18 as printed: with the un-normalised loss the scale of W_p matters, and sqrt(s_j) puts
   * the predictor on the invariant parabola s = p² that the trained flow settles on (§4.5). */
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++)
      V[i * n + j] = U[i * n + j] * (sqrt(s[j] > 0 ? s[j] : 0) + eps * smax);
  nc_mm_d(0, 1, n, n, n, 1.0, V, U, 0.0, Wp);
  return NC_OK;
}

/* Sets W_p from F̂ (DirectPred or DirectCopy). */
static int set_predictor_from_fhat(nc_linear *m) {
  int n = m->n2;
  if (m->p.predictor == NC_PRED_DIRECTCOPY) {
    memcpy(m->Wp, m->Fhat, sizeof(double) * n * n);
    for (int i = 0; i < n; i++) m->Wp[i * n + i] += m->p.eps;
    return NC_OK;
  }
  return nc_directpred_predictor(n, m->Fhat, m->p.eps, m->Wp, m->k1);
}

/* F̂ ← ρF̂ + (1−ρ)C (F̂ = C on the first update, as in the official code). */
static void update_fhat(nc_linear *m, const double *C) {
  long nn = (long)m->n2 * m->n2;
  double rho = m->fhat_ready ? m->p.rho : 0.0;
  for (long i = 0; i < nn; i++) m->Fhat[i] = rho * m->Fhat[i] + (1 - rho) * C[i];
  m->fhat_ready = 1;
}

static int uses_fhat(const nc_linear *m) {
  return m->p.predictor == NC_PRED_DIRECTPRED || m->p.predictor == NC_PRED_DIRECTCOPY;
}

/* W_a for the rules that tie it to W. */
static double target_ratio(const nc_linear *m) {
  return m->p.target == NC_TARGET_FIXED_TAU ? m->p.tau : 1.0;
}

int nc_linear_set_state(nc_linear *m, const double *W, const double *Wp, const double *Wa) {
  int n1 = m->n1, n2 = m->n2;
  long nw = (long)n2 * n1, np = (long)n2 * n2;
  memcpy(m->W, W, sizeof(double) * nw);
  if (m->p.predictor == NC_PRED_IDENTITY)
    nc_eye_d(n2, 1.0, m->Wp);
  else
    memcpy(m->Wp, Wp, sizeof(double) * np);
  if (m->p.target == NC_TARGET_EMA) {
    if (Wa)
      memcpy(m->Wa, Wa, sizeof(double) * nw);
    else if (m->p.target_zero_init)
      memset(m->Wa, 0, sizeof(double) * nw);
    else
      memcpy(m->Wa, W, sizeof(double) * nw);
  } else {
    for (long i = 0; i < nw; i++) m->Wa[i] = target_ratio(m) * W[i];
  }
  m->t = 0;
  m->step = 0;
  m->fhat_ready = 0;
  if (uses_fhat(m)) {
    input_correlation(m, m->work3);
    update_fhat(m, m->work3);
    m->fhat_ready = 0; /* the first minibatch replaces this start-up estimate */
    int rc = set_predictor_from_fhat(m);
    if (rc) return rc;
  }
  /* C = W Wᵀ − α_p⁻¹ W_pᵀ W_p at t = 0. */
  nc_mm_d(0, 1, n2, n2, n1, 1.0, m->W, m->W, 0.0, m->C0);
  nc_mm_d(1, 0, n2, n2, n2, -1.0 / m->p.alpha_p, m->Wp, m->Wp, 1.0, m->C0);
  return NC_OK;
}

void nc_linear_free(nc_linear *m) {
  double *bufs[] = {m->sig_s, m->sig_d, m->y,    m->C0,    m->Fhat,   m->F,     m->k1, m->k2,
                    m->k3,    m->k4,    m->ytmp, m->work1, m->work2,  m->work3, m->X1, m->X2,
                    m->Z,     m->R,     m->gW,   m->gWp,   m->sqrt_x, m->sqrt_n};
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
  memset(m, 0, sizeof *m);
}

int nc_linear_init(nc_linear *m, const nc_linear_params *p) {
  memset(m, 0, sizeof *m);
  int rc = check_params(p);
  if (rc) return rc;
  m->p = *p;
  m->p.spectrum = m->p.noise = NULL; /* the caller's arrays need not outlive init */
  int n1 = m->n1 = p->n1, n2 = m->n2 = p->n2;
  long nw = (long)n2 * n1, np = (long)n2 * n2, nmax = n1 > n2 ? n1 : n2;
  m->ny = 2 * nw + np;
  long big = m->ny > 2 * np + n2 ? m->ny : 2 * np + n2; /* k1 doubles as DirectPred scratch */
  long B = p->mode == NC_LIN_SGD ? p->batch : 1;
  int ok = 1;
#define ALLOC(ptr, count) ok &= ((ptr) = calloc((size_t)(count), sizeof(double))) != NULL
  ALLOC(m->sig_s, (long)n1 * n1);
  ALLOC(m->sig_d, (long)n1 * n1);
  ALLOC(m->y, m->ny);
  ALLOC(m->C0, np);
  ALLOC(m->Fhat, np);
  ALLOC(m->F, np);
  ALLOC(m->k1, big);
  ALLOC(m->k2, m->ny);
  ALLOC(m->k3, m->ny);
  ALLOC(m->k4, m->ny);
  ALLOC(m->ytmp, m->ny);
  ALLOC(m->work1, n2 * nmax);
  ALLOC(m->work2, n2 * nmax);
  ALLOC(m->work3, n2 * nmax);
  ALLOC(m->X1, B * n1);
  ALLOC(m->X2, B * n1);
  ALLOC(m->Z, B * n2);
  ALLOC(m->R, B * n2);
  ALLOC(m->gW, nw);
  ALLOC(m->gWp, np);
  ALLOC(m->sqrt_x, n1);
  ALLOC(m->sqrt_n, n1);
#undef ALLOC
  if (!ok) {
    nc_linear_free(m);
    return nc_fail(NC_ENOMEM, "linear: out of memory for n1 = %d, n2 = %d", n1, n2);
  }
  m->W = m->y;
  m->Wp = m->y + nw;
  m->Wa = m->y + nw + np;
  /* Keep the caller's spectra: copy them into the statistics now. */
  m->p.spectrum = p->spectrum;
  m->p.noise = p->noise;
  build_statistics(m);
  m->p.spectrum = m->p.noise = NULL;

  /* Initial weights, drawn from independent streams so W does not depend on n2's predictor. */
  nc_rng_seed(&m->rng, p->seed);
  nc_rng rw = nc_rng_split(&m->rng, 1), rp = nc_rng_split(&m->rng, 2);
  m->rng = nc_rng_split(&m->rng, 3); /* the sampler's stream */
  double *W0 = m->ytmp, *Wp0 = m->k2;
  for (long i = 0; i < nw; i++) W0[i] = p->init_scale / sqrt((double)n1) * nc_rng_normal(&rw);
  for (long i = 0; i < np; i++) Wp0[i] = p->init_scale / sqrt((double)n2) * nc_rng_normal(&rp);
  if (p->predictor == NC_PRED_SYMMETRIC)
    for (int i = 0; i < n2; i++)
      for (int j = 0; j < i; j++)
        Wp0[i * n2 + j] = Wp0[j * n2 + i] = 0.5 * (Wp0[i * n2 + j] + Wp0[j * n2 + i]);
  rc = nc_linear_set_state(m, W0, Wp0, NULL);
  if (rc) nc_linear_free(m);
  return rc;
}

void nc_linear_rhs(nc_linear *m, const double *y, double *dy) {
  const nc_linear_params *p = &m->p;
  int n1 = m->n1, n2 = m->n2;
  long nw = (long)n2 * n1, np = (long)n2 * n2;
  const double *W = y, *Wp = y + nw, *Wa = y + nw + np;
  double *dW = dy, *dWp = dy + nw, *dWa = dy + nw + np;
  double *M = m->work1, *G = m->work2;
  /* G = −W_p W Σ^s + W_a Σ^d (W_a tied to W for the non-EMA targets). */
  nc_mm_d(0, 0, n2, n1, n1, 1.0, W, m->sig_s, 0.0, M);
  nc_mm_d(0, 0, n2, n1, n2, -1.0, Wp, M, 0.0, G);
  if (p->target == NC_TARGET_EMA)
    nc_mm_d(0, 0, n2, n1, n1, 1.0, Wa, m->sig_d, 1.0, G);
  else
    nc_mm_d(0, 0, n2, n1, n1, target_ratio(m), W, m->sig_d, 1.0, G);

  if (p->predictor == NC_PRED_IDENTITY) {
    memset(dWp, 0, sizeof(double) * np);
  } else {
    /* Eqn 2: Ẇ_p = α_p G Wᵀ − η_p W_p (symmetrized for Eqn 7). */
    nc_mm_d(0, 1, n2, n2, n1, p->alpha_p, G, W, 0.0, dWp);
    nc_axpy_d(np, -p->eta_p, Wp, dWp);
    if (p->predictor == NC_PRED_SYMMETRIC)
      for (int i = 0; i < n2; i++)
        for (int j = 0; j < i; j++)
          dWp[i * n2 + j] = dWp[j * n2 + i] = 0.5 * (dWp[i * n2 + j] + dWp[j * n2 + i]);
  }
  if (p->freeze_online) {
    memset(dW, 0, sizeof(double) * nw);
  } else {
    /* Eqn 3: Ẇ = W_pᵀ G − η W. */
    nc_mm_d(1, 0, n2, n1, n2, 1.0, Wp, G, 0.0, dW);
    nc_axpy_d(nw, -p->eta, W, dW);
    if (!p->stopgrad) {
      /* The target branch's gradient (W_a = W): + W_p W Σ^d − W Σ^s (Theorem 2's proof). */
      nc_mm_d(0, 0, n2, n1, n1, 1.0, W, m->sig_d, 0.0, M);
      nc_mm_d(0, 0, n2, n1, n2, 1.0, Wp, M, 1.0, dW);
      nc_mm_d(0, 0, n2, n1, n1, -1.0, W, m->sig_s, 1.0, dW);
    }
  }
  if (p->target == NC_TARGET_EMA) {
    for (long i = 0; i < nw; i++) dWa[i] = p->beta * (W[i] - Wa[i]); /* Eqn 4 */
  } else {
    for (long i = 0; i < nw; i++) dWa[i] = target_ratio(m) * dW[i]; /* keeps W_a = τW */
  }
}

static int flow_step(nc_linear *m) {
  long n = m->ny;
  double h = m->p.dt;
  nc_linear_rhs(m, m->y, m->k1);
  for (long i = 0; i < n; i++) m->ytmp[i] = m->y[i] + 0.5 * h * m->k1[i];
  nc_linear_rhs(m, m->ytmp, m->k2);
  for (long i = 0; i < n; i++) m->ytmp[i] = m->y[i] + 0.5 * h * m->k2[i];
  nc_linear_rhs(m, m->ytmp, m->k3);
  for (long i = 0; i < n; i++) m->ytmp[i] = m->y[i] + h * m->k3[i];
  nc_linear_rhs(m, m->ytmp, m->k4);
  for (long i = 0; i < n; i++)
    m->y[i] += h / 6.0 * (m->k1[i] + 2 * m->k2[i] + 2 * m->k3[i] + m->k4[i]);
  return NC_OK;
}

int nc_linear_sgd_step(nc_linear *m); /* linear_sgd.c */

int nc_linear_step(nc_linear *m) {
  int rc;
  if (m->p.mode == NC_LIN_FLOW) {
    if (uses_fhat(m)) { /* F̂ sees the predictor input before the step, as in the official code */
      input_correlation(m, m->work3);
      update_fhat(m, m->work3);
    }
    rc = flow_step(m);
  } else {
    rc = nc_linear_sgd_step(m);
  }
  if (rc) return rc;
  m->step++;
  m->t = (double)m->step * m->p.dt; /* no drift from summing dt */
  if (uses_fhat(m) && m->step % m->p.freq == 0 && (rc = set_predictor_from_fhat(m))) return rc;
  for (long i = 0; i < m->ny; i++)
    if (!isfinite(m->y[i]))
      return nc_fail(NC_ENUMERIC, "linear: the state blew up at step %ld (t = %g); lower --%s",
                     m->step, m->t, m->p.mode == NC_LIN_SGD ? "lr" : "dt");
  return NC_OK;
}

/* The linear model's minibatch mode: sampled Gaussian views, the loss of Eqn 1 (or its
 * symmetrized form) with analytic gradients, and one SGD step with the §1.3 mapping. */
#include <math.h>
#include <string.h>

#include "ncssl/linalg.h"
#include "ncssl/linear.h"
#include "ncssl/status.h"

void nc_linear_sample_views(nc_linear *m, int B, double *X1, double *X2) {
  int n = m->n1, keep = m->p.preserve, k = n - keep;
  double *x = m->work1; /* n1 entries */
  for (int b = 0; b < B; b++) {
    double *x1 = X1 + (long)b * n, *x2 = X2 + (long)b * n;
    for (int i = 0; i < n; i++) x[i] = m->sqrt_x[i] * nc_rng_normal(&m->rng);
    if (m->p.data != NC_DATA_MULTIPLICATIVE) {
      for (int i = 0; i < n; i++) {
        x1[i] = x[i] + m->sqrt_n[i] * nc_rng_normal(&m->rng);
        x2[i] = x[i] + m->sqrt_n[i] * nc_rng_normal(&m->rng);
      }
      continue;
    }
    /* A = P^c + U B Uᵀ: the preserved block passes, the scrambled block is mixed by B. */
    double scale = k > 0 ? 1.0 / sqrt((double)k) : 0.0;
    for (int v = 0; v < 2; v++) {
      double *xv = v ? x2 : x1;
      for (int i = 0; i < keep; i++) xv[i] = x[i];
      for (int i = keep; i < n; i++) {
        double acc = 0;
        for (int j = keep; j < n; j++) acc += scale * nc_rng_normal(&m->rng) * x[j];
        xv[i] = acc;
      }
    }
  }
}

/* One direction of the loss, (c/2) Σ_b ‖W_p W a_b − W_a t_b‖², accumulating gradients. */
static double direction_loss(nc_linear *m, const double *W, const double *Wp, const double *Wa,
                             int B, const double *A, const double *T, double c, double *gW,
                             double *gWp) {
  int n1 = m->n1, n2 = m->n2;
  double *Z = m->Z, *R = m->R, *tmp = m->work1;
  nc_mm_d(0, 1, B, n2, n1, 1.0, A, W, 0.0, Z);   /* rows: W a_b */
  nc_mm_d(0, 1, B, n2, n2, 1.0, Z, Wp, 0.0, R);  /* rows: W_p W a_b */
  nc_mm_d(0, 1, B, n2, n1, -1.0, T, Wa, 1.0, R); /* minus W_a t_b */
  double loss = 0;
  for (long i = 0; i < (long)B * n2; i++) loss += R[i] * R[i];
  if (gWp) nc_mm_d(1, 0, n2, n2, B, c, R, Z, 1.0, gWp);
  if (gW) {
    nc_mm_d(1, 0, n2, n1, B, 1.0, R, A, 0.0, tmp);
    nc_mm_d(1, 0, n2, n1, n2, c, Wp, tmp, 1.0, gW);
    if (!m->p.stopgrad) nc_mm_d(1, 0, n2, n1, B, -c, R, T, 1.0, gW); /* through W_a = W */
  }
  return 0.5 * c * loss;
}

double nc_linear_batch_loss(nc_linear *m, const double *W, const double *Wp, const double *Wa,
                            int B, const double *X1, const double *X2, double *gW, double *gWp) {
  if (!m->p.stopgrad) Wa = W;
  if (gW) memset(gW, 0, sizeof(double) * m->n2 * m->n1);
  if (gWp) memset(gWp, 0, sizeof(double) * m->n2 * m->n2);
  if (!m->p.symmetric_loss) return direction_loss(m, W, Wp, Wa, B, X1, X2, 1.0 / B, gW, gWp);
  double c = 0.5 / B;
  return direction_loss(m, W, Wp, Wa, B, X1, X2, c, gW, gWp) +
         direction_loss(m, W, Wp, Wa, B, X2, X1, c, gW, gWp);
}

int nc_linear_sgd_step(nc_linear *m) {
  const nc_linear_params *p = &m->p;
  int n1 = m->n1, n2 = m->n2, B = (int)p->batch;
  long nw = (long)n2 * n1, np = (long)n2 * n2;
  double lr = p->dt;
  nc_linear_sample_views(m, B, m->X1, m->X2);
  if (p->predictor == NC_PRED_DIRECTPRED || p->predictor == NC_PRED_DIRECTCOPY) {
    /* F̂ input: E_B[f fᵀ] over both views (2B samples), f = W x, not centred. */
    double *C = m->work3;
    nc_mm_d(0, 1, B, n2, n1, 1.0, m->X1, m->W, 0.0, m->Z);
    nc_mm_d(1, 0, n2, n2, B, 0.5 / B, m->Z, m->Z, 0.0, C);
    nc_mm_d(0, 1, B, n2, n1, 1.0, m->X2, m->W, 0.0, m->Z);
    nc_mm_d(1, 0, n2, n2, B, 0.5 / B, m->Z, m->Z, 1.0, C);
    double rho = m->fhat_ready ? p->rho : 0.0;
    for (long i = 0; i < np; i++) m->Fhat[i] = rho * m->Fhat[i] + (1 - rho) * C[i];
    m->fhat_ready = 1;
  }
  nc_linear_batch_loss(m, m->W, m->Wp, m->Wa, B, m->X1, m->X2, m->gW, m->gWp);
  if (!p->freeze_online)
    for (long i = 0; i < nw; i++) m->W[i] -= lr * (m->gW[i] + p->eta * m->W[i]);
  if (p->predictor != NC_PRED_IDENTITY) {
    for (long i = 0; i < np; i++) m->Wp[i] -= lr * (p->alpha_p * m->gWp[i] + p->eta_p * m->Wp[i]);
    if (p->predictor == NC_PRED_SYMMETRIC)
      for (int i = 0; i < n2; i++)
        for (int j = 0; j < i; j++)
          m->Wp[i * n2 + j] = m->Wp[j * n2 + i] = 0.5 * (m->Wp[i * n2 + j] + m->Wp[j * n2 + i]);
  }
  if (p->target == NC_TARGET_EMA) {
    for (long i = 0; i < nw; i++) m->Wa[i] += lr * p->beta * (m->W[i] - m->Wa[i]);
  } else {
    double tau = p->target == NC_TARGET_FIXED_TAU ? p->tau : 1.0;
    for (long i = 0; i < nw; i++) m->Wa[i] = tau * m->W[i];
  }
  return NC_OK;
}

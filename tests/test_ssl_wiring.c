// ctest-labels: unit
/* The options between the command line and the update rules, each checked by what it must change
 * (so that dropping it fails here): α_p scales exactly the predictor's step, the predictor's weight
 * decay is its own and not the trunk's, the cosine EMA uses τ(t) and not τ, SimSiam's
 * no-stop-gradient path changes the update, the target-init modes, and the optimal predictor's
 * targets (the step feeds it the target outputs z, so W_p solves its equation on the step's f, z).
 * Tiny ResNet-18 (width 4, 8×8 images, batch 4), plain SGD with momentum. */
#include <stdlib.h>
#include <string.h>

#include "ncssl/linalg.h"
#include "ncssl/optim.h"
#include "ncssl/ssl.h"
#include "ncssl/status.h"
#include "testing.h"

enum { B = 4, HW = 8, DD = 8 };
static float x1[B * 3 * HW * HW], x2[B * 3 * HW * HW];

static nc_ssl_config tiny(nc_ssl_method m, nc_predictor_type pred) {
  nc_ssl_config c = nc_ssl_default();
  c.method = m;
  c.loss = m == NC_SSL_SIMSIAM ? NC_LOSS_SIMSIAM : NC_LOSS_BYOL;
  c.backbone.width = 4;
  c.image_h = c.image_w = HW;
  c.batch = B;
  c.proj_hidden = 16;
  c.proj_out = DD;
  c.predictor = nc_predictor_default(pred);
  c.predictor.dim = DD;
  c.predictor.hidden = 16;
  c.weight_decay = c.pred_weight_decay = 0;
  c.lr.base = 0.05;
  c.seed = 9;
  return c;
}

/* A copy of a parameter list's weights, concatenated. */
static float *snapshot(nc_param_list *l, size_t *n) {
  size_t total = 0;
  for (int i = 0; i < l->n; i++) total += l->items[i].n;
  float *out = malloc(total * sizeof(float)), *o = out;
  for (int i = 0; i < l->n; i++) {
    memcpy(o, l->items[i].w, l->items[i].n * sizeof(float));
    o += l->items[i].n;
  }
  *n = total;
  return out;
}

/* One step from the same start; returns the predictor's and the backbone's weights after it. */
static void one_step(nc_ssl_config c, float **pred, float **back, size_t *np, size_t *nb) {
  nc_ssl *s = NULL;
  CHECK(nc_ssl_create(&s, &c) == NC_OK);
  double l;
  CHECK(nc_ssl_step(s, B, x1, x2, &l) == NC_OK);
  *pred = snapshot(nc_predictor_params(nc_ssl_predictor(s)), np);
  *back = snapshot(nc_net_params(nc_ssl_backbone(s)), nb);
  nc_ssl_free(s);
}

static void test_alpha_p_and_predictor_wd(void) {
  nc_ssl_config c = tiny(NC_SSL_BYOL, NC_PREDICTOR_LINEAR);
  nc_ssl *s0 = NULL;
  CHECK(nc_ssl_create(&s0, &c) == NC_OK);
  size_t np, nb;
  float *w0 = snapshot(nc_predictor_params(nc_ssl_predictor(s0)), &np);
  nc_ssl_free(s0);
  float *pa, *ba, *pb, *bb, *pc, *bc, *pd, *bd;
  one_step(c, &pa, &ba, &np, &nb); /* α_p 1, no decay */
  nc_ssl_config k = c;
  k.pred_lr_mult = 3;
  one_step(k, &pb, &bb, &np, &nb);
  k = c;
  k.pred_weight_decay = 0.5;
  one_step(k, &pc, &bc, &np, &nb);
  k = c;
  k.weight_decay = 0.5;
  one_step(k, &pd, &bd, &np, &nb);
  /* First step of SGD with momentum: Δw = −lr·α_p·(g + η_p w). */
  double alpha_err = 0, wd_err = 0, moved = 0;
  for (size_t i = 0; i < np; i++) {
    double da = pa[i] - w0[i], db = pb[i] - w0[i], dc = pc[i] - w0[i];
    alpha_err = fmax(alpha_err, fabs(db - 3 * da));
    wd_err = fmax(wd_err, fabs((dc - da) - (-c.lr.base * 0.5 * w0[i])));
    moved = fmax(moved, fabs(da));
  }
  fprintf(stderr, "alpha_p: step %.3e, |Δ(α_p=3) − 3Δ(α_p=1)| %.2e; wd_p error %.2e\n", moved,
          alpha_err, wd_err);
  CHECK(moved > 1e-4);
  CHECK(alpha_err < 1e-3 * moved);
  CHECK(wd_err < 1e-6);
  /* α_p and the predictor's decay leave the trunk's first step alone ... */
  CHECK(memcmp(ba, bb, nb * sizeof(float)) == 0);
  CHECK(memcmp(ba, bc, nb * sizeof(float)) == 0);
  /* ... and the trunk's decay leaves the predictor's alone (the predictor has its own). */
  CHECK(memcmp(pa, pd, np * sizeof(float)) == 0);
  CHECK(memcmp(ba, bd, nb * sizeof(float)) != 0);
  free(w0), free(pa), free(ba), free(pb), free(bb), free(pc), free(bc), free(pd), free(bd);
}

/* BYOL's cosine EMA: after step t the target is τ(t)·target + (1 − τ(t))·online. */
static void test_cosine_ema(void) {
  nc_ssl_config c = tiny(NC_SSL_BYOL, NC_PREDICTOR_LINEAR);
  c.ema = 0.9;
  c.ema_cosine = 1;
  c.total_steps = 4;
  nc_ssl *s = NULL;
  CHECK(nc_ssl_create(&s, &c) == NC_OK);
  if (!s) return;
  float *tw, *tg, *ow, *og;
  size_t tn, on;
  nc_net_flat(nc_ssl_target_projector(s), &tw, &tg, &tn);
  nc_net_flat(nc_ssl_projector(s), &ow, &og, &on);
  float *before = malloc(tn * sizeof(float));
  double l;
  for (long t = 0; t < 3; t++) {
    memcpy(before, tw, tn * sizeof(float));
    CHECK(nc_ssl_step(s, B, x1, x2, &l) == NC_OK);
    double tau = nc_ema_cosine(0.9, t, 4), err = 0, err_const = 0;
    for (size_t i = 0; i < tn; i++) {
      err = fmax(err, fabs(tw[i] - (before[i] * (float)tau + (float)(1 - tau) * ow[i])));
      err_const = fmax(err_const, fabs(tw[i] - (before[i] * 0.9f + 0.1f * ow[i])));
    }
    fprintf(stderr, "cosine EMA step %ld: tau %.4f, error %.2e (constant tau would be off %.2e)\n",
            t, tau, err, err_const);
    CHECK(err < 1e-6);
    if (t > 0) CHECK(err_const > 1e-4); /* τ(0) = τ: from step 1 on the schedule shows */
  }
  free(before);
  nc_ssl_free(s);
}

/* SimSiam without stop-gradient: z = f carries a gradient, so the first step differs. */
static void test_no_stopgrad(void) {
  nc_ssl_config c = tiny(NC_SSL_SIMSIAM, NC_PREDICTOR_LINEAR);
  float *pa, *ba, *pb, *bb;
  size_t np, nb;
  one_step(c, &pa, &ba, &np, &nb);
  c.stopgrad = 0;
  one_step(c, &pb, &bb, &np, &nb);
  CHECK(memcmp(ba, bb, nb * sizeof(float)) != 0);
  /* The predictor's gradient does not go through z: its first step is the same. */
  CHECK(memcmp(pa, pb, np * sizeof(float)) == 0);
  free(pa), free(ba), free(pb), free(bb);
}

static int same_list(nc_param_list *a, nc_param_list *b) {
  for (int i = 0; i < a->n; i++)
    if (memcmp(a->items[i].w, b->items[i].w, a->items[i].n * sizeof(float))) return 0;
  return 1;
}

/* copy: the target starts as the online network; independent: its own draw (stream 3), the same
 * for every run of the seed, and the online network is the same in both modes. */
static void test_target_init(void) {
  nc_ssl_config c = tiny(NC_SSL_BYOL, NC_PREDICTOR_LINEAR);
  nc_ssl *a = NULL, *b = NULL, *b2 = NULL;
  CHECK(nc_ssl_create(&a, &c) == NC_OK);
  c.target_init = NC_TARGET_INDEPENDENT;
  CHECK(nc_ssl_create(&b, &c) == NC_OK);
  CHECK(nc_ssl_create(&b2, &c) == NC_OK);
  if (!a || !b || !b2) return;
  CHECK(same_list(nc_net_params(nc_ssl_target_backbone(a)), nc_net_params(nc_ssl_backbone(a))));
  CHECK(same_list(nc_net_params(nc_ssl_target_projector(a)), nc_net_params(nc_ssl_projector(a))));
  CHECK(!same_list(nc_net_params(nc_ssl_target_backbone(b)), nc_net_params(nc_ssl_backbone(b))));
  CHECK(!same_list(nc_net_params(nc_ssl_target_projector(b)), nc_net_params(nc_ssl_projector(b))));
  CHECK(same_list(nc_net_params(nc_ssl_backbone(a)), nc_net_params(nc_ssl_backbone(b))));
  CHECK(same_list(nc_net_params(nc_ssl_target_backbone(b)),
                  nc_net_params(nc_ssl_target_backbone(b2))));
  nc_ssl_free(a), nc_ssl_free(b), nc_ssl_free(b2);
}

/* The optimal predictor inside a step: W_p(F̂ + λ s_max I) = ½(C + Cᵀ) with F̂ = E[f fᵀ] and
 * C = E[z_other fᵀ] from the step's own f and z (the first batch replaces the estimates). */
static void test_optimal_in_step(void) {
  nc_ssl_config c = tiny(NC_SSL_BYOL, NC_PREDICTOR_OPTIMAL);
  c.predictor.ridge = 0.02;
  /* An independent target: with a copy, z = f at the first step and C would be symmetric
   * already, so the test could not tell ½(C + Cᵀ) from C. */
  c.target_init = NC_TARGET_INDEPENDENT;
  nc_ssl *s = NULL;
  CHECK(nc_ssl_create(&s, &c) == NC_OK);
  if (!s) return;
  double l;
  CHECK(nc_ssl_step(s, B, x1, x2, &l) == NC_OK);
  const float *f[2] = {nc_ssl_f(s, 0), nc_ssl_f(s, 1)}, *z[2] = {nc_ssl_z(s, 0), nc_ssl_z(s, 1)};
  double F[DD * DD], M[DD * DD], U[DD * DD], ev[DD];
  for (int i = 0; i < DD; i++)
    for (int j = 0; j < DD; j++) {
      double fs = 0, cij = 0, cji = 0;
      for (int v = 0; v < 2; v++)
        for (int b = 0; b < B; b++) {
          fs += (double)f[v][b * DD + i] * f[v][b * DD + j];
          cij += (double)z[1 - v][b * DD + i] * f[v][b * DD + j];
          cji += (double)z[1 - v][b * DD + j] * f[v][b * DD + i];
        }
      U[i * DD + j] = F[i * DD + j] = fs / (2.0 * B);
      M[i * DD + j] = 0.5 * (cij + cji) / (2.0 * B);
    }
  CHECK(nc_eigh_d(DD, U, ev) == NC_OK);
  const double lam = 0.02 * ev[DD - 1];
  const float *W = nc_predictor_weight(nc_ssl_predictor(s));
  double worst = 0, mmax = 0;
  for (int i = 0; i < DD; i++)
    for (int j = 0; j < DD; j++) {
      double acc = 0;
      for (int k = 0; k < DD; k++) acc += (double)W[i * DD + k] * (F[k * DD + j] + (k == j) * lam);
      worst = fmax(worst, fabs(acc - M[i * DD + j]));
      mmax = fmax(mmax, fabs(M[i * DD + j]));
    }
  double skew = 0; /* C's own asymmetry, which the symmetrisation removes */
  for (int i = 0; i < DD; i++)
    for (int j = 0; j < DD; j++) {
      double cij = 0, cji = 0;
      for (int v = 0; v < 2; v++)
        for (int b = 0; b < B; b++) {
          cij += (double)z[1 - v][b * DD + i] * f[v][b * DD + j];
          cji += (double)z[1 - v][b * DD + j] * f[v][b * DD + i];
        }
      skew = fmax(skew, fabs(cij - cji) / (4.0 * B));
    }
  fprintf(stderr, "optimal in a step: residual %.2e of %.2e (C's skew part %.2e)\n", worst, mmax,
          skew);
  CHECK(skew > 1e-2 * mmax);
  CHECK(worst < 1e-3 * mmax);
  nc_ssl_free(s);
}

int main(void) {
  nc_rng r;
  nc_rng_seed(&r, 12);
  for (size_t i = 0; i < sizeof x1 / sizeof x1[0]; i++) {
    x1[i] = (float)nc_rng_normal(&r);
    x2[i] = 0.8f * x1[i] + 0.3f * (float)nc_rng_normal(&r);
  }
  test_alpha_p_and_predictor_wd();
  test_cosine_ema();
  test_no_stopgrad();
  test_target_init();
  test_optimal_in_step();
  return nc_test_done();
}

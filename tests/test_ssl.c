// ctest-labels: gradcheck
/* The SSL wiring on a tiny ResNet-18 (width 4, 8×8 images, batch 4): the whole loss's gradient
 * against central differences (BYOL with its stop-gradient, SimSiam without one), determinism,
 * EMA, target initialisation, and configuration checks. With lr = 0 and τ = 1 a step evaluates
 * the loss and gradients without changing any parameter, so the loss can be probed by steps. */
#include <stdlib.h>
#include <string.h>

#include "ncssl/ssl.h"
#include "ncssl/status.h"
#include "testing.h"

enum { B = 4, HW = 8 };
static float x1[B * 3 * HW * HW], x2[B * 3 * HW * HW];

static nc_ssl_config tiny(nc_ssl_method m, nc_predictor_type pred) {
  nc_ssl_config c = nc_ssl_default();
  c.method = m;
  c.loss = m == NC_SSL_SIMSIAM ? NC_LOSS_SIMSIAM : NC_LOSS_BYOL;
  c.backbone.width = 4;
  c.image_h = c.image_w = HW;
  c.batch = B;
  c.proj_hidden = 16;
  c.proj_out = 8;
  c.predictor = nc_predictor_default(pred);
  c.predictor.dim = 8;
  c.predictor.hidden = 16;
  c.seed = 5;
  return c;
}

static double eval_loss(nc_ssl *s) {
  double l = 0;
  CHECK(nc_ssl_step(s, B, x1, x2, &l) == NC_OK);
  return l;
}

/* Central differences on the largest-gradient entries of each listed tensor. */
static void gradcheck(nc_ssl_config c, const char *label) {
  c.lr.base = 0;
  c.ema = 1.0;
  c.weight_decay = c.pred_weight_decay = 0;
  nc_ssl *s = NULL;
  CHECK(nc_ssl_create(&s, &c) == NC_OK);
  if (!s) return;
  eval_loss(s);
  nc_param_list *lists[3] = {nc_net_params(nc_ssl_backbone(s)), nc_net_params(nc_ssl_projector(s)),
                             nc_predictor_params(nc_ssl_predictor(s))};
  const char *names[] = {"backbone.conv1.weight",          "backbone.layer1.0.bn1.weight",
                         "backbone.layer3.1.conv2.weight", "backbone.layer4.0.downsample.0.weight",
                         "projector.net.0.weight",         "projector.net.3.bias",
                         "predictor.net.0.weight",         "predictor.net.3.weight"};
  double worst = 0;
  int checked = 0;
  for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
    nc_param *p = NULL;
    for (int li = 0; li < 3 && !p; li++) p = nc_params_find(lists[li], names[k]);
    if (!p || !p->g) continue; /* identity has no predictor weights */
    /* The largest entry and one from the middle; the gradient is re-read after a fresh step. */
    size_t best = 0;
    for (size_t i = 1; i < p->n; i++)
      if (fabs(p->g[i]) > fabs(p->g[best])) best = i;
    size_t probe[2] = {best, p->n / 2};
    for (int j = 0; j < 2; j++) {
      eval_loss(s);
      double g = p->g[probe[j]];
      /* Small steps: BN over four samples makes this loss strongly curved (with h = 1e-2 the
       * difference quotient is off by 2×), and the double-precision loss keeps the float32
       * forward's rounding at ~1e-3 of the gradients probed here. */
      float keep = p->w[probe[j]], h = 1e-4f * fmaxf(1.0f, fabsf(keep));
      float up = keep + h, dn = keep - h;
      p->w[probe[j]] = up;
      double lu = eval_loss(s);
      p->w[probe[j]] = dn;
      double ld = eval_loss(s);
      p->w[probe[j]] = keep;
      double fd = (lu - ld) / ((double)up - dn);
      double err = fabs(fd - g) / fmax(fabs(fd), 5e-2);
      if (err > worst) worst = err;
      if (err > 3e-2)
        fprintf(stderr, "%s %s[%zu]: analytic %.6g, finite difference %.6g\n", label, names[k],
                probe[j], g, fd);
      checked++;
    }
  }
  fprintf(stderr, "%s: %d entries, worst relative error %.2e\n", label, checked, worst);
  CHECK(checked >= 12);
  CHECK(worst < 3e-2);
  nc_ssl_free(s);
}

static int same_params(nc_param_list *a, nc_param_list *b) {
  if (a->n != b->n) return 0;
  for (int i = 0; i < a->n; i++)
    if (a->items[i].n != b->items[i].n ||
        memcmp(a->items[i].w, b->items[i].w, a->items[i].n * sizeof(float)) != 0)
      return 0;
  return 1;
}

static void test_determinism_and_ema(void) {
  nc_ssl_config c = tiny(NC_SSL_BYOL, NC_PREDICTOR_DIRECTPRED);
  nc_ssl *a = NULL, *b = NULL, *d = NULL;
  CHECK(nc_ssl_create(&a, &c) == NC_OK);
  CHECK(nc_ssl_create(&b, &c) == NC_OK);
  c.seed = 6;
  CHECK(nc_ssl_create(&d, &c) == NC_OK);
  if (!a || !b || !d) return;
  /* Copy init: the target starts equal to the online network. */
  CHECK(same_params(nc_net_params(nc_ssl_target_backbone(a)), nc_net_params(nc_ssl_backbone(a))));
  CHECK(!same_params(nc_net_params(nc_ssl_backbone(a)), nc_net_params(nc_ssl_backbone(d))));
  /* Keep the target before the step to check the EMA after it. */
  float *tw, *tg, *ow, *og;
  size_t tn, on;
  nc_net_flat(nc_ssl_target_projector(a), &tw, &tg, &tn);
  float *before = malloc(tn * sizeof(float));
  memcpy(before, tw, tn * sizeof(float));
  double la, lb;
  for (int k = 0; k < 2; k++) {
    if (k == 1) memcpy(before, tw, tn * sizeof(float));
    CHECK(nc_ssl_step(a, B, x1, x2, &la) == NC_OK);
    CHECK(nc_ssl_step(b, B, x1, x2, &lb) == NC_OK);
  }
  CHECK(la == lb);
  CHECK(same_params(nc_net_params(nc_ssl_backbone(a)), nc_net_params(nc_ssl_backbone(b))));
  CHECK(same_params(nc_net_params(nc_ssl_target_backbone(a)),
                    nc_net_params(nc_ssl_target_backbone(b))));
  CHECK(memcmp(nc_predictor_weight(nc_ssl_predictor(a)), nc_predictor_weight(nc_ssl_predictor(b)),
               64 * sizeof(float)) == 0);
  /* target = 0.996·target + 0.004·online, parameters only. */
  nc_net_flat(nc_ssl_projector(a), &ow, &og, &on);
  CHECK(on == tn);
  double worst = 0;
  for (size_t i = 0; i < tn; i++)
    worst = fmax(worst, fabs(tw[i] - (before[i] * 0.996f + 0.004f * ow[i])));
  CHECK(worst == 0);
  free(before);
  nc_ssl_free(a);
  nc_ssl_free(b);
  nc_ssl_free(d);
  /* Independent init: the target has its own draw. */
  c = tiny(NC_SSL_BYOL, NC_PREDICTOR_MLP);
  c.target_init = NC_TARGET_INDEPENDENT;
  CHECK(nc_ssl_create(&a, &c) == NC_OK);
  CHECK(!same_params(nc_net_params(nc_ssl_target_backbone(a)), nc_net_params(nc_ssl_backbone(a))));
  nc_ssl_free(a);
}

static void test_config_errors(void) {
  nc_ssl_config c = tiny(NC_SSL_BYOL, NC_PREDICTOR_MLP);
  c.stopgrad = 0;
  nc_ssl *s = NULL;
  CHECK(nc_ssl_create(&s, &c) == NC_EINVAL && s == NULL);
  c = tiny(NC_SSL_BYOL, NC_PREDICTOR_MLP);
  c.predictor.dim = 7;
  CHECK(nc_ssl_create(&s, &c) == NC_EINVAL);
  c = tiny(NC_SSL_SIMSIAM, NC_PREDICTOR_MLP);
  CHECK(nc_ssl_create(&s, &c) == NC_OK);
  double l;
  CHECK(nc_ssl_step(s, B + 1, x1, x2, &l) == NC_EINVAL);
  CHECK(nc_ssl_target_backbone(s) == NULL);
  nc_ssl_free(s);
}

int main(void) {
  nc_rng r;
  nc_rng_seed(&r, 11);
  for (size_t i = 0; i < sizeof x1 / sizeof x1[0]; i++) {
    x1[i] = (float)nc_rng_normal(&r);
    x2[i] = 0.8f * x1[i] + 0.3f * (float)nc_rng_normal(&r);
  }
  gradcheck(tiny(NC_SSL_BYOL, NC_PREDICTOR_MLP), "byol/mlp");
  nc_ssl_config c = tiny(NC_SSL_SIMSIAM, NC_PREDICTOR_MLP);
  c.stopgrad = 0; /* the gradient also flows through z = f: an ordinary function's gradient */
  gradcheck(c, "simsiam/no-stopgrad");
  c = tiny(NC_SSL_BYOL, NC_PREDICTOR_IDENTITY);
  c.loss = NC_LOSS_SQUARED;
  gradcheck(c, "byol/identity/squared");
  test_determinism_and_ema();
  test_config_errors();
  return nc_test_done();
}

// ctest-labels: golden
/* The full training step against PyTorch (tests/golden/make_step_golden.py,
 * float64 reference): a width-8 ResNet-18 with the CIFAR stem on eight 3×32×32
 * images per view (the script says why not two). Per tensor, ‖ours −
 * torch‖/‖torch‖: ≤ 1e-4 for forward values and parameters after one step, ≤
 * 1e-3 for gradients and one step's parameter change; looser after three steps
 * (see compare_params' callers). */
#include <string.h>

#include "golden/golden.h"
#include "ncssl/ssl.h"
#include "ncssl/status.h"
#include "testing.h"

enum { NIMG = 8, DIM = 8, FEAT = 64 };

static double worst_zero, worst_fwd, worst_grad, worst_param, worst_change, worst_traj;

static double rel_err(const float *got, const float *want, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) {
    double e = (double)got[i] - want[i];
    num += e * e;
    den += (double)want[i] * want[i];
  }
  /* Entries below ~1e-5 RMS count as zero: a bias in front of batch norm has an
   * exactly zero gradient, which float32 only approximates. */
  /* Tensors that start at zero (BN biases) are measured against a 1e-5 RMS floor. */
  return sqrt(num) / fmax(sqrt(den), 1e-5 * sqrt((double)n));
}

static void report(const char *name, double e, double tol, double *worst) {
  if (e > *worst) *worst = e;
  nc_test_checks++;
  if (!(e <= tol)) {
    nc_test_failures++;
    fprintf(stderr, "%s: relative error %.3g > %g\n", name, e, tol);
  }
}

/* Compares n floats with the golden tensor `name`. */
static void compare(const nc_golden *g, const char *name, const float *got, size_t n, double tol,
                    double *worst) {
  const nc_golden_tensor *t = nc_golden_find(g, name);
  CHECK(t != NULL && got != NULL);
  if (!t || !got) {
    fprintf(stderr, "golden tensor %s missing\n", name);
    return;
  }
  CHECK(t->n == n);
  if (t->n == n) report(name, rel_err(got, t->data, n), tol, worst);
}

/* Copies "init.<name>" into every parameter and buffer of the list. */
static void load(const nc_golden *g, nc_param_list *l) {
  char key[160];
  for (int i = 0; i < l->n; i++) {
    snprintf(key, sizeof key, "init.%s", l->items[i].name);
    const nc_golden_tensor *t = nc_golden_find(g, key);
    CHECK(t && t->n == l->items[i].n);
    if (t && t->n == l->items[i].n)
      memcpy(l->items[i].w, t->data, t->n * sizeof(float));
    else
      fprintf(stderr, "cannot load %s\n", key);
  }
}

static nc_ssl *build(nc_predictor_type type, const nc_golden *init, const nc_golden *pinit) {
  nc_ssl_config c = nc_ssl_default();
  c.backbone.width = 8;
  c.batch = NIMG;
  c.proj_hidden = 32;
  c.proj_out = DIM;
  c.proj_bn_affine = 0;
  c.predictor = nc_predictor_default(type);
  c.predictor.dim = DIM;
  c.predictor.hidden = 32;
  c.predictor.bn_affine = 1;
  nc_ssl *s = NULL;
  if (nc_ssl_create(&s, &c) != NC_OK) {
    fprintf(stderr, "ssl create: %s\n", nc_last_error());
    return NULL;
  }
  load(init, nc_net_params(nc_ssl_backbone(s)));
  load(init, nc_net_params(nc_ssl_projector(s)));
  load(pinit, nc_predictor_params(nc_ssl_predictor(s)));
  CHECK(nc_net_copy_params(nc_ssl_target_backbone(s), nc_ssl_backbone(s)) == NC_OK);
  CHECK(nc_net_copy_params(nc_ssl_target_projector(s), nc_ssl_projector(s)) == NC_OK);
  return s;
}

/* "<tag><prefix><name>" for every tensor of l that the file has, within tol;
 * trainable ones also by their change since init, within tol_change. */
static void compare_params(const nc_golden *g, const nc_golden *init, nc_param_list *l,
                           const char *tag, const char *prefix, double tol, double tol_change,
                           double *worst, double *worst_delta) {
  char key[200], ikey[240];
  for (int i = 0; i < l->n; i++) {
    const nc_param *p = &l->items[i];
    snprintf(key, sizeof key, "%s%s%s", tag, prefix, p->name);
    const nc_golden_tensor *t = nc_golden_find(g, key);
    if (!t) continue; /* the DirectPred file keeps only some */
    compare(g, key, p->w, p->n, tol, worst);
    snprintf(ikey, sizeof ikey, "init.%s", p->name);
    const nc_golden_tensor *t0 = nc_golden_find(init, ikey);
    if (p->is_buffer || !t0 || t0->n != p->n || t->n != p->n) continue;
    float *dg = malloc(p->n * sizeof(float)), *dw = malloc(p->n * sizeof(float));
    for (size_t k = 0; k < p->n; k++) {
      dg[k] = t->data[k] - t0->data[k];
      dw[k] = p->w[k] - t0->data[k];
    }
    snprintf(ikey, sizeof ikey, "%s (change since init)", key);
    report(ikey, rel_err(dw, dg, p->n), tol_change, worst_delta);
    free(dg);
    free(dw);
  }
}

static void test_byol_mlp(const nc_golden *g) {
  nc_ssl *s = build(NC_PREDICTOR_MLP, g, g);
  CHECK(s != NULL);
  if (!s) return;
  const nc_golden_tensor *x1 = nc_golden_find(g, "input.x1"), *x2 = nc_golden_find(g, "input.x2");
  double loss[3];
  CHECK(nc_ssl_step(s, NIMG, x1->data, x2->data, &loss[0]) == NC_OK);
  /* Forward values of the first step. */
  compare(g, "fwd.h1", nc_net_output(nc_ssl_backbone(s), 0), NIMG * FEAT, 1e-4, &worst_fwd);
  compare(g, "fwd.h2", nc_net_output(nc_ssl_backbone(s), 1), NIMG * FEAT, 1e-4, &worst_fwd);
  compare(g, "fwd.f1", nc_ssl_f(s, 0), NIMG * DIM, 1e-4, &worst_fwd);
  compare(g, "fwd.f2", nc_ssl_f(s, 1), NIMG * DIM, 1e-4, &worst_fwd);
  compare(g, "fwd.q1", nc_ssl_q(s, 0), NIMG * DIM, 1e-4, &worst_fwd);
  compare(g, "fwd.q2", nc_ssl_q(s, 1), NIMG * DIM, 1e-4, &worst_fwd);
  compare(g, "fwd.z1", nc_ssl_z(s, 0), NIMG * DIM, 1e-4, &worst_fwd);
  compare(g, "fwd.z2", nc_ssl_z(s, 1), NIMG * DIM, 1e-4, &worst_fwd);
  float l0 = (float)loss[0];
  compare(g, "loss", &l0, 1, 1e-4, &worst_fwd);
  /* Every parameter gradient of the first step (the step leaves them in place).
   */
  nc_param_list *lists[3] = {nc_net_params(nc_ssl_backbone(s)), nc_net_params(nc_ssl_projector(s)),
                             nc_predictor_params(nc_ssl_predictor(s))};
  char key[200];
  int ngrad = 0;
  for (int li = 0; li < 3; li++)
    for (int i = 0; i < lists[li]->n; i++) {
      const nc_param *p = &lists[li]->items[i];
      if (p->is_buffer) continue;
      snprintf(key, sizeof key, "grad.%s", p->name);
      const nc_golden_tensor *t = nc_golden_find(g, key);
      double want = 0, got = 0, ref = 0;
      for (size_t k = 0; t && k < t->n; k++) want += (double)t->data[k] * t->data[k];
      if (t && want < 1e-20 && i > 0) {
        /* A bias in front of batch norm has an exactly zero gradient (so has the projector's last
         * bias: the predictor's BN makes the rows of ∂L/∂f sum to zero); float32 gets rounding
         * noise, which must be tiny next to the gradient of the same layer's weight. */
        const nc_param *w = &lists[li]->items[i - 1];
        for (size_t k = 0; k < p->n; k++) got += (double)p->g[k] * p->g[k];
        for (size_t k = 0; k < w->n; k++) ref += (double)w->g[k] * w->g[k];
        report(key, sqrt(got / ref), 1e-4, &worst_zero);
      } else {
        compare(g, key, p->g, p->n, 1e-3, &worst_grad);
      }
      ngrad++;
    }
  CHECK(ngrad == 70); /* 62 backbone + 4 projector + 6 predictor tensors, minus
                         BN-affine-off */
  fprintf(stderr, "%d gradients compared; exactly-zero ones at %.2e of their weight's\n", ngrad,
          worst_zero);
  /* One step: parameters and BN buffers as tight as the gradients that made
   * them. */
  for (int li = 0; li < 3; li++)
    compare_params(g, g, lists[li], "step1.", "", 1e-4, 1e-3, &worst_param, &worst_change);
  /* Two more steps, then parameters and BN buffers, online and target. Looser:
   * a ReLU input within rounding of zero may flip between float32 and float64
   * and move the next gradient by a finite amount (see the script); 5e-2 on the
   * change still catches a wrong momentum, decay, EMA or order of updates,
   * which all change it by far more. */
  CHECK(nc_ssl_step(s, NIMG, x1->data, x2->data, &loss[1]) == NC_OK);
  CHECK(nc_ssl_step(s, NIMG, x1->data, x2->data, &loss[2]) == NC_OK);
  float lf[3] = {(float)loss[0], (float)loss[1], (float)loss[2]};
  compare(g, "losses", lf, 3, 5e-3, &worst_traj);
  for (int li = 0; li < 3; li++)
    compare_params(g, g, lists[li], "step3.", "", 2e-2, 5e-2, &worst_traj, &worst_traj);
  compare_params(g, g, nc_net_params(nc_ssl_target_backbone(s)), "step3.", "target.", 2e-2, 5e-2,
                 &worst_traj, &worst_traj);
  compare_params(g, g, nc_net_params(nc_ssl_target_projector(s)), "step3.", "target.", 2e-2, 5e-2,
                 &worst_traj, &worst_traj);
  nc_ssl_free(s);
}

static void test_directpred(const nc_golden *init, const nc_golden *g) {
  nc_ssl *s = build(NC_PREDICTOR_DIRECTPRED, init, g);
  CHECK(s != NULL);
  if (!s) return;
  const nc_golden_tensor *x1 = nc_golden_find(init, "input.x1"),
                         *x2 = nc_golden_find(init, "input.x2");
  float lf[3];
  char key[32];
  for (int k = 0; k < 3; k++) {
    double l;
    CHECK(nc_ssl_step(s, NIMG, x1->data, x2->data, &l) == NC_OK);
    lf[k] = (float)l;
    snprintf(key, sizeof key, "wp.%d", k + 1);
    /* W_p after the first set depends on one forward only: tight. */
    compare(g, key, nc_predictor_weight(nc_ssl_predictor(s)), DIM * DIM, k == 0 ? 1e-4 : 2e-2,
            k == 0 ? &worst_param : &worst_traj);
  }
  compare(g, "losses", lf, 3, 5e-3, &worst_traj);
  compare(g, "corr.3", nc_predictor_corr(nc_ssl_predictor(s)), DIM * DIM, 2e-2, &worst_traj);
  compare_params(g, init, nc_net_params(nc_ssl_projector(s)), "step3.", "", 2e-2, 5e-2, &worst_traj,
                 &worst_traj);
  compare_params(g, init, nc_net_params(nc_ssl_target_projector(s)), "step3.", "target.", 2e-2,
                 5e-2, &worst_traj, &worst_traj);
  nc_ssl_free(s);
}

int main(void) {
  nc_golden g, dp;
  CHECK(nc_golden_read("golden/step_byol_mlp.bin", &g) == 0);
  CHECK(nc_golden_read("golden/step_directpred.bin", &dp) == 0);
  if (g.count) test_byol_mlp(&g);
  if (g.count && dp.count) test_directpred(&g, &dp);
  fprintf(stderr,
          "worst relative errors: forward %.2e, gradients %.2e, one-step "
          "parameters %.2e and "
          "changes %.2e, after three steps %.2e\n",
          worst_fwd, worst_grad, worst_param, worst_change, worst_traj);
  nc_golden_free(&g);
  nc_golden_free(&dp);
  return nc_test_done();
}

// ctest-labels: unit
/* SGD (PyTorch semantics), LARS and the schedules against steps worked out by hand. */
#include "ncssl/optim.h"
#include "ncssl/status.h"
#include "testing.h"

static void add(nc_param_list *l, const char *name, float *w, float *g, int ndim, int n0, int n1) {
  int shape[2] = {n0, n1};
  CHECK(nc_params_add(l, NULL, name, w, g, ndim, shape, 0) == NC_OK);
}

static void test_sgd(void) {
  float w[2] = {1, -2}, g[2] = {0.5f, 0.25f}, v[1] = {3}, gv[1] = {1};
  float running[2] = {7, 7}; /* a BN buffer: the optimizer must not touch it */
  nc_param_list net = {0}, pred = {0};
  add(&net, "w", w, g, 1, 2, 0);
  int shape[1] = {2};
  CHECK(nc_params_add(&net, NULL, "bn.running_mean", running, NULL, 1, shape, 1) == NC_OK);
  add(&pred, "v", v, gv, 1, 1, 0);
  nc_optim o;
  nc_optim_init(&o, nc_optim_default());
  CHECK(nc_optim_add_group(&o, &net, 1.0, 0.01) == 0);
  CHECK(nc_optim_add_group(&o, &pred, 10.0, 0.0) == 1); /* α_p = 10, no decay */
  CHECK(o.nslots == 2);
  /* Step 1: d = g + wd·w = (0.51, 0.23); buf = d; w −= 0.1·buf. */
  nc_optim_step(&o, 0.1);
  CHECK_NEAR(w[0], 0.949, 1e-6);
  CHECK_NEAR(w[1], -2.023, 1e-6);
  CHECK_NEAR(v[0], 2.0, 1e-6); /* 3 − (0.1·10)·1 */
  /* Step 2: d = (0.50949, 0.22977); buf = 0.9·buf + d = (0.96849, 0.43677). */
  nc_optim_step(&o, 0.1);
  CHECK_NEAR(w[0], 0.852151, 1e-6);
  CHECK_NEAR(w[1], -2.066677, 1e-6);
  CHECK_NEAR(v[0], 0.1, 1e-6); /* buf = 1.9 */
  CHECK(running[0] == 7 && running[1] == 7);
  /* Stepping one group leaves the other alone. */
  float before = w[0];
  nc_optim_step_group(&o, 1, 0.1);
  CHECK(w[0] == before);
  CHECK_NEAR(v[0], 0.1 - 2.71, 1e-6); /* buf = 0.9·1.9 + 1 */
  /* Reset clears momentum: the next step is a plain first step again. */
  nc_optim_reset(&o);
  float w0 = w[0];
  nc_optim_step(&o, 0.1);
  CHECK_NEAR(w[0], w0 - 0.1 * (0.5 + 0.01 * w0), 1e-6);
  nc_optim_free(&o);
  nc_params_free(&net);
  nc_params_free(&pred);
}

static void test_lars(void) {
  float W[4] = {3, 4, 0, 0}, G[4] = {1, 0, 0, 0}, b[1] = {2}, gb[1] = {1};
  nc_param_list l = {0};
  add(&l, "fc.weight", W, G, 2, 2, 2);
  add(&l, "fc.bias", b, gb, 1, 1, 0);
  nc_optim_config c = nc_optim_default();
  c.kind = NC_OPTIM_LARS;
  nc_optim o;
  nc_optim_init(&o, c);
  CHECK(nc_optim_add_group(&o, &l, 1.0, 0.1) == 0);
  nc_optim_step(&o, 0.5);
  /* d = G + 0.1·W = (1.3, 0.4, 0, 0), ‖W‖ = 5, trust = 1e-3·5/‖d‖. */
  double trust = 1e-3 * 5 / sqrt(1.3 * 1.3 + 0.4 * 0.4);
  CHECK_NEAR(W[0], 3 - 0.5 * trust * 1.3, 1e-6);
  CHECK_NEAR(W[1], 4 - 0.5 * trust * 0.4, 1e-6);
  CHECK(W[2] == 0 && W[3] == 0);
  /* The bias: no decay, no adaptation. */
  CHECK_NEAR(b[0], 1.5, 1e-7);
  nc_optim_free(&o);
  nc_params_free(&l);
}

static void test_schedules(void) {
  nc_schedule k = {NC_SCHED_CONSTANT, 0.03, 0, 0, 0};
  CHECK(nc_schedule_at(&k, 0) == 0.03 && nc_schedule_at(&k, 100000) == 0.03);
  nc_schedule c = {NC_SCHED_COSINE, 1.0, 2, 6, 0.0};
  CHECK_NEAR(nc_schedule_at(&c, 0), 0.5, 1e-15);
  CHECK_NEAR(nc_schedule_at(&c, 1), 1.0, 1e-15);
  CHECK_NEAR(nc_schedule_at(&c, 2), 1.0, 1e-15);
  CHECK_NEAR(nc_schedule_at(&c, 4), 0.5, 1e-15);
  CHECK_NEAR(nc_schedule_at(&c, 3), 0.5 * (1 + cos(3.14159265358979 / 4)), 1e-12);
  CHECK_NEAR(nc_schedule_at(&c, 6), 0.0, 1e-15);
  CHECK_NEAR(nc_ema_cosine(0.996, 0, 100), 0.996, 1e-15);
  CHECK_NEAR(nc_ema_cosine(0.996, 50, 100), 0.998, 1e-12);
  CHECK_NEAR(nc_ema_cosine(0.996, 100, 100), 1.0, 1e-15);
  for (long t = 1; t <= 100; t++)
    CHECK(nc_ema_cosine(0.996, t, 100) >= nc_ema_cosine(0.996, t - 1, 100));
}

int main(void) {
  test_sgd();
  test_lars();
  test_schedules();
  return nc_test_done();
}

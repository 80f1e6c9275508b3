// ctest-labels: unit gradcheck
/* Linear probe: standardisation, the logistic-regression gradient against central differences,
 * torch.optim.Adam steps computed by hand, ~100% on separable data and chance on random labels
 * with the paper's settings, determinism, argument errors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ncssl/probe.h"
#include "ncssl/rng.h"
#include "ncssl/status.h"
#include "testing.h"

static void test_standardize(void) {
  enum { N = 50, D = 3 };
  float x[N * D], mean[D], std[D];
  nc_rng r;
  nc_rng_seed(&r, 1);
  for (int i = 0; i < N; i++) {
    x[i * D + 0] = (float)(5 + 2 * nc_rng_normal(&r));
    x[i * D + 1] = (float)(i % 2); /* mean 0.5, population std exactly 0.5 */
    x[i * D + 2] = 7.0f;           /* constant: scale stays 1 */
  }
  nc_standardize_fit(x, N, D, mean, std);
  CHECK_NEAR(mean[1], 0.5, 1e-7);
  CHECK_NEAR(std[1], 0.5, 1e-7);
  CHECK(std[2] == 1.0f && mean[2] == 7.0f);
  nc_standardize_apply(x, N, D, mean, std);
  double s = 0, ss = 0;
  for (int i = 0; i < N; i++) s += x[i * D], ss += (double)x[i * D] * x[i * D];
  CHECK_NEAR(s / N, 0, 1e-6);
  CHECK_NEAR(ss / N, 1, 1e-5);
  for (int i = 0; i < N; i++) CHECK(x[i * D + 2] == 0.0f && fabsf(x[i * D + 1]) == 1.0f);
}

static void test_gradient(void) {
  enum { N = 7, D = 5, C = 4 };
  nc_logreg m;
  CHECK(nc_logreg_init(&m, D, C, N, 3) == NC_OK);
  nc_rng r;
  nc_rng_seed(&r, 2);
  float x[N * D];
  int y[N];
  for (int i = 0; i < N * D; i++) x[i] = (float)nc_rng_normal(&r);
  for (int i = 0; i < N; i++) y[i] = (int)nc_rng_below(&r, C);
  for (int i = 0; i < D * C; i++) m.W[i] = (float)nc_rng_normal(&r);
  double loss = nc_logreg_loss_grad(&m, x, y, N);
  /* The loss by hand in double for the first sample set. */
  double want = 0;
  for (int i = 0; i < N; i++) {
    double z[C], mx = -1e300, sum = 0;
    for (int k = 0; k < C; k++) {
      z[k] = m.b[k];
      for (int j = 0; j < D; j++) z[k] += (double)m.W[k * D + j] * x[i * D + j];
      mx = fmax(mx, z[k]);
    }
    for (int k = 0; k < C; k++) sum += exp(z[k] - mx);
    want += log(sum) + mx - z[y[i]];
  }
  CHECK_NEAR(loss, want / N, 1e-5);
  float gW[D * C], gb[C];
  memcpy(gW, m.gW, sizeof gW);
  memcpy(gb, m.gb, sizeof gb);
  double worst = 0, scale = 0;
  const float h = 1e-2f;
  for (int p = 0; p < D * C + C; p++) {
    float *w = p < D * C ? &m.W[p] : &m.b[p - D * C];
    float g = p < D * C ? gW[p] : gb[p - D * C], save = *w;
    *w = save + h;
    double lp = nc_logreg_loss_grad(&m, x, y, N);
    *w = save - h;
    double lm = nc_logreg_loss_grad(&m, x, y, N);
    *w = save;
    worst = fmax(worst, fabs((lp - lm) / (2 * h) - g));
    scale = fmax(scale, fabs(g));
  }
  CHECK(worst < 1e-3 * scale);
  /* The bias gradient of softmax cross-entropy sums to zero over classes. */
  CHECK_NEAR(gb[0] + gb[1] + gb[2] + gb[3], 0, 1e-6);
  nc_logreg_free(&m);
}

/* Two steps of torch.optim.Adam(lr, betas (0.9, 0.999), eps 1e-8, weight_decay) by hand. */
static void test_adam(void) {
  nc_logreg m;
  CHECK(nc_logreg_init(&m, 1, 1, 1, 0) == NC_OK);
  nc_probe_config cfg = nc_probe_default();
  m.W[0] = 0.5f;
  m.b[0] = -2.0f;
  /* Step 1: g' = g + wd·w; m̂ = g', v̂ = g'², so the step is lr·g'/(|g'| + eps). */
  m.gW[0] = 0.2f;
  m.gb[0] = 0.0f;
  nc_logreg_adam_step(&m, &cfg);
  double g1 = 0.2 + 1e-3 * 0.5, w1 = 0.5 - 3e-4 * g1 / (fabs(g1) + 1e-8);
  double gb1 = 1e-3 * -2.0, b1 = -2.0 - 3e-4 * gb1 / (fabs(gb1) + 1e-8); /* decay alone moves b */
  CHECK_NEAR(m.W[0], w1, 1e-7);
  CHECK_NEAR(m.b[0], b1, 1e-7);
  /* Step 2 with g = −0.1: m = 0.9·0.1·g1 + 0.1·g2, v = 0.999·0.001·g1² + 0.001·g2². */
  m.gW[0] = -0.1f;
  m.gb[0] = 0.0f;
  nc_logreg_adam_step(&m, &cfg);
  double g2 = -0.1 + 1e-3 * w1;
  double mo = 0.9 * 0.1 * g1 + 0.1 * g2, v = 0.999 * 0.001 * g1 * g1 + 0.001 * g2 * g2;
  double w2 = w1 - 3e-4 / (1 - 0.81) * mo / (sqrt(v) / sqrt(1 - 0.998001) + 1e-8);
  CHECK_NEAR(m.W[0], w2, 1e-7);
  CHECK(m.t == 2);
  nc_logreg_free(&m);
}

/* Gaussian classes around random centres (separation `sep`), or random labels when sep < 0. */
static void make_data(nc_rng *r, int n, int d, int c, double sep, const double *centres, float *x,
                      int *y) {
  for (int i = 0; i < n; i++) {
    y[i] = (int)nc_rng_below(r, c);
    for (int j = 0; j < d; j++)
      x[i * d + j] = (float)(nc_rng_normal(r) + (sep > 0 ? sep * centres[y[i] * d + j] : 0));
    if (sep < 0) y[i] = (int)nc_rng_below(r, c);
  }
}

static void test_separable_and_random(void) {
  enum { NTR = 2000, NTE = 1000, D = 16, C = 4 };
  nc_rng r;
  nc_rng_seed(&r, 7);
  double centres[C * D];
  for (int i = 0; i < C * D; i++) centres[i] = nc_rng_normal(&r);
  float *xtr = malloc(NTR * D * sizeof *xtr), *xte = malloc(NTE * D * sizeof *xte);
  int *ytr = malloc(NTR * sizeof *ytr), *yte = malloc(NTE * sizeof *yte);
  nc_probe_config cfg = nc_probe_default();
  nc_probe_result res;

  /* Separated classes (centres ~ 4·N(0, I) in 16 dimensions: margins of many σ). */
  make_data(&r, NTR, D, C, 4.0, centres, xtr, ytr);
  make_data(&r, NTE, D, C, 4.0, centres, xte, yte);
  CHECK(nc_linear_probe(xtr, ytr, NTR, xte, yte, NTE, D, C, &cfg, &res) == NC_OK);
  CHECK(res.epochs == 50);
  CHECK(res.final_top1 >= 0.99);
  CHECK(res.best_top1 >= res.final_top1 && res.best_epoch >= 1 && res.best_epoch <= 50);
  CHECK(res.test_top1[res.best_epoch - 1] == res.best_top1);
  CHECK(res.train_loss[49] < res.train_loss[0]);
  double final = res.final_top1, loss = res.train_loss[49];
  nc_probe_result_free(&res);
  /* Same seed, same numbers; another seed, another run. */
  CHECK(nc_linear_probe(xtr, ytr, NTR, xte, yte, NTE, D, C, &cfg, &res) == NC_OK);
  CHECK(res.final_top1 == final && res.train_loss[49] == loss);
  nc_probe_result_free(&res);
  cfg.seed = 1;
  CHECK(nc_linear_probe(xtr, ytr, NTR, xte, yte, NTE, D, C, &cfg, &res) == NC_OK);
  CHECK(res.train_loss[49] != loss);
  nc_probe_result_free(&res);
  cfg.seed = 0;

  /* Random labels: test accuracy near chance (1/4; 1000 samples, σ ≈ 0.014). */
  make_data(&r, NTR, D, C, -1, centres, xtr, ytr);
  make_data(&r, NTE, D, C, -1, centres, xte, yte);
  CHECK(nc_linear_probe(xtr, ytr, NTR, xte, yte, NTE, D, C, &cfg, &res) == NC_OK);
  CHECK(fabs(res.final_top1 - 0.25) < 0.06);
  nc_probe_result_free(&res);

  /* Errors. */
  CHECK(nc_linear_probe(xtr, ytr, 0, xte, yte, NTE, D, C, &cfg, &res) == NC_EINVAL);
  CHECK(strstr(nc_last_error(), "empty training set"));
  CHECK(nc_linear_probe(xtr, ytr, NTR, xte, yte, 0, D, C, &cfg, &res) == NC_EINVAL);
  CHECK(nc_linear_probe(xtr, ytr, NTR, xte, yte, NTE, 0, C, &cfg, &res) == NC_EINVAL);
  yte[5] = C;
  CHECK(nc_linear_probe(xtr, ytr, NTR, xte, yte, NTE, D, C, &cfg, &res) == NC_EINVAL);
  CHECK(strstr(nc_last_error(), "test label 4 of sample 5 is outside [0, 4)"));
  yte[5] = 0;
  cfg.batch = 0;
  CHECK(nc_linear_probe(xtr, ytr, NTR, xte, yte, NTE, D, C, &cfg, &res) == NC_EINVAL);
  CHECK(res.test_top1 == NULL);
  free(xtr);
  free(xte);
  free(ytr);
  free(yte);
}

int main(void) {
  test_standardize();
  test_gradient();
  test_adam();
  test_separable_and_random();
  return nc_test_done();
}

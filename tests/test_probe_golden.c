// ctest-labels: golden
/* The probe's logistic regression against PyTorch: the first gradient, each step's loss and the
 * weights after four Adam steps (tests/golden/make_probe_golden.py wrote probe_steps.bin). */
#include <math.h>
#include <string.h>

#include "golden/golden.h"
#include "ncssl/probe.h"
#include "ncssl/status.h"
#include "testing.h"

static double max_diff(const float *a, const float *b, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
  return m;
}

int main(void) {
  nc_golden g;
  if (nc_golden_read("golden/probe_steps.bin", &g) != 0) return 1;
  const nc_golden_tensor *x = nc_golden_find(&g, "x"), *yf = nc_golden_find(&g, "y"),
                         *W0 = nc_golden_find(&g, "W0"), *b0 = nc_golden_find(&g, "b0"),
                         *gW0 = nc_golden_find(&g, "gW0"), *gb0 = nc_golden_find(&g, "gb0"),
                         *loss = nc_golden_find(&g, "loss"), *W4 = nc_golden_find(&g, "W4"),
                         *b4 = nc_golden_find(&g, "b4");
  CHECK(x && yf && W0 && b0 && gW0 && gb0 && loss && W4 && b4);
  if (!(x && yf && W0 && b0 && gW0 && gb0 && loss && W4 && b4)) return nc_test_done();
  int y[16];
  for (int i = 0; i < 16; i++) y[i] = (int)yf->data[i];
  nc_logreg m;
  CHECK(nc_logreg_init(&m, 5, 3, 8, 0) == NC_OK);
  memcpy(m.W, W0->data, 15 * sizeof(float));
  memcpy(m.b, b0->data, 3 * sizeof(float));
  nc_probe_config cfg = nc_probe_default();
  cfg.lr = 0.05;
  cfg.weight_decay = 0.1;
  for (int step = 0; step < 4; step++) {
    int first = step % 2 == 0 ? 0 : 8;
    double l = nc_logreg_loss_grad(&m, x->data + first * 5, y + first, 8);
    CHECK_NEAR(l, loss->data[step], 2e-6);
    if (step == 0) {
      CHECK(max_diff(m.gW, gW0->data, 15) < 1e-6);
      CHECK(max_diff(m.gb, gb0->data, 3) < 1e-6);
    }
    nc_logreg_adam_step(&m, &cfg);
  }
  /* Four steps of size ~0.05 each: agreement to 1e-5 checks every term of the update. */
  CHECK(max_diff(m.W, W4->data, 15) < 1e-5);
  CHECK(max_diff(m.b, b4->data, 3) < 1e-5);
  CHECK(max_diff(m.W, W0->data, 15) > 0.05); /* the steps moved the weights */
  nc_logreg_free(&m);
  nc_golden_free(&g);
  return nc_test_done();
}

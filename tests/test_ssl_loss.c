// ctest-labels: gradcheck
/* The three SSL losses: closed-form values and gradients against central finite differences. */
#include <string.h>

#include "ncssl/loss.h"
#include "ncssl/rng.h"
#include "testing.h"

enum { B = 4, D = 5, N = B * D };

static double symmetric(nc_loss_kind k, const float *x) {
  /* x packs q1, q2, z1, z2. */
  return nc_loss_symmetric(k, B, D, x, x + N, x + 2 * N, x + 3 * N, NULL, NULL, NULL, NULL);
}

static void gradcheck(nc_loss_kind kind) {
  nc_rng r;
  nc_rng_seed(&r, 7 + kind);
  float x[4 * N], grad[4 * N];
  for (int i = 0; i < 4 * N; i++) x[i] = (float)nc_rng_normal(&r);
  double L = nc_loss_symmetric(kind, B, D, x, x + N, x + 2 * N, x + 3 * N, grad, grad + N,
                               grad + 2 * N, grad + 3 * N);
  CHECK(L == symmetric(kind, x));
  double worst = 0;
  for (int i = 0; i < 4 * N; i++) {
    float keep = x[i];
    float up = keep + 1e-2f, down = keep - 1e-2f;
    x[i] = up;
    double lu = symmetric(kind, x);
    x[i] = down;
    double ld = symmetric(kind, x);
    x[i] = keep;
    double fd = (lu - ld) / ((double)up - (double)down);
    double err = fabs(fd - grad[i]) / fmax(1.0, fabs(fd));
    if (err > worst) worst = err;
  }
  fprintf(stderr, "loss %d: worst relative gradient error %.2e\n", kind, worst);
  CHECK(worst < 1e-3);
  /* With the stop-gradient the z gradients are simply not written. */
  float sentinel[N];
  for (int i = 0; i < N; i++) sentinel[i] = 42;
  nc_loss_direction(kind, B, D, x, x + N, 1.0, grad, NULL);
  nc_loss_direction(kind, B, D, x, x + N, 1.0, grad, sentinel);
  CHECK(sentinel[0] != 42);
}

static void closed_forms(void) {
  /* q = z: cos = 1, byol 0, simsiam −1, squared 0; q = −z: byol 4 per direction. */
  float q[N], z[N], mz[N], dq[N];
  for (int i = 0; i < N; i++) {
    q[i] = (float)(i % 3) + 1;
    z[i] = 3 * q[i]; /* same direction, different length */
    mz[i] = -q[i];
  }
  CHECK_NEAR(nc_loss_direction(NC_LOSS_BYOL, B, D, q, z, 1, dq, NULL), 0, 1e-12);
  for (int i = 0; i < N; i++) CHECK_NEAR(dq[i], 0, 1e-7); /* cos is at its maximum */
  CHECK_NEAR(nc_loss_direction(NC_LOSS_SIMSIAM, B, D, q, z, 1, dq, NULL), -1, 1e-12);
  CHECK_NEAR(nc_loss_direction(NC_LOSS_BYOL, B, D, q, mz, 1, dq, NULL), 4, 1e-12);
  CHECK_NEAR(nc_loss_direction(NC_LOSS_SQUARED, B, D, q, q, 1, dq, NULL), 0, 0);
  /* Squared error: ½‖q − z‖² = ½·4‖q‖², averaged over the batch. */
  double want = 0;
  for (int i = 0; i < N; i++) want += 0.5 * 4 * q[i] * q[i];
  CHECK_NEAR(nc_loss_direction(NC_LOSS_SQUARED, B, D, q, mz, 1, dq, NULL), want / B, 1e-9);
  /* Orthogonal rows: cos = 0 so byol gives 2 per direction, 4 for the symmetric sum. */
  float a[2 * 2] = {1, 0, 0, 1}, b[2 * 2] = {0, 1, 1, 0};
  CHECK_NEAR(nc_loss_symmetric(NC_LOSS_BYOL, 2, 2, a, a, b, b, NULL, NULL, NULL, NULL), 4, 1e-12);
  CHECK_NEAR(nc_loss_symmetric(NC_LOSS_SIMSIAM, 2, 2, a, a, a, a, NULL, NULL, NULL, NULL), -1,
             1e-12);
}

int main(void) {
  closed_forms();
  gradcheck(NC_LOSS_BYOL);
  gradcheck(NC_LOSS_SIMSIAM);
  gradcheck(NC_LOSS_SQUARED);
  return nc_test_done();
}

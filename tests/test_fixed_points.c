// ctest-labels: unit
/* Fixed points at fixed tau against the digest's numbers (§10 item 7) and monotonicity (item 8). */
#include "ncssl/status.h"
#include "ncssl/theory.h"
#include "testing.h"

int main(void) {
  nc_fixed_points fp;
  CHECK(nc_fixed_points_compute(1.0, 0.5, 0.05, 1.0, &fp) == NC_OK);
  CHECK_NEAR(fp.eta_c, 1.0 / 6.0, 1e-9);
  CHECK_NEAR(fp.p_minus, 0.054447, 1e-6);
  CHECK_NEAR(fp.p_plus, 0.612220, 1e-6);
  CHECK(fp.stab_zero == 1 && fp.stab_minus == -1 && fp.stab_plus == 1);

  CHECK(nc_fixed_points_compute(1.0, 0.0, 0.04, 1.0, &fp) == NC_OK);
  CHECK_NEAR(fp.p_minus, 0.041742, 1e-6);
  CHECK_NEAR(fp.p_plus, 0.958258, 1e-6);
  CHECK_NEAR(fp.s_plus, 0.918258, 1e-6);

  CHECK(nc_fixed_points_compute(0.5, 0.0, 0.04, 1.0, &fp) == NC_OK);
  CHECK_NEAR(fp.p_minus, 0.1, 1e-12);
  CHECK_NEAR(fp.p_plus, 0.4, 1e-12);

  /* eta > eta_c: only p = 0, stable. */
  CHECK(nc_fixed_points_compute(1.0, 0.5, 0.2, 1.0, &fp) == NC_OK);
  CHECK(!fp.has_nonzero && isnan(fp.p_minus) && isnan(fp.p_plus) && fp.stab_zero == 1);

  /* eta = 0: p = 0 half-stable, tau/(1+sigma^2) stable. */
  CHECK(nc_fixed_points_compute(1.0, 0.5, 0.0, 1.0, &fp) == NC_OK);
  CHECK(fp.stab_zero == 0);
  CHECK_NEAR(fp.p_plus, 1.0 / 1.5, 1e-12);

  /* Item 8: p*- grows with eta and shrinks with tau. */
  double prev = 0;
  for (double eta = 0.01; eta < 0.16; eta += 0.01) {
    CHECK(nc_fixed_points_compute(1.0, 0.5, eta, 1.0, &fp) == NC_OK);
    CHECK(fp.p_minus > prev);
    prev = fp.p_minus;
  }
  prev = 1e9;
  for (double tau = 0.6; tau <= 1.0; tau += 0.05) {
    CHECK(nc_fixed_points_compute(tau, 0.5, 0.05, 1.0, &fp) == NC_OK);
    CHECK(fp.p_minus < prev);
    prev = fp.p_minus;
  }

  /* Bad input is refused with a message. */
  CHECK(nc_fixed_points_compute(0.0, 0.5, 0.05, 1.0, &fp) == NC_EINVAL);
  CHECK(nc_fixed_points_compute(1.0, -1, 0.05, 1.0, &fp) == NC_EINVAL);
  CHECK(nc_fixed_points_compute(1.0, 0.5, NAN, 1.0, &fp) == NC_EINVAL);
  return nc_test_done();
}

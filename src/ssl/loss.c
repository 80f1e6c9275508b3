/* BYOL / SimSiam / squared-error losses, forward and backward. */
#include "ncssl/loss.h"

#include <math.h>
#include <stddef.h>

#define NORM_EPS 1e-8

double nc_loss_direction_weight(nc_loss_kind kind) { return kind == NC_LOSS_BYOL ? 1.0 : 0.5; }

double nc_loss_direction(nc_loss_kind kind, int B, int d, const float *q, const float *z,
                         double weight, float *dq, float *dz) {
  double total = 0;
  const double w = weight / B;
  for (int i = 0; i < B; i++) {
    const float *qi = q + (size_t)i * d, *zi = z + (size_t)i * d;
    float *dqi = dq ? dq + (size_t)i * d : NULL, *dzi = dz ? dz + (size_t)i * d : NULL;
    if (kind == NC_LOSS_SQUARED) {
      double s = 0;
      for (int k = 0; k < d; k++) {
        double e = (double)qi[k] - zi[k];
        s += e * e;
        if (dqi) dqi[k] = (float)(w * e);
        if (dzi) dzi[k] = (float)(-w * e);
      }
      total += 0.5 * s;
      continue;
    }
    double qq = 0, zz = 0, qz = 0;
    for (int k = 0; k < d; k++) {
      qq += (double)qi[k] * qi[k];
      zz += (double)zi[k] * zi[k];
      qz += (double)qi[k] * zi[k];
    }
    double nq = fmax(sqrt(qq), NORM_EPS), nz = fmax(sqrt(zz), NORM_EPS);
    double c = qz / (nq * nz);
    /* loss = a + b·cos with b = −2 (byol) or −1 (simsiam). */
    double a = kind == NC_LOSS_BYOL ? 2.0 : 0.0, b = kind == NC_LOSS_BYOL ? -2.0 : -1.0;
    total += a + b * c;
    /* ∂cos/∂q = (ẑ − cos·q̂)/‖q‖, ∂cos/∂z = (q̂ − cos·ẑ)/‖z‖. */
    for (int k = 0; k < d; k++) {
      double qh = qi[k] / nq, zh = zi[k] / nz;
      if (dqi) dqi[k] = (float)(w * b * (zh - c * qh) / nq);
      if (dzi) dzi[k] = (float)(w * b * (qh - c * zh) / nz);
    }
  }
  return weight * total / B;
}

double nc_loss_symmetric(nc_loss_kind kind, int B, int d, const float *q1, const float *q2,
                         const float *z1, const float *z2, float *dq1, float *dq2, float *dz1,
                         float *dz2) {
  double w = nc_loss_direction_weight(kind);
  return nc_loss_direction(kind, B, d, q1, z2, w, dq1, dz2) +
         nc_loss_direction(kind, B, d, q2, z1, w, dq2, dz1);
}

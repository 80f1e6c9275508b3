// ctest-labels: unit
/* The CUDA backend's per-element arithmetic (src/backend/cuda/cuda_math.h, the same inline
 * functions its kernels run) compiled here as plain C and checked on the CPU against the CPU
 * backend's results: bit for bit where the CPU computes the same float expression (ReLU, add,
 * batch-norm forward, SGD/LARS, EMA, the loss gradient), to round-off where the CPU's sums run in
 * vector lanes (batch-norm backward). Runs in every build, with or without CUDA. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/backend/cuda/cuda_math.h"
#include "../src/nn/layers_blocked.h"
#include "ncssl/backend.h"
#include "ncssl/layers.h"
#include "ncssl/loss.h"
#include "ncssl/rng.h"
#include "testing.h"

enum { N = 4, C = 3, H = 5, W = 6, M = N * C * H * W };

static nc_rng rng;
static void fill(float *x, size_t n, double scale) {
  for (size_t i = 0; i < n; i++) x[i] = (float)(scale * nc_rng_normal(&rng));
}

static int same(const float *a, const float *b, size_t n) { return !memcmp(a, b, n * sizeof *a); }

static void test_elementwise(void) {
  static float a[M], b[M], y[M], ref[M], dy[M], dx[M], dref[M];
  fill(a, M, 1), fill(b, M, 1), fill(dy, M, 1);
  nc_relu_forward(M, a, ref);
  for (int i = 0; i < M; i++) y[i] = nc_cm_relu(a[i]);
  CHECK(same(y, ref, M));
  memset(dref, 0, sizeof dref);
  nc_relu_backward(M, ref, dy, dref);
  for (int i = 0; i < M; i++) dx[i] = 0.0f + nc_cm_relu_grad(ref[i], dy[i]);
  CHECK(same(dx, dref, M));
  nc_add_relu_forward(M, a, b, ref);
  for (int i = 0; i < M; i++) y[i] = nc_cm_add_relu(a[i], b[i]);
  CHECK(same(y, ref, M));
}

/* The per-channel pieces the own batch-norm kernels finish with: the same operations as the
 * CPU's, so bit for bit on the same sums. */
static void test_bn_channel_pieces(void) {
  for (int k = 0; k < 200; k++) {
    double m = 1 + (k % 7) * 100, mean = nc_rng_normal(&rng),
           ss = m * (0.1 + fabs(nc_rng_normal(&rng)));
    float gamma[1] = {(float)nc_rng_normal(&rng)}, beta[1] = {(float)nc_rng_normal(&rng)};
    float rm[2] = {0.3f, 0.3f}, rv[2] = {1.5f, 1.5f}, sm[2], si[2], scale[2], shift[2];
    int train = k % 2;
    nc_bn_channel_affine(0, mean, ss / m, ss, m, train, gamma, beta, rm, rv, sm, si, scale, shift);
    nc_cm_bn_affine(mean, ss / m, ss, m, train, gamma[0], beta[0], NC_BN_MOMENTUM, NC_BN_EPS,
                    rm + 1, rv + 1, sm + 1, si + 1, scale + 1, shift + 1);
    CHECK(rm[0] == rm[1] && rv[0] == rv[1] && sm[0] == sm[1] && si[0] == si[1]);
    CHECK(scale[0] == scale[1] && shift[0] == shift[1]);
    double sg = nc_rng_normal(&rng) * m, sgx = nc_rng_normal(&rng) * m;
    float a[2], b[2];
    nc_bn_grad_coefs(gamma, 0, si[0], train, sg, sgx, m, scale, a, b);
    nc_cm_bn_grad_coefs(gamma[0], si[0], train, sg, sgx, m, scale + 1, a + 1, b + 1);
    CHECK(scale[0] == scale[1] && a[0] == a[1] && b[0] == b[1]);
  }
}

/* bf16 rounding (the CUDA backend's --precision bf16 copies): to nearest, ties to even, NaN kept,
 * overflow to infinity; from bf16 exact. */
static void test_bf16(void) {
  union {
    unsigned int u;
    float f;
  } v;
  CHECK(nc_cm_bf16(1.0f) == 0x3f80 && nc_cm_from_bf16(0x3f80) == 1.0f);
  v.u = 0x3f808000u; /* 1 + 2⁻⁸: halfway between 0x3f80 and 0x3f81, ties to the even 0x3f80 */
  CHECK(nc_cm_bf16(v.f) == 0x3f80);
  v.u = 0x3f818000u; /* halfway between 0x3f81 and 0x3f82: to the even 0x3f82 */
  CHECK(nc_cm_bf16(v.f) == 0x3f82);
  v.u = 0x3f808001u; /* just above halfway: up */
  CHECK(nc_cm_bf16(v.f) == 0x3f81);
  CHECK(nc_cm_bf16(-2.0f) == 0xc000);
  v.u = 0x7f7fffffu; /* the largest float rounds to infinity */
  CHECK(nc_cm_bf16(v.f) == 0x7f80);
  CHECK(nc_cm_bf16(INFINITY) == 0x7f80 && nc_cm_bf16(-INFINITY) == 0xff80);
  float q = nc_cm_from_bf16(nc_cm_bf16(NAN));
  CHECK(q != q);
  v.u = 0x7f800001u; /* a NaN whose payload would round to infinity stays a NaN */
  q = nc_cm_from_bf16(nc_cm_bf16(v.f));
  CHECK(q != q);
  /* random values: the nearer of the two neighbours, within half a unit (2⁻⁸ relative) */
  int ok = 1;
  for (int k = 0; k < 100000; k++) {
    float x = (float)(nc_rng_normal(&rng) * pow(10, (k % 21) - 10));
    unsigned short b = nc_cm_bf16(x);
    v.f = x;
    unsigned short lo = (unsigned short)(v.u >> 16), hi = (unsigned short)(lo + 1);
    double dl = fabs((double)nc_cm_from_bf16(lo) - x), dh = fabs((double)nc_cm_from_bf16(hi) - x);
    ok &= (b == lo || b == hi) && fabs((double)nc_cm_from_bf16(b) - x) <= (dl < dh ? dl : dh);
    ok &= fabs((double)nc_cm_from_bf16(b) - x) <= fabs(x) * 0x1p-8;
  }
  CHECK(ok);
}

static void test_batchnorm(int relu) {
  static float x[M], y[M], ref[M], dy[M], dx[M], dref[M];
  float gamma[C], beta[C], rm[C] = {0}, rv[C] = {1, 1, 1}, sm[C], si[C];
  fill(x, M, 2), fill(dy, M, 1), fill(gamma, C, 1), fill(beta, C, 1);
  for (int i = 0; i < M; i++) x[i] += 0.5f;
  nc_t4 s = nc_t4_cnhw(N, C, H, W);
  (relu ? nc_batchnorm_relu_forward : nc_batchnorm_forward)(s, x, ref, gamma, beta, rm, rv, 1, sm,
                                                            si);
  /* the own kernels' statistics: sums over 3 parts of each channel, then nc_cm_bn_affine */
  for (int c = 0; c < C; c++) {
    const int m = N * H * W, parts = 3;
    double sum = 0, ss = 0;
    for (int p = 0; p < parts; p++) {
      double part = 0;
      for (int e = m * p / parts; e < m * (p + 1) / parts; e++) part += x[(size_t)c * s.sc + e];
      sum += part;
    }
    const double mean = sum / m;
    for (int p = 0; p < parts; p++) {
      double part = 0;
      for (int e = m * p / parts; e < m * (p + 1) / parts; e++) {
        double d = x[(size_t)c * s.sc + e] - (float)mean;
        part += d * d;
      }
      ss += part;
    }
    float r_m = 0, r_v = 1, s_m, s_i, scale, shift;
    nc_cm_bn_affine(mean, ss / m, ss, m, 1, gamma[c], beta[c], NC_BN_MOMENTUM, NC_BN_EPS, &r_m,
                    &r_v, &s_m, &s_i, &scale, &shift);
    CHECK_NEAR(s_m, sm[c], 1e-6 * (1 + fabs(sm[c])));
    CHECK_NEAR(s_i, si[c], 1e-6 * si[c]);
    CHECK_NEAR(r_m, rm[c], 1e-6);
    CHECK_NEAR(r_v, rv[c], 1e-6 * rv[c]);
  }
  for (int c = 0; c < C; c++) {
    float scale = nc_cm_bn_scale(gamma[c], si[c]), shift = nc_cm_bn_shift(beta[c], sm[c], scale);
    for (int i = 0; i < N * H * W; i++) {
      size_t o = (size_t)c * s.sc + i;
      y[o] = nc_cm_bn_apply(x[o], scale, shift, relu);
    }
  }
  CHECK(same(y, ref, M));
  /* train-mode backward: a = mean(g), b = mean(g·x̂)·invstd per channel */
  memset(dref, 0, sizeof dref);
  float dg[C] = {0}, db[C] = {0};
  if (relu)
    nc_batchnorm_relu_backward(s, x, ref, dy, gamma, sm, si, 1, dref, dg, db);
  else
    nc_batchnorm_backward(s, x, dy, gamma, sm, si, 1, dref, dg, db);
  double worst = 0;
  for (int c = 0; c < C; c++) {
    const int m = N * H * W;
    double sg = 0, sgx = 0;
    for (int i = 0; i < m; i++) {
      size_t o = (size_t)c * s.sc + i;
      float g = relu ? nc_cm_relu_grad(ref[o], dy[o]) : dy[o];
      sg += g, sgx += (double)g * (x[o] - sm[c]);
    }
    float scale, a, b;
    nc_cm_bn_grad_coefs(gamma[c], si[c], 1, sg, sgx, m, &scale, &a, &b);
    for (int i = 0; i < m; i++) {
      size_t o = (size_t)c * s.sc + i;
      float g = relu ? nc_cm_relu_grad(ref[o], dy[o]) : dy[o];
      dx[o] = nc_cm_bn_dx(g, x[o], sm[c], scale, a, b);
      double e = fabs(dx[o] - dref[o]) / (fabs(dref[o]) + 1e-3);
      if (e > worst) worst = e;
    }
  }
  CHECK(worst < 1e-4);
}

static void test_update(int lars) {
  enum { K = 1000 };
  static float w[K], g[K], buf[K], w2[K], buf2[K];
  fill(w, K, 1), fill(g, K, 0.1), fill(buf, K, 0.01);
  memcpy(w2, w, sizeof w), memcpy(buf2, buf, sizeof buf);
  nc_update u = {0.05f, 0.9f, 4e-4f, lars, 1e-3};
  nc_backend *be = nc_backend_cpu();
  be->i->update(be, &u, w, g, buf, K);
  float scale = 1.0f;
  if (lars) {
    double wn = 0, dn = 0;
    for (int i = 0; i < K; i++) {
      double d = g[i] + u.weight_decay * w2[i];
      wn += (double)w2[i] * w2[i], dn += d * d;
    }
    scale = nc_cm_lars_scale(sqrt(wn), sqrt(dn), u.lars_trust);
    CHECK(scale != 1.0f);
  }
  for (int i = 0; i < K; i++)
    w2[i] = nc_cm_sgd(w2[i], g[i], &buf2[i], u.weight_decay, u.momentum, u.lr, scale);
  CHECK(same(w, w2, K) && same(buf, buf2, K));
  CHECK(nc_cm_lars_scale(0, 1, 1e-3) == 1.0f && nc_cm_lars_scale(1, 0, 1e-3) == 1.0f);
}

static void test_ema(void) {
  enum { K = 500 };
  static float t[K], o[K], t2[K];
  fill(t, K, 1), fill(o, K, 1);
  memcpy(t2, t, sizeof t);
  nc_backend *be = nc_backend_cpu();
  be->i->ema(be, K, t, o, 0.996);
  for (int i = 0; i < K; i++) t2[i] = nc_cm_ema(t2[i], o[i], (float)0.996, (float)(1.0 - 0.996));
  CHECK(same(t, t2, K));
}

/* One direction of each loss: the kernel's per-row formula against nc_loss_direction. */
static void test_loss(nc_loss_kind kind) {
  enum { B = 5, D = 7 };
  float q[B * D], z[B * D], dq[B * D], dz[B * D], rq[B * D], rz[B * D];
  fill(q, B * D, 1), fill(z, B * D, 1);
  const double weight = nc_loss_direction_weight(kind), w = weight / B;
  double ref = nc_loss_direction(kind, B, D, q, z, weight, rq, rz), total = 0;
  for (int r = 0; r < B; r++) {
    const float *qi = q + r * D, *zi = z + r * D;
    if (kind == NC_LOSS_SQUARED) {
      double s = 0;
      for (int k = 0; k < D; k++) {
        double e = (double)qi[k] - zi[k];
        s += e * e;
        dq[r * D + k] = (float)nc_cm_sq_grad(qi[k], zi[k], w);
        dz[r * D + k] = (float)nc_cm_sq_grad(zi[k], qi[k], w);
      }
      total += w * 0.5 * s;
      continue;
    }
    double qq = 0, zz = 0, qz = 0;
    for (int k = 0; k < D; k++)
      qq += (double)qi[k] * qi[k], zz += (double)zi[k] * zi[k], qz += (double)qi[k] * zi[k];
    double nq = fmax(sqrt(qq), 1e-8), nz = fmax(sqrt(zz), 1e-8), c = qz / (nq * nz);
    double a = kind == NC_LOSS_BYOL ? 2.0 : 0.0, b = kind == NC_LOSS_BYOL ? -2.0 : -1.0;
    for (int k = 0; k < D; k++) {
      dq[r * D + k] = (float)nc_cm_cos_grad(qi[k], zi[k], nq, nz, c, w * b);
      dz[r * D + k] = (float)nc_cm_cos_grad(zi[k], qi[k], nz, nq, c, w * b);
    }
    total += w * (a + b * c);
  }
  CHECK(same(dq, rq, B * D) && same(dz, rz, B * D));
  CHECK_NEAR(total, ref, 1e-12 * (1 + fabs(ref)));
}

static void test_nonfinite(void) {
  float v[7] = {0.0f, -1.5f, 3e38f, NAN, INFINITY, -INFINITY, 1e-40f};
  int want[7] = {0, 0, 0, 1, 1, 1, 0};
  for (int i = 0; i < 7; i++) CHECK(nc_cm_nonfinite(v[i]) == want[i]);
}

int main(void) {
  nc_rng_seed(&rng, 11);
  test_elementwise();
  test_bf16();
  test_bn_channel_pieces();
  test_batchnorm(0);
  test_batchnorm(1);
  test_update(0);
  test_update(1);
  test_ema();
  test_loss(NC_LOSS_BYOL);
  test_loss(NC_LOSS_SIMSIAM);
  test_loss(NC_LOSS_SQUARED);
  test_nonfinite();
  return nc_test_done();
}

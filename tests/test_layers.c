// ctest-labels: unit gradcheck
/* Gradient checks and closed-form properties of linear, batch norm (1-D, 2-D, affine on/off,
 * train/eval), ReLU, residual add and global average pooling. */
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "ncssl/layers.h"
#include "ncssl/rng.h"
#include "testing.h"

static nc_rng rng;

static void fill(float *x, size_t n, double scale) {
  for (size_t i = 0; i < n; i++) x[i] = (float)(scale * nc_rng_normal(&rng));
}
static void fill_r(double *r, size_t n) {
  for (size_t i = 0; i < n; i++) r[i] = nc_rng_normal(&rng);
}

/* ---- linear ---- */
enum { LN = 5, LIN = 7, LOUT = 4 };
static float lx[LN * LIN], lW[LOUT * LIN], lb[LOUT], ly[LN * LOUT];
static int l_bias;
static void linear_fwd(void *ctx) {
  (void)ctx;
  nc_linear_forward(LN, LIN, LOUT, lx, lW, l_bias ? lb : NULL, ly);
}

static void test_linear(int bias) {
  l_bias = bias;
  fill(lx, LN * LIN, 1), fill(lW, LOUT * LIN, 0.5), fill(lb, LOUT, 0.5);
  double r[LN * LOUT];
  fill_r(r, LN * LOUT);
  gc_problem p = {linear_fwd, ly, LN * LOUT, r};
  linear_fwd(NULL);
  /* y = x Wᵀ + b entry by entry */
  double want = (bias ? lb[2] : 0);
  for (int k = 0; k < LIN; k++) want += (double)lx[3 * LIN + k] * lW[2 * LIN + k];
  CHECK_NEAR(ly[3 * LOUT + 2], want, 1e-5);
  float dy[LN * LOUT], dx[LN * LIN], dW[LOUT * LIN], db[LOUT];
  for (int i = 0; i < LN * LOUT; i++) dy[i] = (float)r[i];
  memset(dx, 0, sizeof dx), memset(dW, 0, sizeof dW), memset(db, 0, sizeof db);
  nc_linear_backward(LN, LIN, LOUT, lx, lW, dy, dx, dW, bias ? db : NULL);
  CHECK(gc_check(&p, lx, dx, LN * LIN, 1e-2f, 0) < 1e-4);
  CHECK(gc_check(&p, lW, dW, LOUT * LIN, 1e-2f, 0) < 1e-4);
  if (bias) CHECK(gc_check(&p, lb, db, LOUT, 1e-2f, 0) < 1e-4);
  /* backward accumulates: a second call doubles the gradients */
  float dW1 = dW[5];
  nc_linear_backward(LN, LIN, LOUT, lx, lW, dy, NULL, dW, NULL);
  CHECK_NEAR(dW[5], 2 * dW1, 1e-5);
}

/* ---- batch norm ---- */
enum { BMAX = 4 * 3 * 5 * 5 };
static float bx[BMAX], by[BMAX], bg[8], bb[8], rm[8], rv[8], sm[8], si[8];
static nc_t4 bs;
static int b_affine, b_train;
static void bn_fwd(void *ctx) {
  (void)ctx;
  nc_batchnorm_forward(bs, bx, by, b_affine ? bg : NULL, b_affine ? bb : NULL, rm, rv, b_train, sm,
                       si);
}

static void test_batchnorm(nc_t4 s, int affine, int train) {
  bs = s, b_affine = affine, b_train = train;
  size_t n = nc_t4_numel(s);
  fill(bx, n, 1);
  for (size_t i = 0; i < n; i++) bx[i] += 0.5f; /* a nonzero mean */
  fill(bg, s.c, 0.5), fill(bb, s.c, 0.5);
  for (int c = 0; c < s.c; c++) bg[c] += 1.0f, rm[c] = 0.2f * c, rv[c] = 1.0f + 0.5f * c;
  double r[BMAX];
  fill_r(r, n);
  gc_problem p = {bn_fwd, by, n, r};
  if (train) {
    /* one forward from fresh running stats: r = 0.9·r0 + 0.1·stat, unbiased variance */
    float rm0[8], rv0[8];
    memcpy(rm0, rm, sizeof rm), memcpy(rv0, rv, sizeof rv);
    bn_fwd(NULL);
    int hw = s.h * s.w;
    double m = (double)s.n * hw, sum = 0, ss = 0;
    for (int i = 0; i < s.n; i++)
      for (int k = 0; k < hw; k++) sum += bx[i * s.sn + 1 * s.sc + k];
    double mean = sum / m;
    for (int i = 0; i < s.n; i++)
      for (int k = 0; k < hw; k++) ss += pow(bx[i * s.sn + 1 * s.sc + k] - mean, 2);
    CHECK_NEAR(rm[1], 0.9 * rm0[1] + 0.1 * mean, 1e-6);
    CHECK_NEAR(rv[1], 0.9 * rv0[1] + 0.1 * ss / (m - 1), 1e-5);
    /* normalised output: per channel mean beta, biased variance gamma² (eps aside) */
    double ym = 0, yv = 0;
    for (int i = 0; i < s.n; i++)
      for (int k = 0; k < hw; k++) ym += by[i * s.sn + 1 * s.sc + k] / m;
    for (int i = 0; i < s.n; i++)
      for (int k = 0; k < hw; k++) yv += pow(by[i * s.sn + 1 * s.sc + k] - ym, 2) / m;
    double g = affine ? bg[1] : 1, b = affine ? bb[1] : 0;
    CHECK_NEAR(ym, b, 1e-5);
    CHECK_NEAR(yv, g * g * (ss / m) / (ss / m + NC_BN_EPS), 1e-4);
  } else {
    bn_fwd(NULL);
    double want = (bx[1 * s.sc] - rm[1]) / sqrt(rv[1] + NC_BN_EPS) * (affine ? bg[1] : 1) +
                  (affine ? bb[1] : 0);
    CHECK_NEAR(by[1 * s.sc], want, 1e-5);
  }
  static float dy[BMAX], dx[BMAX];
  float dg[8] = {0}, db[8] = {0};
  for (size_t i = 0; i < n; i++) dy[i] = (float)r[i];
  memset(dx, 0, sizeof dx);
  bn_fwd(NULL);
  nc_batchnorm_backward(s, bx, dy, affine ? bg : NULL, sm, si, train, dx, affine ? dg : NULL,
                        affine ? db : NULL);
  /* the fused BN + ReLU equals ReLU after BN, forward and backward (mask from the output) */
  static float fy[BMAX], fdx[BMAX], mdy[BMAX], rdx[BMAX];
  float fdg[8] = {0}, fdb[8] = {0}, rdg[8] = {0}, rdb[8] = {0}, fsm[8], fsi[8];
  nc_batchnorm_relu_forward(s, bx, fy, affine ? bg : NULL, affine ? bb : NULL, rm, rv, train, fsm,
                            fsi);
  int same = 1;
  for (size_t i = 0; i < n; i++) same &= fy[i] == (by[i] > 0 ? by[i] : 0.0f);
  CHECK(same);
  for (size_t i = 0; i < n; i++) mdy[i] = fy[i] > 0 ? dy[i] : 0.0f;
  memset(fdx, 0, sizeof fdx), memset(rdx, 0, sizeof rdx);
  nc_batchnorm_relu_backward(s, bx, fy, dy, affine ? bg : NULL, fsm, fsi, train, fdx,
                             affine ? fdg : NULL, affine ? fdb : NULL);
  nc_batchnorm_backward(s, bx, mdy, affine ? bg : NULL, sm, si, train, rdx, affine ? rdg : NULL,
                        affine ? rdb : NULL);
  double dmax = 0;
  for (size_t i = 0; i < n; i++) dmax = fmax(dmax, fabs(fdx[i] - rdx[i]));
  for (int c = 0; c < s.c; c++) dmax = fmax(dmax, fabs(fdg[c] - rdg[c]) + fabs(fdb[c] - rdb[c]));
  CHECK(dmax < 1e-6);
  double ex = gc_check(&p, bx, dx, n, 1e-2f, 0);
  if (ex >= 2e-3) fprintf(stderr, "bn dx rel err %g\n", ex);
  CHECK(ex < 2e-3);
  if (affine) {
    CHECK(gc_check(&p, bg, dg, s.c, 1e-2f, 0) < 1e-3);
    CHECK(gc_check(&p, bb, db, s.c, 1e-2f, 0) < 1e-3);
  }
}

/* ---- relu, add, avgpool ---- */
enum { EN = 2 * 3 * 4 * 4 };
static float ex_[EN], eb[EN], ey[EN], pooled[2 * 3];
static nc_t4 es;
static void relu_fwd(void *ctx) {
  (void)ctx;
  nc_relu_forward(EN, ex_, ey);
}
static void add_fwd(void *ctx) {
  (void)ctx;
  nc_add_forward(EN, ex_, eb, ey);
}
static void pool_fwd(void *ctx) {
  (void)ctx;
  nc_avgpool_forward(es, ex_, pooled);
}

static void test_elementwise(void) {
  double r[EN];
  fill_r(r, EN);
  float dy[EN], dx[EN], db[EN];
  for (int i = 0; i < EN; i++) dy[i] = (float)r[i];
  /* relu: inputs kept away from the kink by more than the step */
  fill(ex_, EN, 1);
  for (int i = 0; i < EN; i++) ex_[i] += ex_[i] > 0 ? 0.05f : -0.05f;
  gc_problem pr = {relu_fwd, ey, EN, r};
  relu_fwd(NULL);
  memset(dx, 0, sizeof dx);
  nc_relu_backward(EN, ey, dy, dx);
  CHECK(gc_check(&pr, ex_, dx, EN, 1e-2f, 0) < 1e-5);
  float inplace[EN];
  memcpy(inplace, dy, sizeof dy);
  nc_relu_backward(EN, ey, inplace, inplace);
  CHECK(memcmp(inplace, dx, sizeof dx) == 0);
  /* add */
  fill(eb, EN, 1);
  gc_problem pa = {add_fwd, ey, EN, r};
  memset(dx, 0, sizeof dx), memset(db, 0, sizeof db);
  nc_add_backward(EN, dy, dx, db);
  CHECK(gc_check(&pa, ex_, dx, EN, 1e-2f, 0) < 1e-5);
  CHECK(gc_check(&pa, eb, db, EN, 1e-2f, 0) < 1e-5);
  /* fused add + ReLU: the same as add then ReLU, forward and (in place) backward */
  float fused[EN], g[EN], gb[EN] = {0}, want_g[EN], want_gb[EN] = {0};
  nc_add_relu_forward(EN, ex_, eb, fused);
  add_fwd(NULL);
  nc_relu_forward(EN, ey, ey);
  CHECK(memcmp(fused, ey, sizeof ey) == 0);
  memcpy(g, dy, sizeof g);
  nc_add_relu_backward(EN, fused, g, gb);
  memcpy(want_g, dy, sizeof g);
  nc_relu_backward(EN, ey, want_g, want_g);
  nc_add_backward(EN, want_g, NULL, want_gb);
  CHECK(memcmp(g, want_g, sizeof g) == 0 && memcmp(gb, want_gb, sizeof gb) == 0);
  /* avgpool on both layouts */
  nc_t4 layouts[2] = {nc_t4_nchw(2, 3, 4, 4), nc_t4_cnhw(2, 3, 4, 4)};
  for (int l = 0; l < 2; l++) {
    es = layouts[l];
    gc_problem pp = {pool_fwd, pooled, 6, r};
    pool_fwd(NULL);
    double want = 0;
    for (int k = 0; k < 16; k++) want += ex_[1 * es.sn + 2 * es.sc + k] / 16.0;
    CHECK_NEAR(pooled[1 * 3 + 2], want, 1e-6);
    memset(dx, 0, sizeof dx);
    float dp[6];
    for (int i = 0; i < 6; i++) dp[i] = (float)r[i];
    nc_avgpool_backward(es, dp, dx);
    CHECK(gc_check(&pp, ex_, dx, EN, 1e-2f, 0) < 1e-4);
  }
}

int main(void) {
  nc_rng_seed(&rng, 7);
  test_linear(1);
  test_linear(0);
  nc_t4 shapes[3] = {nc_t4_nchw(4, 3, 5, 5), nc_t4_cnhw(4, 3, 5, 5), nc_t4_nchw(6, 5, 1, 1)};
  for (int s = 0; s < 3; s++)
    for (int affine = 0; affine < 2; affine++)
      for (int train = 0; train < 2; train++) test_batchnorm(shapes[s], affine, train);
  test_elementwise();
  return nc_test_done();
}

// ctest-labels: unit
/* The channel-blocked (nChw16c) forms of batch norm (fused with and without ReLU, training and
 * eval, and the split form synchronised batch norm runs), average and max pooling against the
 * planar kernels on the same numbers: the same results to float rounding, the split form equal
 * bit for bit to the fused one, and the same bits whatever the thread count (the reductions are
 * cut by image ranges, not by threads). */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "ncssl/layers.h"
#include "ncssl/rng.h"
#include "testing.h"

enum { N = 13, C = 48, H = 7, W = 9 };
#define NUMEL ((size_t)N * C * H * W)

static nc_rng rng;
static float *randn(size_t n, float shift) {
  float *x = malloc(n * sizeof(float));
  for (size_t i = 0; i < n; i++) x[i] = (float)nc_rng_normal(&rng) + shift;
  return x;
}

static float *copy_of(const float *x, size_t n) {
  float *y = malloc(n * sizeof(float));
  memcpy(y, x, n * sizeof(float));
  return y;
}

/* dst (view d) = src (view s), element by element */
static void relayout(nc_t4 s, const float *src, nc_t4 d, float *dst) {
  for (int i = 0; i < s.n; i++)
    for (int c = 0; c < s.c; c++)
      for (long p = 0; p < (long)s.h * s.w; p++)
        dst[nc_t4_at(d, i, c, p)] = src[nc_t4_at(s, i, c, p)];
}

/* max |a − b| / max |b| with a in view va and b in view vb */
static double rel_diff(nc_t4 va, const float *a, nc_t4 vb, const float *b) {
  double d = 0, m = 1e-30;
  for (int i = 0; i < va.n; i++)
    for (int c = 0; c < va.c; c++)
      for (long p = 0; p < (long)va.h * va.w; p++) {
        double x = a[nc_t4_at(va, i, c, p)], y = b[nc_t4_at(vb, i, c, p)];
        d = fmax(d, fabs(x - y)), m = fmax(m, fabs(y));
      }
  return d / m;
}

static double vec_diff(const float *a, const float *b, int n) {
  double d = 0, m = 1e-30;
  for (int i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - b[i])), m = fmax(m, fabs(b[i]));
  return d / m;
}

static const nc_t4 P = {N, C, H, W, (long)H *W, (long)N *H *W, 0}; /* CNHW */

static void check_views(void) {
  nc_t4 b = nc_t4_blocked(N, C, H, W);
  CHECK(b.blk == 16 && b.sn == (long)C * H * W && b.sc == 16L * H * W);
  /* pixel 5 of channel 17 of image 2: block 1, lane 1 */
  CHECK(nc_t4_at(b, 2, 17, 5) == 2L * C * H * W + 1L * 16 * H * W + 5 * 16 + 1);
  CHECK(nc_t4_at(P, 2, 17, 5) == 2L * H * W + 17L * N * H * W + 5);
}

/* One BN forward + backward in both layouts; returns nothing, checks everything it produces. */
static void check_bn(int train, int relu) {
  nc_t4 B = nc_t4_blocked(N, C, H, W);
  float *x = randn(NUMEL, 0.7f), *dy = randn(NUMEL, 0.1f), *gamma = randn(C, 1.0f),
        *beta = randn(C, 0.0f);
  float *xb = malloc(NUMEL * 4), *dyb = malloc(NUMEL * 4);
  relayout(P, x, B, xb), relayout(P, dy, B, dyb);
  float *rm = randn(C, 0.0f), *rv = randn(C, 3.0f), *rm_b = copy_of(rm, C), *rv_b = copy_of(rv, C);
  for (int c = 0; c < C; c++) rv[c] = rv_b[c] = fabsf(rv[c]);
  float *rm0 = copy_of(rm, C);
  float *y = malloc(NUMEL * 4), *yb = malloc(NUMEL * 4), save[2 * C], save_b[2 * C];
  if (relu) {
    nc_batchnorm_relu_forward(P, x, y, gamma, beta, rm, rv, train, save, save + C);
    nc_batchnorm_relu_forward(B, xb, yb, gamma, beta, rm_b, rv_b, train, save_b, save_b + C);
  } else {
    nc_batchnorm_forward(P, x, y, gamma, beta, rm, rv, train, save, save + C);
    nc_batchnorm_forward(B, xb, yb, gamma, beta, rm_b, rv_b, train, save_b, save_b + C);
  }
  CHECK(rel_diff(B, yb, P, y) < 1e-6);
  CHECK(vec_diff(save_b, save, 2 * C) < 1e-6);
  CHECK(vec_diff(rm_b, rm, C) < 1e-6 && vec_diff(rv_b, rv, C) < 1e-6);
  if (train) CHECK(vec_diff(rm_b, rm0, C) > 1e-3); /* the running mean was updated */

  /* backward onto nonzero buffers (it accumulates) */
  float *dx = randn(NUMEL, 0.0f), *dxb = malloc(NUMEL * 4), dg[C], db[C], dg_b[C], db_b[C];
  relayout(P, dx, B, dxb);
  for (int c = 0; c < C; c++) dg[c] = dg_b[c] = 0.5f, db[c] = db_b[c] = -0.25f;
  if (relu) {
    nc_batchnorm_relu_backward(P, x, y, dy, gamma, save, save + C, train, dx, dg, db);
    nc_batchnorm_relu_backward(B, xb, yb, dyb, gamma, save_b, save_b + C, train, dxb, dg_b, db_b);
  } else {
    nc_batchnorm_backward(P, x, dy, gamma, save, save + C, train, dx, dg, db);
    nc_batchnorm_backward(B, xb, dyb, gamma, save_b, save_b + C, train, dxb, dg_b, db_b);
  }
  CHECK(rel_diff(B, dxb, P, dx) < 1e-5);
  CHECK(vec_diff(dg_b, dg, C) < 1e-5 && vec_diff(db_b, db, C) < 1e-5);

  /* the split form, with the sums of one process, gives the fused form's bits */
  if (train) {
    double sum[C], ss[C], m = (double)N * H * W, sum_g[C], sum_gx[C];
    float *y2 = malloc(NUMEL * 4), *dx2 = malloc(NUMEL * 4), save2[2 * C], rm2[C], rv2[C];
    float *rm0 = randn(C, 0.0f);
    for (int c = 0; c < C; c++) rm2[c] = rm0[c], rv2[c] = 1.0f;
    float rm1[C], rv1[C], save1[2 * C], *y1 = malloc(NUMEL * 4);
    memcpy(rm1, rm2, sizeof rm1), memcpy(rv1, rv2, sizeof rv1);
    nc_batchnorm_relu_forward(B, xb, y1, gamma, beta, rm1, rv1, 1, save1, save1 + C);
    nc_batchnorm_sums(B, xb, sum);
    for (int c = 0; c < C; c++) sum[c] /= m;
    nc_batchnorm_sqdev(B, xb, sum, ss);
    nc_batchnorm_apply(B, xb, y2, gamma, beta, rm2, rv2, sum, ss, m, 1, save2, save2 + C);
    CHECK(memcmp(y1, y2, NUMEL * 4) == 0);
    CHECK(memcmp(save1, save2, sizeof save1) == 0 && memcmp(rv1, rv2, sizeof rv1) == 0);
    float *dx1 = calloc(NUMEL, 4);
    memset(dx2, 0, NUMEL * 4);
    nc_batchnorm_relu_backward(B, xb, y1, dyb, gamma, save1, save1 + C, 1, dx1, NULL, NULL);
    nc_batchnorm_grad_sums(B, xb, y1, dyb, save1, sum_g, sum_gx);
    nc_batchnorm_backward_apply(B, xb, y1, dyb, gamma, save1, save1 + C, sum_g, sum_gx, m, dx2);
    CHECK(memcmp(dx1, dx2, NUMEL * 4) == 0);

    /* the same bits on one thread and on three */
    int threads = omp_get_max_threads();
    float *y3 = malloc(NUMEL * 4), save3[2 * C];
    memcpy(rm1, rm0, sizeof rm1);
    for (int c = 0; c < C; c++) rv1[c] = 1.0f;
    omp_set_num_threads(1);
    nc_batchnorm_relu_forward(B, xb, y3, gamma, beta, rm1, rv1, 1, save3, save3 + C);
    omp_set_num_threads(3);
    nc_batchnorm_relu_forward(B, xb, y2, gamma, beta, rm2, rv2, 1, save2, save2 + C);
    CHECK(memcmp(y3, y2, NUMEL * 4) == 0 && memcmp(save3, save2, sizeof save3) == 0);
    /* the double sums themselves, on images scaled by 2^-40..2^40 so that adding their sums in
     * another grouping changes the last bits */
    float *wide = randn(NUMEL, 0.0f);
    for (size_t e = 0; e < NUMEL; e++)
      wide[e] = ldexpf(wide[e], (int)(e / ((size_t)C * H * W) * 29 % 81) - 40);
    double sum1[C], sum3[C], gx1[C], gx3[C], g1[C], g3[C];
    omp_set_num_threads(1);
    nc_batchnorm_sums(B, wide, sum1);
    nc_batchnorm_grad_sums(B, xb, NULL, wide, save1, g1, gx1);
    omp_set_num_threads(3);
    nc_batchnorm_sums(B, wide, sum3);
    nc_batchnorm_grad_sums(B, xb, NULL, wide, save1, g3, gx3);
    omp_set_num_threads(threads);
    CHECK(memcmp(sum1, sum3, sizeof sum1) == 0);
    CHECK(memcmp(g1, g3, sizeof g1) == 0 && memcmp(gx1, gx3, sizeof gx1) == 0);
    free(wide);
    free(y1), free(y2), free(y3), free(dx1), free(dx2), free(rm0);
  }
  free(x), free(dy), free(gamma), free(beta), free(xb), free(dyb), free(rm), free(rv);
  free(rm_b), free(rv_b), free(rm0), free(y), free(yb), free(dx), free(dxb);
}

static void check_pools(void) {
  nc_t4 B = nc_t4_blocked(N, C, H, W);
  float *x = randn(NUMEL, 0.3f), *xb = malloc(NUMEL * 4);
  relayout(P, x, B, xb);
  float y[N * C], yb[N * C];
  nc_avgpool_forward(P, x, y);
  nc_avgpool_forward(B, xb, yb);
  CHECK(vec_diff(yb, y, N * C) < 1e-6);
  float *dy = randn(N * C, 0.0f), *dx = randn(NUMEL, 0.0f), *dxb = malloc(NUMEL * 4);
  relayout(P, dx, B, dxb);
  nc_avgpool_backward(P, dy, dx);
  nc_avgpool_backward(B, dy, dxb);
  CHECK(rel_diff(B, dxb, P, dx) < 1e-6);

  /* max pooling 3, 2, 1 (the ImageNet stem's) */
  int oh, ow;
  nc_maxpool_out_hw(3, 2, 1, H, W, &oh, &ow);
  nc_t4 PO = nc_t4_cnhw(N, C, oh, ow), BO = nc_t4_blocked(N, C, oh, ow);
  size_t no = nc_t4_numel(PO);
  float *my = malloc(no * 4), *myb = malloc(no * 4), *g = randn(no, 0.0f), *gb = malloc(no * 4);
  int32_t *arg = malloc(no * 4), *argb = malloc(no * 4);
  relayout(PO, g, BO, gb);
  nc_maxpool_forward(3, 2, 1, P, x, PO, my, arg);
  nc_maxpool_forward(3, 2, 1, B, xb, BO, myb, argb);
  CHECK(rel_diff(BO, myb, PO, my) == 0);
  nc_maxpool_backward(P, dx, PO, g, arg);
  nc_maxpool_backward(B, dxb, BO, gb, argb);
  CHECK(rel_diff(B, dxb, P, dx) < 1e-6);
  free(x), free(xb), free(dy), free(dx), free(dxb), free(my), free(myb), free(g), free(gb);
  free(arg), free(argb);
}

int main(void) {
  nc_rng_seed(&rng, 11);
  check_views();
  for (int train = 0; train <= 1; train++)
    for (int relu = 0; relu <= 1; relu++) check_bn(train, relu);
  check_pools();
  return nc_test_done();
}

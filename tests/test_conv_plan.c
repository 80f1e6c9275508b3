// ctest-labels: unit
/* Convolution plans (oneDNN primitives) against im2col + SGEMM on the shapes a ResNet has: the
 * forward, the accumulating backward (dx +=, dW += onto nonzero buffers), NCHW and CNHW views,
 * one input channel, strided and 1×1 convolutions; bit-identical repeats (determinism for a
 * fixed thread count); a plan rebuilt for a smaller batch; and the OpenBLAS thread count left as
 * the caller set it. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "ncssl/layers.h"
#include "ncssl/linalg.h"
#include "ncssl/rng.h"
#include "testing.h"

static nc_rng rng;
static float *randn(size_t n) {
  float *x = malloc(n * sizeof(float));
  for (size_t i = 0; i < n; i++) x[i] = (float)nc_rng_normal(&rng);
  return x;
}

/* max |a − b| / (max |b| + tiny) */
static double rel_diff(const float *a, const float *b, size_t n) {
  double d = 0, m = 1e-30;
  for (size_t i = 0; i < n; i++) {
    d = fmax(d, fabs((double)a[i] - b[i]));
    m = fmax(m, fabs((double)b[i]));
  }
  return d / m;
}

/* One shape: plan vs im2col on the same data; returns 1 when a plan was made. */
static int compare(nc_conv_cfg c, int n, int h, int w, int cnhw) {
  int oh, ow;
  nc_conv2d_out_hw(&c, h, w, &oh, &ow);
  nc_t4 xs = cnhw ? nc_t4_cnhw(n, c.cin, h, w) : nc_t4_nchw(n, c.cin, h, w);
  nc_t4 ys = cnhw ? nc_t4_cnhw(n, c.cout, oh, ow) : nc_t4_nchw(n, c.cout, oh, ow);
  size_t nx = nc_t4_numel(xs), ny = nc_t4_numel(ys), nw = (size_t)c.cout * c.cin * c.kh * c.kw;
  nc_conv_plan *p = NULL;
  CHECK(nc_conv_plan_new(&p, &c, xs, ys, 1) == 0);
  size_t ns = nc_conv2d_scratch_floats(&c, n, h, w), np = nc_conv_plan_scratch_floats(p);
  if (np > ns) ns = np;
  float *x = randn(nx), *W = randn(nw), *dy = randn(ny), *dx0 = randn(nx), *dw0 = randn(nw);
  float *y1 = malloc(ny * 4), *y2 = malloc(ny * 4), *y3 = malloc(ny * 4), *s = malloc(ns * 4);
  float *dx1 = malloc(nx * 4), *dx2 = malloc(nx * 4), *dw1 = malloc(nw * 4), *dw2 = malloc(nw * 4);
  nc_conv2d_forward(&c, xs, x, W, ys, y1, s, ns);
  nc_conv2d_forward_with(p, &c, xs, x, W, ys, y2, s, ns);
  CHECK(rel_diff(y2, y1, ny) < 1e-5);
  nc_conv2d_forward_with(p, &c, xs, x, W, ys, y3, s, ns);
  CHECK(memcmp(y2, y3, ny * 4) == 0);
  memcpy(dx1, dx0, nx * 4), memcpy(dx2, dx0, nx * 4);
  memcpy(dw1, dw0, nw * 4), memcpy(dw2, dw0, nw * 4);
  nc_conv2d_backward(&c, xs, x, W, ys, dy, dx1, dw1, s, ns);
  nc_conv2d_backward_with(p, &c, xs, x, W, ys, dy, dx2, dw2, s, ns);
  double ex = rel_diff(dx2, dx1, nx), ew = rel_diff(dw2, dw1, nw);
  if (!(ex < 1e-5 && ew < 1e-5))
    fprintf(stderr, "conv %d->%d k%d s%d p%d n%d %dx%d %s: dx %.3g dW %.3g\n", c.cin, c.cout, c.kh,
            c.stride, c.pad, n, h, w, cnhw ? "CNHW" : "NCHW", ex, ew);
  CHECK(ex < 1e-5);
  CHECK(ew < 1e-5);
  /* only one of the gradients */
  memcpy(dx1, dx0, nx * 4), memcpy(dw1, dw0, nw * 4);
  nc_conv2d_backward_with(p, &c, xs, x, W, ys, dy, NULL, dw1, s, ns);
  nc_conv2d_backward_with(p, &c, xs, x, W, ys, dy, dx1, NULL, s, ns);
  CHECK(memcmp(dx1, dx2, nx * 4) == 0 && memcmp(dw1, dw2, nw * 4) == 0);
  int made = p != NULL;
  nc_conv_plan_free(p);
  free(x), free(W), free(dy), free(dx0), free(dw0), free(y1), free(y2), free(y3), free(s);
  free(dx1), free(dx2), free(dw1), free(dw2);
  return made;
}

/* A plan made for 8 images run on 6 (the last partial batch) remakes itself and computes exactly
 * what a plan made for 6 computes. */
static void test_other_batch(void) {
  nc_conv_cfg c = {16, 16, 3, 3, 1, 1};
  nc_t4 x8 = nc_t4_cnhw(8, 16, 28, 28), x5 = nc_t4_cnhw(6, 16, 28, 28);
  nc_t4 y8 = nc_t4_cnhw(8, 16, 28, 28), y5 = nc_t4_cnhw(6, 16, 28, 28);
  nc_conv_plan *big = NULL, *exact = NULL;
  CHECK(nc_conv_plan_new(&big, &c, x8, y8, 1) == 0 && nc_conv_plan_new(&exact, &c, x5, y5, 1) == 0);
  size_t ns = nc_conv_plan_scratch_floats(big) + nc_conv2d_scratch_floats(&c, 8, 28, 28);
  size_t nx = nc_t4_numel(x5), nw = 16 * 16 * 9;
  float *x = randn(nx), *W = randn(nw), *s = malloc(ns * 4);
  float *y1 = calloc(nx, 4), *y2 = calloc(nx, 4), *d1 = calloc(nx, 4), *d2 = calloc(nx, 4);
  float *w1 = calloc(nw, 4), *w2 = calloc(nw, 4);
  nc_conv2d_forward_with(big, &c, x5, x, W, y5, y1, s, ns);
  nc_conv2d_forward_with(exact, &c, x5, x, W, y5, y2, s, ns);
  CHECK(memcmp(y1, y2, nx * 4) == 0);
  nc_conv2d_backward_with(big, &c, x5, x, W, y5, y1, d1, w1, s, ns);
  nc_conv2d_backward_with(exact, &c, x5, x, W, y5, y1, d2, w2, s, ns);
  CHECK(memcmp(d1, d2, nx * 4) == 0 && memcmp(w1, w2, nw * 4) == 0);
  CHECK(strcmp(nc_conv_plan_kind(big), nc_conv_plan_kind(exact)) == 0);
  nc_conv_plan_free(big), nc_conv_plan_free(exact);
  free(x), free(W), free(s), free(y1), free(y2), free(d1), free(d2), free(w1), free(w2);
}

/* The convolutions hand OpenBLAS back the thread count they found (they run it single-threaded
 * inside their own threads): heads, the probe and the theory code keep the caller's --threads. */
static void test_blas_threads(void) {
  nc_conv_cfg c = {8, 8, 3, 3, 1, 1};
  nc_t4 xs = nc_t4_cnhw(16, 8, 32, 32);
  size_t n = nc_t4_numel(xs), ns = nc_conv2d_scratch_floats(&c, 16, 32, 32);
  float *x = randn(n), *W = randn(8 * 8 * 9), *y = malloc(n * 4), *s = malloc(ns * 4);
  openblas_set_num_threads(2);
  nc_conv2d_forward(&c, xs, x, W, xs, y, s, ns);
  CHECK(openblas_get_num_threads() == 2);
  nc_conv2d_backward(&c, xs, x, W, xs, y, x, NULL, s, ns);
  CHECK(openblas_get_num_threads() == 2);
  free(x), free(W), free(y), free(s);
}

int main(void) {
  nc_rng_seed(&rng, 13);
  omp_set_num_threads(2);
  /* with oneDNN, the 3×3 convolutions of three or more channels above 2e7 FLOP get a plan */
  int dnnl = strcmp(nc_sgemm_backend(), "oneDNN") == 0;
  CHECK(compare((nc_conv_cfg){3, 64, 3, 3, 1, 1}, 16, 28, 28, 0) == dnnl);  /* stem, NCHW */
  CHECK(compare((nc_conv_cfg){16, 16, 3, 3, 1, 1}, 8, 28, 28, 1) == dnnl);  /* a block, CNHW */
  CHECK(compare((nc_conv_cfg){16, 32, 3, 3, 2, 1}, 12, 29, 29, 1) == dnnl); /* stride 2, odd */
  CHECK(compare((nc_conv_cfg){32, 32, 3, 3, 1, 1}, 8, 14, 14, 0) == dnnl);  /* NCHW view */
  CHECK(compare((nc_conv_cfg){3, 32, 7, 7, 2, 3}, 8, 40, 40, 0) == dnnl);   /* ImageNet stem */
  /* and these stay on im2col + SGEMM */
  CHECK(compare((nc_conv_cfg){1, 16, 3, 3, 1, 1}, 6, 28, 28, 0) == 0);  /* one channel */
  CHECK(compare((nc_conv_cfg){16, 32, 1, 1, 2, 0}, 5, 14, 14, 1) == 0); /* shortcut 1×1/2 */
  CHECK(compare((nc_conv_cfg){8, 24, 1, 1, 1, 0}, 3, 9, 9, 1) == 0);    /* bottleneck 1×1 */
  CHECK(compare((nc_conv_cfg){4, 4, 3, 3, 1, 1}, 3, 4, 4, 1) == 0);     /* tiny */
  test_other_batch();
  test_blas_threads();
  return nc_test_done();
}

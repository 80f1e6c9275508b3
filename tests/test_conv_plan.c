// ctest-labels: unit
/* Convolution plans (oneDNN primitives) against im2col + SGEMM on the shapes a ResNet has: the
 * forward, the accumulating backward (dx +=, dW += onto nonzero buffers), NCHW and CNHW views,
 * one input channel, strided and 1×1 convolutions; Winograd where it is allowed and worth it (and
 * nowhere else), computing other roundings than the direct kernels within its error bound;
 * bit-identical repeats (determinism for a fixed thread count); a plan rebuilt for a smaller batch;
 * bf16 kernels on the layers where they pay (CPUs with AVX512-BF16 / AMX); and the OpenBLAS thread
 * count left as the caller set it. */
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

enum { IM2COL, DIRECT, WINOGRAD, BF16 };
static int kind_of(const nc_conv_plan *p) {
  const char *k = nc_conv_plan_kind(p);
  return !strcmp(k, "winograd")      ? WINOGRAD
         : !strcmp(k, "onednn")      ? DIRECT
         : !strcmp(k, "onednn-bf16") ? BF16
                                     : IM2COL;
}

/* One shape: plan (with the arithmetic `math` allows) vs im2col on the same data; returns what
 * the plan runs. Winograd's transforms round more than a direct convolution (on these shapes
 * 1.2-2.1e-6 of the largest value against 0.5-0.7e-6), still well inside the bound both share.
 * bf16 kernels round their inputs to 8 significant bits: about 2.5e-3, far above fp32's, so a
 * bf16 plan must land between 1e-4 (it really rounded) and 2e-2. Gradients are compared by what
 * the backward added to the nonzero buffers. */
static int compare(nc_conv_cfg c, int n, int h, int w, int cnhw, nc_conv_math math) {
  int oh, ow;
  nc_conv2d_out_hw(&c, h, w, &oh, &ow);
  nc_t4 xs = cnhw ? nc_t4_cnhw(n, c.cin, h, w) : nc_t4_nchw(n, c.cin, h, w);
  nc_t4 ys = cnhw ? nc_t4_cnhw(n, c.cout, oh, ow) : nc_t4_nchw(n, c.cout, oh, ow);
  size_t nx = nc_t4_numel(xs), ny = nc_t4_numel(ys), nw = (size_t)c.cout * c.cin * c.kh * c.kw;
  nc_conv_plan *p = NULL;
  CHECK(nc_conv_plan_new(&p, &c, xs, ys, 1, math) == 0);
  int kind = kind_of(p);
  const double lo = kind == BF16 ? 1e-4 : 0, tol = kind == BF16 ? 2e-2 : 1e-5;
  size_t ns = nc_conv2d_scratch_floats(&c, n, h, w), np = nc_conv_plan_scratch_floats(p);
  if (np > ns) ns = np;
  float *x = randn(nx), *W = randn(nw), *dy = randn(ny), *dx0 = randn(nx), *dw0 = randn(nw);
  float *y1 = malloc(ny * 4), *y2 = malloc(ny * 4), *y3 = malloc(ny * 4), *s = malloc(ns * 4);
  float *dx1 = malloc(nx * 4), *dx2 = malloc(nx * 4), *dw1 = malloc(nw * 4), *dw2 = malloc(nw * 4);
  nc_conv2d_forward(&c, xs, x, W, ys, y1, s, ns);
  nc_conv2d_forward_with(p, &c, xs, x, W, ys, y2, s, ns);
  double ey = rel_diff(y2, y1, ny);
  CHECK(ey >= lo && ey < tol);
  nc_conv2d_forward_with(p, &c, xs, x, W, ys, y3, s, ns);
  CHECK(memcmp(y2, y3, ny * 4) == 0);
  if (kind == WINOGRAD) { /* really another algorithm: the direct plan rounds differently */
    nc_conv_plan *direct = NULL;
    CHECK(nc_conv_plan_new(&direct, &c, xs, ys, 1, 0) == 0 && kind_of(direct) == DIRECT);
    CHECK(nc_conv_plan_scratch_floats(direct) <= ns);
    nc_conv2d_forward_with(direct, &c, xs, x, W, ys, y3, s, ns);
    CHECK(memcmp(y2, y3, ny * 4) != 0);
    fprintf(stderr, "winograd %d->%d n%d %dx%d: forward %.2g of max |y| (direct %.2g)\n", c.cin,
            c.cout, n, h, w, ey, rel_diff(y3, y1, ny));
    nc_conv_plan_free(direct);
  }
  memcpy(dx1, dx0, nx * 4), memcpy(dx2, dx0, nx * 4);
  memcpy(dw1, dw0, nw * 4), memcpy(dw2, dw0, nw * 4);
  nc_conv2d_backward(&c, xs, x, W, ys, dy, dx1, dw1, s, ns);
  nc_conv2d_backward_with(p, &c, xs, x, W, ys, dy, dx2, dw2, s, ns);
  float *ax1 = malloc(nx * 4), *ax2 = malloc(nx * 4), *aw1 = malloc(nw * 4), *aw2 = malloc(nw * 4);
  for (size_t i = 0; i < nx; i++) ax1[i] = dx1[i] - dx0[i], ax2[i] = dx2[i] - dx0[i];
  for (size_t i = 0; i < nw; i++) aw1[i] = dw1[i] - dw0[i], aw2[i] = dw2[i] - dw0[i];
  double ex = rel_diff(ax2, ax1, nx), ew = rel_diff(aw2, aw1, nw);
  free(ax1), free(ax2), free(aw1), free(aw2);
  if (!(ex < tol && ew < tol) || kind == WINOGRAD || kind == BF16)
    fprintf(stderr, "conv %d->%d k%d s%d p%d n%d %dx%d %s %s: dx %.3g dW %.3g\n", c.cin, c.cout,
            c.kh, c.stride, c.pad, n, h, w, cnhw ? "CNHW" : "NCHW", nc_conv_plan_kind(p), ex, ew);
  CHECK(ex >= lo && ex < tol);
  CHECK(ew >= lo && ew < tol);
  /* only one of the gradients */
  memcpy(dx1, dx0, nx * 4), memcpy(dw1, dw0, nw * 4);
  nc_conv2d_backward_with(p, &c, xs, x, W, ys, dy, NULL, dw1, s, ns);
  nc_conv2d_backward_with(p, &c, xs, x, W, ys, dy, dx1, NULL, s, ns);
  CHECK(memcmp(dx1, dx2, nx * 4) == 0 && memcmp(dw1, dw2, nw * 4) == 0);
  nc_conv_plan_free(p);
  free(x), free(W), free(dy), free(dx0), free(dw0), free(y1), free(y2), free(y3), free(s);
  free(dx1), free(dx2), free(dw1), free(dw2);
  return kind;
}

/* A plan made for `big` images run on `small` (the last partial batch) remakes itself and computes
 * exactly what a plan made for `small` computes (with Winograd, too, when the smaller batch still
 * has enough tiles for it, or not). */
static void test_other_batch(int ch, int hw, int big_n, int small_n, int allow_winograd) {
  nc_conv_cfg c = {ch, ch, 3, 3, 1, 1};
  nc_t4 x8 = nc_t4_cnhw(big_n, ch, hw, hw), x5 = nc_t4_cnhw(small_n, ch, hw, hw);
  nc_t4 y8 = x8, y5 = x5;
  nc_conv_plan *big = NULL, *exact = NULL;
  CHECK(nc_conv_plan_new(&big, &c, x8, y8, 1, allow_winograd) == 0 &&
        nc_conv_plan_new(&exact, &c, x5, y5, 1, allow_winograd) == 0);
  size_t ns = nc_conv_plan_scratch_floats(big) + nc_conv2d_scratch_floats(&c, big_n, hw, hw);
  size_t nx = nc_t4_numel(x5), nw = (size_t)ch * ch * 9;
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

/* oneDNN's fp32 Winograd kernels exist for AVX-512 (avx512_core) only; elsewhere the plans that
 * would use them run direct kernels. */
static int has_avx512_core(void) {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
}

/* Channel-blocked views: a 1×1 shortcut and a tiny 3×3 (both im2col for planar views) get a plan
 * and compute what im2col computes on the same numbers in CNHW; a blocked view that no plan
 * serves gets NaNs, not numbers read in the wrong layout. */
static void test_blocked_views(int dnnl) {
  const nc_conv_cfg cfgs[2] = {{16, 32, 1, 1, 2, 0}, {16, 16, 3, 3, 1, 1}};
  for (int k = 0; k < 2; k++) {
    const nc_conv_cfg c = cfgs[k];
    int n = 3, h = 6, w = 5, oh, ow;
    nc_conv2d_out_hw(&c, h, w, &oh, &ow);
    nc_t4 xp = nc_t4_cnhw(n, c.cin, h, w), yp = nc_t4_cnhw(n, c.cout, oh, ow);
    nc_t4 xb = nc_t4_blocked(n, c.cin, h, w), yb = nc_t4_blocked(n, c.cout, oh, ow);
    size_t nx = nc_t4_numel(xp), ny = nc_t4_numel(yp), nw = (size_t)c.cout * c.cin * c.kh * c.kw;
    nc_conv_plan *p = NULL;
    CHECK(nc_conv_plan_new(&p, &c, xb, yb, 1, 0) == 0);
    CHECK(dnnl ? p != NULL : p == NULL);
    size_t ns = nc_conv2d_scratch_floats(&c, n, h, w), np = nc_conv_plan_scratch_floats(p);
    if (np > ns) ns = np;
    float *x = randn(nx), *W = randn(nw), *dy = randn(ny), *s = malloc(ns * 4);
    float *xbk = malloc(nx * 4), *dyb = malloc(ny * 4), *y1 = malloc(ny * 4), *y2 = malloc(ny * 4);
    float *dx1 = calloc(nx, 4), *dx2 = calloc(nx, 4), *dw1 = calloc(nw, 4), *dw2 = calloc(nw, 4);
    for (int i = 0; i < n; i++)
      for (int ch = 0; ch < c.cin; ch++)
        for (int q = 0; q < h * w; q++) xbk[nc_t4_at(xb, i, ch, q)] = x[nc_t4_at(xp, i, ch, q)];
    for (int i = 0; i < n; i++)
      for (int ch = 0; ch < c.cout; ch++)
        for (int q = 0; q < oh * ow; q++) dyb[nc_t4_at(yb, i, ch, q)] = dy[nc_t4_at(yp, i, ch, q)];
    nc_conv2d_forward_with(p, &c, xb, xbk, W, yb, y2, s, ns);
    nc_conv2d_backward_with(p, &c, xb, xbk, W, yb, dyb, dx2, dw2, s, ns);
    if (dnnl) {
      nc_conv2d_forward(&c, xp, x, W, yp, y1, s, ns);
      nc_conv2d_backward(&c, xp, x, W, yp, dy, dx1, dw1, s, ns);
      double dy_max = 0, dx_max = 0;
      for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c.cout; ch++)
          for (int q = 0; q < oh * ow; q++)
            dy_max = fmax(dy_max, fabs(y2[nc_t4_at(yb, i, ch, q)] - y1[nc_t4_at(yp, i, ch, q)]));
      for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c.cin; ch++)
          for (int q = 0; q < h * w; q++)
            dx_max = fmax(dx_max, fabs(dx2[nc_t4_at(xb, i, ch, q)] - dx1[nc_t4_at(xp, i, ch, q)]));
      CHECK(dy_max < 1e-4 && dx_max < 1e-4 && rel_diff(dw2, dw1, nw) < 1e-5);
    }
    /* no plan for blocked views: NaNs out */
    int nan_y = 1, nan_dx = 1, nan_dw = 1;
    nc_conv2d_forward_with(NULL, &c, xb, xbk, W, yb, y2, s, ns);
    nc_conv2d_backward_with(NULL, &c, xb, xbk, W, yb, dyb, dx2, dw2, s, ns);
    for (size_t i = 0; i < ny; i++) nan_y &= isnan(y2[i]) != 0;
    for (size_t i = 0; i < nx; i++) nan_dx &= isnan(dx2[i]) != 0;
    for (size_t i = 0; i < nw; i++) nan_dw &= isnan(dw2[i]) != 0;
    CHECK(nan_y && nan_dx && nan_dw);
    nc_conv_plan_free(p);
    free(x), free(W), free(dy), free(s), free(xbk), free(dyb), free(y1), free(y2);
    free(dx1), free(dx2), free(dw1), free(dw2);
  }
}

/* A planar CNHW map copied into (to_blocked) or out of a blocked one. */
static void relayout(nc_t4 a, const float *src, nc_t4 b, float *dst) {
  for (int i = 0; i < a.n; i++)
    for (int ch = 0; ch < a.c; ch++)
      for (long q = 0; q < (long)a.h * a.w; q++)
        dst[nc_t4_at(b, i, ch, q)] = src[nc_t4_at(a, i, ch, q)];
}

/* Winograd through SGEMM (what CPUs without oneDNN's Winograd run; NCSSL_WINOGRAD=gemm makes it
 * run here): forward, dx += and dW += against im2col within its rounding (4-11e-6 of the largest
 * value on these shapes, oneDNN's Winograd 1-2e-6, a direct one 0.5e-6), partial tiles,
 * cin ≠ cout, chunks of images (96×96 at 128 channels: one image per chunk), bit-identical
 * repeats, each gradient alone as together; NCSSL_WINOGRAD=off keeps direct kernels. */
static void test_gemm_winograd(void) {
  const struct {
    int cin, cout, n, h, w;
  } shapes[] = {{32, 32, 2, 33, 35},
                {64, 64, 16, 10, 13},
                {64, 128, 8, 16, 16},
                {128, 64, 8, 16, 16},
                {128, 128, 2, 96, 96}};
  setenv("NCSSL_WINOGRAD", "gemm", 1);
  for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
    nc_conv_cfg c = {shapes[k].cin, shapes[k].cout, 3, 3, 1, 1};
    int n = shapes[k].n, h = shapes[k].h, w = shapes[k].w;
    nc_t4 xp = nc_t4_cnhw(n, c.cin, h, w), yp = nc_t4_cnhw(n, c.cout, h, w);
    nc_t4 xb = nc_t4_blocked(n, c.cin, h, w), yb = nc_t4_blocked(n, c.cout, h, w);
    size_t nx = nc_t4_numel(xp), ny = nc_t4_numel(yp), nw = (size_t)c.cout * c.cin * 9;
    nc_conv_plan *p = NULL;
    CHECK(nc_conv_plan_new(&p, &c, xb, yb, 1, 1) == 0 &&
          strcmp(nc_conv_plan_kind(p), "winograd-gemm") == 0);
    size_t ns = nc_conv2d_scratch_floats(&c, n, h, w), np = nc_conv_plan_scratch_floats(p);
    if (np > ns) ns = np;
    float *x = randn(nx), *W = randn(nw), *dy = randn(ny), *dx0 = randn(nx), *dw0 = randn(nw);
    float *xbk = malloc(nx * 4), *dyb = malloc(ny * 4), *s = malloc(ns * 4);
    float *y1 = malloc(ny * 4), *y2 = malloc(ny * 4), *y3 = malloc(ny * 4);
    float *dx1 = malloc(nx * 4), *dx2 = malloc(nx * 4), *dx3 = malloc(nx * 4);
    float *dw1 = malloc(nw * 4), *dw2 = malloc(nw * 4), *dw3 = malloc(nw * 4);
    relayout(xp, x, xb, xbk), relayout(yp, dy, yb, dyb);
    nc_conv2d_forward(&c, xp, x, W, yp, y1, s, ns);
    nc_conv2d_forward_with(p, &c, xb, xbk, W, yb, y3, s, ns);
    relayout(yb, y3, yp, y2);
    double ey = rel_diff(y2, y1, ny);
    nc_conv2d_forward_with(p, &c, xb, xbk, W, yb, y2, s, ns);
    CHECK(memcmp(y2, y3, ny * 4) == 0);
    memcpy(dx1, dx0, nx * 4), memcpy(dw1, dw0, nw * 4), memcpy(dw2, dw0, nw * 4);
    relayout(xp, dx0, xb, dx2);
    nc_conv2d_backward(&c, xp, x, W, yp, dy, dx1, dw1, s, ns);
    nc_conv2d_backward_with(p, &c, xb, xbk, W, yb, dyb, dx2, dw2, s, ns);
    relayout(xb, dx2, xp, dx3);
    double ex = rel_diff(dx3, dx1, nx), ew = rel_diff(dw2, dw1, nw);
    fprintf(stderr, "winograd-gemm %d->%d n%d %dx%d: y %.2g dx %.2g dW %.2g of the largest\n",
            c.cin, c.cout, n, h, w, ey, ex, ew);
    CHECK(ey < 3e-5 && ex < 3e-5 && ew < 3e-5);
    /* each gradient alone, and repeats, give the same bits */
    relayout(xp, dx0, xb, dx3), memcpy(dw3, dw0, nw * 4);
    nc_conv2d_backward_with(p, &c, xb, xbk, W, yb, dyb, NULL, dw3, s, ns);
    nc_conv2d_backward_with(p, &c, xb, xbk, W, yb, dyb, dx3, NULL, s, ns);
    CHECK(memcmp(dx2, dx3, nx * 4) == 0 && memcmp(dw2, dw3, nw * 4) == 0);
    nc_conv_plan_free(p);
    free(x), free(W), free(dy), free(dx0), free(dw0), free(xbk), free(dyb), free(s);
    free(y1), free(y2), free(y3), free(dx1), free(dx2), free(dx3), free(dw1), free(dw2), free(dw3);
  }
  /* its own rule: from 16 tiles at 64 channels (oneDNN's Winograd from 128), not at 8 */
  nc_conv_cfg c2 = {64, 64, 3, 3, 2, 1}, c1 = {64, 64, 3, 3, 1, 1};
  nc_t4 x16 = nc_t4_blocked(1, 64, 16, 16), x8 = nc_t4_blocked(2, 64, 8, 8);
  nc_conv_plan *p = NULL;
  CHECK(nc_conv_plan_new(&p, &c1, x16, x16, 1, 1) == 0 &&
        !strcmp(nc_conv_plan_kind(p), "winograd-gemm"));
  nc_conv_plan_free(p);
  CHECK(nc_conv_plan_new(&p, &c1, x8, x8, 1, 1) == 0 && !strcmp(nc_conv_plan_kind(p), "onednn"));
  nc_conv_plan_free(p);
  /* not for stride 2 or fp32 (Winograd not allowed); off: direct */
  nc_t4 xb = nc_t4_blocked(32, 64, 16, 16), yb2 = nc_t4_blocked(32, 64, 8, 8);
  CHECK(nc_conv_plan_new(&p, &c2, xb, yb2, 1, 1) == 0 && !strcmp(nc_conv_plan_kind(p), "onednn"));
  nc_conv_plan_free(p);
  CHECK(nc_conv_plan_new(&p, &c1, xb, xb, 1, 0) == 0 && !strcmp(nc_conv_plan_kind(p), "onednn"));
  nc_conv_plan_free(p);
  setenv("NCSSL_WINOGRAD", "off", 1);
  CHECK(nc_conv_plan_new(&p, &c1, xb, xb, 1, 1) == 0 && !strcmp(nc_conv_plan_kind(p), "onednn"));
  nc_conv_plan_free(p);
  unsetenv("NCSSL_WINOGRAD");
  /* by default, where oneDNN has Winograd kernels, 16 tiles stay direct */
  CHECK(nc_conv_plan_new(&p, &c1, x16, x16, 1, 1) == 0 &&
        !strcmp(nc_conv_plan_kind(p), has_avx512_core() ? "onednn" : "winograd-gemm"));
  nc_conv_plan_free(p);
}

/* bf16 (NC_CONV_BF16): the 3×3 layers of 16+ input channels run oneDNN's bf16 kernels (within
 * bf16's rounding, accumulating, the same bits on a repeat: compare); the stem and 1×1 layers
 * keep their fp32 plans. */
static void test_bf16(void) {
  if (!nc_conv_bf16_available()) {
    fprintf(stderr, "bf16: this CPU (or ONEDNN_MAX_CPU_ISA) has no bf16 kernels: skipped\n");
    return;
  }
  CHECK(compare((nc_conv_cfg){64, 64, 3, 3, 1, 1}, 8, 16, 16, 1, NC_CONV_BF16) == BF16);
  CHECK(compare((nc_conv_cfg){16, 32, 3, 3, 2, 1}, 16, 29, 29, 0, NC_CONV_BF16) == BF16);
  CHECK(compare((nc_conv_cfg){3, 64, 3, 3, 1, 1}, 16, 28, 28, 0, NC_CONV_BF16) == DIRECT);
  CHECK(compare((nc_conv_cfg){64, 128, 1, 1, 2, 0}, 8, 16, 16, 1, NC_CONV_BF16) == IM2COL);
}

int main(void) {
  nc_rng_seed(&rng, 13);
  omp_set_num_threads(2);
  /* with oneDNN, the 3×3 convolutions of three or more channels above 2e7 FLOP get a plan */
  int dnnl = strcmp(nc_sgemm_backend(), "oneDNN") == 0;
  int plan = dnnl ? DIRECT : IM2COL, wino = !dnnl ? IM2COL : has_avx512_core() ? WINOGRAD : DIRECT;
  CHECK(compare((nc_conv_cfg){3, 64, 3, 3, 1, 1}, 16, 28, 28, 0, 0) == plan);  /* stem, NCHW */
  CHECK(compare((nc_conv_cfg){16, 16, 3, 3, 1, 1}, 8, 28, 28, 1, 0) == plan);  /* a block, CNHW */
  CHECK(compare((nc_conv_cfg){16, 32, 3, 3, 2, 1}, 12, 29, 29, 1, 0) == plan); /* stride 2, odd */
  CHECK(compare((nc_conv_cfg){32, 32, 3, 3, 1, 1}, 8, 14, 14, 0, 0) == plan);  /* NCHW view */
  CHECK(compare((nc_conv_cfg){3, 32, 7, 7, 2, 3}, 8, 40, 40, 0, 0) == plan);   /* ImageNet stem */
  /* and these stay on im2col + SGEMM */
  CHECK(compare((nc_conv_cfg){1, 16, 3, 3, 1, 1}, 6, 28, 28, 0, 0) == IM2COL);  /* one channel */
  CHECK(compare((nc_conv_cfg){16, 32, 1, 1, 2, 0}, 5, 14, 14, 1, 0) == IM2COL); /* shortcut 1×1/2 */
  CHECK(compare((nc_conv_cfg){8, 24, 1, 1, 1, 0}, 3, 9, 9, 1, 0) == IM2COL); /* bottleneck 1×1 */
  CHECK(compare((nc_conv_cfg){4, 4, 3, 3, 1, 1}, 3, 4, 4, 1, 0) == IM2COL);  /* tiny */
  /* Winograd allowed: used on the stride-1 3×3 layers where it pays, and nowhere else */
  CHECK(compare((nc_conv_cfg){32, 32, 3, 3, 1, 1}, 4, 32, 32, 1, 1) == wino);  /* 32 ch, 32×32 */
  CHECK(compare((nc_conv_cfg){64, 64, 3, 3, 1, 1}, 32, 8, 8, 0, 1) == wino);   /* 128 tiles */
  CHECK(compare((nc_conv_cfg){64, 64, 3, 3, 1, 1}, 8, 8, 8, 1, 1) == plan);    /* 32 tiles */
  CHECK(compare((nc_conv_cfg){64, 64, 3, 3, 1, 1}, 32, 7, 7, 1, 1) == wino);   /* partial tiles */
  CHECK(compare((nc_conv_cfg){32, 32, 3, 3, 1, 1}, 8, 14, 14, 0, 1) == plan);  /* 32 ch, 14×14 */
  CHECK(compare((nc_conv_cfg){16, 16, 3, 3, 1, 1}, 8, 28, 28, 1, 1) == plan);  /* 16 channels */
  CHECK(compare((nc_conv_cfg){64, 128, 3, 3, 2, 1}, 8, 16, 16, 1, 1) == plan); /* stride 2 */
  CHECK(compare((nc_conv_cfg){3, 64, 3, 3, 1, 1}, 16, 28, 28, 0, 1) == plan);  /* stem */
  test_other_batch(16, 28, 8, 6, 0);
  test_other_batch(64, 8, 32, 6, 1);  /* Winograd for 32 images, direct for the last 6 */
  test_other_batch(64, 8, 40, 32, 1); /* Winograd for both */
  test_blocked_views(dnnl);
  if (dnnl) test_gemm_winograd();
  if (dnnl) test_bf16();
  test_blas_threads();
  return nc_test_done();
}

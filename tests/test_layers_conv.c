// ctest-labels: unit gradcheck
/* Convolution and max pooling: forward against a direct loop, gradient checks on NCHW and CNHW
 * views, and the chunked GEMM path (several chunks with a remainder) against single images. */
#include <omp.h>
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

/* direct convolution, in double */
static double direct(const nc_conv_cfg *c, nc_t4 xs, const float *x, const float *W, int i, int co,
                     int oy, int ox) {
  double s = 0;
  for (int ci = 0; ci < c->cin; ci++)
    for (int a = 0; a < c->kh; a++)
      for (int b = 0; b < c->kw; b++) {
        int iy = oy * c->stride - c->pad + a, ix = ox * c->stride - c->pad + b;
        if (iy < 0 || iy >= xs.h || ix < 0 || ix >= xs.w) continue;
        s += (double)W[((co * c->cin + ci) * c->kh + a) * c->kw + b] *
             x[i * xs.sn + ci * xs.sc + iy * xs.w + ix];
      }
  return s;
}

static nc_conv_cfg g_cfg;
static nc_t4 g_xs, g_ys;
static float *g_x, *g_W, *g_y, *g_scratch;
static size_t g_ns;
static int g_pool;
static int32_t *g_arg;
static void conv_fwd(void *ctx) {
  (void)ctx;
  if (g_pool)
    nc_maxpool_forward(3, 2, 1, g_xs, g_x, g_ys, g_y, g_arg);
  else
    nc_conv2d_forward(&g_cfg, g_xs, g_x, g_W, g_ys, g_y, g_scratch, g_ns);
}

static void test_conv(nc_conv_cfg cfg, int n, int h, int w, int cnhw) {
  int oh, ow;
  nc_conv2d_out_hw(&cfg, h, w, &oh, &ow);
  nc_t4 xs = cnhw ? nc_t4_cnhw(n, cfg.cin, h, w) : nc_t4_nchw(n, cfg.cin, h, w);
  nc_t4 ys = cnhw ? nc_t4_cnhw(n, cfg.cout, oh, ow) : nc_t4_nchw(n, cfg.cout, oh, ow);
  size_t nx = nc_t4_numel(xs), ny = nc_t4_numel(ys),
         nw = (size_t)cfg.cout * cfg.cin * cfg.kh * cfg.kw;
  size_t ns = nc_conv2d_scratch_floats(&cfg, n, h, w);
  float *x = malloc(nx * 4), *W = malloc(nw * 4), *y = malloc(ny * 4), *dy = malloc(ny * 4);
  float *dx = calloc(nx, 4), *dW = calloc(nw, 4), *scratch = malloc((ns + 1) * 4);
  double *r = malloc(ny * sizeof *r);
  fill(x, nx, 1), fill(W, nw, 0.3);
  for (size_t i = 0; i < ny; i++) r[i] = nc_rng_normal(&rng), dy[i] = (float)r[i];
  g_cfg = cfg, g_xs = xs, g_ys = ys, g_x = x, g_W = W, g_y = y, g_scratch = scratch, g_ns = ns,
  g_pool = 0;
  conv_fwd(NULL);
  double maxerr = 0;
  for (int i = 0; i < n; i++)
    for (int co = 0; co < cfg.cout; co++)
      for (int oy = 0; oy < oh; oy++)
        for (int ox = 0; ox < ow; ox++) {
          double e = fabs(y[i * ys.sn + co * ys.sc + oy * ow + ox] -
                          direct(&cfg, xs, x, W, i, co, oy, ox));
          if (e > maxerr) maxerr = e;
        }
  CHECK(maxerr < 1e-5);
  nc_conv2d_backward(&cfg, xs, x, W, ys, dy, dx, dW, scratch, ns);
  gc_problem p = {conv_fwd, y, ny, r};
  double ex = gc_check(&p, x, dx, nx, 1e-2f, 200), ew = gc_check(&p, W, dW, nw, 1e-2f, 200);
  if (ex > 1e-4 || ew > 1e-4)
    fprintf(stderr, "conv k%d s%d p%d cnhw %d: dx err %g dW err %g\n", cfg.kh, cfg.stride, cfg.pad,
            cnhw, ex, ew);
  CHECK(ex < 1e-4);
  CHECK(ew < 1e-4);
  free(x), free(W), free(y), free(dy), free(dx), free(dW), free(scratch), free(r);
}

/* A batch large enough to be cut into chunks (with a remainder) in CNHW gives the same output and
 * gradients as image-by-image NCHW. */
static void test_chunks(void) {
  nc_conv_cfg cfg = {64, 4, 3, 3, 1, 1};
  int n = 9, h = 32, w = 32;
  nc_t4 xa = nc_t4_nchw(n, 64, h, w), ya = nc_t4_nchw(n, 4, h, w);
  nc_t4 xb = nc_t4_cnhw(n, 64, h, w), yb = nc_t4_cnhw(n, 4, h, w);
  size_t nx = nc_t4_numel(xa), ny = nc_t4_numel(ya), nw = 4 * 64 * 9;
  size_t ns = nc_conv2d_scratch_floats(&cfg, n, h, w);
  /* really chunked: one thread's share holds fewer than n images' im2col */
  CHECK(ns / omp_get_max_threads() < (size_t)n * 64 * 9 * h * w);
  float *x1 = malloc(nx * 4), *x2 = malloc(nx * 4), *W = malloc(nw * 4), *s = malloc(ns * 4);
  float *y1 = malloc(ny * 4), *y2 = malloc(ny * 4), *dy1 = malloc(ny * 4), *dy2 = malloc(ny * 4);
  float *dx1 = calloc(nx, 4), *dx2 = calloc(nx, 4), *dW1 = calloc(nw, 4), *dW2 = calloc(nw, 4);
  fill(x1, nx, 1), fill(W, nw, 0.1), fill(dy1, ny, 1);
  for (int i = 0; i < n; i++)
    for (int c = 0; c < 64; c++)
      memcpy(x2 + i * xb.sn + c * xb.sc, x1 + i * xa.sn + c * xa.sc, h * w * 4);
  for (int i = 0; i < n; i++)
    for (int c = 0; c < 4; c++)
      memcpy(dy2 + i * yb.sn + c * yb.sc, dy1 + i * ya.sn + c * ya.sc, h * w * 4);
  nc_conv2d_forward(&cfg, xa, x1, W, ya, y1, s, ns);
  nc_conv2d_forward(&cfg, xb, x2, W, yb, y2, s, ns);
  nc_conv2d_backward(&cfg, xa, x1, W, ya, dy1, dx1, dW1, s, ns);
  nc_conv2d_backward(&cfg, xb, x2, W, yb, dy2, dx2, dW2, s, ns);
  /* threads share the chunks; the same call twice gives the same bytes */
  float *dW3 = calloc(nw, 4), *dx3 = calloc(nx, 4);
  nc_conv2d_backward(&cfg, xb, x2, W, yb, dy2, dx3, dW3, s, ns);
  CHECK(memcmp(dW3, dW2, nw * 4) == 0 && memcmp(dx3, dx2, nx * 4) == 0);
  free(dW3), free(dx3);
  double ey = 0, ex = 0, ew = 0;
  for (int i = 0; i < n; i++)
    for (int c = 0; c < 4; c++)
      for (int k = 0; k < h * w; k++)
        ey = fmax(ey, fabs(y1[i * ya.sn + c * ya.sc + k] - y2[i * yb.sn + c * yb.sc + k]));
  for (int i = 0; i < n; i++)
    for (int c = 0; c < 64; c++)
      for (int k = 0; k < h * w; k++)
        ex = fmax(ex, fabs(dx1[i * xa.sn + c * xa.sc + k] - dx2[i * xb.sn + c * xb.sc + k]));
  for (size_t k = 0; k < nw; k++) ew = fmax(ew, fabs(dW1[k] - dW2[k]) / (1 + fabs(dW1[k])));
  CHECK(ey < 1e-5);
  CHECK(ex < 1e-5);
  CHECK(ew < 1e-4);
  free(x1), free(x2), free(W), free(s), free(y1), free(y2), free(dy1), free(dy2);
  free(dx1), free(dx2), free(dW1), free(dW2);
}

static void test_maxpool(int cnhw) {
  int n = 2, c = 3, h = 7, w = 6, oh, ow;
  nc_maxpool_out_hw(3, 2, 1, h, w, &oh, &ow);
  CHECK(oh == 4 && ow == 3);
  nc_t4 xs = cnhw ? nc_t4_cnhw(n, c, h, w) : nc_t4_nchw(n, c, h, w);
  nc_t4 ys = cnhw ? nc_t4_cnhw(n, c, oh, ow) : nc_t4_nchw(n, c, oh, ow);
  enum { NX = 2 * 3 * 7 * 6, NY = 2 * 3 * 4 * 3 };
  float x[NX], y[NY], dy[NY], dx[NX] = {0};
  int32_t arg[NY];
  double r[NY];
  /* distinct values well apart, so the finite-difference step never changes a winner */
  for (int i = 0; i < NX; i++) x[i] = (float)(0.1 * ((i * 37) % NX) - 5);
  for (int i = 0; i < NY; i++) r[i] = nc_rng_normal(&rng), dy[i] = (float)r[i];
  g_xs = xs, g_ys = ys, g_x = x, g_y = y, g_arg = arg, g_pool = 1;
  conv_fwd(NULL);
  /* output (1, 2) of image 1, channel 2 covers rows 1..3, columns 3..5 */
  double best = -1e30;
  for (int a = 1; a <= 3; a++)
    for (int b = 3; b <= 5; b++) best = fmax(best, x[1 * xs.sn + 2 * xs.sc + a * w + b]);
  CHECK_NEAR(y[1 * ys.sn + 2 * ys.sc + 1 * ow + 2], best, 0);
  nc_maxpool_backward(xs, dx, ys, dy, arg);
  gc_problem p = {conv_fwd, y, NY, r};
  CHECK(gc_check(&p, x, dx, NX, 1e-2f, 0) < 1e-5);
}

int main(void) {
  nc_rng_seed(&rng, 11);
  /* square, rectangular, strided, pointwise and "same" kernels, cout above and below cin */
  nc_conv_cfg cfgs[] = {{3, 4, 3, 3, 1, 1}, {4, 5, 3, 3, 2, 1}, {4, 6, 1, 1, 1, 0},
                        {4, 6, 1, 1, 2, 0}, {2, 3, 7, 7, 2, 3}, {3, 2, 2, 3, 1, 0},
                        {5, 4, 3, 3, 1, 1}, {4, 4, 3, 3, 1, 1}, {4, 3, 5, 5, 1, 2}};
  for (size_t k = 0; k < sizeof cfgs / sizeof *cfgs; k++)
    for (int cnhw = 0; cnhw < 2; cnhw++) test_conv(cfgs[k], 2, 9, 8, cnhw);
  test_chunks();
  test_maxpool(0);
  test_maxpool(1);
  return nc_test_done();
}

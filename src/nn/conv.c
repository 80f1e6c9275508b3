/* 2-D convolution as im2col + OpenBLAS SGEMM, and max pooling.
 *
 * Images are processed in chunks: the chunk's im2col matrix col[K, nb·OHW] (K = cin·kh·kw) times
 * W[cout, K] gives the output of nb images at once. When the layouts keep a channel's images
 * contiguous (CNHW) that product lands directly in y (leading dimension ys.sc), so a whole chunk is
 * one large GEMM; otherwise (NCHW) chunks are single images. The backward reuses the same scratch:
 * first dW_t += dy·colᵀ, then col ← Wᵀ·dy and col2im adds it into dx. 1×1 stride-1 convolutions
 * skip im2col and read x in place.
 *
 * Threads: OpenMP threads take whole chunks (im2col, GEMM, col2im) with OpenBLAS running
 * single-threaded inside (for the call only: its thread count is restored on return). The forward
 * hands chunks out dynamically (outputs are disjoint, so a thread descheduled on a busy machine
 * does not hold the others up); the backward keeps a static split: each thread sums its weight
 * gradient privately and the partial sums are added in thread order, so results are deterministic
 * for a given thread count. Measured on the 2-core machine: OpenBLAS's own pthreads spinning
 * against OpenMP's made the same work 3-4× slower than one pool. */
#include <cblas.h>
#include <float.h>
#include <omp.h>
#include <string.h>

#include "ncssl/layers.h"
#include "ncssl/linalg.h"
#include "simd.h"

/* Row-major C = alpha·op(A)·op(B) + beta·C with leading dimensions (linalg's fastest SGEMM; from
 * inside our OpenMP threads it runs serially). */
static void sgemm(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc) {
  nc_sgemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* A chunk's im2col matrix is kept under this many floats (4 MB) unless one image needs more. */
#define NC_CONV_CHUNK_FLOATS ((size_t)1 << 20)

void nc_conv2d_out_hw(const nc_conv_cfg *cfg, int h, int w, int *oh, int *ow) {
  *oh = (h + 2 * cfg->pad - cfg->kh) / cfg->stride + 1;
  *ow = (w + 2 * cfg->pad - cfg->kw) / cfg->stride + 1;
}

static int is_pointwise(const nc_conv_cfg *cfg) {
  return cfg->kh == 1 && cfg->kw == 1 && cfg->stride == 1 && cfg->pad == 0;
}

/* Images per chunk, at most NC_CONV_CHUNK_FLOATS of im2col each, for n images of h×w. */
static int chunk_images(const nc_conv_cfg *cfg, int n, int h, int w) {
  int oh, ow;
  nc_conv2d_out_hw(cfg, h, w, &oh, &ow);
  size_t per_image = (size_t)cfg->cin * cfg->kh * cfg->kw * oh * ow;
  size_t nb = NC_CONV_CHUNK_FLOATS / per_image;
  if (nb < 1) nb = 1;
  if (nb > (size_t)n) nb = (size_t)n;
  return (int)nb;
}

/* Floats each thread needs: its im2col matrix, then its private weight gradient. */
static size_t per_thread_floats(const nc_conv_cfg *cfg, int nb, int h, int w, size_t *col) {
  int oh, ow;
  nc_conv2d_out_hw(cfg, h, w, &oh, &ow);
  *col = is_pointwise(cfg) ? 0 : (size_t)nb * cfg->cin * cfg->kh * cfg->kw * oh * ow;
  *col = (*col + 15) / 16 * 16; /* keep each thread's pieces 64-byte aligned */
  size_t dw = ((size_t)cfg->cout * cfg->cin * cfg->kh * cfg->kw + 15) / 16 * 16;
  return *col + dw;
}

size_t nc_conv2d_scratch_floats(const nc_conv_cfg *cfg, int n, int h, int w) {
  size_t col;
  return (size_t)omp_get_max_threads() *
         per_thread_floats(cfg, chunk_images(cfg, n, h, w), h, w, &col);
}

typedef struct {
  int nb, nchunks, threads;
  size_t col, stride; /* per-thread im2col floats and per-thread scratch floats */
} conv_plan;

/* Splits n images into chunks that the threads share evenly and that fit the scratch. */
static conv_plan make_plan(const nc_conv_cfg *cfg, nc_t4 xs, nc_t4 ys, size_t scratch_floats) {
  conv_plan p;
  int contiguous = xs.sn == (long)xs.h * xs.w && ys.sn == (long)ys.h * ys.w;
  int nb = contiguous ? chunk_images(cfg, xs.n, xs.h, xs.w) : 1;
  p.stride = per_thread_floats(cfg, nb, xs.h, xs.w, &p.col);
  int fit = (int)(scratch_floats / p.stride), t = omp_get_max_threads();
  /* Below 2 MFLOP a thread team costs more than it saves. Above it the team pays, and it must:
   * nc_sgemm hands products of 4e6 multiply-adds (8 MFLOP) and more to oneDNN, which inside a team
   * of one starts a nested team of its own; at width 16, batch 32, the 1×1 shortcuts' products
   * (4.2e6) spent 7% of the step waiting in that team's barriers (docs/performance.md). */
  if (nc_conv2d_flops(cfg, xs.n, xs.h, xs.w) < 2e6) t = 1;
  p.threads = fit < t ? fit : t;
  if (p.threads < 1) p.threads = 1; /* the caller's scratch is too small: a contract violation */
  int chunks = (xs.n + nb - 1) / nb;
  chunks = (chunks + p.threads - 1) / p.threads * p.threads;
  p.nb = (xs.n + chunks - 1) / chunks;
  p.nchunks = (xs.n + p.nb - 1) / p.nb;
  if (p.threads > p.nchunks) p.threads = p.nchunks;
  return p;
}

double nc_conv2d_flops(const nc_conv_cfg *cfg, int n, int h, int w) {
  int oh, ow;
  nc_conv2d_out_hw(cfg, h, w, &oh, &ow);
  return 2.0 * n * oh * ow * cfg->cout * (double)cfg->cin * cfg->kh * cfg->kw;
}

/* The output columns [lo, hi) whose input column ox·s − p + b lies inside 0..w−1. */
static void valid_cols(int s, int p, int b, int w, int ow, int *lo, int *hi) {
  int l = p - b > 0 ? (p - b + s - 1) / s : 0;
  int h = (w - 1 + p - b) / s + 1; /* first ox with ox·s − p + b ≥ w */
  if (w - 1 + p - b < 0) h = 0;
  *lo = l < ow ? l : ow;
  *hi = h < ow ? h : ow;
  if (*hi < *lo) *hi = *lo;
}

/* col[row, j·OHW + p] for images i0..i0+nb−1, row = (ci·kh + a)·kw + b. Rows are copied as
 * contiguous runs (stride 1) with zeroed borders, so the loop has no per-pixel branch. */
NC_VECTOR_CLONES static void im2col(const nc_conv_cfg *cfg, nc_t4 xs, const float *x, int i0,
                                    int nb, int oh, int ow, float *col) {
  const int K = cfg->cin * cfg->kh * cfg->kw, s = cfg->stride, p = cfg->pad;
  const size_t cols = (size_t)nb * oh * ow;
  for (int row = 0; row < K; row++) {
    int b = row % cfg->kw, a = (row / cfg->kw) % cfg->kh, ci = row / (cfg->kw * cfg->kh), lo, hi;
    valid_cols(s, p, b, xs.w, ow, &lo, &hi);
    float *dst = col + row * cols;
    for (int j = 0; j < nb; j++) {
      const float *src = x + (i0 + j) * xs.sn + ci * xs.sc;
      for (int oy = 0; oy < oh; oy++) {
        int iy = oy * s - p + a;
        float *d = dst + ((size_t)j * oh + oy) * ow;
        if (iy < 0 || iy >= xs.h) {
          memset(d, 0, ow * sizeof(float));
          continue;
        }
        const float *srow = src + iy * xs.w;
        const int off = b - p; /* output column ox reads input column ox·s + off */
        for (int ox = 0; ox < lo; ox++) d[ox] = 0.0f;
        if (s == 1)
          memcpy(d + lo, srow + lo + off, (hi - lo) * sizeof(float));
        else
          for (int ox = lo; ox < hi; ox++) d[ox] = srow[ox * s + off];
        for (int ox = hi; ox < ow; ox++) d[ox] = 0.0f;
      }
    }
  }
}

/* dx += col2im(col) for images i0..i0+nb−1. */
NC_VECTOR_CLONES static void col2im_add(const nc_conv_cfg *cfg, nc_t4 xs, float *dx, int i0, int nb,
                                        int oh, int ow, const float *col) {
  const int s = cfg->stride, p = cfg->pad, kk = cfg->kh * cfg->kw;
  const size_t cols = (size_t)nb * oh * ow;
  for (int ci = 0; ci < cfg->cin; ci++)
    for (int r = 0; r < kk; r++) {
      int a = r / cfg->kw, b = r % cfg->kw, lo, hi;
      valid_cols(s, p, b, xs.w, ow, &lo, &hi);
      const float *srcrow = col + (size_t)(ci * kk + r) * cols;
      for (int j = 0; j < nb; j++) {
        float *dst = dx + (i0 + j) * xs.sn + ci * xs.sc;
        for (int oy = 0; oy < oh; oy++) {
          int iy = oy * s - p + a;
          if (iy < 0 || iy >= xs.h) continue;
          const float *sp = srcrow + ((size_t)j * oh + oy) * ow;
          float *drow = dst + iy * xs.w;
          const int off = b - p;
          if (s == 1)
            for (int ox = lo; ox < hi; ox++) drow[ox + off] += sp[ox];
          else
            for (int ox = lo; ox < hi; ox++) drow[ox * s + off] += sp[ox];
        }
      }
    }
}

void nc_conv2d_forward(const nc_conv_cfg *cfg, nc_t4 xs, const float *x, const float *W, nc_t4 ys,
                       float *y, float *scratch, size_t scratch_floats) {
  const int K = cfg->cin * cfg->kh * cfg->kw, ohw = ys.h * ys.w;
  const conv_plan p = make_plan(cfg, xs, ys, scratch_floats);
  const int blas_threads = nc_blas_single_thread();
#pragma omp parallel for num_threads(p.threads) schedule(dynamic, 1)
  for (int c = 0; c < p.nchunks; c++) {
    int i0 = c * p.nb, nb = xs.n - i0 < p.nb ? xs.n - i0 : p.nb;
    float *col = scratch + (size_t)omp_get_thread_num() * p.stride;
    const float *B = col;
    int ldb = nb * ohw;
    if (is_pointwise(cfg)) {
      B = x + i0 * xs.sn;
      ldb = (int)xs.sc;
    } else {
      im2col(cfg, xs, x, i0, nb, ys.h, ys.w, col);
    }
    sgemm(0, 0, cfg->cout, nb * ohw, K, 1.0f, W, K, B, ldb, 0.0f, y + i0 * ys.sn, (int)ys.sc);
  }
  nc_blas_restore(blas_threads);
}

void nc_conv2d_backward(const nc_conv_cfg *cfg, nc_t4 xs, const float *x, const float *W, nc_t4 ys,
                        const float *dy, float *dx, float *dW, float *scratch,
                        size_t scratch_floats) {
  const int K = cfg->cin * cfg->kh * cfg->kw, ohw = ys.h * ys.w;
  const conv_plan p = make_plan(cfg, xs, ys, scratch_floats);
  const size_t nw = (size_t)cfg->cout * K;
  const int blas_threads = nc_blas_single_thread();
#pragma omp parallel num_threads(p.threads)
  {
    float *col = scratch + (size_t)omp_get_thread_num() * p.stride, *dWt = col + p.col;
    if (dW) memset(dWt, 0, nw * sizeof(float));
#pragma omp for schedule(static)
    for (int c = 0; c < p.nchunks; c++) {
      int i0 = c * p.nb, nb = xs.n - i0 < p.nb ? xs.n - i0 : p.nb, cols = nb * ohw;
      const float *dyc = dy + i0 * ys.sn;
      if (is_pointwise(cfg)) {
        const float *xc = x + i0 * xs.sn;
        if (dW)
          sgemm(0, 1, cfg->cout, K, cols, 1.0f, dyc, (int)ys.sc, xc, (int)xs.sc, 1.0f, dWt, K);
        if (dx)
          sgemm(1, 0, K, cols, cfg->cout, 1.0f, W, K, dyc, (int)ys.sc, 1.0f, dx + i0 * xs.sn,
                (int)xs.sc);
        continue;
      }
      if (dW) {
        im2col(cfg, xs, x, i0, nb, ys.h, ys.w, col);
        sgemm(0, 1, cfg->cout, K, cols, 1.0f, dyc, (int)ys.sc, col, cols, 1.0f, dWt, K);
      }
      if (dx) {
        sgemm(1, 0, K, cols, cfg->cout, 1.0f, W, K, dyc, (int)ys.sc, 0.0f, col, cols);
        col2im_add(cfg, xs, dx, i0, nb, ys.h, ys.w, col);
      }
    }
  }
  nc_blas_restore(blas_threads);
  if (!dW) return;
    /* partial sums added in thread order: deterministic for a given thread count */
#pragma omp parallel for schedule(static) num_threads(p.threads)
  for (size_t k = 0; k < nw; k++) {
    float s = 0.0f;
    for (int t = 0; t < p.threads; t++) s += scratch[(size_t)t * p.stride + p.col + k];
    dW[k] += s;
  }
}

void nc_maxpool_out_hw(int k, int stride, int pad, int h, int w, int *oh, int *ow) {
  *oh = (h + 2 * pad - k) / stride + 1;
  *ow = (w + 2 * pad - k) / stride + 1;
}

/* Channel planes are walked with their pixel stride (1 planar, 16 channel-blocked). */
static long pixel_stride(nc_t4 t) { return t.blk ? t.blk : 1; }

void nc_maxpool_forward(int k, int stride, int pad, nc_t4 xs, const float *x, nc_t4 ys, float *y,
                        int32_t *argmax) {
  const long px = pixel_stride(xs), py = pixel_stride(ys);
#pragma omp parallel for schedule(static) if (nc_t4_numel(xs) > 32768)
  for (int c = 0; c < xs.c; c++)
    for (int i = 0; i < xs.n; i++) {
      const float *src = x + nc_t4_at(xs, i, c, 0);
      float *dst = y + nc_t4_at(ys, i, c, 0);
      int32_t *arg = argmax + nc_t4_at(ys, i, c, 0);
      for (int oy = 0; oy < ys.h; oy++)
        for (int ox = 0; ox < ys.w; ox++) {
          float best = -FLT_MAX;
          int32_t where = -1;
          for (int a = 0; a < k; a++) {
            int iy = oy * stride - pad + a;
            if (iy < 0 || iy >= xs.h) continue;
            for (int b = 0; b < k; b++) {
              int ix = ox * stride - pad + b;
              if (ix < 0 || ix >= xs.w) continue;
              float v = src[(iy * xs.w + ix) * px];
              if (where < 0 || v > best) best = v, where = iy * xs.w + ix;
            }
          }
          dst[(oy * ys.w + ox) * py] = best;
          arg[(oy * ys.w + ox) * py] = where;
        }
    }
}

void nc_maxpool_backward(nc_t4 xs, float *dx, nc_t4 ys, const float *dy, const int32_t *argmax) {
  if (!dx) return; /* a gradient not wanted (layers.h) */
  const long px = pixel_stride(xs), py = pixel_stride(ys);
#pragma omp parallel for schedule(static) if (nc_t4_numel(xs) > 32768)
  for (int c = 0; c < xs.c; c++)
    for (int i = 0; i < xs.n; i++) {
      float *dst = dx + nc_t4_at(xs, i, c, 0);
      const float *g = dy + nc_t4_at(ys, i, c, 0);
      const int32_t *arg = argmax + nc_t4_at(ys, i, c, 0);
      for (long o = 0; o < (long)ys.h * ys.w; o++)
        if (arg[o * py] >= 0) dst[arg[o * py] * px] += g[o * py]; /* -1: an empty window */
    }
}

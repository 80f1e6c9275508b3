/* Winograd F(4×4, 3×3) through SGEMM (Lavin & Gray's "Fast Algorithms for Convolutional Neural
 * Networks"): every 4×4 output tile of a channel is Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A, where d is the 6×6
 * input patch around it and g the 3×3 kernel, so a 3×3 convolution becomes 36 independent
 * products over channels, V_e (tiles × cin) · U_e (cin × cout), with 4× fewer multiplications
 * than a direct one. oneDNN has such kernels for AVX-512 only; on AVX2 its direct kernels were
 * as slow as PyTorch's (the same library underneath), so there the plans use this instead.
 *
 * The transforms work on the maps' 16-channel blocks as 16-lane vectors. The products run on
 * nc_mm_f; the images are taken in chunks so that the transformed tiles stay a few tens of MB.
 * The backward is the exact adjoint of this forward: dx is the same algorithm on dy with the
 * kernels flipped and transposed, and dW = Gᵀ[Σ_tiles (A dy Aᵀ) ⊙ V]G. Rounding is a few times
 * that of a direct convolution (the transforms' constants reach 8 and 1/24), which is what
 * --precision tf32 allows; fp32 never comes here. Deterministic for a given thread count: the
 * chunks and the products are fixed by the shapes. */
#include "winograd.h"

#include "ncssl/linalg.h"
#include "simd.h"

#define B NC_T4_BLOCK
enum { TILE = 4, PATCH = 6, E = PATCH * PATCH };
/* Floats of transformed tiles per buffer that a chunk of images may fill. */
#define CHUNK_FLOATS ((size_t)4 << 20)

typedef struct {
  int tw, tiles; /* tiles per row, per image */
  int nb;        /* images per chunk */
  int cmax;      /* the larger channel count */
} geometry;

static geometry geometry_of(const nc_conv_cfg *c, nc_t4 xs) {
  geometry g;
  g.tw = (xs.w + TILE - 1) / TILE;
  g.tiles = g.tw * ((xs.h + TILE - 1) / TILE);
  g.cmax = c->cin > c->cout ? c->cin : c->cout;
  size_t per_image = (size_t)E * g.tiles * g.cmax;
  g.nb = (int)(CHUNK_FLOATS / per_image);
  if (g.nb < 1) g.nb = 1;
  if (g.nb > xs.n) g.nb = xs.n;
  return g;
}

int nc_wino_fits(const nc_conv_cfg *c, nc_t4 xs, nc_t4 ys) {
  return c->kh == 3 && c->kw == 3 && c->stride == 1 && c->pad == 1 && xs.blk == B && ys.blk == B &&
         xs.c == c->cin && ys.c == c->cout && ys.h == xs.h && ys.w == xs.w && ys.n == xs.n;
}

size_t nc_wino_scratch_floats(const nc_conv_cfg *c, nc_t4 xs) {
  geometry g = geometry_of(c, xs);
  return 2 * (size_t)E * c->cin * c->cout + 2 * (size_t)E * g.nb * g.tiles * g.cmax;
}

/* ---- the three 1-D transforms on 16-lane vectors (in and out strided, in vectors) ---- */

/* Bᵀ d: six inputs to six. */
NC_INLINE void bt(const v16f *d, int s, v16f *o, int so) {
  const v16f d0 = d[0], d1 = d[s], d2 = d[2 * s], d3 = d[3 * s], d4 = d[4 * s], d5 = d[5 * s];
  o[0] = 4 * d0 - 5 * d2 + d4;
  o[so] = -4 * (d1 + d2) + d3 + d4;
  o[2 * so] = 4 * (d1 - d2) - d3 + d4;
  o[3 * so] = 2 * (d3 - d1) - d2 + d4;
  o[4 * so] = 2 * (d1 - d3) - d2 + d4;
  o[5 * so] = 4 * d1 - 5 * d3 + d5;
}

/* Aᵀ m: six to four. */
NC_INLINE void at(const v16f *m, int s, v16f *o, int so) {
  const v16f m1 = m[s], m2 = m[2 * s], m3 = m[3 * s], m4 = m[4 * s];
  const v16f p12 = m1 + m2, d12 = m1 - m2, p34 = m3 + m4, d34 = m3 - m4;
  o[0] = m[0] + p12 + p34;
  o[so] = d12 + 2 * d34;
  o[2 * so] = p12 + 4 * p34;
  o[3 * so] = d12 + 8 * d34 + m[5 * s];
}

/* A y, the adjoint of Aᵀ: four to six. */
NC_INLINE void a_adj(const v16f *y, int s, v16f *o, int so) {
  const v16f y0 = y[0], y1 = y[s], y2 = y[2 * s], y3 = y[3 * s];
  o[0] = y0;
  o[so] = y0 + y1 + y2 + y3;
  o[2 * so] = y0 - y1 + y2 - y3;
  o[3 * so] = y0 + 2 * y1 + 4 * y2 + 8 * y3;
  o[4 * so] = y0 - 2 * y1 + 4 * y2 - 8 * y3;
  o[5 * so] = y3;
}

/* ---- one tile of one channel block ---- */

/* The 36 values Bᵀ d B of the 6×6 patch whose top-left pixel is (y0, x0) (zeros outside the
 * map), to v[e·lde]. */
NC_VECTOR_CLONES static void input_tile(const float *plane, int h, int w, int y0, int x0, float *v,
                                        size_t lde) {
  v16f d[PATCH][PATCH], t[PATCH][PATCH];
  for (int r = 0; r < PATCH; r++)
    for (int c = 0; c < PATCH; c++) {
      int y = y0 + r, x = x0 + c;
      d[r][c] =
          y >= 0 && y < h && x >= 0 && x < w ? load16(plane + ((long)y * w + x) * B) : (v16f){0};
    }
  for (int c = 0; c < PATCH; c++) bt(&d[0][c], PATCH, &t[0][c], PATCH);
  for (int r = 0; r < PATCH; r++) bt(&t[r][0], 1, &d[r][0], 1);
  for (int e = 0; e < E; e++) store16(v + e * lde, d[e / PATCH][e % PATCH]);
}

/* The 4×4 tile Aᵀ m A at (y0, x0), written (or added) where it lies inside the map. */
NC_VECTOR_CLONES static void output_tile(const float *m, size_t lde, float *plane, int h, int w,
                                         int y0, int x0, int accumulate) {
  v16f mm[PATCH][PATCH], t[TILE][PATCH], o[TILE][TILE];
  for (int e = 0; e < E; e++) mm[e / PATCH][e % PATCH] = load16(m + e * lde);
  for (int c = 0; c < PATCH; c++) at(&mm[0][c], PATCH, &t[0][c], PATCH);
  for (int r = 0; r < TILE; r++) at(&t[r][0], 1, &o[r][0], 1);
  for (int r = 0; r < TILE && y0 + r < h; r++)
    for (int c = 0; c < TILE && x0 + c < w; c++) {
      float *p = plane + ((long)(y0 + r) * w + x0 + c) * B;
      store16(p, accumulate ? load16(p) + o[r][c] : o[r][c]);
    }
}

/* The 36 values A y Aᵀ of the 4×4 tile of dy at (y0, x0) (zeros outside the map). */
NC_VECTOR_CLONES static void output_adjoint_tile(const float *plane, int h, int w, int y0, int x0,
                                                 float *v, size_t lde) {
  v16f y[TILE][TILE], t[PATCH][TILE], o[PATCH][PATCH];
  for (int r = 0; r < TILE; r++)
    for (int c = 0; c < TILE; c++)
      y[r][c] =
          y0 + r < h && x0 + c < w ? load16(plane + ((long)(y0 + r) * w + x0 + c) * B) : (v16f){0};
  for (int c = 0; c < TILE; c++) a_adj(&y[0][c], TILE, &t[0][c], TILE);
  for (int r = 0; r < PATCH; r++) a_adj(&t[r][0], 1, &o[r][0], 1);
  for (int e = 0; e < E; e++) store16(v + e * lde, o[e / PATCH][e % PATCH]);
}

/* ---- a chunk of images: tile p = (image − i0)·tiles + row·tw + column ---- */

enum { TO_INPUT, TO_ADJOINT, TO_MAP, ADD_TO_MAP };

/* Between map s (images i0 .. i0+nb−1) and the tiles T[e][p][c] (c = s.c channels): the input or
 * adjoint transforms fill T from `in` (TO_INPUT, TO_ADJOINT); the output transform writes or adds
 * T into `out` (TO_MAP, ADD_TO_MAP). */
static void tiles(int how, nc_t4 s, const float *in, float *out, float *T, int i0, int nb,
                  const geometry *g) {
  const long P = (long)nb * g->tiles;
  const int blocks = s.c / B;
  const size_t lde = (size_t)P * s.c;
#pragma omp parallel for collapse(2) schedule(static)
  for (long p = 0; p < P; p++)
    for (int cb = 0; cb < blocks; cb++) {
      int i = i0 + (int)(p / g->tiles), t = (int)(p % g->tiles);
      int y0 = t / g->tw * TILE, x0 = t % g->tw * TILE;
      long at_map = i * s.sn + cb * s.sc;
      float *v = T + p * s.c + cb * B;
      if (how == TO_INPUT)
        input_tile(in + at_map, s.h, s.w, y0 - 1, x0 - 1, v, lde);
      else if (how == TO_ADJOINT)
        output_adjoint_tile(in + at_map, s.h, s.w, y0, x0, v, lde);
      else
        output_tile(v, lde, out + at_map, s.h, s.w, y0, x0, how == ADD_TO_MAP);
    }
}

/* ---- kernels, 16 at a time (the channel counts are multiples of 16) ---- */

/* G g: three to six. */
NC_INLINE void g3(const v16f *g, int s, v16f *o, int so) {
  const float q = 1.0f / 4, s6 = 1.0f / 6, t12 = 1.0f / 12, t24 = 1.0f / 24;
  const v16f g0 = g[0], g1 = g[s], g2 = g[2 * s];
  o[0] = g0 * q;
  o[so] = -(g0 + g1 + g2) * s6;
  o[2 * so] = -(g0 - g1 + g2) * s6;
  o[3 * so] = g0 * t24 + g1 * t12 + g2 * s6;
  o[4 * so] = g0 * t24 - g1 * t12 + g2 * s6;
  o[5 * so] = g2;
}

/* Gᵀ u, the adjoint of G: six to three. */
NC_INLINE void g3_adj(const v16f *u, int s, v16f *o, int so) {
  const float q = 1.0f / 4, s6 = 1.0f / 6, t12 = 1.0f / 12, t24 = 1.0f / 24;
  const v16f p12 = u[s] + u[2 * s], d12 = u[2 * s] - u[s];
  const v16f p34 = u[3 * s] + u[4 * s], d34 = u[3 * s] - u[4 * s];
  o[0] = u[0] * q - p12 * s6 + p34 * t24;
  o[so] = d12 * s6 + d34 * t12;
  o[2 * so] = (p34 - p12) * s6 + u[5 * s];
}

/* The 36 planes of G g Gᵀ for 16 kernels k0 + j·sj (each turned by 180° when flipped), to
 * u0[e·lde + j]. */
NC_VECTOR_CLONES static void kernel_group(const float *k0, size_t sj, int flipped, float *u0,
                                          size_t lde) {
  float gs[9][B];
  for (int j = 0; j < B; j++)
    for (int q = 0; q < 9; q++) gs[q][j] = k0[j * sj + (flipped ? 8 - q : q)];
  v16f g[9], t[PATCH * 3], u[E];
  for (int q = 0; q < 9; q++) g[q] = load16(gs[q]);
  for (int c = 0; c < 3; c++) g3(g + c, 3, t + c, 3);
  for (int r = 0; r < PATCH; r++) g3(t + 3 * r, 1, u + PATCH * r, 1);
  for (int e = 0; e < E; e++) store16(u0 + e * lde, u[e]);
}

/* Kernels k0 + j·sj (16 of them) += Gᵀ u G, u the 36 planes u0[e·lde + j]. */
NC_VECTOR_CLONES static void kernel_group_adj(const float *u0, size_t lde, float *k0, size_t sj) {
  v16f u[E], t[PATCH * 3], r[9];
  for (int e = 0; e < E; e++) u[e] = load16(u0 + e * lde);
  for (int q = 0; q < PATCH; q++) g3_adj(u + PATCH * q, 1, t + 3 * q, 1);
  for (int c = 0; c < 3; c++) g3_adj(t + c, 3, r + c, 3);
  float rs[9][B];
  for (int q = 0; q < 9; q++) store16(rs[q], r[q]);
  for (int j = 0; j < B; j++)
    for (int q = 0; q < 9; q++) k0[j * sj + q] += rs[q][j];
}

/* U[e][ci][co] = (G W[co][ci] Gᵀ)[e]; flipped: U[e][co][ci] from the kernels turned by 180°, those
 * of the backward-data convolution. */
static void kernels_in(int cin, int cout, const float *W, float *U, int flipped) {
  const size_t lde = (size_t)cin * cout;
  const int rows = flipped ? cout : cin, groups = (flipped ? cin : cout) / B;
#pragma omp parallel for collapse(2) schedule(static)
  for (int a = 0; a < rows; a++)
    for (int b = 0; b < groups; b++) {
      float *u0 = U + (size_t)a * groups * B + b * B;
      if (flipped) /* co = a, ci = 16b + j */
        kernel_group(W + ((size_t)a * cin + b * B) * 9, 9, 1, u0, lde);
      else /* ci = a, co = 16b + j */
        kernel_group(W + ((size_t)b * B * cin + a) * 9, (size_t)cin * 9, 0, u0, lde);
    }
}

/* dW[co][ci] += Gᵀ dU[·][ci][co] G. */
static void kernels_out(int cin, int cout, const float *dU, float *dW) {
  const size_t lde = (size_t)cin * cout;
#pragma omp parallel for collapse(2) schedule(static)
  for (int ci = 0; ci < cin; ci++)
    for (int b = 0; b < cout / B; b++)
      kernel_group_adj(dU + (size_t)ci * cout + b * B, lde, dW + ((size_t)b * B * cin + ci) * 9,
                       (size_t)cin * 9);
}

/* Out_e (P × n) = In_e (P × k) · K_e (k × n) for the 36 e. nc_mm_f: oneDNN's SGEMM at every
 * size, on the OpenMP threads (OpenBLAS's pool, which nc_sgemm wakes for small products, spun
 * against them and made the small layers 2-5× slower). */
static void products(long P, int k, int n, const float *in, const float *K, float *out) {
  for (int e = 0; e < E; e++)
    nc_mm_f(0, 0, (int)P, n, k, 1.0f, in + e * P * k, K + (size_t)e * k * n, 0.0f, out + e * P * n);
}

void nc_wino_forward(const nc_conv_cfg *cfg, nc_t4 xs, const float *x, const float *W, nc_t4 ys,
                     float *y, float *scratch) {
  const geometry g = geometry_of(cfg, xs);
  const int ci = cfg->cin, co = cfg->cout;
  float *U = scratch, *V = U + 2 * (size_t)E * ci * co;
  float *M = V + (size_t)E * g.nb * g.tiles * g.cmax;
  kernels_in(ci, co, W, U, 0);
  for (int i0 = 0; i0 < xs.n; i0 += g.nb) {
    int nb = xs.n - i0 < g.nb ? xs.n - i0 : g.nb;
    long P = (long)nb * g.tiles;
    tiles(TO_INPUT, xs, x, NULL, V, i0, nb, &g);
    products(P, ci, co, V, U, M);
    tiles(TO_MAP, ys, NULL, y, M, i0, nb, &g);
  }
}

void nc_wino_backward(const nc_conv_cfg *cfg, nc_t4 xs, const float *x, const float *W, nc_t4 ys,
                      const float *dy, float *dx, float *dW, float *scratch) {
  const geometry g = geometry_of(cfg, xs);
  const int ci = cfg->cin, co = cfg->cout;
  float *U = scratch, *dU = U + (size_t)E * ci * co, *T1 = dU + (size_t)E * ci * co;
  float *T2 = T1 + (size_t)E * g.nb * g.tiles * g.cmax;
  if (dx) kernels_in(ci, co, W, U, 1);
  for (int i0 = 0; i0 < xs.n; i0 += g.nb) {
    int nb = xs.n - i0 < g.nb ? xs.n - i0 : g.nb;
    long P = (long)nb * g.tiles;
    if (dW) { /* dU_e += V_eᵀ · (A dy Aᵀ)_e, summed over the chunks in order */
      tiles(TO_INPUT, xs, x, NULL, T1, i0, nb, &g);
      tiles(TO_ADJOINT, ys, dy, NULL, T2, i0, nb, &g);
      for (int e = 0; e < E; e++)
        nc_mm_f(1, 0, ci, co, (int)P, 1.0f, T1 + e * P * ci, T2 + e * P * co, i0 ? 1.0f : 0.0f,
                dU + (size_t)e * ci * co);
    }
    if (dx) { /* the forward algorithm on dy with the flipped, transposed kernels */
      tiles(TO_INPUT, ys, dy, NULL, T2, i0, nb, &g);
      products(P, co, ci, T2, U, T1);
      tiles(ADD_TO_MAP, xs, NULL, dx, T1, i0, nb, &g);
    }
  }
  if (dW) kernels_out(ci, co, dU, dW);
}

// ctest-labels: unit
/* The LAPACK eigendecompositions run OpenBLAS single-threaded for small matrices (DirectPred's
 * 128×128 F̂ every step), and hand --threads back afterwards. LAPACK's ssyevd_/dsyevd_ are
 * interposed here (this program exports its symbols, so LAPACKE's calls land here first): they
 * record OpenBLAS's thread count at the moment of the call, then run the real routine.
 * cblas_sgemm is interposed too: built with oneDNN, the linear layers' products (nc_mm_f) must not
 * reach OpenBLAS, whose thread pool would then spin against the convolutions' OpenMP threads.
 * And dnnl_sgemm: the im2col convolutions may hand it their products only from inside their own
 * (active) thread team, where it runs serially; called from a team of one it would start a nested
 * team whose barriers cost the width-16 batch-32 step 7%. */
#define _GNU_SOURCE
#include <cblas.h>
#include <dlfcn.h>
#include <math.h>
#include <omp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ncssl/layers.h"
#include "ncssl/linalg.h"
#include "ncssl/status.h"
#include "testing.h"

static int threads_in_call = -1, calls = 0, sgemm_calls = 0;

typedef void (*sgemm_fn)(enum CBLAS_ORDER, enum CBLAS_TRANSPOSE, enum CBLAS_TRANSPOSE, blasint,
                         blasint, blasint, float, const float *, blasint, const float *, blasint,
                         float, float *, blasint);

void cblas_sgemm(const enum CBLAS_ORDER order, const enum CBLAS_TRANSPOSE ta,
                 const enum CBLAS_TRANSPOSE tb, const blasint m, const blasint n, const blasint k,
                 const float alpha, const float *A, const blasint lda, const float *B,
                 const blasint ldb, const float beta, float *C, const blasint ldc) {
  sgemm_calls++;
  sgemm_fn real = (sgemm_fn)dlsym(RTLD_NEXT, "cblas_sgemm");
  real(order, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}

typedef int (*dnnl_sgemm_fn)(char, char, int64_t, int64_t, int64_t, float, const float *, int64_t,
                             const float *, int64_t, float, float *, int64_t);
static int dnnl_calls = 0, dnnl_calls_outside_team = 0;

int dnnl_sgemm(char ta, char tb, int64_t m, int64_t n, int64_t k, float alpha, const float *A,
               int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);
int dnnl_sgemm(char ta, char tb, int64_t m, int64_t n, int64_t k, float alpha, const float *A,
               int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
#pragma omp atomic
  dnnl_calls++;
  if (!omp_in_parallel()) {
#pragma omp atomic
    dnnl_calls_outside_team++;
  }
  /* the linker may have dropped libdnnl from this program (it defines the only symbol it uses) */
  static dnnl_sgemm_fn real = NULL;
  if (!real) real = (dnnl_sgemm_fn)dlsym(RTLD_NEXT, "dnnl_sgemm");
  if (!real) {
    void *lib = dlopen("libdnnl.so", RTLD_NOW | RTLD_GLOBAL);
    real = lib ? (dnnl_sgemm_fn)dlsym(lib, "dnnl_sgemm") : NULL;
  }
  if (!real) {
    fprintf(stderr, "test_blas_threads: cannot find oneDNN's dnnl_sgemm\n");
    abort();
  }
  return real(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* LAPACK's Fortran entry points: eleven pointers, then the hidden lengths of the two character
 * arguments, forwarded untouched. */
typedef void (*syevd_fn)(void *, void *, void *, void *, void *, void *, void *, void *, void *,
                         void *, void *, size_t, size_t);

static void forward(const char *name, void *a0, void *a1, void *a2, void *a3, void *a4, void *a5,
                    void *a6, void *a7, void *a8, void *a9, void *a10, size_t l1, size_t l2) {
  threads_in_call = openblas_get_num_threads();
  calls++;
  syevd_fn real = (syevd_fn)dlsym(RTLD_NEXT, name);
  real(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, l1, l2);
}

void ssyevd_(void *a0, void *a1, void *a2, void *a3, void *a4, void *a5, void *a6, void *a7,
             void *a8, void *a9, void *a10, size_t l1, size_t l2);
void ssyevd_(void *a0, void *a1, void *a2, void *a3, void *a4, void *a5, void *a6, void *a7,
             void *a8, void *a9, void *a10, size_t l1, size_t l2) {
  forward("ssyevd_", a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, l1, l2);
}

void dsyevd_(void *a0, void *a1, void *a2, void *a3, void *a4, void *a5, void *a6, void *a7,
             void *a8, void *a9, void *a10, size_t l1, size_t l2);
void dsyevd_(void *a0, void *a1, void *a2, void *a3, void *a4, void *a5, void *a6, void *a7,
             void *a8, void *a9, void *a10, size_t l1, size_t l2) {
  forward("dsyevd_", a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, l1, l2);
}

enum { N = 128, ROWS = 32, IN = 128, OUT = 512 };
static float Af[N * N], wf[N];
static double Ad[N * N], wd[N];
static float X[ROWS * IN], W[OUT * IN], Y[ROWS * OUT];

/* A linear layer's forward, y = x·Wᵀ, at the size of a width-16 projector, checked against the
 * plain sum. */
static void check_linear_product(void) {
  for (int i = 0; i < ROWS * IN; i++) X[i] = (float)((i * 7) % 13) / 13.0f - 0.5f;
  for (int i = 0; i < OUT * IN; i++) W[i] = (float)((i * 5) % 11) / 11.0f - 0.5f;
  nc_mm_f(0, 1, ROWS, OUT, IN, 1.0f, X, W, 0.0f, Y);
  double worst = 0;
  for (int r = 0; r < ROWS; r++)
    for (int o = 0; o < OUT; o++) {
      double want = 0;
      for (int i = 0; i < IN; i++) want += (double)X[r * IN + i] * W[o * IN + i];
      double err = fabs(want - Y[r * OUT + o]);
      if (err > worst) worst = err;
    }
  CHECK(worst < 1e-4);
}

/* A width-16 ResNet's first 1×1 shortcut at 32×32, batch 32: 8.4 MFLOP, whole-batch products of
 * 4.2e6 multiply-adds, which nc_sgemm would give oneDNN; no product may reach it from outside an
 * active team (with two threads each takes half the images, and OpenBLAS serially). */
static void check_conv_products_in_team(void) {
  nc_conv_cfg c = {16, 32, 1, 1, 2, 0};
  nc_t4 xs = nc_t4_cnhw(32, 16, 32, 32), ys = nc_t4_cnhw(32, 32, 16, 16);
  size_t nx = nc_t4_numel(xs), ny = nc_t4_numel(ys), ns = nc_conv2d_scratch_floats(&c, 32, 32, 32);
  float *x = calloc(nx, 4), *y = calloc(ny, 4), *dx = calloc(nx, 4), *dW = calloc(16 * 32, 4);
  float *W = calloc(16 * 32, 4), *s = malloc(ns * 4);
  omp_set_num_threads(2);
  dnnl_calls = dnnl_calls_outside_team = 0;
  nc_conv2d_forward(&c, xs, x, W, ys, y, s, ns);
  nc_conv2d_backward(&c, xs, x, W, ys, y, dx, dW, s, ns);
  CHECK(dnnl_calls_outside_team == 0);
  free(x), free(y), free(dx), free(dW), free(W), free(s);
}

static void fill(void) {
  for (int i = 0; i < N; i++)
    for (int j = 0; j < N; j++) {
      double v = i == j ? 2.0 + i : 1.0 / (1 + i + j);
      Af[i * N + j] = (float)v, Ad[i * N + j] = v;
    }
}

int main(void) {
  openblas_set_num_threads(2);
  if (openblas_get_num_threads() != 2) {
    fprintf(stderr, "this OpenBLAS cannot run 2 threads: the check means nothing here\n");
    return 1;
  }
  fill();
  CHECK(nc_eigh_f(N, Af, wf) == NC_OK);
  CHECK(calls == 1); /* the interposition took: LAPACKE called this program's ssyevd_ */
  CHECK(threads_in_call == 1);
  CHECK(openblas_get_num_threads() == 2); /* --threads handed back */
  CHECK(wf[0] > 1.0f && wf[N - 1] > wf[0]);

  CHECK(nc_eigh_d(N, Ad, wd) == NC_OK);
  CHECK(calls == 2);
  CHECK(threads_in_call == 1);
  CHECK(openblas_get_num_threads() == 2);

  int before = sgemm_calls;
  check_linear_product();
  if (strcmp(nc_sgemm_backend(), "oneDNN") == 0) {
    CHECK(sgemm_calls == before); /* oneDNN's SGEMM on the OpenMP threads, not OpenBLAS's pool */
    CHECK(dnnl_calls > 0);        /* and its interposition took */
  } else
    CHECK(sgemm_calls == before + 1); /* the interposition took */
  check_conv_products_in_team();
  return nc_test_done();
}

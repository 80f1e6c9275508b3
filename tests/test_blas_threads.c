// ctest-labels: unit
/* The LAPACK eigendecompositions run OpenBLAS single-threaded for small matrices (DirectPred's
 * 128×128 F̂ every step), and hand --threads back afterwards. LAPACK's ssyevd_/dsyevd_ are
 * interposed here (this program exports its symbols, so LAPACKE's calls land here first): they
 * record OpenBLAS's thread count at the moment of the call, then run the real routine.
 * cblas_sgemm is interposed too: built with oneDNN, the linear layers' products (nc_mm_f) must not
 * reach OpenBLAS, whose thread pool would then spin against the convolutions' OpenMP threads. */
#define _GNU_SOURCE
#include <cblas.h>
#include <dlfcn.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

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
  if (strcmp(nc_sgemm_backend(), "oneDNN") == 0)
    CHECK(sgemm_calls == before); /* oneDNN's SGEMM on the OpenMP threads, not OpenBLAS's pool */
  else
    CHECK(sgemm_calls == before + 1); /* the interposition took */
  return nc_test_done();
}

/* One 3×3 stride-1 convolution layer on channel-blocked maps, forward + backward (dx and dW), timed
 * three ways in turn: oneDNN's direct kernels (NCSSL_WINOGRAD=off), what a tf32 plan chooses by
 * default (oneDNN's Winograd on AVX-512, ours through SGEMM below it) and ours through SGEMM
 * (NCSSL_WINOGRAD=gemm). Under ONEDNN_MAX_CPU_ISA=AVX2 it shows what an AVX2 CPU's plans do.
 *
 * Usage: bench_conv_layer CHANNELS BATCH SIZE [ROUNDS=7] [THREADS=2]
 * Prints the median ms of each way (the first round is a warm-up) and the speed-ups over direct. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ncssl/layers.h"

enum { WAYS = 3 };
static const char *const way_env[WAYS] = {"off", "", "gemm"};

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: bench_conv_layer CHANNELS BATCH SIZE [ROUNDS=7] [THREADS=2]\n");
    return 2;
  }
  int c = atoi(argv[1]), n = atoi(argv[2]), hw = atoi(argv[3]);
  int rounds = argc > 4 ? atoi(argv[4]) : 7, threads = argc > 5 ? atoi(argv[5]) : 2;
  if (c < 16 || c % 16 || n < 1 || hw < 1 || rounds < 2 || rounds > 100 || threads < 1) {
    fprintf(stderr, "bench_conv_layer: CHANNELS a multiple of 16, the others positive\n");
    return 2;
  }
  omp_set_num_threads(threads);
  nc_conv_cfg cfg = {c, c, 3, 3, 1, 1};
  nc_t4 xs = nc_t4_blocked(n, c, hw, hw);
  size_t nx = nc_t4_numel(xs), nw = (size_t)c * c * 9, ns = 0;
  nc_conv_plan *plan[WAYS];
  for (int k = 0; k < WAYS; k++) {
    if (way_env[k][0])
      setenv("NCSSL_WINOGRAD", way_env[k], 1);
    else
      unsetenv("NCSSL_WINOGRAD");
    if (nc_conv_plan_new(&plan[k], &cfg, xs, xs, 1, 1) || !plan[k]) {
      fprintf(stderr, "bench_conv_layer: no plan (this needs oneDNN)\n");
      return 1;
    }
    size_t s = nc_conv_plan_scratch_floats(plan[k]);
    if (s > ns) ns = s;
  }
  float *x = malloc(nx * 4), *dy = malloc(nx * 4), *y = malloc(nx * 4), *dx = calloc(nx, 4);
  float *W = malloc(nw * 4), *dW = calloc(nw, 4), *scratch = malloc(ns * 4);
  double *ms = malloc(sizeof(double) * WAYS * rounds);
  if (!x || !dy || !y || !dx || !W || !dW || !scratch || !ms) {
    fprintf(stderr, "bench_conv_layer: out of memory\n");
    return 1;
  }
  for (size_t i = 0; i < nx; i++)
    x[i] = (float)(i % 17) / 10 - 0.8f, dy[i] = (float)(i % 13) / 10 - 0.6f;
  for (size_t i = 0; i < nw; i++) W[i] = (float)(i % 7) / 20 - 0.15f;
  for (int r = 0; r < rounds; r++)
    for (int k = 0; k < WAYS; k++) {
      double t0 = omp_get_wtime();
      nc_conv2d_forward_with(plan[k], &cfg, xs, x, W, xs, y, scratch, ns);
      nc_conv2d_backward_with(plan[k], &cfg, xs, x, W, xs, dy, dx, dW, scratch, ns);
      ms[k * rounds + r] = (omp_get_wtime() - t0) * 1e3;
    }
  double med[WAYS];
  for (int k = 0; k < WAYS; k++) {
    double *m = ms + k * rounds + 1; /* round 0 warms up */
    qsort(m, rounds - 1, sizeof *m, by_value);
    med[k] = rounds % 2 ? (m[(rounds - 1) / 2 - 1] + m[(rounds - 1) / 2]) / 2 : m[(rounds - 1) / 2];
  }
  printf(
      "%d channels, batch %d, %dx%d, %d threads: direct %.1f ms, default (%s) %.1f ms (%.2fx), "
      "winograd-gemm %.1f ms (%.2fx)\n",
      c, n, hw, hw, threads, med[0], nc_conv_plan_kind(plan[1]), med[1], med[0] / med[1], med[2],
      med[0] / med[2]);
  for (int k = 0; k < WAYS; k++) nc_conv_plan_free(plan[k]);
  free(x), free(dy), free(y), free(dx), free(W), free(dW), free(scratch), free(ms);
  return 0;
}

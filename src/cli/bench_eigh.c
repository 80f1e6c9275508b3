/* `ncssl bench eigh`: the time of DirectPred's eigendecomposition of a d×d F̂ as the predictor
 * runs it (the backend's copy of F̂ into the work matrix, then its eigh), the median of R rounds.
 * On the CPU: LAPACKE's ssyevd. With --device cuda: both ways the CUDA backend has, LAPACKE on
 * the host reading managed memory after a sync, and cuSOLVER's syevd on the device, so the
 * faster can be made the default (nc_backend.eigh). The matrix is a Gram matrix of 2d random
 * rows (F̂-like: positive semi-definite, a spread spectrum), the same for every solver; each
 * solver's eigenvalues are compared with the CPU's. */
#include "bench_eigh.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ncssl/backend.h"
#include "ncssl/clock.h"
#include "ncssl/json.h"
#include "ncssl/rng.h"
#include "ncssl/status.h"

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Median milliseconds of `rounds` copy + eigh calls on be; eigenvalues of the last in w. */
static int time_eigh(nc_backend *be, int d, const float *F_host, int rounds, float *w, double *ms) {
  size_t bytes = (size_t)d * d * sizeof(float);
  float *F = be->i->alloc(be, bytes), *U = be->i->alloc(be, bytes);
  double *t = malloc(sizeof(double) * (size_t)rounds);
  int rc = F && U && t ? NC_OK : nc_fail(NC_ENOMEM, "bench eigh: out of memory");
  if (!rc) {
    be->i->upload(be, F, F_host, bytes);
    rc = nc_backend_sync(be);
  }
  for (int r = -1; r < rounds && !rc; r++) { /* round -1 warms up (handles, workspaces) */
    double t0 = nc_now_seconds();
    be->i->copy(be, U, F, bytes);
    rc = be->i->eigh(be, d, U, w);
    if (r >= 0) t[r] = 1e3 * (nc_now_seconds() - t0);
  }
  if (!rc) {
    qsort(t, (size_t)rounds, sizeof *t, by_value);
    *ms = rounds % 2 ? t[rounds / 2] : 0.5 * (t[rounds / 2 - 1] + t[rounds / 2]);
  }
  if (F) be->i->free(be, F);
  if (U) be->i->free(be, U);
  free(t);
  return rc;
}

/* max_j |a_j − b_j| / max_j |b_j| */
static double eigenvalue_diff(int d, const float *a, const float *b) {
  double diff = 0, scale = 0;
  for (int j = 0; j < d; j++) {
    diff = fmax(diff, fabs((double)a[j] - b[j]));
    scale = fmax(scale, fabs((double)b[j]));
  }
  return scale > 0 ? diff / scale : diff;
}

int cmd_bench_eigh(int argc, char **argv) {
  const char *device = "cpu";
  long dim = 128, rounds = 50, seed = 0;
  int json = 0;
  const nc_opt opts[] = {
      {"dim", NC_OPT_INT, &dim, "F̂ is dim×dim (the projector's output size)", NC_RANGE(2, 4096)},
      {"rounds", NC_OPT_INT, &rounds, "timed rounds (the median is printed)", NC_RANGE(1, 100000)},
      {"device", NC_OPT_STRING, &device, "cpu, cuda or cuda:N"},
      {"seed", NC_OPT_INT, &seed, "random seed of the matrix", NC_NONNEG},
      {"json", NC_OPT_FLAG, &json, "print JSON"},
  };
  const nc_cmd_spec spec = {
      "bench eigh",
      "[--dim D] [--rounds R] [--device cpu|cuda[:N]] [--json]",
      "Times DirectPred's eigendecomposition of F̂ (dim×dim) as the predictor runs it: LAPACKE on\n"
      "the CPU; with --device cuda also LAPACKE on the host after a sync and cuSOLVER's syevd on\n"
      "the device (NCSSL_EIGH=host|device picks one for a run). Median milliseconds per call.",
      opts,
      sizeof opts / sizeof opts[0],
      0};
  nc_args args;
  int rc = nc_cli_parse(&spec, argc, argv, &args);
  if (rc >= 0) return rc;
  nc_backend *be = NULL;
  if ((rc = nc_cli_open_backend(device, NULL, &be)) >= 0) return rc;
  const int d = (int)dim, m = 2 * d;
  float *X = malloc(sizeof(float) * (size_t)m * d), *F = malloc(sizeof(float) * (size_t)d * d);
  float *w_cpu = malloc(sizeof(float) * d), *w = malloc(sizeof(float) * d);
  if (!X || !F || !w_cpu || !w) {
    free(X), free(F), free(w_cpu), free(w), nc_backend_close(be);
    return nc_cli_error(NC_EXIT_FAIL, "out of memory");
  }
  nc_rng r;
  nc_rng_seed(&r, (uint64_t)seed);
  for (size_t i = 0; i < (size_t)m * d; i++) X[i] = (float)nc_rng_normal(&r);
  for (int i = 0; i < d; i++)
    for (int j = 0; j <= i; j++) {
      double acc = 0;
      for (int k = 0; k < m; k++) acc += (double)X[(size_t)k * d + i] * X[(size_t)k * d + j];
      F[(size_t)i * d + j] = F[(size_t)j * d + i] = (float)(acc / m);
    }
  double cpu_ms = 0, host_ms = NAN, device_ms = NAN, host_diff = NAN, device_diff = NAN;
  rc = time_eigh(nc_backend_cpu(), d, F, (int)rounds, w_cpu, &cpu_ms);
  if (!rc && be->kind != NC_DEVICE_CPU) {
    const nc_eigh_where saved = be->eigh;
    be->eigh = NC_EIGH_HOST;
    rc = time_eigh(be, d, F, (int)rounds, w, &host_ms);
    if (!rc) host_diff = eigenvalue_diff(d, w, w_cpu);
    be->eigh = NC_EIGH_DEVICE;
    if (!rc) rc = time_eigh(be, d, F, (int)rounds, w, &device_ms);
    if (!rc) device_diff = eigenvalue_diff(d, w, w_cpu);
    be->eigh = saved;
  }
  free(X), free(F), free(w_cpu), free(w);
  if (rc) {
    nc_backend_close(be);
    return nc_cli_error(nc_cli_exit_code(rc), NULL);
  }
  const int gpu = be->kind != NC_DEVICE_CPU;
  if (json) {
    printf("{\"dim\": %d, \"rounds\": %ld, \"device\": ", d, rounds);
    nc_json_str(stdout, device);
    nc_json_field(stdout, "cpu_ms", cpu_ms);
    if (gpu) {
      nc_json_field(stdout, "host_ms", host_ms);
      nc_json_field(stdout, "cusolver_ms", device_ms);
      nc_json_field(stdout, "host_eigenvalue_diff", host_diff);
      nc_json_field(stdout, "cusolver_eigenvalue_diff", device_diff);
      printf(", \"faster\": ");
      nc_json_str(stdout, device_ms < host_ms ? "device" : "host");
    }
    printf("}\n");
  } else {
    printf("eigh of a %dx%d F-like matrix, median of %ld rounds\n", d, d, rounds);
    printf("  cpu (LAPACKE ssyevd): %.3f ms\n", cpu_ms);
    if (gpu) {
      printf("  %s, host (sync + LAPACKE on managed memory): %.3f ms (eigenvalues within %.1e)\n",
             device, host_ms, host_diff);
      printf("  %s, device (cuSOLVER syevd): %.3f ms (eigenvalues within %.1e)\n", device,
             device_ms, device_diff);
      printf("  faster: %s (NCSSL_EIGH=%s)\n", device_ms < host_ms ? "cuSOLVER" : "the host",
             device_ms < host_ms ? "device" : "host");
    }
  }
  nc_backend_close(be);
  return NC_EXIT_OK;
}

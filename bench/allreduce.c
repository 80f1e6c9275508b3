/* bench_allreduce: times nc_comm_allreduce_f (the path the data-parallel step uses) for the
 * message sizes of a training step, under mpirun:
 *   mpirun -np 2 build/bench_allreduce [FLOATS ...]
 * Default sizes: 11.2M floats (ResNet-18's trainable parameters, width 64), 0.4M (projector +
 * predictor), 1024 and 64 (the per-layer batch-norm sums, latency-bound). Each size: a barrier,
 * then REPS all-reduces; rank 0 prints the median seconds per call and the bus bandwidth
 * 2(N-1)/N * bytes / time (what a ring all-reduce moves per rank). */
#include <stdio.h>
#include <stdlib.h>

#include "ncssl/clock.h"
#include "ncssl/comm.h"

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  nc_comm *c = nc_comm_open(&argc, &argv);
  const int n = nc_comm_size(c), root = nc_comm_rank(c) == 0;
  long defaults[] = {11172032, 400000, 1024, 64};
  int nsizes = argc > 1 ? argc - 1 : 4;
  if (root)
    printf("ranks %d (%s)\n%12s %14s %14s %12s\n", n, nc_comm_kind(c), "floats", "MB", "median ms",
           "bus GB/s");
  for (int k = 0; k < nsizes; k++) {
    long floats = argc > 1 ? atol(argv[k + 1]) : defaults[k];
    float *buf = calloc((size_t)floats, sizeof(float));
    if (!buf) return 1;
    const int reps = floats > 1000000 ? 9 : 201;
    double t[201];
    nc_comm_allreduce_f(c, buf, (size_t)floats, NC_COMM_SUM); /* warm-up */
    for (int r = 0; r < reps; r++) {
      nc_comm_barrier(c);
      double t0 = nc_now_seconds();
      nc_comm_allreduce_f(c, buf, (size_t)floats, NC_COMM_SUM);
      t[r] = nc_now_seconds() - t0;
    }
    qsort(t, (size_t)reps, sizeof t[0], cmp_double);
    double med = t[reps / 2], bytes = 4.0 * floats;
    if (root)
      printf("%12ld %14.3f %14.4f %12.3f\n", floats, bytes / 1e6, 1e3 * med,
             n > 1 ? 2.0 * (n - 1) / n * bytes / med / 1e9 : 0.0);
    free(buf);
  }
  nc_comm_close(c);
  return 0;
}

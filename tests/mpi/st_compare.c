/* st_compare A B TOL [PREFIX [FLOOR]]: compares two safetensors checkpoints tensor by tensor (the
 * mpi tests: an N-rank run against the single-process one). Integer tensors (step, loader position,
 * optimizer steps) must be equal; a float tensor passes when max|a − b| ≤ TOL·max(max|a|, FLOOR)
 * (relative to the tensor's own scale; FLOOR, 1e-3 unless given, keeps tensors that are small
 * differences of large numbers by nature, such as the momentum of a bias before batch norm, from
 * failing on rounding). Only tensors whose name starts with PREFIX ("" = all). Prints the worst
 * tensor; exit 0 when all pass, 1 when some differ, 2 on a usage or read error. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ncssl/checkpoint.h"
#include "ncssl/status.h"

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: st_compare A B TOL [PREFIX [FLOOR]]\n");
    return 2;
  }
  const double tol = atof(argv[3]);
  const char *prefix = argc > 4 ? argv[4] : "";
  const double floor_scale = argc > 5 ? atof(argv[5]) : 1e-3;
  nc_st_file *a = NULL, *b = NULL;
  if (nc_st_open(&a, argv[1]) || nc_st_open(&b, argv[2])) {
    fprintf(stderr, "st_compare: %s\n", nc_last_error());
    return 2;
  }
  double worst = 0;
  const char *worst_name = "(none)";
  int bad = 0, compared = 0;
  for (int i = 0; i < nc_st_count(a); i++) {
    const nc_st_entry *ea = nc_st_at(a, i), *eb = nc_st_find(b, ea->name);
    if (strncmp(ea->name, prefix, strlen(prefix)) != 0) continue;
    if (!eb || eb->count != ea->count || eb->dtype != ea->dtype) {
      printf("st_compare: %s missing or of another shape in %s\n", ea->name, argv[2]);
      bad = 1;
      continue;
    }
    compared++;
    if (ea->dtype != NC_ST_F32) {
      if (memcmp(ea->data, eb->data, ea->nbytes) != 0) {
        printf("st_compare: %s differs\n", ea->name);
        bad = 1;
      }
      continue;
    }
    float *x = malloc(ea->nbytes), *y = malloc(ea->nbytes);
    if (!x || !y) return 2;
    nc_st_read(a, ea->name, NC_ST_F32, x, ea->count);
    nc_st_read(b, ea->name, NC_ST_F32, y, ea->count);
    double scale = floor_scale, diff = 0;
    for (size_t k = 0; k < ea->count; k++) {
      if (fabs(x[k]) > scale) scale = fabs(x[k]);
      if (!(fabs((double)x[k] - y[k]) <= diff)) diff = fabs((double)x[k] - y[k]);
    }
    double rel = diff / scale;
    if (!(rel <= worst)) worst = rel, worst_name = ea->name;
    if (!(rel <= tol)) bad = 1;
    free(x), free(y);
  }
  printf("st_compare: %d tensors, worst %s %.3g (tolerance %g)\n", compared, worst_name, worst,
         tol);
  nc_st_close(a);
  nc_st_close(b);
  return bad || compared == 0;
}

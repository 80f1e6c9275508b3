// ctest-labels: unit
/* Feature extraction: batch by batch in eval mode equals one eval-mode forward per sample,
 * leaves the network's mode as it was and does not touch BN running statistics. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ncssl/probe.h"
#include "ncssl/status.h"
#include "testing.h"

int main(void) {
  nc_resnet_cfg cfg = {.depth = 18, .stem = NC_STEM_CIFAR, .in_channels = 1, .width = 4};
  nc_net *net = NULL;
  CHECK(nc_resnet_build(&net, &cfg, 8, 8, 3, 1, 1, NULL) == NC_OK);
  if (!net) return nc_test_done();
  nc_rng r;
  nc_rng_seed(&r, 9);
  nc_net_init(net, &r);
  nc_param_list *l = nc_net_params(net);
  for (int i = 0; i < l->n; i++) /* running statistics away from 0/1 so eval mode shows */
    if (l->items[i].is_buffer)
      for (size_t k = 0; k < l->items[i].n; k++)
        l->items[i].w[k] = 0.5f + (float)nc_rng_uniform(&r);
  const int n = 7, dim = nc_net_out_dim(net);
  float *x = malloc((size_t)n * 64 * sizeof *x), *out = malloc((size_t)n * dim * sizeof *out),
        *one = malloc((size_t)dim * sizeof *one);
  for (int i = 0; i < n * 64; i++) x[i] = (float)nc_rng_normal(&r);
  size_t stats_bytes = 0;
  for (int i = 0; i < l->n; i++) stats_bytes += l->items[i].is_buffer ? l->items[i].n : 0;
  float *before = malloc(stats_bytes * sizeof *before), *p = before;
  for (int i = 0; i < l->n; i++)
    if (l->items[i].is_buffer) memcpy(p, l->items[i].w, l->items[i].n * 4), p += l->items[i].n;

  CHECK(nc_net_is_train(net) == 1);
  CHECK(nc_extract_features(net, x, n, out) == NC_OK); /* 7 samples in batches of 3, 3, 1 */
  CHECK(nc_net_is_train(net) == 1);
  p = before;
  int same_stats = 1;
  for (int i = 0; i < l->n; i++)
    if (l->items[i].is_buffer)
      same_stats &= memcmp(p, l->items[i].w, l->items[i].n * 4) == 0, p += l->items[i].n;
  CHECK(same_stats);
  nc_net_set_train(net, 0);
  double worst = 0;
  for (int i = 0; i < n; i++) {
    CHECK(nc_net_forward(net, 0, 1, x + i * 64, one) == NC_OK);
    for (int j = 0; j < dim; j++) worst = fmax(worst, fabs(one[j] - out[i * dim + j]));
  }
  CHECK(worst < 1e-5);
  free(x);
  free(out);
  free(one);
  free(before);
  nc_net_free(net);
  return nc_test_done();
}

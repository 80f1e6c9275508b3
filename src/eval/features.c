/* Frozen features for evaluation: the backbone in eval mode (BN running statistics), batch by
 * batch. */
#include "ncssl/net.h"
#include "ncssl/probe.h"
#include "ncssl/status.h"

int nc_extract_features(nc_net *net, const float *x, int n, float *out) {
  int was_train = nc_net_is_train(net), batch = nc_net_batch(net), rc = NC_OK;
  size_t in = nc_net_in_size(net), dim = (size_t)nc_net_out_dim(net);
  nc_net_set_train(net, 0);
  for (int start = 0; rc == NC_OK && start < n; start += batch) {
    int nb = n - start < batch ? n - start : batch;
    rc = nc_net_forward(net, 0, nb, x + (size_t)start * in, out + (size_t)start * dim);
  }
  nc_net_set_train(net, was_train);
  return rc;
}

/* --check-sync: are the replicas of a data-parallel run still identical? */
#include <stdint.h>

#include "ncssl/status.h"
#include "ncssl/train.h"

/* FNV-1a over bytes, continued from h. */
static uint64_t fnv1a(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ULL;
  return h;
}

static uint64_t hash_params(uint64_t h, nc_param_list *pl) {
  for (int i = 0; i < pl->n; i++)
    if (!pl->items[i].is_buffer) h = fnv1a(h, pl->items[i].w, pl->items[i].n * sizeof(float));
  return h;
}

/* --check-sync: a checksum of everything the replicas must share (trained parameters, target,
 * DirectPred's F̂) compared with rank 0's. BN running statistics are left out: with --no-sync-bn
 * they are per rank by design (rank 0's are the ones checkpointed). */
int nc_train_check_sync(nc_ssl *s, nc_comm *comm, long step) {
  if (nc_comm_size(comm) == 1) return NC_OK;
  const int d = nc_ssl_config_of(s)->proj_out;
  uint64_t h = 1469598103934665603ULL;
  h = hash_params(h, nc_net_params(nc_ssl_backbone(s)));
  h = hash_params(h, nc_net_params(nc_ssl_projector(s)));
  if (nc_ssl_target_backbone(s)) {
    h = hash_params(h, nc_net_params(nc_ssl_target_backbone(s)));
    h = hash_params(h, nc_net_params(nc_ssl_target_projector(s)));
  }
  h = hash_params(h, nc_predictor_params(nc_ssl_predictor(s)));
  const float *F = nc_predictor_corr(nc_ssl_predictor(s));
  if (F) h = fnv1a(h, F, (size_t)d * d * sizeof(float));
  uint64_t h0 = h;
  int rc = nc_comm_bcast(comm, &h0, sizeof h0, 0);
  if (rc) return rc;
  if (h != h0)
    rc = nc_fail(NC_ENUMERIC,
                 "step %ld: the replicas diverged: rank %d's parameters differ from rank 0's "
                 "(checksum %016llx, rank 0 %016llx)",
                 step, nc_comm_rank(comm), (unsigned long long)h, (unsigned long long)h0);
  return nc_comm_agree(comm, rc, NULL);
}

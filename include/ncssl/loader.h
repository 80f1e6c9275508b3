/* A threaded loader of two-view batches: worker threads (pthreads) fill a ring of batch buffers
 * ahead of the consumer. Epoch e's order is a permutation drawn from (seed, e); image k of the
 * dataset in epoch e gets its own rng split from (seed, e, k), so the views depend only on the
 * seed and the position, never on the thread count or timing. */
#ifndef NCSSL_LOADER_H
#define NCSSL_LOADER_H
#include <stddef.h>
#include <stdint.h>

#include "ncssl/augment.h"
#include "ncssl/data.h"

/* An allocator of host memory: alloc(ctx, bytes) returns memory aligned to 64 or NULL. */
typedef struct {
  void *(*alloc)(void *ctx, size_t bytes);
  void (*free)(void *ctx, void *p);
  void *ctx;
} nc_host_memory;

typedef struct {
  const nc_dataset *data; /* must outlive the loader */
  nc_aug_preset aug;      /* view[0] makes x1, view[1] makes x2 (copied) */
  int batch;              /* images per batch */
  int threads;            /* worker threads; 0 = one per online CPU */
  int prefetch;           /* batches in the ring; 0 = 2 * threads + 1 */
  int drop_last;          /* drop the last incomplete batch of each epoch */
  int no_shuffle;         /* keep the dataset order (views are still random) */
  int shard, shards;      /* data-parallel ranks: this loader makes only rows
                             [n·shard/shards, n·(shard+1)/shards) of every batch of n (the global
                             batch); shards 0 or 1 = the whole batch */
  uint64_t seed;
  /* Where the views x1 and x2 are allocated: NULL = malloc. Training on a GPU passes its
   * backend's page-locked host memory (nc_backend_host_alloc / _free with the backend as ctx), so
   * the copies of a batch to the device are asynchronous. Must outlive the loader. */
  const nc_host_memory *memory;
} nc_loader_opts;

/* Where the loader stands: the next batch to be returned is batch `batch` of epoch `epoch`. */
typedef struct {
  int64_t epoch, batch;
} nc_loader_pos;

typedef struct {
  int n;             /* images in this batch (< opts.batch only for a last partial batch) */
  int c, h, w;       /* shape of one view of one image */
  float *x1, *x2;    /* [n, c, h, w] each */
  int32_t *labels;   /* n labels (-1 when unlabeled) */
  int32_t *indices;  /* n dataset indices */
  nc_loader_pos pos; /* which batch this is */
  int last_in_epoch; /* 1 for the epoch's final batch */
} nc_batch;

typedef struct nc_loader nc_loader;

/* Starts the workers at position (0, 0). */
int nc_loader_open(nc_loader **out, const nc_loader_opts *opts);
/* Blocks until the next batch is ready; *batch stays valid until the next call, seek or close.
 * Batches run on across epochs forever. */
int nc_loader_next(nc_loader *l, const nc_batch **batch);
/* The position of the batch the next nc_loader_next returns (save it in a checkpoint). */
nc_loader_pos nc_loader_position(const nc_loader *l);
/* Moves to pos (restarting the workers); the batches that follow are those a fresh loader with
 * the same options would give from pos on, bit for bit. */
int nc_loader_seek(nc_loader *l, nc_loader_pos pos);
/* Time the consumer spent blocked in nc_loader_next because the batch it asked for was not ready
 * yet: the input pipeline's cost to the training step. A batch that was ready on entry adds
 * nothing. */
typedef struct {
  int64_t taken;  /* nc_loader_next calls that returned a batch */
  int64_t waited; /* of those, the calls that found their batch not ready */
  double seconds; /* total time blocked (monotonic clock) */
  double last;    /* the last call's blocked time (0 when its batch was ready) */
} nc_loader_waits;

nc_loader_waits nc_loader_wait_stats(const nc_loader *l);
/* Batches per epoch (ceil(n / batch), or floor with drop_last). */
int64_t nc_loader_batches_per_epoch(const nc_loader *l);
/* Stops and joins the workers and frees everything (NULL is fine). */
void nc_loader_close(nc_loader *l);

#endif

/* Threaded two-view loader. Batches are numbered by a global sequence s (epoch-major); slot
 * s % ring holds batch s. Workers claim the lowest unclaimed sequence whose slot is free, fill
 * it, and mark it ready; the consumer takes slots in order and frees the previous one on its
 * next call. Every image's views come from nc_rng_split(epoch rng, dataset index), so the
 * content of batch s does not depend on which worker made it. */
#include "ncssl/loader.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ncssl/clock.h"
#include "ncssl/status.h"

enum { SLOT_FREE, SLOT_CLAIMED, SLOT_READY, SLOT_IN_USE };

typedef struct {
  int state;
  int64_t seq;
  nc_batch b;
} slot;

struct nc_loader {
  nc_loader_opts o;
  int64_t per_epoch; /* batches per epoch */
  int ring, nthreads;
  slot *slots;
  pthread_t *threads;
  pthread_mutex_t mu;
  pthread_cond_t cv_work, cv_ready;
  int stop;
  int64_t next_claim, next_take; /* sequences */
  int64_t perm_epoch;            /* epoch whose order is in perm (-1 none) */
  int32_t *perm;
  int in_use; /* slot index handed to the consumer, -1 none */
  nc_loader_waits waits;
  nc_rng root;
  int max_threads; /* threads allocated for */
  int sync_ready;  /* mutex and condition variables initialised */
  float **scratch; /* one augmentation workspace per thread */
  struct worker_arg {
    nc_loader *l;
    int t;
  } * args;
};

/* Epoch e's rng: the order and every image's views derive from it. */
static nc_rng epoch_rng(const nc_loader *l, int64_t epoch) {
  return nc_rng_split(&l->root, (uint64_t)epoch);
}

static void make_perm(nc_loader *l, int64_t epoch) {
  int n = l->o.data->n;
  for (int i = 0; i < n; i++) l->perm[i] = i;
  if (!l->o.no_shuffle) {
    nc_rng er = epoch_rng(l, epoch);
    nc_rng order = nc_rng_split(&er, UINT64_MAX); /* disjoint from image streams 0..n-1 */
    for (int i = n - 1; i > 0; i--) {
      int j = (int)nc_rng_below(&order, (uint64_t)i + 1);
      int32_t t = l->perm[i];
      l->perm[i] = l->perm[j];
      l->perm[j] = t;
    }
  }
  l->perm_epoch = epoch;
}

static float *alloc_view(const nc_loader *l, size_t floats) {
  const nc_host_memory *m = l->o.memory;
  return m ? m->alloc(m->ctx, floats * sizeof(float)) : malloc(floats * sizeof(float));
}

static void free_view(const nc_loader *l, float *p) {
  const nc_host_memory *m = l->o.memory;
  if (!p) return;
  if (m)
    m->free(m->ctx, p);
  else
    free(p);
}

static void fill(nc_loader *l, slot *s, float *scratch) {
  const nc_dataset *d = l->o.data;
  nc_batch *b = &s->b;
  nc_rng er = epoch_rng(l, b->pos.epoch);
  size_t view = (size_t)b->c * b->h * b->w;
  for (int k = 0; k < b->n; k++) {
    int idx = b->indices[k];
    nc_rng r = nc_rng_split(&er, (uint64_t)idx);
    const uint8_t *img = nc_dataset_image(d, idx);
    nc_aug_apply(&l->o.aug.view[0], img, d->c, d->h, d->w, &r, b->x1 + k * view, scratch);
    nc_aug_apply(&l->o.aug.view[1], img, d->c, d->h, d->w, &r, b->x2 + k * view, scratch);
    b->labels[k] = d->labels[idx];
  }
}

static void *worker(void *arg) {
  nc_loader *l = ((struct worker_arg *)arg)->l;
  const nc_dataset *d = l->o.data;
  float *scratch = l->scratch[((struct worker_arg *)arg)->t];
  pthread_mutex_lock(&l->mu);
  for (;;) {
    slot *s = NULL;
    while (!l->stop) {
      s = &l->slots[l->next_claim % l->ring];
      if (s->state == SLOT_FREE) break;
      pthread_cond_wait(&l->cv_work, &l->mu);
    }
    if (l->stop) break;
    int64_t seq = l->next_claim++;
    int64_t epoch = seq / l->per_epoch, bi = seq % l->per_epoch;
    if (l->perm_epoch != epoch) make_perm(l, epoch); /* once per epoch, claims are in order */
    int64_t start = bi * l->o.batch, n = d->n - start;
    if (n > l->o.batch) n = l->o.batch;
    if (l->o.shards > 1) { /* this rank's slice of the global batch */
      int64_t lo = n * l->o.shard / l->o.shards, hi = n * (l->o.shard + 1) / l->o.shards;
      start += lo, n = hi - lo;
    }
    s->state = SLOT_CLAIMED;
    s->seq = seq;
    s->b.n = (int)n;
    s->b.pos = (nc_loader_pos){epoch, bi};
    s->b.last_in_epoch = bi == l->per_epoch - 1;
    memcpy(s->b.indices, l->perm + start, sizeof(int32_t) * n);
    pthread_mutex_unlock(&l->mu);
    fill(l, s, scratch);
    pthread_mutex_lock(&l->mu);
    s->state = SLOT_READY;
    pthread_cond_broadcast(&l->cv_ready);
  }
  pthread_mutex_unlock(&l->mu);
  return NULL;
}

static void stop_workers(nc_loader *l) {
  pthread_mutex_lock(&l->mu);
  l->stop = 1;
  pthread_cond_broadcast(&l->cv_work);
  pthread_mutex_unlock(&l->mu);
  for (int t = 0; t < l->nthreads; t++) pthread_join(l->threads[t], NULL);
  l->nthreads = 0;
}

static int start_workers(nc_loader *l, int64_t seq, int want) {
  l->stop = 0;
  l->next_claim = l->next_take = seq;
  l->in_use = -1;
  for (int i = 0; i < l->ring; i++) l->slots[i].state = SLOT_FREE;
  for (int t = 0; t < want; t++) {
    if (pthread_create(&l->threads[t], NULL, worker, &l->args[t]) != 0) {
      stop_workers(l);
      return nc_fail(NC_ENOMEM, "loader: cannot start worker thread %d", t);
    }
    l->nthreads = t + 1;
  }
  return NC_OK;
}

int nc_loader_open(nc_loader **out, const nc_loader_opts *opts) {
  *out = NULL;
  const nc_dataset *d = opts->data;
  if (!d || d->n <= 0) return nc_fail(NC_EINVAL, "loader: empty dataset");
  if (opts->batch <= 0) return nc_fail(NC_EINVAL, "loader: batch must be positive");
  if (opts->shards > 1 && (opts->shard < 0 || opts->shard >= opts->shards))
    return nc_fail(NC_EINVAL, "loader: shard %d not in 0..%d", opts->shard, opts->shards - 1);
  if (opts->aug.view[0].size <= 0 || opts->aug.view[0].size != opts->aug.view[1].size)
    return nc_fail(NC_EINVAL, "loader: both views need the same positive size");
  int64_t per_epoch = opts->drop_last ? d->n / opts->batch : (d->n + opts->batch - 1) / opts->batch;
  if (per_epoch == 0)
    return nc_fail(NC_EINVAL, "loader: %d images make no full batch of %d (drop_last)", d->n,
                   opts->batch);
  nc_loader *l = calloc(1, sizeof *l);
  if (!l) return nc_fail(NC_ENOMEM, "loader: out of memory");
  l->o = *opts;
  l->per_epoch = per_epoch;
  int threads = opts->threads;
  if (threads <= 0) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    threads = cpus > 0 ? (int)cpus : 1;
  }
  if (threads > 256) threads = 256;
  l->ring = opts->prefetch > 0 ? opts->prefetch : 2 * threads + 1;
  if (l->ring < 2) l->ring = 2; /* one slot with the consumer, at least one being filled */
  l->perm_epoch = -1;
  l->in_use = -1;
  nc_rng_seed(&l->root, opts->seed);
  l->perm = malloc(sizeof(int32_t) * d->n);
  l->slots = calloc((size_t)l->ring, sizeof(slot));
  l->threads = calloc((size_t)threads, sizeof(pthread_t));
  l->scratch = calloc((size_t)threads, sizeof(float *));
  l->args = calloc((size_t)threads, sizeof(struct worker_arg));
  int ok = l->perm && l->slots && l->threads && l->scratch && l->args;
  size_t sa = nc_aug_scratch_floats(&opts->aug.view[0], d->c, d->h, d->w);
  size_t sb = nc_aug_scratch_floats(&opts->aug.view[1], d->c, d->h, d->w);
  for (int t = 0; ok && t < threads; t++) {
    l->args[t] = (struct worker_arg){l, t};
    ok = (l->scratch[t] = malloc(sizeof(float) * (sa > sb ? sa : sb))) != NULL;
  }
  l->max_threads = threads;
  size_t view = (size_t)d->c * opts->aug.view[0].size * opts->aug.view[0].size;
  for (int i = 0; ok && i < l->ring; i++) {
    nc_batch *b = &l->slots[i].b;
    b->c = d->c, b->h = b->w = opts->aug.view[0].size;
    b->x1 = alloc_view(l, view * opts->batch);
    b->x2 = alloc_view(l, view * opts->batch);
    b->labels = malloc(sizeof(int32_t) * opts->batch);
    b->indices = malloc(sizeof(int32_t) * opts->batch);
    ok = b->x1 && b->x2 && b->labels && b->indices;
  }
  if (!ok) {
    nc_loader_close(l);
    return nc_fail(NC_ENOMEM, "loader: out of memory for %d batches of %d", l->ring, opts->batch);
  }
  pthread_mutex_init(&l->mu, NULL);
  pthread_cond_init(&l->cv_work, NULL);
  pthread_cond_init(&l->cv_ready, NULL);
  l->sync_ready = 1;
  int rc = start_workers(l, 0, threads);
  if (rc) {
    nc_loader_close(l);
    return rc;
  }
  *out = l;
  return NC_OK;
}

int nc_loader_next(nc_loader *l, const nc_batch **batch) {
  *batch = NULL;
  if (l->nthreads == 0) return nc_fail(NC_EINVAL, "loader: no worker threads (a failed seek?)");
  pthread_mutex_lock(&l->mu);
  if (l->in_use >= 0) { /* the consumer is done with the previous batch: recycle its slot */
    l->slots[l->in_use].state = SLOT_FREE;
    l->in_use = -1;
    pthread_cond_broadcast(&l->cv_work);
  }
  slot *s = &l->slots[l->next_take % l->ring];
  l->waits.last = 0;
  if (!(s->state == SLOT_READY && s->seq == l->next_take)) {
    double t0 = nc_now_seconds();
    while (!(s->state == SLOT_READY && s->seq == l->next_take))
      pthread_cond_wait(&l->cv_ready, &l->mu);
    l->waits.last = nc_now_seconds() - t0;
    l->waits.seconds += l->waits.last;
    l->waits.waited++;
  }
  l->waits.taken++;
  s->state = SLOT_IN_USE;
  l->in_use = (int)(l->next_take % l->ring);
  l->next_take++;
  pthread_mutex_unlock(&l->mu);
  *batch = &s->b;
  return NC_OK;
}

nc_loader_pos nc_loader_position(const nc_loader *l) {
  nc_loader *m = (nc_loader *)l; /* the lock is not part of the logical state */
  pthread_mutex_lock(&m->mu);
  int64_t seq = l->next_take;
  pthread_mutex_unlock(&m->mu);
  return (nc_loader_pos){seq / l->per_epoch, seq % l->per_epoch};
}

int nc_loader_seek(nc_loader *l, nc_loader_pos pos) {
  if (pos.epoch < 0 || pos.batch < 0 || pos.batch >= l->per_epoch)
    return nc_fail(NC_EINVAL,
                   "loader: position (epoch %lld, batch %lld) out of range (%lld per epoch)",
                   (long long)pos.epoch, (long long)pos.batch, (long long)l->per_epoch);
  int threads = l->nthreads;
  stop_workers(l);
  return start_workers(l, pos.epoch * l->per_epoch + pos.batch, threads);
}

nc_loader_waits nc_loader_wait_stats(const nc_loader *l) {
  nc_loader *m = (nc_loader *)l; /* the lock is not part of the logical state */
  pthread_mutex_lock(&m->mu);
  nc_loader_waits w = l->waits;
  pthread_mutex_unlock(&m->mu);
  return w;
}

int64_t nc_loader_batches_per_epoch(const nc_loader *l) { return l->per_epoch; }

void nc_loader_close(nc_loader *l) {
  if (!l) return;
  if (l->nthreads) stop_workers(l);
  if (l->sync_ready) {
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv_work);
    pthread_cond_destroy(&l->cv_ready);
  }
  for (int i = 0; l->slots && i < l->ring; i++) {
    free_view(l, l->slots[i].b.x1);
    free_view(l, l->slots[i].b.x2);
    free(l->slots[i].b.labels);
    free(l->slots[i].b.indices);
  }
  for (int t = 0; l->scratch && t < l->max_threads; t++) free(l->scratch[t]);
  free(l->scratch);
  free(l->args);
  free(l->slots);
  free(l->threads);
  free(l->perm);
  free(l);
}

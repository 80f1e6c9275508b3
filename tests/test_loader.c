// ctest-labels: unit
/* The threaded loader: identical batches whatever the thread count or ring size, every image
 * once per epoch, resume from a saved position bit for bit, views independent of batching,
 * drop_last, a clean shutdown with workers blocked on a full ring, the views in a caller's memory
 * (a GPU backend's page-locked buffers) and the consumer's measured waits. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ncssl/loader.h"
#include "testing.h"

enum { N = 37, SIDE = 12, BATCH = 5, VIEW = 8 };

static nc_dataset make_data(void) {
  nc_dataset d;
  nc_dataset_alloc(&d, N, 1, SIDE, SIDE, 10);
  nc_rng r;
  nc_rng_seed(&r, 5);
  for (size_t i = 0; i < (size_t)N * SIDE * SIDE; i++) d.pixels[i] = (uint8_t)nc_rng_below(&r, 256);
  for (int i = 0; i < N; i++) d.labels[i] = (i * 7) % 10;
  return d;
}

static nc_loader_opts make_opts(const nc_dataset *d, int threads, int prefetch, uint64_t seed) {
  nc_loader_opts o = {
      .data = d, .batch = BATCH, .threads = threads, .prefetch = prefetch, .seed = seed};
  nc_aug_preset_get("fashion", VIEW, &o.aug);
  return o;
}

typedef struct {
  int n;
  nc_loader_pos pos;
  int32_t idx[BATCH], lab[BATCH];
  float x1[BATCH * VIEW * VIEW], x2[BATCH * VIEW * VIEW];
} rec;

static void record(nc_loader *l, rec *out, int count) {
  for (int k = 0; k < count; k++) {
    const nc_batch *b;
    nc_loader_next(l, &b);
    memset(&out[k], 0, sizeof out[k]);
    out[k].n = b->n;
    out[k].pos = b->pos;
    memcpy(out[k].idx, b->indices, sizeof(int32_t) * b->n);
    memcpy(out[k].lab, b->labels, sizeof(int32_t) * b->n);
    memcpy(out[k].x1, b->x1, sizeof(float) * b->n * VIEW * VIEW);
    memcpy(out[k].x2, b->x2, sizeof(float) * b->n * VIEW * VIEW);
  }
}

static int same(const rec *a, const rec *b, int count) {
  return memcmp(a, b, sizeof(rec) * count) == 0;
}

/* A counting allocator standing in for a backend's host memory. */
typedef struct {
  int allocs, frees;
  size_t bytes;
} counting;

static void *count_alloc(void *ctx, size_t bytes) {
  counting *c = ctx;
  c->allocs++;
  c->bytes += bytes;
  return malloc(bytes);
}

static void count_free(void *ctx, void *p) {
  counting *c = ctx;
  c->frees++;
  free(p);
}

/* The views live in the caller's memory: two per ring slot, all given back, same batches. */
static void test_views_memory(const nc_dataset *d, const rec *ref, int total) {
  counting c = {0};
  const nc_host_memory mem = {count_alloc, count_free, &c};
  nc_loader_opts o = make_opts(d, 2, 3, 42);
  o.memory = &mem;
  nc_loader *l;
  CHECK(nc_loader_open(&l, &o) == 0);
  CHECK(c.allocs == 2 * 3 && c.bytes == 2 * 3 * sizeof(float) * BATCH * VIEW * VIEW);
  static rec got[64];
  record(l, got, total);
  CHECK(same(ref, got, total));
  const nc_batch *b;
  nc_loader_next(l, &b);
  nc_loader_close(l);
  CHECK(c.frees == c.allocs);
}

/* Waits are measured only when the batch asked for is not ready: the first batch of a fresh
 * loader (a 256-image batch takes a worker milliseconds) waits; once the ring has filled, the
 * next two batches are taken without waiting. */
static void test_waits(void) {
  nc_dataset d;
  nc_dataset_alloc(&d, 512, 3, 32, 32, 10);
  for (size_t i = 0; i < (size_t)512 * 3 * 32 * 32; i++) d.pixels[i] = (uint8_t)(i * 131 % 251);
  nc_loader_opts o = {.data = &d, .batch = 256, .threads = 1, .prefetch = 3, .seed = 7};
  nc_aug_preset_get("cifar", 32, &o.aug);
  nc_loader *l;
  CHECK(nc_loader_open(&l, &o) == 0);
  const nc_batch *b;
  CHECK(nc_loader_next(l, &b) == 0);
  nc_loader_waits w = nc_loader_wait_stats(l);
  CHECK(w.taken == 1 && w.waited == 1 && w.last > 0 && w.seconds == w.last);
  nanosleep(&(struct timespec){1, 500000000}, NULL); /* the worker fills the two other slots */
  CHECK(nc_loader_next(l, &b) == 0 && nc_loader_next(l, &b) == 0);
  nc_loader_waits w2 = nc_loader_wait_stats(l);
  CHECK(w2.taken == 3 && w2.waited == 1 && w2.last == 0 && w2.seconds == w.seconds);
  nc_loader_close(l);
  nc_dataset_free(&d);
}

int main(void) {
  nc_dataset d = make_data();
  enum { PER = (N + BATCH - 1) / BATCH, TOTAL = 3 * PER };
  static rec ref[TOTAL], other[TOTAL];
  nc_loader *l;
  nc_loader_opts o = make_opts(&d, 1, 2, 42);
  CHECK(nc_loader_open(&l, &o) == 0);
  CHECK(nc_loader_batches_per_epoch(l) == PER);
  CHECK(nc_loader_position(l).epoch == 0 && nc_loader_position(l).batch == 0);
  record(l, ref, TOTAL);
  CHECK(nc_loader_position(l).epoch == 3 && nc_loader_position(l).batch == 0);
  nc_loader_close(l);

  /* Every image exactly once per epoch; labels follow indices; epochs differ in order. */
  for (int e = 0; e < 3; e++) {
    int seen[N] = {0}, images = 0;
    for (int k = 0; k < PER; k++) {
      const rec *r = &ref[e * PER + k];
      CHECK(r->pos.epoch == e && r->pos.batch == k);
      CHECK(r->n == (k < PER - 1 ? BATCH : N - BATCH * (PER - 1)));
      for (int i = 0; i < r->n; i++) {
        seen[r->idx[i]]++;
        CHECK(r->lab[i] == d.labels[r->idx[i]]);
      }
      images += r->n;
    }
    CHECK(images == N);
    for (int i = 0; i < N; i++) CHECK(seen[i] == 1);
  }
  CHECK(memcmp(ref[0].idx, ref[PER].idx, sizeof ref[0].idx) != 0);
  /* Two views of an image differ; values are normalised pixels (fashion preset). */
  CHECK(memcmp(ref[0].x1, ref[0].x2, sizeof ref[0].x1) != 0);

  /* Same batches with 3 threads and other ring sizes. */
  int configs[][2] = {{3, 0}, {3, 2}, {2, 7}};
  for (int c = 0; c < 3; c++) {
    o = make_opts(&d, configs[c][0], configs[c][1], 42);
    CHECK(nc_loader_open(&l, &o) == 0);
    record(l, other, TOTAL);
    nc_loader_close(l);
    CHECK(same(ref, other, TOTAL));
  }

  /* Resume: a fresh loader sought to a saved position continues identically. */
  o = make_opts(&d, 3, 0, 42);
  CHECK(nc_loader_open(&l, &o) == 0);
  record(l, other, PER + 3);
  nc_loader_pos saved = nc_loader_position(l);
  CHECK(saved.epoch == 1 && saved.batch == 3);
  nc_loader_close(l);
  CHECK(nc_loader_open(&l, &o) == 0);
  CHECK(nc_loader_seek(l, saved) == 0);
  CHECK(nc_loader_position(l).epoch == 1 && nc_loader_position(l).batch == 3);
  record(l, other, TOTAL - (PER + 3));
  CHECK(same(ref + PER + 3, other, TOTAL - (PER + 3)));
  /* Seeking back on a running loader. */
  CHECK(nc_loader_seek(l, (nc_loader_pos){0, 1}) == 0);
  record(l, other, 2);
  CHECK(same(ref + 1, other, 2));
  CHECK(nc_loader_seek(l, (nc_loader_pos){0, PER}) != 0);
  nc_loader_close(l);

  /* Another seed: other order and other views. */
  o = make_opts(&d, 2, 0, 43);
  CHECK(nc_loader_open(&l, &o) == 0);
  record(l, other, 1);
  CHECK(memcmp(ref[0].idx, other[0].idx, sizeof ref[0].idx) != 0);
  nc_loader_close(l);

  /* An image's views depend on (seed, epoch, index), not on the batch it lands in. */
  o = make_opts(&d, 2, 0, 42);
  o.no_shuffle = 1;
  CHECK(nc_loader_open(&l, &o) == 0);
  record(l, other, 3); /* images 0..14 of epoch 0 */
  nc_loader_close(l);
  o.batch = 4;
  CHECK(nc_loader_open(&l, &o) == 0);
  const nc_batch *b;
  for (int k = 0; k < 3; k++) nc_loader_next(l, &b); /* images 8..11 */
  CHECK(b->indices[0] == 8 && other[1].idx[3] == 8);
  CHECK(memcmp(b->x1, other[1].x1 + 3 * VIEW * VIEW, sizeof(float) * VIEW * VIEW) == 0);
  CHECK(memcmp(b->x2 + VIEW * VIEW, other[1].x2 + 4 * VIEW * VIEW, sizeof(float) * VIEW * VIEW) ==
        0);
  nc_loader_close(l);

  /* drop_last: 7 full batches per epoch, no partial one. */
  o = make_opts(&d, 2, 0, 42);
  o.drop_last = 1;
  CHECK(nc_loader_open(&l, &o) == 0);
  CHECK(nc_loader_batches_per_epoch(l) == N / BATCH);
  for (int k = 0; k < N / BATCH + 1; k++) {
    nc_loader_next(l, &b);
    CHECK(b->n == BATCH);
    CHECK(b->last_in_epoch == (k == N / BATCH - 1));
  }
  CHECK(b->pos.epoch == 1 && b->pos.batch == 0);
  nc_loader_close(l);
  o.batch = N + 1;
  CHECK(nc_loader_open(&l, &o) != 0 && l == NULL);

  /* Clean shutdown while every worker waits on a full ring. */
  o = make_opts(&d, 4, 2, 1);
  CHECK(nc_loader_open(&l, &o) == 0);
  nc_loader_next(l, &b);
  nc_loader_close(l);
  nc_loader_close(NULL);

  test_views_memory(&d, ref, TOTAL);
  test_waits();
  nc_dataset_free(&d);
  return nc_test_done();
}

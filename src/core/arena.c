#include "ncssl/arena.h"

#include <stdlib.h>
#include <string.h>

#include "ncssl/backend.h"
#include "ncssl/status.h"

int nc_arena_init(nc_arena *a, size_t cap) { return nc_arena_init_on(a, cap, NULL); }

int nc_arena_init_on(nc_arena *a, size_t cap, nc_backend *be) {
  a->base = NULL;
  a->cap = cap;
  a->used = 0;
  a->be = be;
  if (cap == 0) return NC_OK;
  size_t rounded = (cap + NC_ARENA_ALIGN - 1) / NC_ARENA_ALIGN * NC_ARENA_ALIGN;
  if (be) {
    a->base = be->i->alloc(be, rounded); /* zeroed by the backend */
    if (!a->base)
      return nc_fail(NC_ENOMEM, "arena: cannot allocate %zu bytes on %s", cap, be->i->name);
  } else {
    a->base = aligned_alloc(NC_ARENA_ALIGN, rounded);
    if (!a->base) return nc_fail(NC_ENOMEM, "arena: cannot allocate %zu bytes", cap);
    memset(a->base, 0, rounded);
  }
  a->cap = rounded;
  return NC_OK;
}

void *nc_arena_alloc(nc_arena *a, size_t bytes) {
  size_t start = (a->used + NC_ARENA_ALIGN - 1) / NC_ARENA_ALIGN * NC_ARENA_ALIGN;
  size_t end = start + bytes;
  if (!a->base) {
    a->used = end;
    return NULL;
  }
  if (end > a->cap) {
    a->used = a->cap + 1; /* remember the overflow */
    return NULL;
  }
  a->used = end;
  return a->base + start;
}

float *nc_arena_floats(nc_arena *a, size_t n) { return nc_arena_alloc(a, n * sizeof(float)); }

int nc_arena_full(const nc_arena *a) { return a->base && a->used > a->cap; }

void nc_arena_reset(nc_arena *a) { a->used = 0; }

void nc_arena_free(nc_arena *a) {
  if (a->be && a->base)
    a->be->i->free(a->be, a->base);
  else
    free(a->base);
  a->base = NULL;
  a->cap = a->used = 0;
}

/* Arena: one allocation carved into aligned pieces, sized once (e.g. for an architecture and a
 * batch size), so the training step allocates nothing. */
#ifndef NCSSL_ARENA_H
#define NCSSL_ARENA_H
#include <stddef.h>

#define NC_ARENA_ALIGN 64

struct nc_backend;

typedef struct {
  char *base;
  size_t cap, used;
  struct nc_backend *be; /* whose buffer base is (NULL: host memory from nc_arena_init) */
} nc_arena;

/* Allocates cap bytes (zeroed). Returns NC_OK or NC_ENOMEM. A cap of 0 makes a "measuring"
 * arena: nc_arena_alloc returns NULL but still counts, so a builder can run twice (measure,
 * then carve) and the arena's `used` tells the size to ask for. */
int nc_arena_init(nc_arena *a, size_t cap);
/* Like nc_arena_init with one buffer of backend be (zeroed; be NULL = host memory). */
int nc_arena_init_on(nc_arena *a, size_t cap, struct nc_backend *be);
/* Carves `bytes` aligned to NC_ARENA_ALIGN; NULL when measuring or when the arena is full
 * (then nc_arena_full() is true). */
void *nc_arena_alloc(nc_arena *a, size_t bytes);
/* Like nc_arena_alloc for n floats. */
float *nc_arena_floats(nc_arena *a, size_t n);
/* 1 when an allocation did not fit in a real (non-measuring) arena. */
int nc_arena_full(const nc_arena *a);
/* Forgets every piece (memory stays allocated). */
void nc_arena_reset(nc_arena *a);
/* Frees the memory. */
void nc_arena_free(nc_arena *a);

#endif

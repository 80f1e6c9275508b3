/* Reader for the golden files written by tests/golden/make_*.py: the 8 bytes "NCGOLD1\n", then
 * records until the end of the file: u32 name length, name, u32 ndim (0..4), u32 dims[ndim],
 * float32 data. Header-only so any test can include it; little-endian hosts only. */
#ifndef NCSSL_TESTS_GOLDEN_H
#define NCSSL_TESTS_GOLDEN_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  char name[128];
  int ndim;
  uint32_t shape[4];
  size_t n;
  float *data;
} nc_golden_tensor;

typedef struct {
  nc_golden_tensor *t;
  int count;
} nc_golden;

static void nc_golden_free(nc_golden *g) {
  for (int i = 0; i < g->count; i++) free(g->t[i].data);
  free(g->t);
  g->t = NULL;
  g->count = 0;
}

/* Reads a whole golden file; returns 0 on success, -1 (with a message on stderr) otherwise. */
static int nc_golden_read(const char *path, nc_golden *g) {
  memset(g, 0, sizeof *g);
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "golden: cannot open %s\n", path);
    return -1;
  }
  char magic[8];
  int ok = fread(magic, 1, 8, f) == 8 && memcmp(magic, "NCGOLD1\n", 8) == 0;
  int cap = 0;
  uint32_t len;
  while (ok && fread(&len, 4, 1, f) == 1) {
    if (g->count == cap) {
      cap = cap ? 2 * cap : 64;
      nc_golden_tensor *t = realloc(g->t, (size_t)cap * sizeof *t);
      if (!(ok = t != NULL)) break;
      g->t = t;
    }
    nc_golden_tensor *t = &g->t[g->count];
    memset(t, 0, sizeof *t);
    uint32_t nd;
    ok = len < sizeof t->name && fread(t->name, 1, len, f) == len && fread(&nd, 4, 1, f) == 1 &&
         nd <= 4 && fread(t->shape, 4, nd, f) == nd;
    if (!ok) break;
    g->count++;
    t->name[len] = 0;
    t->ndim = (int)nd;
    t->n = 1;
    for (uint32_t k = 0; k < nd; k++) t->n *= t->shape[k];
    ok = t->n < ((size_t)1 << 28) && (t->data = malloc(t->n * sizeof(float) + 1)) != NULL &&
         fread(t->data, sizeof(float), t->n, f) == t->n;
  }
  fclose(f);
  if (!ok) {
    fprintf(stderr, "golden: %s is malformed\n", path);
    nc_golden_free(g);
    return -1;
  }
  return 0;
}

/* The tensor called name, or NULL. */
static const nc_golden_tensor *nc_golden_find(const nc_golden *g, const char *name) {
  for (int i = 0; i < g->count; i++)
    if (strcmp(g->t[i].name, name) == 0) return &g->t[i];
  return NULL;
}

#endif

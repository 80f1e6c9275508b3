#include "ncssl/param.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ncssl/status.h"

int nc_params_add(nc_param_list *l, const char *prefix, const char *name, float *w, float *g,
                  int ndim, const int *shape, int is_buffer) {
  if (ndim < 0 || ndim > 4) return nc_fail(NC_EINVAL, "param %s: ndim %d not in 0..4", name, ndim);
  if (l->n == l->cap) {
    int cap = l->cap ? 2 * l->cap : 32;
    nc_param *items = realloc(l->items, (size_t)cap * sizeof *items);
    if (!items) return nc_fail(NC_ENOMEM, "param list: out of memory");
    l->items = items;
    l->cap = cap;
  }
  nc_param *p = &l->items[l->n++];
  memset(p, 0, sizeof *p);
  if (prefix && *prefix)
    snprintf(p->name, sizeof p->name, "%s.%s", prefix, name);
  else
    snprintf(p->name, sizeof p->name, "%s", name);
  p->w = w;
  p->g = g;
  p->ndim = ndim;
  p->n = 1;
  for (int i = 0; i < ndim; i++) {
    p->shape[i] = shape[i];
    p->n *= (size_t)shape[i];
  }
  p->is_buffer = is_buffer;
  return NC_OK;
}

size_t nc_params_count(const nc_param_list *l) {
  size_t n = 0;
  for (int i = 0; i < l->n; i++)
    if (!l->items[i].is_buffer) n += l->items[i].n;
  return n;
}

nc_param *nc_params_find(const nc_param_list *l, const char *name) {
  for (int i = 0; i < l->n; i++)
    if (strcmp(l->items[i].name, name) == 0) return &l->items[i];
  return NULL;
}

void nc_params_zero_grad(nc_param_list *l) {
  for (int i = 0; i < l->n; i++)
    if (l->items[i].g) memset(l->items[i].g, 0, l->items[i].n * sizeof(float));
}

void nc_params_free(nc_param_list *l) {
  free(l->items);
  l->items = NULL;
  l->n = l->cap = 0;
}

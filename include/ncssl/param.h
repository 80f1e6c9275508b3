/* Named parameter tensors: what optimizers, EMA, checkpoints and gradient checks see of a network.
 * Names follow torchvision's ResNet (conv1.weight, layer1.0.bn1.running_mean, ...) so checkpoints
 * load in PyTorch. */
#ifndef NCSSL_PARAM_H
#define NCSSL_PARAM_H
#include <stddef.h>

typedef struct {
  char name[80];
  float *w; /* values */
  float *g; /* gradient, same size; NULL for buffers */
  size_t n; /* number of floats */
  int ndim;
  int shape[4];
  int is_buffer; /* BN running statistics: not trained, not averaged by EMA (official code) */
} nc_param;

typedef struct {
  nc_param *items;
  int n, cap;
} nc_param_list;

/* Appends a parameter (copying the name, prefixed by `prefix` when not NULL). Returns NC_OK or
 * NC_ENOMEM. */
int nc_params_add(nc_param_list *l, const char *prefix, const char *name, float *w, float *g,
                  int ndim, const int *shape, int is_buffer);
/* Total floats over trainable parameters (buffers excluded). */
size_t nc_params_count(const nc_param_list *l);
/* Finds a parameter by full name, NULL if absent. */
nc_param *nc_params_find(const nc_param_list *l, const char *name);
/* Sets every gradient to zero. */
void nc_params_zero_grad(nc_param_list *l);
/* Frees the list (not the tensors, which live in arenas). */
void nc_params_free(nc_param_list *l);

#endif

/* The tape behind nc_net, shared by net.c (planning, forward, backward) and net_build.c (the
 * ResNet and head builders, initialisation). Not a public header. */
#ifndef NCSSL_NN_NET_INTERNAL_H
#define NCSSL_NN_NET_INTERNAL_H
#include <stdint.h>

#include "ncssl/arena.h"
#include "ncssl/backend.h"
#include "ncssl/layers.h"
#include "ncssl/net.h"

#define NC_NET_MAX_SLOTS 8

typedef enum { OP_CONV, OP_BN, OP_RELU, OP_MAXPOOL, OP_AVGPOOL, OP_LINEAR, OP_ADD } nc_op_kind;

typedef struct {
  int c, h, w; /* per-sample shape (h = w = 1 for a matrix row) */
  int cnhw;    /* 1: channel-major layout, 0: NCHW / row-major */
  int blocked; /* a cnhw tensor the CPU keeps channel-blocked instead (nc_t4_blocked) */
  int root;    /* the tensor whose buffers this one shares (itself unless made in place) */
  float *act[NC_NET_MAX_SLOTS];
  float *grad[NC_NET_MAX_SLOTS]; /* per slot: it may lie in that slot's consumed activations */
} nc_tensor;

typedef struct {
  nc_op_kind kind;
  int in, in2, out; /* tensor ids; in2 only for OP_ADD (out is in place of in) */
  char name[64];    /* parameter name prefix, e.g. "layer1.0.conv1" or "net.0" ("" = none) */
  nc_conv_cfg conv;
  int pool_k, pool_s, pool_p;
  int affine, bias; /* BN affine; Linear bias */
  int relu;         /* BN or add: a ReLU follows, fused (its output tensor aliases this one's) */
  /* parameter offsets into net->w (trainable) and net->buf (buffers); -1 when absent */
  long w_off, b_off, rm_off, rv_off;
  void *save[NC_NET_MAX_SLOTS]; /* BN: mean then invstd (2c floats); max-pool: int32 argmax */
  nc_conv_plan *plan;           /* conv: oneDNN primitives for the full batch (NULL: im2col) */
} nc_node;

struct nc_net {
  nc_tensor *t;
  nc_node *nodes;
  int nt, nn, cap_t, cap_n;
  int input, output; /* tensor ids */
  int batch, n_slots, with_grad, train;
  int slot_n[NC_NET_MAX_SLOTS];     /* samples of the last forward in each slot (0: none) */
  int slot_train[NC_NET_MAX_SLOTS]; /* mode of that forward */
  size_t n_w, n_buf;                /* floats of trainable parameters and of buffers */
  float *w, *g, *buf, *scratch;
  size_t n_scratch;
  unsigned char *grad_ready;              /* per tensor root, during a backward */
  nc_comm *comm;                          /* sync-BN over these ranks (NULL: off) */
  double *bn_sums;                        /* 2·(max channels) doubles for the reduced BN sums */
  double slot_global_n[NC_NET_MAX_SLOTS]; /* samples of the last forward over all ranks */
  nc_param_list params;
  nc_backend *be; /* where the arena's buffer lives and the layers run */
  nc_arena arena;
  /* With gradients: the slots' activations and the shared gradient buffers (contiguous), which
   * hold nothing between a backward and the next forward; lent to a borrower. */
  float *slot_region;
  size_t slot_region_bytes;
  int grads_in_slots; /* some gradients lie in consumed activations: a backward uses its slot up */
  /* Without gradients: the network whose scratch and slot region this one's scratch and
   * activations use (NULL: its own). */
  const nc_net *lender;
};

/* Graph construction (returns the new tensor id, or -1 when out of memory). */
int nc_net_add_tensor(nc_net *net, int c, int h, int w, int cnhw);
int nc_net_conv(nc_net *net, const char *name, int in, int cout, int k, int stride, int pad);
int nc_net_bn(nc_net *net, const char *name, int in, int affine);
int nc_net_relu(nc_net *net, int in);           /* in place */
int nc_net_add(nc_net *net, int in, int other); /* in place of in */
int nc_net_maxpool(nc_net *net, int in, int k, int stride, int pad);
int nc_net_avgpool(nc_net *net, int in);
int nc_net_linear(nc_net *net, const char *name, int in, int out_dim, int bias);
/* An empty network for `batch` samples on backend be (NULL: the CPU); frees nothing on failure
 * (the caller frees). */
nc_net *nc_net_new(nc_backend *be, int batch, int n_slots, int with_grad);
/* Plans and carves all memory, registers the parameters (with prefix). */
int nc_net_finish(nc_net *net, const char *prefix);

#endif

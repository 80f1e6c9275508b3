/* Networks of the deep engine: a list of layers built once (a "tape"), walked forward in order and
 * backward in reverse. All memory (parameters, gradients, running statistics, activations,
 * scratch) is carved once at build time for (architecture, maximum batch); forward and backward
 * allocate nothing.
 *
 * Slots: a network built with n_slots > 1 keeps that many independent activation caches. BYOL
 * forwards the online network on view 1 into slot 0 and on view 2 into slot 1 (batch-norm
 * statistics are per call, as in PyTorch), then calls backward on both; parameter gradients
 * accumulate. A network built with with_grad = 0 (a BYOL target) keeps no caches: its activation
 * buffers are reused along the forward, it has no gradients (nc_param.g is NULL), and backward
 * fails.
 *
 * Inputs and outputs are what PyTorch sees: an image batch is NCHW [n, c, h, w], features and head
 * inputs/outputs are row-major [n, d]. Inside, ResNets keep activations channel-major (CNHW) on
 * the CPU and dense NCHW on a GPU backend.
 *
 * Parameter names (nc_net_params, in PyTorch state_dict order; `prefix` from the builder, if not
 * NULL, is prepended with a dot):
 * - ResNet: torchvision's, fc removed: conv1.weight, bn1.{weight,bias,running_mean,running_var},
 *   layer1.0.conv1.weight, layer1.0.bn1.*, ..., layer2.0.downsample.0.weight,
 *   layer2.0.downsample.1.*, ... (num_batches_tracked is not kept).
 * - MLP head, as nn.Sequential(Linear, BatchNorm1d, ReLU, Linear) in a member `net`:
 *   net.0.weight, net.0.bias, net.1.weight, net.1.bias (only with bn_affine),
 *   net.1.running_mean, net.1.running_var, net.3.weight, net.3.bias.
 * - Single linear head, as nn.Linear: weight, bias (only with bias).
 * The trainable parameters are laid out contiguously in list order (nc_net_flat), so optimizers
 * and EMA may treat them as one vector; buffers (BN running statistics) are separate. */
#ifndef NCSSL_NET_H
#define NCSSL_NET_H
#include <stddef.h>

#include "ncssl/backend.h"
#include "ncssl/comm.h"
#include "ncssl/param.h"
#include "ncssl/rng.h"

typedef struct nc_net nc_net;

typedef enum {
  NC_STEM_CIFAR = 0,   /* 3×3 stride-1 conv, no max-pool (SimCLR's CIFAR ResNet) */
  NC_STEM_IMAGENET = 1 /* 7×7 stride-2 conv + 3×3/2 max-pool (torchvision) */
} nc_stem;

typedef struct {
  int depth;       /* 18 or 34 (basic blocks), 50 (bottleneck) */
  nc_stem stem;    /* NC_STEM_CIFAR or NC_STEM_IMAGENET */
  int in_channels; /* 1 or 3 */
  int width;       /* base channels: 64 is the standard network (output 8·width, or 32·width for
                      ResNet-50) */
} nc_resnet_cfg;

/* Builds a ResNet backbone without fc for inputs [n ≤ batch, in_channels, h, w]; output
 * [n, features]. Returns NC_OK, NC_EINVAL (bad configuration) or NC_ENOMEM. */
int nc_resnet_build(nc_net **out, const nc_resnet_cfg *cfg, int h, int w, int batch, int n_slots,
                    int with_grad, const char *prefix);
/* Builds Linear(d_in, hidden) → BatchNorm1d(hidden, affine = bn_affine) → ReLU →
 * Linear(hidden, d_out), both Linears with bias (projector and 2-layer predictor). */
int nc_mlp_build(nc_net **out, int d_in, int hidden, int d_out, int bn_affine, int batch,
                 int n_slots, int with_grad, const char *prefix);
/* Builds a single Linear(d_in, d_out) with or without bias (the linear predictor). */
int nc_linear_net_build(nc_net **out, int d_in, int d_out, int bias, int batch, int n_slots,
                        int with_grad, const char *prefix);
/* The same three builders on backend be (NULL: the CPU backend, which the builders above use):
 * parameters, gradients and activations live in one buffer of be and the layers run there. */
int nc_resnet_build_on(nc_backend *be, nc_net **out, const nc_resnet_cfg *cfg, int h, int w,
                       int batch, int n_slots, int with_grad, const char *prefix);
/* Like nc_resnet_build_on without gradients (one slot), for BYOL's target network: its
 * convolution scratch and its activation buffers live in `lender`'s scratch and slot memory
 * (each only where it fits; its own memory otherwise). The lender's scratch holds nothing between
 * its calls, its slots nothing from a backward (or from its creation) to the next forward, so the
 * borrower may run only there, and it overwrites what the lender's slots held (their outputs
 * included). It must be freed before the lender. lender NULL: own memory. NC_EINVAL when the
 * lender has no gradients or another backend. */
int nc_resnet_build_borrowing(nc_backend *be, nc_net **out, const nc_resnet_cfg *cfg, int h, int w,
                              int batch, const nc_net *lender, const char *prefix);
int nc_mlp_build_on(nc_backend *be, nc_net **out, int d_in, int hidden, int d_out, int bn_affine,
                    int batch, int n_slots, int with_grad, const char *prefix);
int nc_linear_net_build_on(nc_backend *be, nc_net **out, int d_in, int d_out, int bias, int batch,
                           int n_slots, int with_grad, const char *prefix);
/* The backend the network was built on. */
nc_backend *nc_net_backend(const nc_net *net);
/* Sets every parameter gradient to zero (on the network's backend). */
void nc_net_zero_grad(nc_net *net);
/* Frees the network and all its memory (NULL is fine). */
void nc_net_free(nc_net *net);

/* PyTorch's default initialisation drawn from rng: ResNet convs kaiming_normal_(fan_out, relu) as
 * torchvision, BN weight 1, bias 0, running mean 0, var 1; Linear weight and bias
 * U(−1/√fan_in, 1/√fan_in) (kaiming_uniform_ with a = √5). Same rng state, same bytes. */
void nc_net_init(nc_net *net, nc_rng *rng);
/* Training mode (1: BN uses batch statistics and updates running ones) or eval mode (0). Networks
 * start in training mode. */
void nc_net_set_train(nc_net *net, int train);
/* 1 in training mode. */
int nc_net_is_train(const nc_net *net);
/* Synchronised batch norm: with a communicator of more than one rank, training-mode batch norm
 * reduces its forward statistics and backward sums over the ranks (each rank holds a slice of the
 * global batch; statistics → all-reduce → apply), so it normalises with the global batch's
 * statistics and the running statistics are identical on every rank. NULL (the default) or a
 * single rank: per-process statistics. Returns NC_OK or NC_ENOMEM (the sums' buffer). */
int nc_net_set_comm(nc_net *net, nc_comm *comm);

/* The named parameters and buffers (owned by the network). */
nc_param_list *nc_net_params(nc_net *net);
/* The trainable parameters as one vector of *n floats and their gradients (*g is NULL without
 * gradients). */
void nc_net_flat(nc_net *net, float **w, float **g, size_t *n);
/* Copies parameters and buffers from src to dst (same architecture, e.g. online → target, on the
 * same backend). Returns NC_EINVAL when the parameter lists differ in shape or backend. */
int nc_net_copy_params(nc_net *dst, const nc_net *src);

/* Floats per input sample (c·h·w for a ResNet, d_in for a head). */
size_t nc_net_in_size(const nc_net *net);
/* Output features per sample. */
int nc_net_out_dim(const nc_net *net);
/* The maximum batch the network was built for. */
int nc_net_batch(const nc_net *net);
/* Number of activation slots (1 for a network without gradients). */
int nc_net_slots(const nc_net *net);
/* Bytes held by the network (parameters, gradients, activations, scratch). */
size_t nc_net_bytes(const nc_net *net);
/* How many of its convolutions run as `kind` for its full batch: "winograd" or "onednn" (oneDNN
 * plans, layers.h) or "im2col" (CPU) — or "device" on other backends, which choose their own. */
int nc_net_conv_count(const nc_net *net, const char *kind);
/* How its feature maps are stored (the activations between its input and its output): *blocked
 * of them channel-blocked (nChw16c, on the CPU where oneDNN plans every convolution touching
 * them; layers.h), *planar in CNHW. NCSSL_LAYOUT=planar in the environment keeps them all planar
 * (for comparisons). */
void nc_net_layout_count(const nc_net *net, int *blocked, int *planar);
/* Forward FLOPs (2 per multiply-add of convolutions and linears) for n samples; a forward plus
 * backward costs about 3× this (the convention for effective GFLOP/s). */
double nc_net_flops(const nc_net *net, int n);

/* Forward of n ≤ batch samples x (host memory or the network's backend) into activation slot
 * `slot`; y (host memory) receives [n, out_dim] (may be NULL: read it later with nc_net_output,
 * which is backend memory). Returns NC_OK or NC_EINVAL. */
int nc_net_forward(nc_net *net, int slot, int n, const float *x, float *y);
/* The output [n, out_dim] of the last forward into slot (valid until the next forward there). */
const float *nc_net_output(const nc_net *net, int slot);
/* Backward of the last forward into slot, given dy = ∂L/∂y [n, out_dim] (host or backend
 * memory): parameter gradients accumulate (+=); dx (backend memory; host memory on the CPU), if
 * not NULL, is OVERWRITTEN with ∂L/∂x [n, in_size]. The backward uses the slot up: gradients take
 * the place of the activations it has consumed (the output's stays readable), so a second
 * backward needs a new forward. Returns NC_OK or NC_EINVAL (no gradients, or no forward in that
 * slot since its last backward). */
int nc_net_backward(nc_net *net, int slot, const float *dy, float *dx);

#endif

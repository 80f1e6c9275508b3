/* Optimizers and schedules for the deep engine.
 *
 * SGD follows torch.optim.SGD exactly (dampening 0, no Nesterov):
 *   d_p = g + wd·w;  buf = μ·buf + d_p (first step: buf = d_p);  w −= lr·buf.
 * LARS is the variant of BYOL / SimCLR (You et al. 2017 with momentum applied after scaling):
 *   d_p = g + wd·w;  d_p *= η_tc·‖w‖/‖d_p‖ (1 when either norm is 0);  then as SGD.
 * Tensors with fewer than two dimensions (BatchNorm affine parameters and every bias) are left out
 * of both the weight decay and the trust-ratio adaptation under LARS, as BYOL does.
 *
 * Parameters come in groups (the online network, the predictor); each group has its own learning
 * rate multiplier (α_p for the predictor, paper §1.3) and its own weight decay. */
#ifndef NCSSL_OPTIM_H
#define NCSSL_OPTIM_H
#include <stddef.h>

#include "ncssl/backend.h"
#include "ncssl/param.h"

typedef enum { NC_OPTIM_SGD = 0, NC_OPTIM_LARS = 1 } nc_optim_kind;

typedef struct {
  nc_optim_kind kind;
  double momentum;   /* μ, 0.9 in the paper */
  double lars_trust; /* LARS trust coefficient η_tc (BYOL: 1e-3) */
} nc_optim_config;

/* One trainable tensor as the optimizer sees it. */
typedef struct {
  float *w, *g, *buf; /* values, gradient, momentum buffer */
  size_t n;
  int group;
  int lars_exclude; /* 1-D tensor: no decay or adaptation under LARS */
} nc_optim_slot;

typedef struct {
  double lr_mult, weight_decay;
} nc_optim_group;

typedef struct {
  nc_optim_config cfg;
  nc_optim_slot *slots;
  int nslots;
  nc_optim_group groups[8];
  int ngroups;
  float *buffers; /* one block holding every momentum buffer (on be) */
  nc_backend *be; /* where the parameters live and the update runs (the CPU by default) */
  long steps;     /* number of step() calls so far */
} nc_optim;

/* Default config: SGD, momentum 0.9, LARS trust coefficient 1e-3. */
nc_optim_config nc_optim_default(void);
/* Starts an empty optimizer (no groups yet) on the CPU backend. */
void nc_optim_init(nc_optim *o, nc_optim_config cfg);
/* The same for parameters on backend be (NULL: the CPU). */
void nc_optim_init_on(nc_optim *o, nc_optim_config cfg, nc_backend *be);
/* Adds every trainable tensor of `params` (buffers skipped) as one group with its own learning
 * rate multiplier and weight decay; returns the group index (≥ 0) or a negative nc_code. Call
 * every add before the first step; the momentum buffers are allocated here, never in a step. */
int nc_optim_add_group(nc_optim *o, const nc_param_list *params, double lr_mult,
                       double weight_decay);
/* One update of every group with base learning rate lr (group rate = lr·lr_mult). */
void nc_optim_step(nc_optim *o, double lr);
/* One update of a single group only (the official code steps the predictor separately). */
void nc_optim_step_group(nc_optim *o, int group, double lr);
/* Sets every momentum buffer to zero and the step count to 0. */
void nc_optim_reset(nc_optim *o);
/* Frees the slots and buffers (not the parameters). */
void nc_optim_free(nc_optim *o);

/* Learning-rate schedules. */
typedef enum { NC_SCHED_CONSTANT = 0, NC_SCHED_COSINE = 1 } nc_sched_kind;

typedef struct {
  nc_sched_kind kind;
  double base;       /* the rate after warm-up */
  long warmup_steps; /* linear ramp base·(t+1)/warmup for t < warmup (cosine only) */
  long total_steps;  /* cosine: decays to final_value at t = total_steps */
  double final_value;
} nc_schedule;

/* The rate at step t (t from 0): constant, or linear warm-up then half-cosine to final_value. */
double nc_schedule_at(const nc_schedule *s, long t);
/* BYOL's target EMA coefficient: τ(t) = 1 − (1 − τ_base)(cos(πt/T) + 1)/2, rising to 1 at T. */
double nc_ema_cosine(double tau_base, long t, long total_steps);

#endif

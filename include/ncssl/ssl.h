/* SSL wiring: online network (backbone → projector), predictor, target, loss, optimizer, EMA, and
 * one training step (ARCHITECTURE.md, "The training step"; digest §6.2 for the order).
 *
 *   BYOL:    the target is a separate backbone + projector, updated as an EMA of the online
 *            PARAMETERS only (BN running statistics are not averaged, official code): τ constant
 *            (0.996) or BYOL's cosine increase to 1. It starts as a copy of the online network, or
 *            from its own random draw (`independent`, what the official code does).
 *   SimSiam: the target is the online network itself under stop-gradient: z = sg(f), no second
 *            forward.
 *   no-stopgrad (SimSiam only, the collapse ablation of Theorem 2): the gradient also flows through
 *            z = f. (BYOL's target is not trained by gradient, so the ablation has no meaning
 * there.)
 *
 * One step, n ≤ batch images per view, both networks in training mode:
 *   f1 = proj(backbone(x1)) [slot 0], f2 = proj(backbone(x2)) [slot 1];
 *   predictor.observe(f1, f2)                    (DirectPred's F̂ includes this batch)
 *   q1 = pred(f1), q2 = pred(f2)                  (W_p from the end of the previous step)
 *   z1 = target(x1), z2 = target(x2)              (no gradient)
 *   loss = direction(q1, z2) + direction(q2, z1)  (see loss.h)
 *   backward through predictor, projector, backbone; SGD/LARS step of online and predictor;
 *   predictor.after_step (DirectPred's set / symmetric projection); EMA of the target.
 * All memory is allocated by nc_ssl_create; a step allocates nothing (LAPACKE's own workspace
 * inside ssyevd excepted, every `freq` steps for DirectPred). */
#ifndef NCSSL_SSL_H
#define NCSSL_SSL_H
#include <stdint.h>

#include "ncssl/loss.h"
#include "ncssl/net.h"
#include "ncssl/optim.h"
#include "ncssl/predictor.h"

typedef enum { NC_SSL_BYOL = 0, NC_SSL_SIMSIAM = 1 } nc_ssl_method;
typedef enum { NC_TARGET_COPY = 0, NC_TARGET_INDEPENDENT = 1 } nc_target_init;

typedef struct {
  nc_ssl_method method;
  nc_resnet_cfg backbone;
  int image_h, image_w;
  int batch;          /* the largest n a step may get */
  int proj_hidden;    /* 512 */
  int proj_out;       /* 128 = the predictor's d */
  int proj_bn_affine; /* the official projector's BN has affine = False */
  nc_predictor_config predictor;
  nc_loss_kind loss;
  int stopgrad;     /* 1; 0 = the no-stop-gradient ablation (SimSiam only) */
  double ema;       /* τ (0.996) */
  int ema_cosine;   /* BYOL's τ(t) = 1 − (1 − τ)(cos(πt/T) + 1)/2 over total_steps */
  long total_steps; /* for the cosine EMA (and a cosine lr schedule) */
  nc_target_init target_init; /* copy (default) or independent */
  nc_optim_config optim;
  nc_schedule lr;           /* base lr 0.03, constant */
  double weight_decay;      /* online network (4e-4) */
  double pred_lr_mult;      /* α_p (1) */
  double pred_weight_decay; /* predictor (4e-4) */
  uint64_t seed;
} nc_ssl_config;

/* Time spent in each phase of the steps so far (seconds), for the benchmark. */
typedef struct {
  double online_forward, target_forward, loss, backward, optimizer, predictor_set, ema;
  long steps;
  double grad_reduce; /* data-parallel runs: the gradient and loss all-reduce */
} nc_ssl_timing;

typedef struct nc_ssl nc_ssl;

/* The paper's setup (digest §8.1): BYOL, ResNet-18 CIFAR stem, width 64, 32×32×3, batch 128,
 * projector 512-128, mlp predictor, byol loss, τ 0.996 constant, copy init, SGD lr 0.03 momentum
 * 0.9 wd 4e-4 (predictor the same, α_p 1), seed 0. */
nc_ssl_config nc_ssl_default(void);
/* Builds and initialises everything (online from seed stream 1, predictor from 2, an independent
 * target from 3). Returns NC_OK, NC_EINVAL (bad configuration) or NC_ENOMEM. */
int nc_ssl_create(nc_ssl **out, const nc_ssl_config *cfg);
/* Seed stream 1: the one nc_ssl_create initialises the online backbone (then its projector) from,
 * so that an untrained backbone initialised from it is the random-init floor of a run with this
 * seed (`ncssl eval --random-init`, `ncssl reproduce`). */
nc_rng nc_ssl_online_stream(uint64_t seed);
/* The same on backend be (NULL: the CPU, what nc_ssl_create uses): every network, buffer and
 * update lives and runs there; the step returns with the backend synchronised, so the host may
 * then read any tensor (checkpoints, monitors). */
int nc_ssl_create_on(nc_backend *be, nc_ssl **out, const nc_ssl_config *cfg);
/* The backend s was created on. */
nc_backend *nc_ssl_backend(const nc_ssl *s);
/* 1 when every weight of the online network and the predictor is finite (the backend's
 * non-finite reduction; read back, so call it rarely). */
int nc_ssl_weights_finite(nc_ssl *s);
/* Frees it (NULL is fine). */
void nc_ssl_free(nc_ssl *s);
/* Data-parallel training (comm.h): each rank passes its slice of the global batch to nc_ssl_step;
 * after the backward the gradients of the online network and the predictor are averaged over the
 * ranks (one all-reduce per network's flat gradient vector), the loss returned is the global
 * one, DirectPred's F̂ comes from the global batch, and with sync_bn every batch norm (online,
 * target, mlp predictor) uses the global batch's statistics. The replicas start identical (same
 * seed) and stay so. NULL or one rank: the single-process step, unchanged. More than one rank on
 * a backend other than the CPU: NC_EINVAL (the all-reduces run on host memory; GPUs need NCCL,
 * not built yet). Returns NC_OK or that error. */
int nc_ssl_set_comm(nc_ssl *s, nc_comm *comm, int sync_bn);
/* The communicator set by nc_ssl_set_comm (NULL when none). */
nc_comm *nc_ssl_comm(const nc_ssl *s);
/* One training step on n images per view (NCHW floats); *loss receives the loss before the update.
 */
int nc_ssl_step(nc_ssl *s, int n, const float *x1, const float *x2, double *loss);

/* The parts, for checkpoints, monitors and tests (owned by s; target nets are NULL for SimSiam). */
nc_net *nc_ssl_backbone(nc_ssl *s);
nc_net *nc_ssl_projector(nc_ssl *s);
nc_net *nc_ssl_target_backbone(nc_ssl *s);
nc_net *nc_ssl_target_projector(nc_ssl *s);
nc_predictor *nc_ssl_predictor(nc_ssl *s);
/* The last step's buffers [n, d]: online outputs f (view 0/1), predictions q, targets z. */
const float *nc_ssl_f(const nc_ssl *s, int view);
const float *nc_ssl_q(const nc_ssl *s, int view);
const float *nc_ssl_z(const nc_ssl *s, int view);
/* Phase timings accumulated over the steps so far. */
nc_ssl_timing nc_ssl_timings(const nc_ssl *s);
/* Resets the timings (e.g. after warm-up). */
void nc_ssl_reset_timings(nc_ssl *s);
/* Forward FLOPs of one step for n images per view: online forward ×2 views, backward ≈ 2× forward,
 * target forward ×2 views (BYOL) — the "effective" work the benchmark divides by time. */
double nc_ssl_step_flops(const nc_ssl *s, int n);
/* Bytes held by all networks, the predictor buffers and the optimizer state. */
size_t nc_ssl_bytes(const nc_ssl *s);
/* Checkpoint access (added for `ncssl train --resume`): the optimizer (momentum buffers, step
 * count) and the number of steps taken, which drives the lr schedule and the cosine EMA. */
nc_optim *nc_ssl_optim(nc_ssl *s);
long nc_ssl_steps(const nc_ssl *s);
/* The configuration s was created with. */
const nc_ssl_config *nc_ssl_config_of(const nc_ssl *s);
void nc_ssl_set_steps(nc_ssl *s, long steps);

#endif

/* BYOL / SimSiam wiring and the training step (see ssl.h for the order of operations). */
#include "ncssl/ssl.h"

#include <stdlib.h>
#include <string.h>

#include "ncssl/clock.h"
#include "ncssl/status.h"

struct nc_ssl {
  nc_ssl_config cfg;
  nc_net *backbone, *projector;   /* online, two slots, with gradients */
  nc_net *tbackbone, *tprojector; /* BYOL's target: one slot, no gradients */
  nc_predictor *pred;
  nc_optim opt;
  int group_online, group_pred;
  int d, feat;
  /* [batch, d] buffers, carved from one block; dfeat is [batch, feat]. */
  float *block, *q[2], *z[2], *dq[2], *df[2], *dz[2], *dfeat;
  const float *f[2];
  long step;
  nc_ssl_timing timing;
  nc_comm *comm;  /* data-parallel ranks (NULL: one process) */
  nc_backend *be; /* every network, buffer and update of the step lives and runs here */
};

nc_ssl_config nc_ssl_default(void) {
  nc_ssl_config c;
  memset(&c, 0, sizeof c);
  c.method = NC_SSL_BYOL;
  c.backbone.depth = 18;
  c.backbone.stem = NC_STEM_CIFAR;
  c.backbone.in_channels = 3;
  c.backbone.width = 64;
  c.image_h = c.image_w = 32;
  c.batch = 128;
  c.proj_hidden = 512;
  c.proj_out = 128;
  c.predictor = nc_predictor_default(NC_PREDICTOR_MLP);
  c.loss = NC_LOSS_BYOL;
  c.stopgrad = 1;
  c.ema = 0.996;
  c.target_init = NC_TARGET_COPY;
  c.optim = nc_optim_default();
  c.lr.kind = NC_SCHED_CONSTANT;
  c.lr.base = 0.03;
  c.weight_decay = 4e-4;
  c.pred_lr_mult = 1.0;
  c.pred_weight_decay = 4e-4;
  return c;
}

void nc_ssl_free(nc_ssl *s) {
  if (!s) return;
  nc_net_free(s->tbackbone); /* before its lender, the online backbone */
  nc_net_free(s->tprojector);
  nc_net_free(s->backbone);
  nc_net_free(s->projector);
  nc_predictor_free(s->pred);
  nc_optim_free(&s->opt);
  if (s->block) s->be->i->free(s->be, s->block);
  free(s);
}

static int check_config(const nc_ssl_config *c) {
  if (c->batch <= 0) return nc_fail(NC_EINVAL, "ssl: batch must be positive, got %d", c->batch);
  if (c->predictor.dim != c->proj_out)
    return nc_fail(NC_EINVAL, "ssl: predictor width %d differs from the projector output %d",
                   c->predictor.dim, c->proj_out);
  if (!c->stopgrad && c->method != NC_SSL_SIMSIAM)
    return nc_fail(NC_EINVAL,
                   "ssl: the no-stop-gradient ablation needs simsiam (BYOL's target "
                   "is not trained by gradient)");
  if (!(c->ema >= 0 && c->ema <= 1)) return nc_fail(NC_EINVAL, "ssl: ema %g not in [0, 1]", c->ema);
  return NC_OK;
}

static int build(nc_ssl *s) {
  const nc_ssl_config *c = &s->cfg;
  int rc = nc_resnet_build_on(s->be, &s->backbone, &c->backbone, c->image_h, c->image_w, c->batch,
                              2, 1, "backbone");
  if (rc) return rc;
  s->feat = nc_net_out_dim(s->backbone);
  s->d = c->proj_out;
  if ((rc = nc_mlp_build_on(s->be, &s->projector, s->feat, c->proj_hidden, s->d, c->proj_bn_affine,
                            c->batch, 2, 1, "projector")))
    return rc;
  if (c->method == NC_SSL_BYOL) {
    /* The target runs before the online forward: its activations fit in the online backbone's
     * slots, which hold nothing between a backward and the next forward. */
    if ((rc = nc_resnet_build_borrowing(s->be, &s->tbackbone, &c->backbone, c->image_h, c->image_w,
                                        c->batch, s->backbone, "backbone")))
      return rc;
    if ((rc = nc_mlp_build_on(s->be, &s->tprojector, s->feat, c->proj_hidden, s->d,
                              c->proj_bn_affine, c->batch, 1, 0, "projector")))
      return rc;
  }
  if ((rc = nc_predictor_create_on(s->be, &s->pred, &c->predictor, c->batch))) return rc;
  size_t bd = (size_t)c->batch * s->d, total = 10 * bd + (size_t)c->batch * s->feat;
  s->block = s->be->i->alloc(s->be, total * sizeof(float));
  if (!s->block) return nc_fail(NC_ENOMEM, "ssl: out of memory");
  float *b = s->block;
  for (int v = 0; v < 2; v++) {
    s->q[v] = b, b += bd;
    s->z[v] = b, b += bd;
    s->dq[v] = b, b += bd;
    s->df[v] = b, b += bd;
    s->dz[v] = b, b += bd;
  }
  s->dfeat = b;
  return NC_OK;
}

int nc_ssl_create(nc_ssl **out, const nc_ssl_config *cfg) {
  return nc_ssl_create_on(NULL, out, cfg);
}

nc_rng nc_ssl_online_stream(uint64_t seed) {
  nc_rng root;
  nc_rng_seed(&root, seed);
  return nc_rng_split(&root, 1);
}

int nc_ssl_create_on(nc_backend *be, nc_ssl **out, const nc_ssl_config *cfg) {
  *out = NULL;
  int rc = check_config(cfg);
  if (rc) return rc;
  nc_ssl *s = calloc(1, sizeof *s);
  if (!s) return nc_fail(NC_ENOMEM, "ssl: out of memory");
  s->cfg = *cfg;
  s->be = be ? be : nc_backend_cpu();
  nc_optim_init_on(&s->opt, cfg->optim, s->be);
  if ((rc = build(s))) {
    nc_ssl_free(s);
    return rc;
  }
  /* Initialisation: one seed, independent streams per part. */
  nc_rng root, r = nc_ssl_online_stream(cfg->seed);
  nc_rng_seed(&root, cfg->seed);
  nc_net_init(s->backbone, &r);
  nc_net_init(s->projector, &r);
  r = nc_rng_split(&root, 2);
  nc_predictor_init(s->pred, &r);
  if (s->tbackbone) {
    if (cfg->target_init == NC_TARGET_INDEPENDENT) {
      r = nc_rng_split(&root, 3);
      nc_net_init(s->tbackbone, &r);
      nc_net_init(s->tprojector, &r);
    } else if ((rc = nc_net_copy_params(s->tbackbone, s->backbone)) ||
               (rc = nc_net_copy_params(s->tprojector, s->projector))) {
      nc_ssl_free(s);
      return rc;
    }
  }
  /* Groups: the online network (backbone + projector) and the predictor (α_p, its own decay). */
  s->group_online = nc_optim_add_group(&s->opt, nc_net_params(s->backbone), 1.0, cfg->weight_decay);
  int gp = nc_optim_add_group(&s->opt, nc_net_params(s->projector), 1.0, cfg->weight_decay);
  s->group_pred = nc_optim_add_group(&s->opt, nc_predictor_params(s->pred), cfg->pred_lr_mult,
                                     cfg->pred_weight_decay);
  if (s->group_online < 0 || gp < 0 || s->group_pred < 0) {
    nc_ssl_free(s);
    return NC_ENOMEM;
  }
  /* the target's copy may still be queued on a GPU: the caller may load weights on the host next
   * (a resume), which must land after it */
  if ((rc = nc_backend_sync(s->be))) {
    nc_ssl_free(s);
    return rc;
  }
  *out = s;
  return NC_OK;
}

/* target ← τ·target + (1 − τ)·online over the trainable parameters, in PyTorch's float ops
 * (pt.mul_(τ).add_(po, alpha=1−τ)): the backend's ema. */
static void ema_update(nc_backend *be, nc_net *target, nc_net *online, double tau) {
  float *tw, *ow, *tg, *og;
  size_t tn, on;
  nc_net_flat(target, &tw, &tg, &tn);
  nc_net_flat(online, &ow, &og, &on);
  be->i->ema(be, tn, tw, ow, tau);
}

int nc_ssl_set_comm(nc_ssl *s, nc_comm *comm, int sync_bn) {
  /* The gradient all-reduce and its averaging read and write host memory (MPI): a GPU backend's
   * queued tensors need NCCL or host staging, neither built yet. */
  if (comm && nc_comm_size(comm) > 1 && s->be->kind != NC_DEVICE_CPU)
    return nc_fail(NC_EINVAL,
                   "ssl: data-parallel runs (mpirun) use the CPU backend; with GPUs "
                   "they need NCCL, not built yet (docs/distributed.md)");
  nc_comm *bn = sync_bn ? comm : NULL;
  int rc = nc_net_set_comm(s->backbone, bn);
  if (!rc) rc = nc_net_set_comm(s->projector, bn);
  if (!rc && s->tbackbone) rc = nc_net_set_comm(s->tbackbone, bn);
  if (!rc && s->tprojector) rc = nc_net_set_comm(s->tprojector, bn);
  if (!rc) rc = nc_predictor_set_comm(s->pred, comm, sync_bn);
  if (!rc) s->comm = comm;
  return rc;
}

nc_comm *nc_ssl_comm(const nc_ssl *s) { return s->comm; }

static int allreduce_mean(nc_comm *comm, float *g, size_t n, float inv) {
  int rc = nc_comm_allreduce_f(comm, g, n, NC_COMM_SUM);
  if (rc) return rc;
#pragma omp parallel for if (n > 65536)
  for (size_t i = 0; i < n; i++) g[i] *= inv;
  return NC_OK;
}

/* The data-parallel hook after the backward: gradients averaged over the ranks, one all-reduce
 * per network's flat vector (the predictor's tensors one by one: a few small ones), and the
 * loss made the global batch's. */
static int reduce_gradients(nc_ssl *s, double *loss) {
  const float inv = 1.0f / (float)nc_comm_size(s->comm);
  nc_net *nets[2] = {s->backbone, s->projector};
  for (int k = 0; k < 2; k++) {
    float *w, *g;
    size_t n;
    nc_net_flat(nets[k], &w, &g, &n);
    int rc = allreduce_mean(s->comm, g, n, inv);
    if (rc) return rc;
  }
  nc_param_list *pl = nc_predictor_params(s->pred);
  for (int i = 0; i < pl->n; i++) {
    if (pl->items[i].is_buffer || !pl->items[i].g) continue;
    int rc = allreduce_mean(s->comm, pl->items[i].g, pl->items[i].n, inv);
    if (rc) return rc;
  }
  int rc = nc_comm_allreduce_d(s->comm, loss, 1, NC_COMM_SUM);
  *loss /= nc_comm_size(s->comm);
  return rc;
}

static void zero_grads(nc_ssl *s) {
  nc_net_zero_grad(s->backbone);
  nc_net_zero_grad(s->projector);
  nc_param_list *pp = nc_predictor_params(s->pred);
  for (int i = 0; i < pp->n; i++)
    if (pp->items[i].g) s->be->i->zero(s->be, pp->items[i].g, pp->items[i].n * sizeof(float));
}

int nc_ssl_step(nc_ssl *s, int n, const float *x1, const float *x2, double *loss) {
  const nc_ssl_config *c = &s->cfg;
  if (n <= 0 || n > c->batch)
    return nc_fail(NC_EINVAL, "ssl step: n = %d not in 1..%d", n, c->batch);
  const float *x[2] = {x1, x2};
  int rc;
  double t0 = nc_now_seconds(), t1;
  /* Targets, no gradient, first: BYOL's EMA network runs in the online backbone's slot memory,
   * free until the online forward. SimSiam's targets are its own outputs, copied below. */
  const float *z[2] = {s->z[0], s->z[1]};
  size_t bytes = (size_t)n * s->d * sizeof(float);
  if (c->method == NC_SSL_BYOL)
    for (int v = 0; v < 2; v++) {
      if ((rc = nc_net_forward(s->tbackbone, 0, n, x[v], NULL))) return rc;
      if ((rc = nc_net_forward(s->tprojector, 0, n, nc_net_output(s->tbackbone, 0), NULL)))
        return rc;
      s->be->i->copy(s->be, s->z[v], nc_net_output(s->tprojector, 0), bytes);
    }
  t1 = nc_now_seconds();
  s->timing.target_forward += t1 - t0;
  t0 = t1;
  zero_grads(s);
  /* Online forward, one slot per view. */
  for (int v = 0; v < 2; v++) {
    if ((rc = nc_net_forward(s->backbone, v, n, x[v], NULL))) return rc;
    if ((rc = nc_net_forward(s->projector, v, n, nc_net_output(s->backbone, v), NULL))) return rc;
    s->f[v] = nc_net_output(s->projector, v);
    if (c->method != NC_SSL_BYOL) s->be->i->copy(s->be, s->z[v], s->f[v], bytes);
  }
  /* DirectPred accumulates F̂ from this batch before the predictor forward (digest §6.2, 1–2). */
  nc_predictor_observe(s->pred, n, s->f[0], s->f[1]);
  for (int v = 0; v < 2; v++)
    if ((rc = nc_predictor_forward(s->pred, v, n, s->f[v], s->q[v]))) return rc;
  /* Table 1's optimal predictor estimates E[f_a fᵀ] from the targets (a no-op otherwise). */
  if ((rc = nc_predictor_observe_target(s->pred, n, s->f[0], s->f[1], z[0], z[1]))) return rc;
  t1 = nc_now_seconds();
  s->timing.online_forward += t1 - t0;
  t0 = t1;
  const int through_z = !c->stopgrad;
  *loss = s->be->i->loss(s->be, c->loss, n, s->d, s->q[0], s->q[1], z[0], z[1], s->dq[0], s->dq[1],
                         through_z ? s->dz[0] : NULL, through_z ? s->dz[1] : NULL);
  t1 = nc_now_seconds();
  s->timing.loss += t1 - t0;
  t0 = t1;
  /* Backward, view by view (parameter gradients accumulate over the two slots). */
  for (int v = 0; v < 2; v++) {
    if ((rc = nc_predictor_backward(s->pred, v, s->dq[v], s->df[v]))) return rc;
    if (through_z) /* SimSiam without stop-gradient: z_v = f_v also carries a gradient */
      s->be->i->add_forward(s->be, (size_t)n * s->d, s->df[v], s->dz[v], s->df[v], 0);
    if ((rc = nc_net_backward(s->projector, v, s->df[v], s->dfeat))) return rc;
    if ((rc = nc_net_backward(s->backbone, v, s->dfeat, NULL))) return rc;
  }
  t1 = nc_now_seconds();
  s->timing.backward += t1 - t0;
  t0 = t1;
  if (s->comm && nc_comm_size(s->comm) > 1) {
    if ((rc = reduce_gradients(s, loss))) return rc;
    t1 = nc_now_seconds();
    s->timing.grad_reduce += t1 - t0;
    t0 = t1;
  }
  /* Optimizer: the online network, then the predictor (the official code's two optimizers). */
  double lr = nc_schedule_at(&c->lr, s->step);
  nc_optim_step(&s->opt, lr);
  /* On a GPU the phases above are only queued: waiting here puts them in the optimizer's time,
   * so the predictor's is the W_p set's own (its share of the step is a target). */
  if (s->be->kind != NC_DEVICE_CPU && (rc = nc_backend_sync(s->be))) return rc;
  t1 = nc_now_seconds();
  s->timing.optimizer += t1 - t0;
  t0 = t1;
  if ((rc = nc_predictor_after_step(s->pred))) return rc;
  t1 = nc_now_seconds();
  s->timing.predictor_set += t1 - t0;
  t0 = t1;
  if (c->method == NC_SSL_BYOL) {
    double tau = c->ema_cosine ? nc_ema_cosine(c->ema, s->step, c->total_steps) : c->ema;
    ema_update(s->be, s->tbackbone, s->backbone, tau);
    ema_update(s->be, s->tprojector, s->projector, tau);
  }
  /* the host may read any tensor after a step (checkpoints, monitors) */
  rc = nc_backend_sync(s->be);
  s->timing.ema += nc_now_seconds() - t0;
  s->timing.steps++;
  s->step++;
  return rc;
}

nc_backend *nc_ssl_backend(const nc_ssl *s) { return s->be; }

int nc_ssl_weights_finite(nc_ssl *s) {
  nc_net *nets[2] = {s->backbone, s->projector};
  size_t bad = 0;
  for (int k = 0; k < 2; k++) {
    float *w, *g;
    size_t n;
    nc_net_flat(nets[k], &w, &g, &n);
    bad += s->be->i->nonfinite(s->be, w, n);
  }
  nc_param_list *pp = nc_predictor_params(s->pred);
  for (int i = 0; i < pp->n; i++) bad += s->be->i->nonfinite(s->be, pp->items[i].w, pp->items[i].n);
  return bad == 0;
}

nc_net *nc_ssl_backbone(nc_ssl *s) { return s->backbone; }
nc_net *nc_ssl_projector(nc_ssl *s) { return s->projector; }
nc_net *nc_ssl_target_backbone(nc_ssl *s) { return s->tbackbone; }
nc_net *nc_ssl_target_projector(nc_ssl *s) { return s->tprojector; }
nc_predictor *nc_ssl_predictor(nc_ssl *s) { return s->pred; }
const float *nc_ssl_f(const nc_ssl *s, int view) { return s->f[view ? 1 : 0]; }
const float *nc_ssl_q(const nc_ssl *s, int view) { return s->q[view ? 1 : 0]; }
const float *nc_ssl_z(const nc_ssl *s, int view) { return s->z[view ? 1 : 0]; }
nc_ssl_timing nc_ssl_timings(const nc_ssl *s) { return s->timing; }
void nc_ssl_reset_timings(nc_ssl *s) { memset(&s->timing, 0, sizeof s->timing); }

double nc_ssl_step_flops(const nc_ssl *s, int n) {
  double online = nc_net_flops(s->backbone, n) + nc_net_flops(s->projector, n);
  /* The predictor is a d×h + h×d MLP or a d×d linear: 2 FLOPs per multiply-add. */
  const nc_predictor_config *p = &s->cfg.predictor;
  double pred = p->type == NC_PREDICTOR_MLP        ? 4.0 * n * p->dim * p->hidden
                : p->type == NC_PREDICTOR_IDENTITY ? 0.0
                                                   : 2.0 * n * p->dim * p->dim;
  double per_view = 3.0 * (online + pred); /* forward + backward (≈ 2× forward) */
  double target = s->cfg.method == NC_SSL_BYOL ? online : 0.0;
  return 2.0 * (per_view + target);
}

size_t nc_ssl_bytes(const nc_ssl *s) {
  size_t b = nc_net_bytes(s->backbone) + nc_net_bytes(s->projector);
  if (s->tbackbone) b += nc_net_bytes(s->tbackbone) + nc_net_bytes(s->tprojector);
  for (int i = 0; i < s->opt.nslots; i++) b += s->opt.slots[i].n * sizeof(float);
  b += (10 * (size_t)s->cfg.batch * s->d + (size_t)s->cfg.batch * s->feat) * sizeof(float);
  return b;
}

nc_optim *nc_ssl_optim(nc_ssl *s) { return &s->opt; }
long nc_ssl_steps(const nc_ssl *s) { return s->step; }
void nc_ssl_set_steps(nc_ssl *s, long steps) { s->step = steps; }
const nc_ssl_config *nc_ssl_config_of(const nc_ssl *s) { return &s->cfg; }

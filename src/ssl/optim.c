/* SGD with PyTorch's semantics, BYOL's LARS, and the learning-rate / EMA schedules. */
#include "ncssl/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ncssl/status.h"

#define NC_OPTIM_PI 3.14159265358979323846

nc_optim_config nc_optim_default(void) {
  nc_optim_config c = {NC_OPTIM_SGD, 0.9, 1e-3};
  return c;
}

void nc_optim_init(nc_optim *o, nc_optim_config cfg) { nc_optim_init_on(o, cfg, NULL); }

void nc_optim_init_on(nc_optim *o, nc_optim_config cfg, nc_backend *be) {
  memset(o, 0, sizeof *o);
  o->cfg = cfg;
  o->be = be ? be : nc_backend_cpu();
}

int nc_optim_add_group(nc_optim *o, const nc_param_list *params, double lr_mult,
                       double weight_decay) {
  if (o->ngroups == (int)(sizeof o->groups / sizeof o->groups[0]))
    return -nc_fail(NC_EINVAL, "optimizer: too many parameter groups");
  if (o->steps > 0) return -nc_fail(NC_EINVAL, "optimizer: groups must be added before stepping");
  int add = 0;
  size_t floats = 0;
  for (int i = 0; i < params->n; i++)
    if (!params->items[i].is_buffer && params->items[i].g) {
      add++;
      floats += params->items[i].n;
    }
  /* Grow the slot table and the buffer block; the old buffers are all zero (no step yet). */
  size_t old_floats = 0;
  for (int i = 0; i < o->nslots; i++) old_floats += o->slots[i].n;
  nc_optim_slot *slots = realloc(o->slots, (size_t)(o->nslots + add + 1) * sizeof *slots);
  if (!slots) return -nc_fail(NC_ENOMEM, "optimizer: out of memory");
  o->slots = slots;
  float *buffers = o->be->i->alloc(o->be, (old_floats + floats + 1) * sizeof(float));
  if (!buffers) return -nc_fail(NC_ENOMEM, "optimizer: out of memory");
  if (o->buffers) o->be->i->free(o->be, o->buffers);
  o->buffers = buffers;
  int g = o->ngroups++;
  o->groups[g].lr_mult = lr_mult;
  o->groups[g].weight_decay = weight_decay;
  for (int i = 0; i < params->n; i++) {
    const nc_param *p = &params->items[i];
    if (p->is_buffer || !p->g) continue;
    nc_optim_slot *s = &o->slots[o->nslots++];
    s->w = p->w;
    s->g = p->g;
    s->n = p->n;
    s->group = g;
    s->lars_exclude = p->ndim < 2;
  }
  size_t off = 0;
  for (int i = 0; i < o->nslots; i++) {
    o->slots[i].buf = o->buffers + off;
    off += o->slots[i].n;
  }
  return g;
}

/* The per-element arithmetic is the backend's update (the CPU's: backend_cpu.c). */
static void step_slot(const nc_optim *o, nc_optim_slot *s, double lr) {
  const nc_optim_group *gr = &o->groups[s->group];
  const int lars = o->cfg.kind == NC_OPTIM_LARS;
  nc_update u;
  u.lr = (float)(lr * gr->lr_mult);
  u.momentum = (float)o->cfg.momentum;
  u.weight_decay = (lars && s->lars_exclude) ? 0.0f : (float)gr->weight_decay;
  u.lars = lars && !s->lars_exclude;
  u.lars_trust = o->cfg.lars_trust;
  o->be->i->update(o->be, &u, s->w, s->g, s->buf, s->n);
}

void nc_optim_step_group(nc_optim *o, int group, double lr) {
  for (int i = 0; i < o->nslots; i++)
    if (o->slots[i].group == group) step_slot(o, &o->slots[i], lr);
}

void nc_optim_step(nc_optim *o, double lr) {
  for (int g = 0; g < o->ngroups; g++) nc_optim_step_group(o, g, lr);
  o->steps++;
}

void nc_optim_reset(nc_optim *o) {
  for (int i = 0; i < o->nslots; i++)
    o->be->i->zero(o->be, o->slots[i].buf, o->slots[i].n * sizeof(float));
  o->steps = 0;
}

void nc_optim_free(nc_optim *o) {
  free(o->slots);
  if (o->buffers) o->be->i->free(o->be, o->buffers);
  memset(o, 0, sizeof *o);
}

double nc_schedule_at(const nc_schedule *s, long t) {
  if (s->kind == NC_SCHED_CONSTANT) return s->base;
  if (t < s->warmup_steps) return s->base * (double)(t + 1) / (double)s->warmup_steps;
  long span = s->total_steps - s->warmup_steps;
  if (span <= 0 || t >= s->total_steps) return s->final_value;
  double progress = (double)(t - s->warmup_steps) / (double)span;
  return s->final_value + (s->base - s->final_value) * 0.5 * (1.0 + cos(NC_OPTIM_PI * progress));
}

double nc_ema_cosine(double tau_base, long t, long total_steps) {
  if (total_steps <= 0 || t >= total_steps) return 1.0;
  return 1.0 - (1.0 - tau_base) * (cos(NC_OPTIM_PI * (double)t / (double)total_steps) + 1.0) / 2.0;
}

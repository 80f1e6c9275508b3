/* Checkpoints of a training run: the full state (resume) and the bare torchvision backbone. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ncssl/checkpoint.h"
#include "ncssl/status.h"
#include "ncssl/train.h"

static const char *stem_name(nc_stem s) { return s == NC_STEM_IMAGENET ? "imagenet" : "cifar"; }

void nc_train_arch_string(const nc_ssl_config *c, char *buf, size_t len) {
  const nc_predictor_config *p = &c->predictor;
  snprintf(buf, len,
           "resnet%d %s in%d w%d %dx%d | %s proj %d-%d affine%d | predictor type%d d%d h%d "
           "bias%d affine%d",
           c->backbone.depth, stem_name(c->backbone.stem), c->backbone.in_channels,
           c->backbone.width, c->image_h, c->image_w,
           c->method == NC_SSL_SIMSIAM ? "simsiam" : "byol", c->proj_hidden, c->proj_out,
           c->proj_bn_affine, (int)p->type, p->dim, p->hidden, p->bias, p->bn_affine);
}

int nc_train_read_arch(const char *path, nc_resnet_cfg *cfg, int *image_h, int *image_w) {
  nc_st_file *f = NULL;
  int rc = nc_st_open(&f, path);
  if (rc) return rc;
  const char *arch = nc_st_meta(f, "arch");
  char stem[16] = "";
  int depth, in, width, h, w;
  if (!arch ||
      sscanf(arch, "resnet%d %15s in%d w%d %dx%d", &depth, stem, &in, &width, &h, &w) != 6) {
    nc_st_close(f);
    return nc_fail(NC_EFORMAT, "%s: no architecture in the metadata", path);
  }
  cfg->depth = depth;
  cfg->stem = strcmp(stem, "imagenet") == 0 ? NC_STEM_IMAGENET : NC_STEM_CIFAR;
  cfg->in_channels = in;
  cfg->width = width;
  if (image_h) *image_h = h;
  if (image_w) *image_w = w;
  nc_st_close(f);
  return NC_OK;
}

/* The parameter lists of a run in checkpoint order, with their name prefixes. */
typedef struct {
  nc_param_list *list;
  const char *prefix;
} part;

static int parts_of(nc_ssl *s, part *out) {
  int n = 0;
  out[n++] = (part){nc_net_params(nc_ssl_backbone(s)), "online."};
  out[n++] = (part){nc_net_params(nc_ssl_projector(s)), "online."};
  if (nc_ssl_target_backbone(s)) {
    out[n++] = (part){nc_net_params(nc_ssl_target_backbone(s)), "target."};
    out[n++] = (part){nc_net_params(nc_ssl_target_projector(s)), "target."};
  }
  out[n++] = (part){nc_predictor_params(nc_ssl_predictor(s)), ""};
  return n;
}

/* The trainable parameters in the optimizer's slot order (online backbone, projector,
 * predictor), so slot k's momentum buffer is saved under "optim." + its tensor's name. */
static const nc_param *optim_param(nc_ssl *s, int k) {
  nc_param_list *lists[3] = {nc_net_params(nc_ssl_backbone(s)), nc_net_params(nc_ssl_projector(s)),
                             nc_predictor_params(nc_ssl_predictor(s))};
  for (int l = 0; l < 3; l++)
    for (int i = 0; i < lists[l]->n; i++) {
      if (lists[l]->items[i].is_buffer) continue;
      if (k-- == 0) return &lists[l]->items[i];
    }
  return NULL;
}

int nc_train_save(nc_ssl *s, const char *path, const nc_train_state *st, const char *config_text) {
  nc_st_writer *w = NULL;
  int rc = nc_st_writer_create(&w);
  if (rc) return rc;
  part parts[5];
  int np = parts_of(s, parts);
  for (int i = 0; i < np && !rc; i++) rc = nc_st_add_params(w, parts[i].list, parts[i].prefix, 1);
  nc_optim *o = nc_ssl_optim(s);
  char name[128];
  for (int k = 0; k < o->nslots && !rc; k++) {
    const nc_param *p = optim_param(s, k);
    if (!p || p->w != o->slots[k].w) {
      rc = nc_fail(NC_EINVAL, "checkpoint: optimizer slot %d does not match the parameters", k);
      break;
    }
    int64_t shape[4];
    for (int j = 0; j < p->ndim; j++) shape[j] = p->shape[j];
    snprintf(name, sizeof name, "optim.%s", p->name);
    rc = nc_st_add(w, name, NC_ST_F32, p->ndim, shape, o->slots[k].buf);
  }
  float *F = NULL, *zeros = NULL;
  int *seen = NULL;
  long *niter = NULL;
  double *pv = NULL;
  nc_predictor *pred = nc_ssl_predictor(s);
  nc_predictor_state(pred, &F, &seen, &niter, &pv);
  const int d = s ? nc_ssl_config_of(s)->predictor.dim : 0;
  if (!rc && F) {
    int64_t shape[2] = {d, d};
    if (*seen == 0) { /* F̂ not yet written: store zeros, not whatever the buffer holds */
      zeros = calloc((size_t)d * d, sizeof(float));
      if (!zeros) rc = nc_fail(NC_ENOMEM, "checkpoint: out of memory");
    }
    if (!rc) rc = nc_st_add(w, "predictor.F", NC_ST_F32, 2, shape, zeros ? zeros : F);
  }
  if (!rc && pv) {
    int64_t shape[1] = {d};
    rc = nc_st_add(w, "predictor.pv", NC_ST_F64, 1, shape, pv);
  }
  if (!rc && st->monitor_corr) {
    int64_t shape[2] = {d, d};
    rc = nc_st_add(w, "monitor.corr", NC_ST_F32, 2, shape, st->monitor_corr);
  }
  double prev_rank = st->monitor_prev_rank;
  int64_t mrows = st->monitor_rows, one = 1;
  if (!rc && st->monitor_corr) rc = nc_st_add_i64(w, "state.monitor_rows", 1, &mrows);
  if (!rc && st->monitor_corr)
    rc = nc_st_add(w, "state.monitor_prev_rank", NC_ST_F64, 1, &one, &prev_rank);
  float *C = nc_predictor_cross(pred); /* the optimal predictor's E[f_a fᵀ] */
  if (!rc && C) {
    int64_t shape[2] = {d, d};
    rc = nc_st_add(w, "predictor.C", NC_ST_F32, 2, shape, C);
  }
  int64_t step = st->step, epoch = st->epoch, pos[2] = {st->pos.epoch, st->pos.batch},
          osteps = o->steps, pstate[2] = {*seen, *niter}, seed = (int64_t)st->seed;
  if (!rc) rc = nc_st_add_i64(w, "state.step", 1, &step);
  if (!rc) rc = nc_st_add_i64(w, "state.epoch", 1, &epoch);
  if (!rc) rc = nc_st_add_i64(w, "state.loader_pos", 2, pos);
  if (!rc) rc = nc_st_add_i64(w, "state.optim_steps", 1, &osteps);
  if (!rc) rc = nc_st_add_i64(w, "state.predictor", 2, pstate);
  if (!rc) rc = nc_st_add_i64(w, "state.seed", 1, &seed);
  char arch[256];
  nc_train_arch_string(nc_ssl_config_of(s), arch, sizeof arch);
  if (!rc) rc = nc_st_set_meta(w, "format", "ncssl-train-state 1");
  if (!rc) rc = nc_st_set_meta(w, "arch", arch);
  if (!rc && config_text) rc = nc_st_set_meta(w, "config", config_text);
  if (!rc) rc = nc_st_add_checksums(w);
  if (!rc) rc = nc_st_write(w, path);
  nc_st_writer_free(w);
  free(zeros);
  return rc;
}

/* A parameter's name in a file: an online backbone's "backbone.conv1.weight" is stored bare
 * ("conv1.weight") in backbone files (prefix ""), as torchvision names it. */
static const char *file_name(const nc_param *p, const char *prefix) {
  return !*prefix && strncmp(p->name, "backbone.", 9) == 0 ? p->name + 9 : p->name;
}

/* "[64, 3, 3, 3]" */
static void shape_str(char *buf, size_t n, int ndim, const int64_t *shape) {
  size_t len = (size_t)snprintf(buf, n, "[");
  for (int i = 0; i < ndim && len < n; i++)
    len += (size_t)snprintf(buf + len, n - len, "%s%" PRId64, i ? ", " : "", shape[i]);
  if (len < n) snprintf(buf + len, n - len, "]");
}

/* Every tensor of a list is present as F32 with the right shape; the first that is not is named,
 * with both shapes (a state dict of another width or stem shows which). */
static int check_list(const nc_st_file *f, const char *path, const nc_param_list *l,
                      const char *prefix) {
  char name[160];
  for (int i = 0; i < l->n; i++) {
    const nc_param *p = &l->items[i];
    snprintf(name, sizeof name, "%s%s", prefix, file_name(p, prefix));
    const nc_st_entry *e = nc_st_find(f, name);
    if (!e) return nc_fail(NC_EFORMAT, "%s: tensor %s is missing", path, name);
    int same = e->dtype == NC_ST_F32 && e->count == p->n && e->ndim == p->ndim;
    for (int j = 0; same && j < p->ndim; j++) same = e->shape[j] == p->shape[j];
    if (!same) {
      int64_t want[4];
      for (int j = 0; j < p->ndim; j++) want[j] = p->shape[j];
      char theirs[96], ours[96];
      shape_str(theirs, sizeof theirs, e->ndim, e->shape);
      shape_str(ours, sizeof ours, p->ndim, want);
      return nc_fail(NC_EFORMAT, "%s: tensor %s is %s %s, the network needs %s F32", path, name,
                     nc_st_dtype_name(e->dtype), theirs, ours);
    }
  }
  return NC_OK;
}

static int read_i64(const nc_st_file *f, const char *path, const char *name, int64_t *v, int n) {
  const nc_st_entry *e = nc_st_find(f, name);
  if (!e || e->dtype != NC_ST_I64 || (int)e->count != n)
    return nc_fail(NC_EFORMAT, "%s: state entry %s is missing or malformed", path, name);
  return nc_st_read(f, name, NC_ST_I64, v, (size_t)n);
}

int nc_train_load(nc_ssl *s, const char *path, nc_train_state *st) {
  nc_st_file *f = NULL;
  int rc = nc_st_open_nofollow(&f, path);
  if (rc) return rc;
  char arch[256];
  nc_train_arch_string(nc_ssl_config_of(s), arch, sizeof arch);
  const char *theirs = nc_st_meta(f, "arch"), *format = nc_st_meta(f, "format");
  if (!format || strcmp(format, "ncssl-train-state 1") != 0) {
    rc = nc_fail(NC_EFORMAT, "%s: not an ncssl training checkpoint", path);
  } else if (!theirs || strcmp(theirs, arch) != 0) {
    rc = nc_fail(NC_EFORMAT, "%s: written for a different network (%s), this run is %s", path,
                 theirs ? theirs : "unknown", arch);
  }
  part parts[5];
  int np = parts_of(s, parts);
  for (int i = 0; i < np && !rc; i++) rc = check_list(f, path, parts[i].list, parts[i].prefix);
  nc_optim *o = nc_ssl_optim(s);
  char name[128];
  for (int k = 0; k < o->nslots && !rc; k++) {
    const nc_param *p = optim_param(s, k);
    snprintf(name, sizeof name, "optim.%s", p ? p->name : "?");
    const nc_st_entry *e = nc_st_find(f, name);
    if (!p || !e || e->dtype != NC_ST_F32 || e->count != o->slots[k].n)
      rc = nc_fail(NC_EFORMAT, "%s: optimizer state %s is missing or has another size", path, name);
  }
  float *F = NULL;
  int *seen = NULL;
  long *niter = NULL;
  double *pv = NULL;
  nc_predictor_state(nc_ssl_predictor(s), &F, &seen, &niter, &pv);
  const int d = nc_ssl_config_of(s)->predictor.dim;
  int64_t step = 0, epoch = 0, pos[2] = {0, 0}, osteps = 0, pstate[2] = {0, 0}, seed = 0;
  if (!rc) rc = read_i64(f, path, "state.step", &step, 1);
  if (!rc) rc = read_i64(f, path, "state.epoch", &epoch, 1);
  if (!rc) rc = read_i64(f, path, "state.loader_pos", pos, 2);
  if (!rc) rc = read_i64(f, path, "state.optim_steps", &osteps, 1);
  if (!rc) rc = read_i64(f, path, "state.predictor", pstate, 2);
  if (!rc) rc = read_i64(f, path, "state.seed", &seed, 1);
  if (!rc && (step < 0 || epoch < 0 || pos[0] < 0 || pos[1] < 0 || osteps < 0 || pstate[0] < 0 ||
              pstate[1] < 0))
    rc = nc_fail(NC_EFORMAT, "%s: negative counters in the state", path);
  /* Upper bounds too, so no counter can overflow where it is used (loader position × batches
   * per epoch, int casts): 2^40 steps is beyond any run. */
  const int64_t big = (int64_t)1 << 40;
  if (!rc && (step > big || epoch > INT32_MAX || pos[0] > big || pos[1] > big || osteps > big ||
              pstate[0] > INT32_MAX || pstate[1] > big))
    rc = nc_fail(NC_EFORMAT, "%s: a counter in the state is out of range", path);
  const nc_st_entry *mc = st->monitor_corr ? nc_st_find(f, "monitor.corr") : NULL;
  int64_t mrows = 0;
  double prev_rank = NAN;
  if (!rc && mc) {
    const nc_st_entry *pr = nc_st_find(f, "state.monitor_prev_rank");
    if (mc->dtype != NC_ST_F32 || mc->count != (size_t)d * d || !pr || pr->dtype != NC_ST_F64 ||
        pr->count != 1)
      rc = nc_fail(NC_EFORMAT, "%s: the monitor state is malformed", path);
    if (!rc) rc = read_i64(f, path, "state.monitor_rows", &mrows, 1);
    if (!rc && (mrows < 0 || mrows > big))
      rc = nc_fail(NC_EFORMAT, "%s: state.monitor_rows is out of range", path);
    if (!rc) rc = nc_st_read(f, "state.monitor_prev_rank", NC_ST_F64, &prev_rank, 1);
  }
  if (!rc && F) {
    const nc_st_entry *e = nc_st_find(f, "predictor.F");
    const nc_st_entry *v = nc_st_find(f, "predictor.pv");
    if (!e || e->dtype != NC_ST_F32 || e->count != (size_t)d * d || !v || v->dtype != NC_ST_F64 ||
        v->count != (size_t)d)
      rc = nc_fail(NC_EFORMAT, "%s: predictor.F or predictor.pv is missing or malformed", path);
  }
  /* Everything checked: now copy (nothing below can fail on a validated file). */
  for (int i = 0; i < np && !rc; i++) rc = nc_st_load_params(f, parts[i].list, parts[i].prefix, 1);
  for (int k = 0; k < o->nslots && !rc; k++) {
    snprintf(name, sizeof name, "optim.%s", optim_param(s, k)->name);
    rc = nc_st_read(f, name, NC_ST_F32, o->slots[k].buf, o->slots[k].n);
  }
  if (!rc && F) rc = nc_st_read(f, "predictor.F", NC_ST_F32, F, (size_t)d * d);
  if (!rc && pv) rc = nc_st_read(f, "predictor.pv", NC_ST_F64, pv, (size_t)d);
  if (!rc && st->monitor_corr) {
    if (mc)
      rc = nc_st_read(f, "monitor.corr", NC_ST_F32, st->monitor_corr, (size_t)d * d);
    else /* a checkpoint from before the monitor state: start the accumulator afresh */
      memset(st->monitor_corr, 0, (size_t)d * d * sizeof(float));
    st->monitor_rows = (long)mrows;
    st->monitor_prev_rank = prev_rank;
  }
  float *C = nc_predictor_cross(nc_ssl_predictor(s));
  if (!rc && C) rc = nc_st_read(f, "predictor.C", NC_ST_F32, C, (size_t)d * d);
  if (!rc) {
    o->steps = osteps;
    *seen = (int)pstate[0];
    *niter = pstate[1];
    nc_ssl_set_steps(s, step);
    st->step = step;
    st->epoch = (int)epoch;
    st->pos.epoch = pos[0];
    st->pos.batch = pos[1];
    st->seed = (uint64_t)seed;
  }
  nc_st_close(f);
  return rc;
}

int nc_train_save_backbone(nc_net *backbone, const char *path, const char *arch) {
  return nc_train_save_backbone_at(backbone, path, arch, -1);
}

int nc_train_save_backbone_at(nc_net *backbone, const char *path, const char *arch, long step) {
  nc_st_writer *w = NULL;
  int rc = nc_st_writer_create(&w);
  if (rc) return rc;
  const nc_param_list *l = nc_net_params(backbone);
  for (int i = 0; i < l->n && !rc; i++) {
    const nc_param *p = &l->items[i];
    const char *bare = strncmp(p->name, "backbone.", 9) == 0 ? p->name + 9 : p->name;
    int64_t shape[4];
    for (int j = 0; j < p->ndim; j++) shape[j] = p->shape[j];
    rc = nc_st_add(w, bare, NC_ST_F32, p->ndim, shape, p->w);
  }
  if (!rc && arch) rc = nc_st_set_meta(w, "arch", arch);
  char step_text[32];
  snprintf(step_text, sizeof step_text, "%ld", step);
  if (!rc && step >= 0) rc = nc_st_set_meta(w, "step", step_text);
  if (!rc) rc = nc_st_add_checksums(w);
  if (!rc) rc = nc_st_write(w, path);
  nc_st_writer_free(w);
  return rc;
}

int nc_train_load_backbone(nc_net *net, const char *path) {
  nc_st_file *f = NULL;
  int rc = nc_st_open(&f, path);
  if (rc) return rc;
  const char *prefix = nc_st_find(f, "online.backbone.conv1.weight") ? "online.backbone." : "";
  const nc_param_list *l = nc_net_params(net);
  rc = check_list(f, path, l, prefix);
  char name[160];
  for (int i = 0; i < l->n && !rc; i++) { /* all checked: copy (buffers too) */
    snprintf(name, sizeof name, "%s%s", prefix, file_name(&l->items[i], prefix));
    rc = nc_st_read(f, name, NC_ST_F32, l->items[i].w, l->items[i].n);
  }
  nc_st_close(f);
  return rc;
}

int nc_train_file_step(const char *path, long *step) {
  nc_st_file *f = NULL;
  int rc = nc_st_open(&f, path);
  if (rc) return rc;
  const char *meta = nc_st_meta(f, "step");
  int64_t v = -1;
  if (meta) {
    char *end = NULL;
    long long x = strtoll(meta, &end, 10);
    if (end != meta && !*end && x >= 0) v = x;
  } else if (nc_st_find(f, "state.step")) {
    rc = read_i64(f, path, "state.step", &v, 1);
  }
  nc_st_close(f);
  if (rc) return rc;
  if (v < 0)
    return nc_fail(NC_EFORMAT, "%s: the file does not say at which step it was written", path);
  *step = (long)v;
  return NC_OK;
}

/* Checkpoints of a training run: the full state (resume) and the bare torchvision backbone. */
#include <inttypes.h>
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
    return nc_fail(NC_EFORMAT, "%s: no architecture in the metadata (pass --arch, --width, ...)",
                   path);
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
  if (!rc) rc = nc_st_write(w, path);
  nc_st_writer_free(w);
  free(zeros);
  return rc;
}

/* Every tensor of a list is present as F32 with the right element count. */
static int check_list(const nc_st_file *f, const char *path, const nc_param_list *l,
                      const char *prefix) {
  char name[160];
  for (int i = 0; i < l->n; i++) {
    snprintf(name, sizeof name, "%s%s", prefix, l->items[i].name);
    const nc_st_entry *e = nc_st_find(f, name);
    if (!e) return nc_fail(NC_EFORMAT, "%s: tensor %s is missing", path, name);
    if (e->dtype != NC_ST_F32 || e->count != l->items[i].n)
      return nc_fail(NC_EFORMAT, "%s: tensor %s has another type or size", path, name);
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
  int rc = nc_st_open(&f, path);
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
  if (!rc) rc = nc_st_write(w, path);
  nc_st_writer_free(w);
  return rc;
}

int nc_train_load_backbone(nc_net *net, const char *path) {
  nc_st_file *f = NULL;
  int rc = nc_st_open(&f, path);
  if (rc) return rc;
  const char *prefix = nc_st_find(f, "online.backbone.conv1.weight") ? "online.backbone." : "";
  rc = check_list(f, path, nc_net_params(net), prefix);
  if (!rc) rc = nc_st_load_params(f, nc_net_params(net), prefix, 1);
  nc_st_close(f);
  return rc;
}

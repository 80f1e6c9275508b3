// ctest-labels: unit
/* Training runs through the library (train.h) on the first images of Fashion-MNIST with a tiny
 * network: resume gives the same bytes as one run, checkpoints refuse damage and other
 * architectures, the backbone file has torchvision's bare names, NaN stops the run, the
 * collapse measures behave, and a run on the deferred backend (operations run when the host
 * waits, as a GPU's queued work) writes what a run on it at once writes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deferred_backend.h"
#include "ncssl/backend.h"
#include "ncssl/checkpoint.h"
#include "ncssl/runlog.h"
#include "ncssl/status.h"
#include "ncssl/train.h"
#include "testing.h"

static char root[256];

static nc_train_opts tiny(const char *name, char *dir, size_t n) {
  snprintf(dir, n, "%s/%s", root, name);
  nc_train_opts o = nc_train_default();
  o.ssl.backbone.width = 4;
  o.ssl.proj_hidden = 32;
  o.ssl.proj_out = 16;
  o.ssl.predictor = nc_predictor_default(NC_PREDICTOR_DIRECTPRED);
  o.ssl.predictor.dim = 16;
  o.ssl.batch = 16;
  o.subset = 96; /* 6 steps per epoch */
  o.epochs = 2;
  o.loader_threads = 2;
  o.out = dir;
  return o;
}

/* Every tensor of a and b has the same name, shape and bytes. */
static int same_tensors(const char *a, const char *b) {
  nc_st_file *fa = NULL, *fb = NULL;
  if (nc_st_open(&fa, a) || nc_st_open(&fb, b)) {
    nc_st_close(fa);
    return 0;
  }
  int same = nc_st_count(fa) == nc_st_count(fb) && nc_st_count(fa) > 0;
  for (int i = 0; same && i < nc_st_count(fa); i++) {
    const nc_st_entry *ea = nc_st_at(fa, i), *eb = nc_st_find(fb, ea->name);
    same = eb && eb->nbytes == ea->nbytes && memcmp(ea->data, eb->data, ea->nbytes) == 0;
    if (!same) fprintf(stderr, "tensor %s differs\n", ea->name);
  }
  nc_st_close(fa), nc_st_close(fb);
  return same;
}

static void test_resume_bit_identical(void) {
  char a[512], b[512], pa[600], pb[600];
  nc_train_result res;
  nc_train_opts o = tiny("one-go", a, sizeof a);
  o.max_steps = 9; /* crosses the epoch boundary at step 6 */
  CHECK(nc_train_run(&o, &res) == NC_OK);
  CHECK(res.steps == 9);
  nc_train_opts p = tiny("resumed", b, sizeof b);
  p.max_steps = 4;
  CHECK(nc_train_run(&p, &res) == NC_OK);
  CHECK(res.steps == 4);
  /* As if killed after step 5 was logged but before its checkpoint: the record is redone once. */
  snprintf(pb, sizeof pb, "%s/metrics.jsonl", b);
  FILE *m = fopen(pb, "a");
  CHECK(m != NULL);
  if (m) {
    fputs("{\"type\": \"step\", \"step\": 5, \"epoch\": 1, \"loss\": 1, \"lr\": 0.03}\n{\"typ", m);
    fclose(m);
  }
  p.max_steps = 9;
  p.resume = 1;
  CHECK(nc_train_run(&p, &res) == NC_OK);
  CHECK(res.steps == 9);
  snprintf(pa, sizeof pa, "%s/checkpoint.safetensors", a);
  snprintf(pb, sizeof pb, "%s/checkpoint.safetensors", b);
  CHECK(same_tensors(pa, pb));
  /* A different step count gives different weights: the comparison can fail. */
  nc_train_opts q = tiny("shorter", b, sizeof b);
  q.max_steps = 8;
  CHECK(nc_train_run(&q, &res) == NC_OK);
  snprintf(pb, sizeof pb, "%s/checkpoint.safetensors", b);
  CHECK(!same_tensors(pa, pb));
  /* The resumed run's metrics continue: steps 1..9 once each. */
  nc_metrics_log log = {0};
  snprintf(pb, sizeof pb, "%s/resumed/metrics.jsonl", root);
  CHECK(nc_metrics_read(pb, &log) == NC_OK);
  int steps = 0, monitors = 0;
  for (int i = 0; i < log.n; i++) {
    double s;
    if (strcmp(log.records[i].type, "step") == 0 && nc_metric_num(&log.records[i], "step", &s))
      CHECK(s == ++steps);
    if (strcmp(log.records[i].type, "monitor") == 0) {
      monitors++;
      CHECK(nc_metric_get(&log.records[i], "alignment") != NULL); /* DirectPred: W_p measured */
      CHECK(nc_metric_get(&log.records[i], "collapse") != NULL);
    }
  }
  CHECK(steps == 9);
  CHECK(monitors == 3); /* the first stop (4), the end of epoch 1 (6), the last step (9) */
  nc_metrics_log_free(&log);
}

static void test_refusals(void) {
  char a[512], path[600], bad[600];
  nc_train_result res;
  nc_train_opts o = tiny("base", a, sizeof a);
  o.max_steps = 2;
  CHECK(nc_train_run(&o, &res) == NC_OK);
  snprintf(path, sizeof path, "%s/checkpoint.safetensors", a);
  /* Another architecture: refused, naming both. */
  nc_train_opts w = o;
  w.ssl.backbone.width = 8;
  w.resume = 1;
  w.max_steps = 3;
  CHECK(nc_train_run(&w, &res) == NC_EFORMAT);
  CHECK(strstr(nc_last_error(), "different network") != NULL);
  CHECK(strstr(nc_last_error(), "w8") != NULL && strstr(nc_last_error(), "w4") != NULL);
  /* Another seed: refused (the loader's views would differ). */
  nc_train_opts sd = o;
  sd.ssl.seed = 5;
  sd.resume = 1;
  CHECK(nc_train_run(&sd, &res) == NC_EFORMAT);
  CHECK(strstr(nc_last_error(), "seed") != NULL);
  /* A damaged file: one flipped byte in the header, then a truncated copy. */
  FILE *f = fopen(path, "rb");
  CHECK(f != NULL);
  if (!f) return;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  rewind(f);
  unsigned char *bytes = malloc((size_t)len);
  CHECK(fread(bytes, 1, (size_t)len, f) == (size_t)len);
  fclose(f);
  snprintf(bad, sizeof bad, "%s/damaged", root);
  CHECK(nc_mkdir_p(bad) == NC_OK);
  snprintf(bad, sizeof bad, "%s/damaged/checkpoint.safetensors", root);
  bytes[20] = '}';
  CHECK(nc_write_atomic(bad, bytes, (size_t)len) == NC_OK);
  nc_train_opts d = o;
  snprintf(a, sizeof a, "%s/damaged", root);
  d.out = a;
  d.resume = 1;
  CHECK(nc_train_run(&d, &res) == NC_EFORMAT);
  CHECK(strstr(nc_last_error(), "checkpoint.safetensors") != NULL);
  bytes[20] = ' ';
  CHECK(nc_write_atomic(bad, bytes, (size_t)len / 2) == NC_OK);
  CHECK(nc_train_run(&d, &res) != NC_OK);
  CHECK(strstr(nc_last_error(), "checkpoint.safetensors") != NULL);
  free(bytes);
}

static void test_backbone_names(void) {
  char a[512], path[600];
  snprintf(path, sizeof path, "%s/base/backbone.safetensors", root);
  (void)a;
  nc_st_file *f = NULL;
  CHECK(nc_st_open(&f, path) == NC_OK);
  if (!f) return;
  /* torchvision's resnet18 state_dict names, fc left out, num_batches_tracked not kept. */
  const char *names[] = {"conv1.weight",
                         "bn1.weight",
                         "bn1.running_var",
                         "layer1.0.conv1.weight",
                         "layer1.1.bn2.running_mean",
                         "layer2.0.downsample.0.weight",
                         "layer2.0.downsample.1.bias",
                         "layer4.1.conv2.weight",
                         "layer4.1.bn2.bias"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    const nc_st_entry *e = nc_st_find(f, names[i]);
    CHECK(e != NULL);
    if (!e) fprintf(stderr, "missing %s\n", names[i]);
  }
  const nc_st_entry *c1 = nc_st_find(f, "conv1.weight");
  if (c1) { /* [width, 1, 3, 3] for a cifar stem on one channel */
    CHECK(c1->ndim == 4 && c1->shape[0] == 4 && c1->shape[1] == 1 && c1->shape[2] == 3);
  }
  CHECK(nc_st_find(f, "fc.weight") == NULL);
  CHECK(nc_st_count(f) == 20 + 20 * 4); /* 20 conv weights, 20 batch norms of 4 tensors */
  int convs = 0, bns = 0;
  for (int i = 0; i < nc_st_count(f); i++) {
    const char *n = nc_st_at(f, i)->name;
    CHECK(strncmp(n, "backbone.", 9) != 0 && strncmp(n, "online.", 7) != 0);
    if (strstr(n, ".running_mean")) bns++;
    if (strstr(n, "conv") && strstr(n, ".weight")) convs++;
  }
  CHECK(bns == 20); /* 1 stem + 16 in the blocks + 3 downsample batch norms */
  CHECK(convs == 17);
  nc_st_close(f);
  /* The eval side loads it (and the full checkpoint) into a bare-named network. */
  nc_resnet_cfg cfg;
  int h = 0, w = 0;
  CHECK(nc_train_read_arch(path, &cfg, &h, &w) == NC_OK);
  CHECK(cfg.depth == 18 && cfg.width == 4 && cfg.in_channels == 1 && h == 28 && w == 28);
  nc_net *net = NULL;
  CHECK(nc_resnet_build(&net, &cfg, 28, 28, 8, 1, 0, NULL) == NC_OK);
  if (!net) return;
  CHECK(nc_train_load_backbone(net, path) == NC_OK);
  snprintf(path, sizeof path, "%s/base/checkpoint.safetensors", root);
  CHECK(nc_train_load_backbone(net, path) == NC_OK);
  nc_net_free(net);
}

static void test_nan_stops(void) {
  char a[512], path[600];
  nc_train_result res;
  nc_train_opts o = tiny("nan", a, sizeof a);
  o.ssl.lr.base = 1e12; /* absurd: the weights overflow within a few steps */
  o.checkpoint_every = 1;
  o.epochs = 4;
  int rc = nc_train_run(&o, &res);
  CHECK(rc == NC_ENUMERIC);
  CHECK(strncmp(nc_last_error(), "step ", 5) == 0);
  long bad_step = atol(nc_last_error() + 5);
  CHECK(bad_step >= 1 && bad_step == res.steps);
  snprintf(path, sizeof path, "%s/checkpoint.safetensors", a);
  if (bad_step > 1) { /* the last good checkpoint is whole and finite */
    nc_st_file *f = NULL;
    CHECK(nc_st_open(&f, path) == NC_OK);
    int64_t step = -1;
    if (f) CHECK(nc_st_read(f, "state.step", NC_ST_I64, &step, 1) == NC_OK);
    CHECK(step == bad_step - 1);
    const nc_st_entry *e = f ? nc_st_find(f, "online.backbone.conv1.weight") : NULL;
    CHECK(e != NULL);
    if (e) {
      float *v = malloc(e->nbytes);
      memcpy(v, e->data, e->nbytes);
      int finite = 1;
      for (size_t i = 0; i < e->count; i++) finite &= isfinite(v[i]) != 0;
      CHECK(finite);
      free(v);
    }
    nc_st_close(f);
  } else {
    CHECK(access(path, F_OK) != 0); /* nothing good to keep: nothing written */
  }
}

static void test_collapse_measures(void) {
  enum { n = 64, d = 8 };
  static float f[n * d];
  /* Every row the same direction: std 0, collapsed. */
  for (int i = 0; i < n; i++)
    for (int j = 0; j < d; j++) f[i * d + j] = (float)(1 + j) * (1 + i % 3);
  CHECK_NEAR(nc_train_feature_std(n, d, f), 0, 1e-6);
  CHECK(nc_train_collapsed(5, 6, nc_train_feature_std(n, d, f), d));
  /* Rows ±e_k: each coordinate is ±1 on 1/d of the rows, 0 elsewhere, mean 0: std = 1/√d. */
  for (int i = 0; i < n; i++)
    for (int j = 0; j < d; j++) f[i * d + j] = j == i % d ? (i / d % 2 ? -2.f : 2.f) : 0.f;
  CHECK_NEAR(nc_train_feature_std(n, d, f), 1 / sqrt((double)d), 1e-6);
  const double spread = 1 / sqrt((double)d);
  CHECK(!nc_train_collapsed(d, d, spread, d));
  CHECK(nc_train_collapsed(1.5, 1.6, spread, d));  /* rank < 2 and falling */
  CHECK(!nc_train_collapsed(1.5, 1.4, spread, d)); /* rank < 2 but rising: a fresh network */
  CHECK(!nc_train_collapsed(1.5, NAN, spread, d)); /* the first record */
  CHECK(!nc_train_collapsed(2.5, 3, spread, d));   /* falling, but above 2 */
}

/* The CPU backend with its host memory counted. */
static int host_allocs, host_frees, fhat_updates;
static void counted_fhat_update(nc_backend *be, int n, int d, const float *f1, const float *f2,
                                float keep, float add, float *F) {
  fhat_updates++;
  nc_backend_cpu()->i->fhat_update(be, n, d, f1, f2, keep, add, F);
}
static void *counted_host_alloc(nc_backend *be, size_t bytes) {
  host_allocs++;
  return nc_backend_cpu()->i->host_alloc(be, bytes);
}
static void counted_host_free(nc_backend *be, void *p) {
  host_frees++;
  nc_backend_cpu()->i->host_free(be, p);
}

/* The loader's views live in the run's backend's host memory (page-locked on a GPU), the
 * monitor's sums are made on the backend, and every step record says how long the step waited
 * for its batch. */
static void test_input_pipeline(void) {
  nc_backend_i table = *nc_backend_cpu()->i;
  table.host_alloc = counted_host_alloc, table.host_free = counted_host_free;
  table.fhat_update = counted_fhat_update;
  nc_backend be = *nc_backend_cpu();
  be.i = &table;
  char dir[512], path[600];
  nc_train_opts o = tiny("input", dir, sizeof dir);
  o.backend = &be;
  o.max_steps = 4;
  nc_train_result res;
  host_allocs = host_frees = fhat_updates = 0;
  CHECK(nc_train_run(&o, &res) == NC_OK);
  CHECK(host_allocs == 2 * (2 * o.loader_threads + 1)); /* x1 and x2 of each ring slot */
  CHECK(host_frees == host_allocs);
  /* per step: DirectPred's F̂, and the monitor's Σ f fᵀ on the backend too */
  CHECK(fhat_updates == 2 * 4);
  CHECK(res.steps_run == 4 && res.input_seconds > 0);
  CHECK(res.input_wait_seconds >= 0 && res.input_wait_seconds <= res.input_seconds);
  nc_metrics_log log = {0};
  snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
  CHECK(nc_metrics_read(path, &log) == NC_OK);
  int steps = 0;
  for (int i = 0; i < log.n; i++) {
    double ms;
    if (strcmp(log.records[i].type, "step") != 0) continue;
    steps++;
    CHECK(nc_metric_num(&log.records[i], "input_wait_ms", &ms) && ms >= 0);
  }
  CHECK(steps == 4);
  nc_metrics_log_free(&log);
}

/* Two metrics files hold the same records with the same values, timings aside. */
static int same_metrics(const char *a, const char *b) {
  nc_metrics_log la = {0}, lb = {0};
  int same = nc_metrics_read(a, &la) == NC_OK && nc_metrics_read(b, &lb) == NC_OK && la.n == lb.n &&
             la.n > 0;
  for (int i = 0; same && i < la.n; i++) {
    const nc_metric_record *ra = &la.records[i], *rb = &lb.records[i];
    same = strcmp(ra->type, rb->type) == 0 && ra->n == rb->n;
    for (int k = 0; same && k < ra->n; k++) {
      const nc_metric_field *fa = &ra->fields[k], *fb = nc_metric_get(rb, fa->key);
      if (!strcmp(fa->key, "images_per_s") || !strcmp(fa->key, "input_wait_ms")) continue;
      same = fb && fa->kind == fb->kind && fa->n == fb->n;
      if (same && fa->kind == NC_MV_NUM)
        same = fa->num == fb->num || (isnan(fa->num) && isnan(fb->num));
      for (int j = 0; same && fa->kind == NC_MV_NUMS && j < fa->n; j++)
        same = fa->nums[j] == fb->nums[j] || (isnan(fa->nums[j]) && isnan(fb->nums[j]));
      if (!same) fprintf(stderr, "%s: record %d (%s): %s differs\n", a, i, ra->type, fa->key);
    }
  }
  nc_metrics_log_free(&la), nc_metrics_log_free(&lb);
  return same;
}

/* On a GPU the run's operations are queued and the host touches its tensors (monitor records,
 * kNN and probe features, checkpoints, a resume's and --init-from's loads) only after a wait: on
 * the deferred backend (deferred_backend.h: operations run late, when the host waits) a run
 * writes the same checkpoint bytes and metrics as on the same backend run at once. */
static void test_deferred_run(void) {
  deferred_setup();
  char a[512], b[512], c[512], pa[600], pb[600];
  nc_train_result res;
  nc_train_opts o = tiny("imm", a, sizeof a);
  o.backend = &deferred_immediate;
  o.max_steps = 7; /* crosses the epoch's end at step 6 */
  o.monitor_every = 2, o.knn_every = 4, o.knn_bank = 64, o.knn_queries = 32;
  o.checkpoint_every = 3; /* (the per-epoch probe is left out: its features are made as kNN's) */
  CHECK(nc_train_run(&o, &res) == NC_OK);
  /* the same on the deferred backend, stopped after step 4 and resumed */
  nc_train_opts p = tiny("deferred", b, sizeof b);
  p.backend = &deferred_be;
  p.monitor_every = o.monitor_every, p.knn_every = o.knn_every, p.knn_bank = o.knn_bank;
  p.knn_queries = o.knn_queries, p.checkpoint_every = o.checkpoint_every;
  p.max_steps = 4;
  long waits = dq_waits;
  CHECK(nc_train_run(&p, &res) == NC_OK);
  p.max_steps = 7, p.resume = 1;
  CHECK(nc_train_run(&p, &res) == NC_OK && res.steps == 7);
  CHECK(dq_waits > waits && deferred_pending() == 0);
  snprintf(pa, sizeof pa, "%s/checkpoint.safetensors", a);
  snprintf(pb, sizeof pb, "%s/checkpoint.safetensors", b);
  CHECK(same_tensors(pa, pb));
  snprintf(pa, sizeof pa, "%s/backbone.safetensors", a);
  snprintf(pb, sizeof pb, "%s/backbone.safetensors", b);
  CHECK(same_tensors(pa, pb));
  snprintf(pa, sizeof pa, "%s/metrics.jsonl", a);
  snprintf(pb, sizeof pb, "%s/metrics.jsonl", b);
  CHECK(same_metrics(pa, pb));
  /* a pretrained start (--init-from: the backbone loaded on the host, copied to the target) */
  char from[600];
  snprintf(from, sizeof from, "%s/backbone.safetensors", a);
  nc_train_opts q = tiny("init-imm", c, sizeof c);
  q.backend = &deferred_immediate, q.max_steps = 2, q.init_from = from;
  CHECK(nc_train_run(&q, &res) == NC_OK);
  q = tiny("init-deferred", b, sizeof b);
  q.backend = &deferred_be, q.max_steps = 2, q.init_from = from;
  CHECK(nc_train_run(&q, &res) == NC_OK);
  snprintf(pa, sizeof pa, "%s/checkpoint.safetensors", c);
  snprintf(pb, sizeof pb, "%s/checkpoint.safetensors", b);
  CHECK(same_tensors(pa, pb));
}

int main(void) {
  snprintf(root, sizeof root, "/tmp/ncssl-test-train-XXXXXX");
  if (!mkdtemp(root)) return 1;
  test_collapse_measures();
  test_resume_bit_identical();
  test_refusals();
  test_backbone_names();
  test_nan_stops();
  test_input_pipeline();
  test_deferred_run();
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", root);
  return nc_test_done();
}

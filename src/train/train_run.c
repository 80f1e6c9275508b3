/* The training loop of `ncssl train`: loader → SSL step → metrics, monitors, checkpoints. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ncssl/linalg.h"
#include "ncssl/monitor.h"
#include "ncssl/runlog.h"
#include "ncssl/status.h"
#include "ncssl/train.h"

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

nc_train_opts nc_train_default(void) {
  nc_train_opts o;
  memset(&o, 0, sizeof o);
  o.ssl = nc_ssl_default();
  o.data = "fashion-mnist";
  o.epochs = 1;
  o.probe_epochs = 50;
  o.knn_k = 200;
  return o;
}

const char *nc_train_default_preset(const char *data) {
  if (strcmp(data, "fashion-mnist") == 0 || strcmp(data, "mnist") == 0) return "fashion";
  if (strcmp(data, "stl10") == 0) return "stl10";
  if (strncmp(data, "folder:", 7) == 0) return "imagenet";
  return "cifar";
}

/* Everything one run holds; freed in one place. */
typedef struct {
  const nc_train_opts *o;
  nc_ssl_config cfg;
  nc_dataset train, eval_train, test;
  nc_aug_preset aug;
  nc_loader *loader;
  nc_ssl *ssl;
  nc_metrics *metrics;
  nc_monitor mon;
  float *corr; /* Σ f fᵀ of the projector outputs since the last monitor record */
  long corr_rows;
  double *F, *W;
  double prev_rank; /* effective rank of the previous monitor record (NaN before the first) */
  char ckpt[4096], backbone[4096], arch[256];
  long steps_per_epoch, total_steps;
} run;

static void message(const run *r, const char *line) {
  if (r->o->on_message) r->o->on_message(r->o->ctx, line);
}

static int load_data(run *r) {
  const nc_train_opts *o = r->o;
  nc_data_opts dopts = {0};
  dopts.dir = o->data_dir;
  const char *split = strcmp(o->data, "stl10") == 0 ? "train+unlabeled" : "train";
  int rc = nc_dataset_load(o->data, split, &dopts, &r->train);
  if (rc) return rc;
  if (o->subset > 0 && o->subset < r->train.n) r->train.n = (int)o->subset;
  const char *preset = o->preset && *o->preset ? o->preset : nc_train_default_preset(o->data);
  if ((rc = nc_aug_preset_get(preset, 0, &r->aug))) return rc;
  if (r->train.n < r->cfg.batch)
    return nc_fail(NC_EINVAL, "train: %d training images are fewer than one batch of %d",
                   r->train.n, r->cfg.batch);
  if (o->eval_every_epoch) {
    if (strcmp(o->data, "stl10") == 0) {
      if ((rc = nc_dataset_load(o->data, "train", &dopts, &r->eval_train))) return rc;
    }
    if ((rc = nc_dataset_load(o->data, "test", &dopts, &r->test))) return rc;
  }
  return NC_OK;
}

/* Folds this step's projector outputs (both views) into Σ f fᵀ. */
static void accumulate(run *r, int n) {
  const int d = r->cfg.proj_out;
  for (int v = 0; v < 2; v++) {
    const float *f = nc_ssl_f(r->ssl, v);
    nc_mm_f(1, 0, d, d, n, 1.0f, f, f, 1.0f, r->corr);
  }
  r->corr_rows += 2L * n;
}

/* A monitor record: the F̂ spectrum (DirectPred's own F̂, else the projector outputs'
 * correlation since the last record), effective rank, W_p alignment/asymmetry for linear
 * predictors, feature std of the last batch, and the collapse flag. */
static int monitor_record(run *r, long step, int epoch, int n_last, nc_train_result *res) {
  const int d = r->cfg.proj_out;
  nc_predictor *p = nc_ssl_predictor(r->ssl);
  const float *F = nc_predictor_corr(p);
  double scale = 1;
  if (!F) {
    F = r->corr;
    scale = r->corr_rows > 0 ? 1.0 / (double)r->corr_rows : 0;
  }
  for (size_t i = 0; i < (size_t)d * d; i++) r->F[i] = scale * F[i];
  const float *W = nc_predictor_weight(p);
  if (W)
    for (size_t i = 0; i < (size_t)d * d; i++) r->W[i] = W[i];
  int rc = nc_monitor_measure(&r->mon, r->F, W ? r->W : NULL);
  if (rc) return rc;
  double fstd = nc_train_feature_std(n_last, d, nc_ssl_f(r->ssl, 0));
  int collapse = nc_train_collapsed(r->mon.effective_rank, r->prev_rank, fstd, d);
  r->prev_rank = r->mon.effective_rank;
  if ((rc = nc_metrics_monitor(r->metrics, step, epoch, &r->mon, W != NULL, fstd, collapse)))
    return rc;
  if (collapse) {
    char line[256];
    snprintf(line, sizeof line,
             "warning: step %ld: the representation is collapsing (effective rank %.3f, feature "
             "std %.4f, 1/sqrt(d) = %.4f)",
             step, r->mon.effective_rank, fstd, 1 / sqrt((double)d));
    message(r, line);
  }
  res->effective_rank = r->mon.effective_rank;
  res->feature_std = fstd;
  res->collapsed = collapse;
  memset(r->corr, 0, (size_t)d * d * sizeof(float));
  r->corr_rows = 0;
  return NC_OK;
}

static int eval_record(run *r, long step, int epoch) {
  nc_probe_config pc = nc_probe_default();
  pc.epochs = r->o->probe_epochs;
  nc_knn_config kc = nc_knn_default();
  kc.k = r->o->knn_k;
  nc_probe_result probe = {0};
  double knn = NAN;
  const nc_dataset *tr = r->eval_train.n ? &r->eval_train : &r->train;
  int rc = nc_train_evaluate(nc_ssl_backbone(r->ssl), tr, &r->test, &r->aug.view[0], &pc, &kc,
                             &probe, &knn);
  if (!rc) rc = nc_metrics_eval(r->metrics, step, epoch, &probe, knn);
  if (!rc) {
    char line[160];
    snprintf(line, sizeof line, "epoch %d: linear probe %.2f%% (best %.2f%%), kNN %.2f%%", epoch,
             100 * probe.final_top1, 100 * probe.best_top1, 100 * knn);
    message(r, line);
  }
  nc_probe_result_free(&probe);
  return rc;
}

static int checkpoint(run *r, long step, int epochs_done) {
  nc_train_state st = {step, epochs_done, nc_loader_position(r->loader), r->cfg.seed};
  int rc = nc_train_save(r->ssl, r->ckpt, &st, r->o->config_text);
  if (!rc) rc = nc_train_save_backbone(nc_ssl_backbone(r->ssl), r->backbone, r->arch);
  return rc;
}

static int setup(run *r, nc_train_state *st) {
  const nc_train_opts *o = r->o;
  int rc = load_data(r);
  if (rc) return rc;
  r->cfg.backbone.in_channels = r->train.c;
  r->cfg.image_h = r->cfg.image_w = r->aug.view[0].size;
  nc_loader_opts lo = {0};
  lo.data = &r->train;
  lo.aug = r->aug;
  lo.batch = r->cfg.batch;
  lo.threads = o->loader_threads;
  lo.drop_last = 1; /* every step sees a full batch (batch norm, identical step cost) */
  lo.seed = r->cfg.seed;
  if ((rc = nc_loader_open(&r->loader, &lo))) return rc;
  r->steps_per_epoch = nc_loader_batches_per_epoch(r->loader);
  r->total_steps = r->steps_per_epoch * o->epochs;
  /* Schedules run over the epochs; --max-steps only stops early, so a resumed run with another
   * --max-steps follows the same schedule. */
  r->cfg.total_steps = r->total_steps;
  if (r->cfg.lr.kind == NC_SCHED_COSINE) {
    r->cfg.lr.total_steps = r->total_steps;
    r->cfg.lr.warmup_steps = (long)(o->warmup_epochs * r->steps_per_epoch + 0.5);
  }
  if ((rc = nc_ssl_create_on(o->backend, &r->ssl, &r->cfg))) return rc;
  nc_train_arch_string(&r->cfg, r->arch, sizeof r->arch);
  const int d = r->cfg.proj_out;
  r->corr = calloc((size_t)d * d, sizeof(float));
  r->F = malloc((size_t)d * d * sizeof(double));
  r->W = malloc((size_t)d * d * sizeof(double));
  r->prev_rank = NAN;
  if (!r->corr || !r->F || !r->W) return nc_fail(NC_ENOMEM, "train: out of memory");
  if ((rc = nc_monitor_init(&r->mon, d))) return rc;
  if ((rc = nc_mkdir_p(o->out))) return rc;
  snprintf(r->ckpt, sizeof r->ckpt, "%s/checkpoint.safetensors", o->out);
  snprintf(r->backbone, sizeof r->backbone, "%s/backbone.safetensors", o->out);
  char path[4096];
  snprintf(path, sizeof path, "%s/metrics.jsonl", o->out);
  memset(st, 0, sizeof *st);
  if (o->resume) {
    if ((rc = nc_train_load(r->ssl, r->ckpt, st))) return rc;
    if (st->seed != r->cfg.seed)
      return nc_fail(NC_EFORMAT, "%s: written with seed %llu, this run has seed %llu", r->ckpt,
                     (unsigned long long)st->seed, (unsigned long long)r->cfg.seed);
    if ((rc = nc_loader_seek(r->loader, st->pos))) return rc;
    /* Records written after the checkpoint (a run killed between checkpoints) are redone. */
    if ((rc = nc_metrics_rewind(path, st->step))) return rc;
  }
  return nc_metrics_open(&r->metrics, path, o->resume);
}

static void teardown(run *r) {
  nc_metrics_close(r->metrics);
  nc_loader_close(r->loader);
  nc_ssl_free(r->ssl);
  nc_monitor_free(&r->mon);
  free(r->corr), free(r->F), free(r->W);
  nc_dataset_free(&r->train);
  nc_dataset_free(&r->eval_train);
  nc_dataset_free(&r->test);
}

int nc_train_run(const nc_train_opts *o, nc_train_result *res) {
  run r;
  memset(&r, 0, sizeof r);
  r.o = o;
  r.cfg = o->ssl;
  memset(res, 0, sizeof *res);
  res->effective_rank = res->feature_std = NAN;
  res->last_loss = NAN;
  nc_train_state st;
  int rc = setup(&r, &st);
  long step = st.step;
  const long stop = o->max_steps > 0 && o->max_steps < r.total_steps ? o->max_steps : r.total_steps;
  const double t_start = now_seconds();
  double rate = 0, t_prev = t_start;
  if (!rc && step >= stop) {
    char line[128];
    snprintf(line, sizeof line, "the run is already at step %ld of %ld", step, stop);
    message(&r, line);
  }
  while (!rc && step < stop) {
    const nc_batch *b = NULL;
    if ((rc = nc_loader_next(r.loader, &b))) break;
    double lr = nc_schedule_at(&r.cfg.lr, step), loss = 0;
    rc = nc_ssl_step(r.ssl, b->n, b->x1, b->x2, &loss);
    step++;
    if (rc == NC_ENUMERIC || (!rc && (!isfinite(loss) || !nc_ssl_weights_finite(r.ssl)))) {
      /* (NC_ENUMERIC from the step: DirectPred's eigensolver met a non-finite F̂.) */
      rc = nc_fail(NC_ENUMERIC,
                   "step %ld: the %s became NaN or Inf (stopped; the last good checkpoint is "
                   "kept)",
                   step,
                   !isfinite(loss) ? "loss"
                   : rc            ? "predictor input"
                                   : "weights");
      res->steps = step;
      break;
    }
    if (rc) break;
    accumulate(&r, b->n);
    double t = now_seconds(), ips = b->n / (t - t_prev);
    t_prev = t;
    rate = rate > 0 ? 0.9 * rate + 0.1 * ips : ips;
    const long in_epoch = (step - 1) % r.steps_per_epoch + 1;
    const int epoch = (int)((step - 1) / r.steps_per_epoch) + 1; /* 1-based epoch of this step */
    const int epoch_end = in_epoch == r.steps_per_epoch;
    res->steps = step;
    res->last_loss = loss;
    if ((rc = nc_metrics_step(r.metrics, step, epoch, loss, lr, ips))) break;
    if (o->on_progress) {
      nc_train_progress p = {step,
                             stop,
                             epoch,
                             o->epochs,
                             in_epoch,
                             r.steps_per_epoch,
                             loss,
                             lr,
                             rate,
                             t - t_start,
                             (stop - step) * b->n / rate};
      o->on_progress(o->ctx, &p);
    }
    if (epoch_end || step == stop || (o->monitor_every > 0 && step % o->monitor_every == 0))
      if ((rc = monitor_record(&r, step, epoch, b->n, res))) break;
    if (epoch_end && o->eval_every_epoch && (rc = eval_record(&r, step, epoch))) break;
    if (epoch_end || step == stop || (o->checkpoint_every > 0 && step % o->checkpoint_every == 0))
      if ((rc = checkpoint(&r, step, epoch_end ? epoch : epoch - 1))) break;
  }
  teardown(&r);
  return rc;
}

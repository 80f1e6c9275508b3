/* The training loop of `ncssl train`: loader → SSL step → metrics, monitors, checkpoints. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ncssl/afile.h"
#include "ncssl/clock.h"
#include "ncssl/linalg.h"
#include "ncssl/monitor.h"
#include "ncssl/runlog.h"
#include "ncssl/status.h"
#include "ncssl/train.h"

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

const char *nc_train_preset_for(const char *data, int image_size) {
  if (strncmp(data, "folder:", 7) != 0 || image_size <= 0) return nc_train_default_preset(data);
  /* The preset made for images of about that size: its crops, blur kernel and view size. */
  return image_size <= 28   ? "fashion"
         : image_size <= 32 ? "cifar"
         : image_size <= 96 ? "stl10"
                            : "imagenet";
}

/* Everything one run holds; freed in one place. */
typedef struct {
  const nc_train_opts *o;
  nc_ssl_config cfg;
  nc_dataset train, eval_train, test;
  nc_aug_preset aug;
  nc_loader *loader;
  nc_host_memory views_memory; /* the backend's: page-locked on a GPU */
  nc_ssl *ssl;
  nc_metrics *metrics;
  nc_monitor mon;
  nc_backend *be; /* where the run computes */
  float *corr;    /* Σ f fᵀ of the projector outputs since the last monitor record (the backend's
                     memory: summed where the outputs are, read after a sync) */
  long corr_rows;
  double *F, *W;
  double prev_rank; /* effective rank of the previous monitor record (NaN before the first) */
  char ckpt[4096], backbone[4096], arch[256];
  long steps_per_epoch, total_steps;
  nc_comm *comm;      /* data-parallel ranks (NULL: one process) */
  int root;           /* rank 0: the one that writes files and reports */
  double *fsums;      /* feature-std sums over the ranks: [2d + 1] */
  float *corr_global; /* with several ranks: Σ f fᵀ over all of them (a copy, the sums stay) */
  long corr_rows_global;
} run;

static void message(const run *r, const char *line) {
  if (r->root && r->o->on_message) r->o->on_message(r->o->ctx, line);
}

static int load_data(run *r) {
  const nc_train_opts *o = r->o;
  nc_data_opts dopts = {0};
  dopts.dir = o->data_dir;
  dopts.image_size = o->image_size;
  dopts.channels = o->channels;
  const char *split = strcmp(o->data, "stl10") == 0 ? "train+unlabeled" : "train";
  int rc = nc_dataset_load(o->data, split, &dopts, &r->train);
  if (rc) return rc;
  if (o->subset > 0 && o->subset < r->train.n) r->train.n = (int)o->subset;
  const char *preset =
      o->preset && *o->preset ? o->preset : nc_train_preset_for(o->data, r->train.h);
  if ((rc = nc_aug_preset_get(preset, 0, &r->aug))) return rc;
  if (r->train.n < r->cfg.batch)
    return nc_fail(NC_EINVAL, "train: %d training images are fewer than one batch of %d",
                   r->train.n, r->cfg.batch);
  if (o->eval_every_epoch || o->knn_every > 0) {
    if (strcmp(o->data, "stl10") == 0) {
      if ((rc = nc_dataset_load(o->data, "train", &dopts, &r->eval_train))) return rc;
    }
    if ((rc = nc_dataset_load(o->data, "test", &dopts, &r->test))) return rc;
  }
  if (o->knn_every > 0 && (r->test.classes < 2 || r->train.classes < 2))
    return nc_fail(NC_EINVAL, "knn: %s has no labels to classify", r->test.name);
  return NC_OK;
}

/* Folds this step's projector outputs (both views) into Σ f fᵀ, on the backend (F̂'s update with
 * nothing forgotten: on a GPU the outputs never travel to the host for it). */
static void accumulate(run *r, int n) {
  const int d = r->cfg.proj_out;
  r->be->i->fhat_update(r->be, n, d, nc_ssl_f(r->ssl, 0), nc_ssl_f(r->ssl, 1), 1.0f, 1.0f, r->corr);
  r->corr_rows += 2L * n;
}

/* The monitor sums start over. */
static void clear_corr(run *r) {
  r->be->i->zero(r->be, r->corr, (size_t)r->cfg.proj_out * r->cfg.proj_out * sizeof(float));
  r->corr_rows = 0;
}

static int ranks(const run *r) { return nc_comm_size(r->comm); }

/* Feature std of the last GLOBAL batch: nc_train_feature_std's sums all-reduced over the ranks
 * (one process computes it directly). */
static double feature_std_global(run *r, int n, int d, const float *f) {
  if (ranks(r) == 1) return nc_train_feature_std(n, d, f);
  nc_train_feature_sums(n, d, f, r->fsums);
  if (nc_comm_allreduce_d(r->comm, r->fsums, 2 * (size_t)d + 1, NC_COMM_SUM)) return NAN;
  return nc_train_feature_std_of_sums(d, r->fsums);
}

/* Σ f fᵀ and its row count over every rank's batches since the last record: this process's own
 * sums with one rank, else their all-reduced copy in corr_global (each rank keeps its own sums,
 * so a record that only looks does not count them twice). Every rank calls it. */
static int global_corr(run *r, const float **corr, long *rows) {
  const size_t dd = (size_t)r->cfg.proj_out * r->cfg.proj_out;
  int rc = nc_backend_sync(r->be); /* the sums queued after the last step */
  if (rc) return rc;
  if (ranks(r) == 1) {
    *corr = r->corr, *rows = r->corr_rows;
    return NC_OK;
  }
  memcpy(r->corr_global, r->corr, dd * sizeof(float));
  double n = (double)r->corr_rows;
  rc = nc_comm_allreduce_f(r->comm, r->corr_global, dd, NC_COMM_SUM);
  if (!rc) rc = nc_comm_allreduce_d(r->comm, &n, 1, NC_COMM_SUM);
  r->corr_rows_global = (long)n;
  *corr = r->corr_global, *rows = r->corr_rows_global;
  return rc;
}

/* A monitor record: the F̂ spectrum (DirectPred's own F̂, else the projector outputs'
 * correlation since the last record), effective rank, W_p alignment/asymmetry for linear
 * predictors, feature std of the last batch, and the collapse flag. A record that is not regular
 * (the last step of a --max-steps run, off the epoch ends and --monitor-every) only looks: it
 * keeps the accumulator and the previous rank, so a run resumed from there writes the same
 * regular records as one that never stopped. */
static int monitor_record(run *r, long step, int epoch, int n_last, int regular,
                          nc_train_result *res, int write) {
  const int d = r->cfg.proj_out;
  nc_predictor *p = nc_ssl_predictor(r->ssl);
  const float *F = nc_predictor_corr(p), *sums = NULL;
  long rows = 0;
  int rc = global_corr(r, &sums, &rows);
  if (rc) return rc;
  double fstd = feature_std_global(r, n_last, d, nc_ssl_f(r->ssl, 0));
  if (!write) { /* the other ranks (and rank 0 after a failure): only the sums start over */
    if (regular) clear_corr(r);
    return NC_OK;
  }
  double scale = 1;
  if (!F) {
    F = sums;
    scale = rows > 0 ? 1.0 / (double)rows : 0;
  }
  for (size_t i = 0; i < (size_t)d * d; i++) r->F[i] = scale * F[i];
  const float *W = nc_predictor_weight(p);
  if (W)
    for (size_t i = 0; i < (size_t)d * d; i++) r->W[i] = W[i];
  if ((rc = nc_monitor_measure(&r->mon, r->F, W ? r->W : NULL))) return rc;
  int collapse = nc_train_collapsed(r->mon.effective_rank, r->prev_rank, fstd, d);
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
  if (!regular) return NC_OK;
  r->prev_rank = r->mon.effective_rank;
  clear_corr(r);
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

/* The online kNN monitor (solo-learn's online evaluation, made cheap): the backbone's eval-mode
 * features of a fixed labelled bank (the first knn_bank training images) classify the first
 * knn_queries held-out test images; a "knn" record. It only runs forwards in eval mode (no
 * batch-norm statistics change), so the training itself is the same with or without it. */
static int knn_record(run *r, long step, int epoch) {
  const nc_train_opts *o = r->o;
  nc_dataset bank = r->eval_train.n ? r->eval_train : r->train, query = r->test;
  if (o->knn_bank > 0 && o->knn_bank < bank.n) bank.n = o->knn_bank;
  if (o->knn_queries > 0 && o->knn_queries < query.n) query.n = o->knn_queries;
  nc_net *net = nc_ssl_backbone(r->ssl);
  const int dim = nc_net_out_dim(net);
  float *fb = malloc((size_t)bank.n * dim * sizeof(float));
  float *fq = malloc((size_t)query.n * dim * sizeof(float));
  int *yb = malloc((size_t)bank.n * sizeof(int)), *yq = malloc((size_t)query.n * sizeof(int));
  int rc = fb && fq && yb && yq ? NC_OK : nc_fail(NC_ENOMEM, "knn: out of memory");
  if (!rc) rc = nc_train_features(net, &bank, &r->aug.view[0], fb);
  if (!rc) rc = nc_train_features(net, &query, &r->aug.view[0], fq);
  double top1 = NAN;
  nc_knn_config kc = nc_knn_default();
  kc.k = o->knn_k < bank.n ? o->knn_k : bank.n;
  if (!rc) {
    for (int i = 0; i < bank.n; i++) yb[i] = bank.labels[i];
    for (int i = 0; i < query.n; i++) yq[i] = query.labels[i];
    int classes = bank.classes > query.classes ? bank.classes : query.classes;
    rc = nc_knn_eval(fb, yb, bank.n, fq, yq, query.n, dim, classes, &kc, &top1, NULL);
  }
  if (!rc) rc = nc_metrics_begin(r->metrics, "knn");
  if (!rc) {
    nc_metrics_int(r->metrics, "step", step);
    nc_metrics_int(r->metrics, "epoch", epoch);
    nc_metrics_num(r->metrics, "knn_top1", top1);
    nc_metrics_int(r->metrics, "knn_k", kc.k);
    nc_metrics_int(r->metrics, "bank", bank.n);
    nc_metrics_int(r->metrics, "queries", query.n);
    rc = nc_metrics_end(r->metrics);
  }
  free(fb), free(fq), free(yb), free(yq);
  return rc;
}

/* The checkpoint first, then the backbone: a kill between the two leaves the backbone one save
 * behind, never a backbone without a checkpoint (so a run directory without a checkpoint is one
 * killed before its first save). Both carry their step, and eval says when they differ. */
/* Every rank calls it (the monitor sums are all-reduced); rank 0 alone writes. */
static int checkpoint(run *r, long step, int epochs_done) {
  const float *sums;
  long rows;
  int rc = global_corr(r, &sums, &rows);
  if (rc || !r->root) return rc;
  nc_train_state st = {step, epochs_done, nc_loader_position(r->loader), r->cfg.seed, (float *)sums,
                       rows, r->prev_rank};
  rc = nc_train_save(r->ssl, r->ckpt, &st, r->o->config_text);
  if (!rc) rc = nc_train_save_backbone_at(nc_ssl_backbone(r->ssl), r->backbone, r->arch, step);
  return rc;
}

/* The files a run directory holds; any of them means "a run is here". */
static const char *const run_files[] = {"checkpoint.safetensors", "backbone.safetensors",
                                        "metrics.jsonl", "config.txt", NULL};

/* A fresh run into a directory that already holds one is refused unless o->force. */
static int check_out(const nc_train_opts *o) {
  if (o->resume || o->force) return NC_OK;
  char path[4096];
  struct stat st;
  for (int i = 0; run_files[i]; i++) {
    snprintf(path, sizeof path, "%s/%s", o->out, run_files[i]);
    if (lstat(path, &st) == 0)
      return nc_fail(NC_EINVAL,
                     "%s already holds a run (%s): --resume %s continues it, --force replaces it",
                     o->out, run_files[i], o->out);
  }
  return NC_OK;
}

/* The loader position a checkpoint stored must be where its step count puts it (one batch per
 * step): another --subset, --batch or dataset gives another number of batches per epoch. */
static int check_position(const run *r, const nc_train_state *st) {
  const long spe = r->steps_per_epoch;
  if (st->pos.epoch > ((int64_t)1 << 40) / spe || st->pos.batch >= spe ||
      st->pos.epoch * spe + st->pos.batch != st->step)
    return nc_fail(NC_EFORMAT,
                   "%s: step %ld at loader position (epoch %lld, batch %lld) does not fit %ld "
                   "batches per epoch: the data, --subset or --batch differ from the run's",
                   r->ckpt, st->step, (long long)st->pos.epoch, (long long)st->pos.batch, spe);
  return NC_OK;
}

static int setup(run *r, nc_train_state *st) {
  const nc_train_opts *o = r->o;
  int rc = load_data(r);
  if (rc) return rc;
  r->cfg.backbone.in_channels = r->train.c;
  r->cfg.image_h = r->cfg.image_w = r->aug.view[0].size;
  const int global_batch = r->cfg.batch, n_ranks = ranks(r);
  if (global_batch % n_ranks != 0 || global_batch / n_ranks < 2)
    return nc_fail(NC_EINVAL,
                   "train: the global batch %d does not split into %d slices of 2 or more "
                   "images (one per rank)",
                   global_batch, n_ranks);
  r->cfg.batch = global_batch / n_ranks; /* each step sees this rank's slice */
  nc_loader_opts lo = {0};
  lo.data = &r->train;
  lo.aug = r->aug;
  lo.batch = global_batch;
  lo.shard = nc_comm_rank(r->comm);
  lo.shards = n_ranks;
  lo.threads = o->loader_threads;
  lo.drop_last = 1; /* every step sees a full batch (batch norm, identical step cost) */
  lo.seed = r->cfg.seed;
  r->views_memory = (nc_host_memory){nc_backend_host_alloc, nc_backend_host_free, r->be};
  lo.memory = &r->views_memory;
  if ((rc = nc_loader_open(&r->loader, &lo))) return rc;
  r->steps_per_epoch = nc_loader_batches_per_epoch(r->loader);
  r->total_steps = r->steps_per_epoch * o->epochs;
  /* Schedules run over the epochs; --max-steps only stops early, so a resumed run with another
   * --max-steps follows the same schedule. */
  r->cfg.total_steps = r->total_steps;
  if (!(o->warmup_epochs >= 0 && o->warmup_epochs <= o->epochs))
    return nc_fail(NC_EINVAL, "train: a warm-up of %g epochs does not fit the run's %d epochs",
                   o->warmup_epochs, o->epochs);
  if (r->cfg.lr.kind == NC_SCHED_COSINE) {
    r->cfg.lr.total_steps = r->total_steps;
    r->cfg.lr.warmup_steps = (long)(o->warmup_epochs * r->steps_per_epoch + 0.5);
  }
  if ((rc = nc_ssl_create_on(o->backend, &r->ssl, &r->cfg))) return rc;
  if (n_ranks > 1 && (rc = nc_ssl_set_comm(r->ssl, r->comm, o->sync_bn))) return rc;
  nc_train_arch_string(&r->cfg, r->arch, sizeof r->arch);
  const int d = r->cfg.proj_out;
  r->corr = r->be->i->alloc(r->be, (size_t)d * d * sizeof(float)); /* zeroed */
  r->F = malloc((size_t)d * d * sizeof(double));
  r->W = malloc((size_t)d * d * sizeof(double));
  r->fsums = malloc((2 * (size_t)d + 1) * sizeof(double));
  r->corr_global = malloc((size_t)d * d * sizeof(float));
  r->prev_rank = NAN;
  if (!r->corr || !r->F || !r->W || !r->fsums || !r->corr_global)
    return nc_fail(NC_ENOMEM, "train: out of memory");
  if ((rc = nc_monitor_init(&r->mon, d))) return rc;
  snprintf(r->ckpt, sizeof r->ckpt, "%s/checkpoint.safetensors", o->out);
  snprintf(r->backbone, sizeof r->backbone, "%s/backbone.safetensors", o->out);
  char path[4096], cfg_path[4096];
  snprintf(path, sizeof path, "%s/metrics.jsonl", o->out);
  snprintf(cfg_path, sizeof cfg_path, "%s/config.txt", o->out);
  memset(st, 0, sizeof *st);
  st->monitor_corr = r->corr;
  struct stat sb;
  int fresh = 0; /* resuming a run killed before its first checkpoint: it starts over */
  if (o->resume && lstat(r->ckpt, &sb) != 0 && errno == ENOENT) {
    if (lstat(r->backbone, &sb) == 0)
      return nc_fail(NC_EFORMAT,
                     "%s has a backbone but no checkpoint.safetensors to resume from (--force "
                     "starts the run over)",
                     o->out);
    fresh = 1;
  }
  if ((!o->resume || fresh) && o->init_from && *o->init_from) { /* pretrained start */
    nc_net *online = nc_ssl_backbone(r->ssl), *target = nc_ssl_target_backbone(r->ssl);
    if ((rc = nc_train_load_backbone(online, o->init_from))) return rc;
    if (target && (rc = nc_net_copy_params(target, online))) return rc;
  }
  if (o->resume && !fresh) {
    if ((rc = nc_train_load(r->ssl, r->ckpt, st))) return rc;
    if (st->seed != r->cfg.seed)
      return nc_fail(NC_EFORMAT, "%s: written with seed %llu, this run has seed %llu", r->ckpt,
                     (unsigned long long)st->seed, (unsigned long long)r->cfg.seed);
    if ((rc = check_position(r, st)) || (rc = nc_loader_seek(r->loader, st->pos))) return rc;
    r->corr_rows = st->monitor_rows;
    r->prev_rank = st->monitor_prev_rank;
    if (!r->root) clear_corr(r); /* the saved sums are every rank's: rank 0 carries them on */
  }
  if (!r->root) return NC_OK; /* rank 0 alone writes the run directory */
  /* Everything is validated: from here on the run directory is written. */
  if ((rc = nc_mkdir_p(o->out))) return rc;
  if (nc_remove_stale_tmp(o->out, run_files) < 0) return NC_EIO;
  if (o->force && !o->resume) { /* replacing a run: its checkpoints must not outlive it */
    unlink(r->ckpt);
    unlink(r->backbone);
  }
  if (o->config_text && (rc = nc_write_atomic(cfg_path, o->config_text, strlen(o->config_text))))
    return rc;
  /* Records written after the checkpoint (a run killed between checkpoints) are redone. */
  if (o->resume && (rc = nc_metrics_rewind(path, st->step))) return rc;
  if (fresh) message(r, "no checkpoint yet (stopped before its first save): starting at step 0");
  /* A run killed between writing the checkpoint and the backbone left the backbone one save
   * behind (or half-written): bring it to the checkpoint's step now. */
  long bstep = -1;
  if (o->resume && !fresh &&
      (nc_train_file_step(r->backbone, &bstep) != NC_OK || bstep != st->step) &&
      (rc = nc_train_save_backbone_at(nc_ssl_backbone(r->ssl), r->backbone, r->arch, st->step)))
    return rc;
  return nc_metrics_open(&r->metrics, path, o->resume);
}

/* 1 when a signal asked this run to stop, on any rank (mpirun passes a signal to every rank, but
 * not at the same moment: they agree, so all stop after the same step). */
static int stop_asked(run *r) {
  double asked = r->o->stop && *r->o->stop ? 1 : 0;
  if (ranks(r) > 1 && nc_comm_allreduce_d(r->comm, &asked, 1, NC_COMM_MAX)) return 1;
  return asked > 0;
}

static void teardown(run *r) {
  nc_metrics_close(r->metrics);
  nc_loader_close(r->loader);
  nc_ssl_free(r->ssl);
  nc_monitor_free(&r->mon);
  if (r->corr) r->be->i->free(r->be, r->corr);
  free(r->F), free(r->W), free(r->fsums), free(r->corr_global);
  nc_dataset_free(&r->train);
  nc_dataset_free(&r->eval_train);
  nc_dataset_free(&r->test);
}

int nc_train_run(const nc_train_opts *o, nc_train_result *res) {
  run r;
  memset(&r, 0, sizeof r);
  r.o = o;
  r.cfg = o->ssl;
  r.comm = o->comm;
  r.be = o->backend ? o->backend : nc_backend_cpu();
  r.root = nc_comm_rank(o->comm) == 0;
  memset(res, 0, sizeof *res);
  res->effective_rank = res->feature_std = NAN;
  res->last_loss = NAN;
  res->failed_rank = -1;
  nc_train_state st;
  memset(&st, 0, sizeof st);
  int rc = r.root ? check_out(o) : NC_OK;
  if (!rc) rc = setup(&r, &st);
  /* a rank that could not start (a file one node lacks) stops them all */
  rc = nc_comm_agree(r.comm, rc, &res->failed_rank);
  long step = st.step;
  const long stop = o->max_steps > 0 && o->max_steps < r.total_steps ? o->max_steps : r.total_steps;
  const double t_start = nc_now_seconds();
  double rate = 0, t_prev = t_start, t_first = 0;
  if (!rc && step >= stop) { /* the caller says so (nc_train_result.already_finished) */
    res->already_finished = 1;
    res->steps = step;
  }
  long saved = st.step; /* the step of the last checkpoint */
  int stopping = 0;     /* a stop asked for by a signal, agreed on by every rank */
  if (!rc) stopping = stop_asked(&r);
  while (!rc && step < stop && !stopping) {
    const nc_batch *b = NULL;
    if ((rc = nc_loader_next(r.loader, &b))) break;
    /* The first batch waits for the workers' start (and a resume's seek): not counted. */
    const double waited = nc_loader_wait_stats(r.loader).last;
    if (res->steps_run > 0)
      res->input_wait_seconds += waited;
    else
      t_first = nc_now_seconds();
    double lr = nc_schedule_at(&r.cfg.lr, step), loss = 0;
    rc = nc_ssl_step(r.ssl, b->n, b->x1, b->x2, &loss);
    step++;
    if (rc == NC_ENUMERIC) {
      /* The step's own numerical failure (DirectPred's eigensolver: a non-finite F̂, or LAPACK
       * refusing), named as it is. */
      char why[512];
      snprintf(why, sizeof why, "%s", nc_last_error());
      rc = nc_fail(NC_ENUMERIC, "step %ld: %s (stopped; the last good checkpoint is kept)", step,
                   why);
      res->steps = step;
      break;
    }
    if (!rc && (!isfinite(loss) || !nc_ssl_weights_finite(r.ssl))) {
      rc = nc_fail(NC_ENUMERIC,
                   "step %ld: the %s became NaN or Inf (stopped; the last good checkpoint is "
                   "kept)",
                   step, !isfinite(loss) ? "loss" : "weights");
      res->steps = step;
      break;
    }
    if (rc) break;
    accumulate(&r, b->n);
    /* From here on a failure may be this rank's alone (the files rank 0 writes): it is kept in
     * lrc, every rank still takes part in the step's collectives, and all agree at the end. */
    int lrc = NC_OK;
    if (o->check_sync > 0 && step % o->check_sync == 0 && ranks(&r) > 1) {
      lrc = nc_train_check_sync(r.ssl, r.comm, step);
      if (!lrc) res->sync_checks++;
    }
    const int global_n = b->n * ranks(&r);
    double t = nc_now_seconds(), ips = global_n / (t - t_prev);
    t_prev = t;
    rate = rate > 0 ? 0.9 * rate + 0.1 * ips : ips;
    const long in_epoch = (step - 1) % r.steps_per_epoch + 1;
    const int epoch = (int)((step - 1) / r.steps_per_epoch) + 1; /* 1-based epoch of this step */
    const int epoch_end = in_epoch == r.steps_per_epoch;
    res->steps = step;
    res->steps_run++;
    res->last_loss = loss;
    if (!lrc && r.root) lrc = nc_metrics_step(r.metrics, step, epoch, loss, lr, ips, 1e3 * waited);
    if (!lrc && r.root && o->on_progress) {
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
                             (stop - step) * global_n / rate};
      o->on_progress(o->ctx, &p);
    }
    const int regular = epoch_end || (o->monitor_every > 0 && step % o->monitor_every == 0);
    if (regular || step == stop) {
      int mrc = monitor_record(&r, step, epoch, b->n, regular, res, r.root && !lrc);
      if (!lrc) lrc = mrc;
    }
    /* the probe and the kNN monitor run on rank 0 alone (the others wait at the agreement) */
    if (!lrc && r.root && epoch_end && o->eval_every_epoch) lrc = eval_record(&r, step, epoch);
    if (!lrc && r.root && o->knn_every > 0 && (step % o->knn_every == 0 || step == stop))
      lrc = knn_record(&r, step, epoch);
    stopping = stop_asked(&r);
    if (epoch_end || step == stop || (o->checkpoint_every > 0 && step % o->checkpoint_every == 0) ||
        stopping) {
      int crc = checkpoint(&r, step, epoch_end ? epoch : epoch - 1);
      if (!lrc) lrc = crc;
      if (!crc) saved = step;
    }
    if ((rc = nc_comm_agree(r.comm, lrc, &res->failed_rank))) break;
  }
  if (res->steps_run > 0) res->input_seconds = nc_now_seconds() - t_first;
  if (!rc && stopping && step < stop) {
    if (step > st.step)
      rc = nc_fail(NC_EINTR, "stopped at step %ld of %ld; the checkpoint at step %ld is saved",
                   step, stop, saved);
    else if (step > 0)
      rc = nc_fail(NC_EINTR,
                   "stopped before its first step; the checkpoint at step %ld is as it was", step);
    else
      rc = nc_fail(NC_EINTR,
                   "stopped before the first step; nothing to save (--resume starts over)");
  }
  teardown(&r);
  return rc;
}

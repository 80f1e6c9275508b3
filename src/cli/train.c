/* `ncssl train`: BYOL / SimSiam / DirectPred on a real dataset into a run directory (config.txt,
 * metrics.jsonl, checkpoints), with --config files, --resume, monitors and a progress bar. The
 * loop itself is the library's nc_train_run (train.h). */
#include "ncssl/train.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "ncssl/backend.h"
#include "ncssl/runlog.h"
#include "ncssl/status.h"

/* Every option of a run, in the order config.txt lists them. */
typedef struct {
  const char *method, *arch, *stem, *predictor, *optimizer, *schedule, *target_init, *loss;
  const char *data, *data_dir, *preset, *config, *out, *resume;
  const char *device, *precision;
  long width, proj_hidden, proj_out, pred_hidden, freq, batch, epochs, max_steps, seed, threads,
      loader_threads, subset, monitor_every, checkpoint_every, probe_epochs, knn_k;
  int symmetric, pred_bias, ema_cosine, no_stopgrad, eval_every_epoch;
  double rho, eps, dp_offset, alpha, alpha_p, wd, wd_predictor, lr, momentum, warmup_epochs, ema;
} train_args;

#define N_TRAIN_OPTS 50

static int build_opts(train_args *a, nc_opt *o) {
  int n = 0;
#define OPT(...) o[n++] = (nc_opt){__VA_ARGS__}
  OPT("method", NC_OPT_CHOICE, &a->method, "SSL method", .choices = "byol|simsiam");
  OPT("arch", NC_OPT_CHOICE, &a->arch, "backbone", .choices = "resnet18|resnet34|resnet50");
  OPT("stem", NC_OPT_CHOICE, &a->stem, "ResNet stem", .choices = "cifar|imagenet");
  OPT("width", NC_OPT_INT, &a->width, "base channels (64 = the standard network)",
      NC_RANGE(1, 512));
  OPT("proj-hidden", NC_OPT_INT, &a->proj_hidden, "projector hidden width", NC_RANGE(1, 65536));
  OPT("proj-out", NC_OPT_INT, &a->proj_out, "projector output = predictor width d",
      NC_RANGE(2, 65536));
  OPT("predictor", NC_OPT_CHOICE, &a->predictor, "predictor",
      .choices = "mlp|linear|directpred|directset|directcopy|identity");
  OPT("pred-hidden", NC_OPT_INT, &a->pred_hidden, "mlp predictor hidden width", NC_RANGE(1, 65536));
  OPT("symmetric", NC_OPT_FLAG, &a->symmetric, "linear predictor: W_p <- (W_p + W_p^T)/2 per step");
  OPT("pred-bias", NC_OPT_FLAG, &a->pred_bias, "linear/direct predictors: a trained bias");
  OPT("rho", NC_OPT_DOUBLE, &a->rho, "DirectPred: F moving-average weight rho", NC_PROB);
  OPT("eps", NC_OPT_DOUBLE, &a->eps, "DirectPred: epsilon added to p_j", NC_NONNEG);
  OPT("freq", NC_OPT_INT, &a->freq, "DirectPred: set W_p every FREQ steps", NC_RANGE(1, 1e9));
  OPT("dp-offset", NC_OPT_DOUBLE, &a->dp_offset,
      "DirectPred: p_j = sqrt(max(s_j/s_max - c, 0)) with this c (negative: off)");
  OPT("alpha", NC_OPT_DOUBLE, &a->alpha, "directset: p_j = (s_j/s_max)^alpha + eps", NC_POSITIVE);
  OPT("alpha-p", NC_OPT_DOUBLE, &a->alpha_p, "predictor learning-rate multiplier alpha_p",
      NC_NONNEG);
  OPT("wd", NC_OPT_DOUBLE, &a->wd, "weight decay of the online network", NC_NONNEG);
  OPT("wd-predictor", NC_OPT_DOUBLE, &a->wd_predictor, "weight decay of the predictor", NC_NONNEG);
  OPT("lr", NC_OPT_DOUBLE, &a->lr, "base learning rate", NC_POSITIVE);
  OPT("momentum", NC_OPT_DOUBLE, &a->momentum, "SGD/LARS momentum", NC_RANGE(0, 0.9999));
  OPT("optimizer", NC_OPT_CHOICE, &a->optimizer, "optimizer", .choices = "sgd|lars");
  OPT("schedule", NC_OPT_CHOICE, &a->schedule, "learning-rate schedule",
      .choices = "constant|cosine");
  OPT("warmup-epochs", NC_OPT_DOUBLE, &a->warmup_epochs, "cosine: linear warm-up epochs",
      NC_NONNEG);
  OPT("ema", NC_OPT_DOUBLE, &a->ema, "BYOL target EMA tau", NC_PROB);
  OPT("ema-cosine", NC_OPT_FLAG, &a->ema_cosine, "BYOL's cosine increase of tau to 1");
  OPT("target-init", NC_OPT_CHOICE, &a->target_init, "BYOL target start",
      .choices = "copy|independent");
  OPT("no-stopgrad", NC_OPT_FLAG, &a->no_stopgrad,
      "no stop-gradient (collapse ablation; simsiam only)");
  OPT("loss", NC_OPT_CHOICE, &a->loss, "loss (default: the method's)",
      .choices = "auto|byol|simsiam|mse");
  OPT("batch", NC_OPT_INT, &a->batch, "images per view per step", NC_RANGE(2, 65536));
  OPT("epochs", NC_OPT_INT, &a->epochs, "epochs", NC_RANGE(1, 1e6));
  OPT("max-steps", NC_OPT_INT, &a->max_steps, "stop after this step (0: run all epochs)",
      NC_NONNEG);
  OPT("seed", NC_OPT_INT, &a->seed, "seed (weights, views, order)", NC_NONNEG);
  OPT("threads", NC_OPT_INT, &a->threads, "compute threads (0: the default)", NC_RANGE(0, 1024));
  OPT("loader-threads", NC_OPT_INT, &a->loader_threads, "data-loader threads (0: one per CPU)",
      NC_RANGE(0, 1024));
  OPT("device", NC_OPT_STRING, &a->device, "where to compute: cpu, cuda or cuda:N");
  OPT("precision", NC_OPT_STRING, &a->precision,
      "tf32 (TF32 in convolutions where the device has it), fp32 or bf16");
  OPT("data", NC_OPT_STRING, &a->data,
      "dataset: fashion-mnist, mnist, cifar10, cifar100, stl10, folder:PATH");
  OPT("data-dir", NC_OPT_STRING, &a->data_dir, "dataset directory (empty: the default)");
  OPT("preset", NC_OPT_STRING, &a->preset,
      "augmentations: fashion, cifar, stl10, imagenet (empty: by dataset)");
  OPT("subset", NC_OPT_INT, &a->subset, "use the first N training images (0: all)", NC_NONNEG);
  OPT("monitor-every", NC_OPT_INT, &a->monitor_every,
      "monitor record every N steps too (0: epoch ends only)", NC_NONNEG);
  OPT("checkpoint-every", NC_OPT_INT, &a->checkpoint_every,
      "checkpoint every N steps too (0: epoch ends and the end)", NC_NONNEG);
  OPT("eval-every-epoch", NC_OPT_FLAG, &a->eval_every_epoch,
      "linear probe + kNN on the test split after each epoch");
  OPT("probe-epochs", NC_OPT_INT, &a->probe_epochs, "linear-probe epochs of those evaluations",
      NC_RANGE(1, 10000));
  OPT("knn-k", NC_OPT_INT, &a->knn_k, "kNN neighbours", NC_RANGE(1, 100000));
  OPT("out", NC_OPT_STRING, &a->out, "run directory");
  OPT("config", NC_OPT_STRING, &a->config, "read options from FILE (\"key = value\" lines)");
  OPT("resume", NC_OPT_STRING, &a->resume, "continue the run in RUN_DIR from its checkpoint");
#undef OPT
  return n;
}

static void defaults(train_args *a) {
  memset(a, 0, sizeof *a);
  a->method = "byol", a->arch = "resnet18", a->stem = "cifar", a->predictor = "mlp";
  a->optimizer = "sgd", a->schedule = "constant", a->target_init = "copy", a->loss = "auto";
  a->data = "fashion-mnist", a->data_dir = "", a->preset = "", a->config = "", a->out = "";
  a->resume = "", a->device = "cpu", a->precision = "tf32";
  a->width = 64, a->proj_hidden = 512, a->proj_out = 128, a->pred_hidden = 512, a->freq = 1;
  a->batch = 128, a->epochs = 1, a->probe_epochs = 50, a->knn_k = 200, a->loader_threads = 1;
  a->rho = 0.3, a->eps = 0.1, a->dp_offset = -1, a->alpha = 0.5, a->alpha_p = 1;
  a->wd = 4e-4, a->wd_predictor = 4e-4, a->lr = 0.03, a->momentum = 0.9, a->ema = 0.996;
}

/* Options read from a "key = value" file, turned into "--key value" arguments and parsed by the
 * same table (so a file is checked exactly as the command line is). Options in `skip` are
 * ignored (a run's own config.txt names its --out, which --resume replaces). */
static int parse_file(const nc_cmd_spec *spec, const char *path, const char *skip, nc_config *cp,
                      const char *flag) {
  nc_config c = *cp; /* the option strings point into it: the caller frees it at the end */
  int rc = nc_config_read(&c, path);
  *cp = c;
  if (rc) return nc_cli_error_flag(rc == NC_EFORMAT ? NC_EXIT_USAGE : NC_EXIT_FAIL, flag);
  char **argv = calloc((size_t)2 * c.n + 1, sizeof *argv);
  char *dashes = calloc((size_t)c.n + 1, 100);
  int argc = 0;
  rc = argv && dashes ? -1 : nc_cli_error(NC_EXIT_FAIL, "out of memory");
  for (int i = 0; i < c.n && rc < 0; i++) {
    const char *key = c.items[i].key, *val = c.items[i].value;
    char pat[96];
    snprintf(pat, sizeof pat, "|%s|", key);
    if (skip && strstr(skip, pat)) continue;
    const nc_opt *opt = NULL;
    for (int k = 0; k < spec->nopts; k++)
      if (strcmp(spec->opts[k].name, key) == 0) opt = &spec->opts[k];
    if (!opt || strcmp(key, "config") == 0 || strcmp(key, "resume") == 0) {
      fprintf(stderr, "ncssl: %s: %s: '%s' is not a train option\n", flag, path, key);
      rc = NC_EXIT_USAGE;
      break;
    }
    char *dashed = dashes + (size_t)i * 100;
    snprintf(dashed, 100, "--%s", key);
    if (opt->type == NC_OPT_FLAG) {
      if (strcmp(val, "1") == 0 || strcmp(val, "true") == 0 || strcmp(val, "yes") == 0)
        argv[argc++] = dashed;
      else if (!(strcmp(val, "0") == 0 || strcmp(val, "false") == 0 || strcmp(val, "no") == 0)) {
        fprintf(stderr, "ncssl: %s: %s: %s: expected 0 or 1, got '%s'\n", flag, path, key, val);
        rc = NC_EXIT_USAGE;
      }
    } else if (*val || opt->type != NC_OPT_STRING) { /* an empty string keeps the default */
      argv[argc++] = dashed;
      argv[argc++] = (char *)val;
    }
  }
  if (rc < 0) {
    nc_args args;
    if (nc_args_parse(spec, argc, argv, &args)) {
      fprintf(stderr, "ncssl: %s: %s: %s\n", flag, path, nc_last_error());
      rc = NC_EXIT_USAGE;
    }
  }
  free(argv), free(dashes);
  return rc;
}

/* config.txt: every option's effective value (not --config/--resume, which only say where the
 * values came from). */
static int effective_config(const nc_cmd_spec *spec, nc_config *c) {
  int rc = NC_OK;
  for (int k = 0; k < spec->nopts && !rc; k++) {
    const nc_opt *o = &spec->opts[k];
    if (strcmp(o->name, "config") == 0 || strcmp(o->name, "resume") == 0) continue;
    switch (o->type) {
      case NC_OPT_FLAG:
        rc = nc_config_setf(c, o->name, "%d", *(int *)o->dst);
        break;
      case NC_OPT_INT:
        rc = nc_config_setf(c, o->name, "%ld", *(long *)o->dst);
        break;
      case NC_OPT_DOUBLE:
        rc = nc_config_setf(c, o->name, "%.17g", *(double *)o->dst);
        break;
      default:
        rc = nc_config_set(c, o->name, *(const char **)o->dst);
        break;
    }
  }
  return rc;
}

static int to_ssl_config(const train_args *a, nc_ssl_config *c) {
  *c = nc_ssl_default();
  c->method = strcmp(a->method, "simsiam") == 0 ? NC_SSL_SIMSIAM : NC_SSL_BYOL;
  c->backbone.depth = atoi(a->arch + strlen("resnet"));
  c->backbone.stem = strcmp(a->stem, "imagenet") == 0 ? NC_STEM_IMAGENET : NC_STEM_CIFAR;
  c->backbone.width = (int)a->width;
  c->batch = (int)a->batch;
  c->proj_hidden = (int)a->proj_hidden;
  c->proj_out = (int)a->proj_out;
  if (nc_predictor_parse(a->predictor, &c->predictor)) return NC_EUSAGE;
  nc_predictor_type type = c->predictor.type;
  double alpha = c->predictor.alpha; /* directcopy sets α = 1 */
  c->predictor = nc_predictor_default(type);
  c->predictor.alpha = strcmp(a->predictor, "directset") == 0 ? a->alpha : alpha;
  c->predictor.dim = (int)a->proj_out;
  c->predictor.hidden = (int)a->pred_hidden;
  c->predictor.symmetric = a->symmetric;
  c->predictor.bias = a->pred_bias;
  c->predictor.rho = a->rho;
  c->predictor.eps = a->eps;
  c->predictor.freq = (int)a->freq;
  c->predictor.use_offset = a->dp_offset >= 0;
  c->predictor.offset = a->dp_offset >= 0 ? a->dp_offset : 0;
  c->loss = strcmp(a->loss, "byol") == 0      ? NC_LOSS_BYOL
            : strcmp(a->loss, "simsiam") == 0 ? NC_LOSS_SIMSIAM
            : strcmp(a->loss, "mse") == 0     ? NC_LOSS_SQUARED
            : c->method == NC_SSL_SIMSIAM     ? NC_LOSS_SIMSIAM
                                              : NC_LOSS_BYOL;
  c->stopgrad = !a->no_stopgrad;
  c->ema = a->ema;
  c->ema_cosine = a->ema_cosine;
  c->target_init =
      strcmp(a->target_init, "independent") == 0 ? NC_TARGET_INDEPENDENT : NC_TARGET_COPY;
  c->optim.kind = strcmp(a->optimizer, "lars") == 0 ? NC_OPTIM_LARS : NC_OPTIM_SGD;
  c->optim.momentum = a->momentum;
  c->lr.kind = strcmp(a->schedule, "cosine") == 0 ? NC_SCHED_COSINE : NC_SCHED_CONSTANT;
  c->lr.base = a->lr;
  c->weight_decay = a->wd;
  c->pred_lr_mult = a->alpha_p;
  c->pred_weight_decay = a->wd_predictor;
  c->seed = (uint64_t)a->seed;
  return NC_OK;
}

/* Progress: a live bar on a terminal, plain lines (about ten per epoch) otherwise. */
typedef struct {
  int tty;
  double warmup_s;
} progress_ctx;

static void fmt_time(double s, char *buf, size_t n) {
  if (!isfinite(s) || s < 0) s = 0;
  long t = (long)(s + 0.5);
  if (t >= 3600)
    snprintf(buf, n, "%ldh%02ldm", t / 3600, t / 60 % 60);
  else
    snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
}

static void on_progress(void *vctx, const nc_train_progress *p) {
  progress_ctx *ctx = vctx;
  char eta[32];
  fmt_time(p->eta_s, eta, sizeof eta);
  if (ctx->tty) {
    int width = 24, filled = (int)(width * p->step_in_epoch / (double)p->steps_per_epoch);
    char bar[32];
    for (int i = 0; i < width; i++) bar[i] = i < filled ? '#' : '.';
    bar[width] = 0;
    fprintf(stdout, "\repoch %d/%d [%s] step %ld/%ld  %.1f img/s  loss %.4f  ETA %s   ", p->epoch,
            p->epochs, bar, p->step_in_epoch, p->steps_per_epoch, p->images_per_s, p->loss, eta);
    if (p->step == p->total_steps) fputc('\n', stdout);
    fflush(stdout);
    return;
  }
  long every = p->steps_per_epoch / 10 > 0 ? p->steps_per_epoch / 10 : 1;
  if (p->step_in_epoch % every == 0 || p->step == p->total_steps || p->step == 1) {
    printf("epoch %d/%d step %ld/%ld (global %ld/%ld) loss %.5f lr %.4g %.1f img/s ETA %s\n",
           p->epoch, p->epochs, p->step_in_epoch, p->steps_per_epoch, p->step, p->total_steps,
           p->loss, p->lr, p->images_per_s, eta);
    fflush(stdout);
  }
}

static void on_message(void *vctx, const char *line) {
  progress_ctx *ctx = vctx;
  if (ctx->tty) fputc('\n', stdout);
  fflush(stdout);
  fprintf(strncmp(line, "warning", 7) == 0 ? stderr : stdout, "%s\n", line);
}

int cmd_train(int argc, char **argv) {
  train_args a;
  defaults(&a);
  nc_opt opts[N_TRAIN_OPTS];
  int nopts = build_opts(&a, opts);
  const nc_cmd_spec spec = {
      "train",
      "--out RUN_DIR [--data NAME] [--method byol|simsiam] [--predictor P] [options] | "
      "--resume RUN_DIR",
      "Trains BYOL / SimSiam / DirectPred on a dataset. RUN_DIR gets config.txt (every effective\n"
      "option), metrics.jsonl (per-step loss, lr, images/s; monitors at each epoch end and every\n"
      "--monitor-every steps: F spectrum, effective rank, feature std, W_p alignment/asymmetry,\n"
      "collapse flag; evaluations), checkpoint.safetensors (full state, for --resume) and\n"
      "backbone.safetensors (torchvision names). --config FILE reads the same options as\n"
      "\"key = value\" lines; flags on the command line override them. --resume RUN_DIR reads\n"
      "RUN_DIR/config.txt (flags override, e.g. --epochs) and continues bit-identically.",
      opts,
      nopts,
      0};
  nc_args args;
  int rc = nc_cli_parse(&spec, argc, argv, &args);
  if (rc >= 0) return rc;
  const char *resume = a.resume, *config = a.config;
  nc_config file_cfg = {0};
  if (*resume && *config)
    return nc_cli_error(NC_EXIT_USAGE, "--config: cannot be combined with --resume");
  if (*resume || *config) {
    char path[4096];
    if (*resume) snprintf(path, sizeof path, "%s/config.txt", resume);
    rc = parse_file(&spec, *resume ? path : config, *resume ? "|out|" : NULL, &file_cfg,
                    *resume ? "--resume" : "--config");
    if (rc >= 0) {
      nc_config_free(&file_cfg);
      return rc;
    }
    nc_args_parse(&spec, argc, argv, &args); /* the command line overrides the file */
    if (*resume) a.out = resume;
  }
  if (!*a.out) return nc_cli_error(NC_EXIT_USAGE, "--out: a run directory is required");
  nc_train_opts o = nc_train_default();
  if (to_ssl_config(&a, &o.ssl)) return nc_cli_error(NC_EXIT_USAGE, NULL);
  if (o.ssl.method != NC_SSL_SIMSIAM && a.no_stopgrad)
    return nc_cli_error(NC_EXIT_USAGE, "--no-stopgrad: needs --method simsiam");
  /* the device first: without it nothing is written */
  nc_backend *be = NULL;
  if ((rc = nc_cli_open_backend(a.device, a.precision, &be)) >= 0) {
    nc_config_free(&file_cfg);
    return rc;
  }
  if (a.threads > 0) {
    omp_set_num_threads((int)a.threads);
    openblas_set_num_threads((int)a.threads);
  }
  nc_config cfg = {0};
  if (effective_config(&spec, &cfg)) {
    nc_config_free(&file_cfg);
    nc_backend_close(be);
    return nc_cli_error(NC_EXIT_FAIL, NULL);
  }
  char *text = nc_config_text(&cfg);
  char path[4096];
  snprintf(path, sizeof path, "%s/config.txt", a.out);
  if ((rc = nc_mkdir_p(a.out)) || (rc = nc_config_write(&cfg, path))) {
    free(text), nc_config_free(&cfg), nc_config_free(&file_cfg), nc_backend_close(be);
    return nc_cli_error_flag(NC_EXIT_FAIL, "--out");
  }
  o.data = a.data;
  o.data_dir = a.data_dir;
  o.preset = a.preset;
  o.subset = a.subset;
  o.epochs = (int)a.epochs;
  o.max_steps = a.max_steps;
  o.loader_threads = (int)a.loader_threads;
  o.out = a.out;
  o.resume = *resume != 0;
  o.monitor_every = a.monitor_every;
  o.checkpoint_every = a.checkpoint_every;
  o.eval_every_epoch = a.eval_every_epoch;
  o.probe_epochs = (int)a.probe_epochs;
  o.knn_k = (int)a.knn_k;
  o.warmup_epochs = a.warmup_epochs;
  o.config_text = text;
  o.backend = be;
  progress_ctx ctx = {isatty(STDOUT_FILENO), 0};
  o.on_progress = on_progress;
  o.on_message = on_message;
  o.ctx = &ctx;
  nc_train_result res;
  rc = nc_train_run(&o, &res);
  nc_backend_close(be);
  free(text);
  nc_config_free(&cfg);
  if (rc) {
    nc_config_free(&file_cfg);
    if (ctx.tty) fputc('\n', stdout);
    return nc_cli_error(rc == NC_EINVAL || rc == NC_EUSAGE ? NC_EXIT_USAGE : NC_EXIT_FAIL, NULL);
  }
  printf("done: %ld steps, last loss %.5f, effective rank %.3f, feature std %.4f%s; run in %s\n",
         res.steps, res.last_loss, res.effective_rank, res.feature_std,
         res.collapsed ? " (COLLAPSED)" : "", a.out);
  nc_config_free(&file_cfg);
  return NC_EXIT_OK;
}

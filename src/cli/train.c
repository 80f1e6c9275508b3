/* `ncssl train`: BYOL / SimSiam / DirectPred on a real dataset into a run directory (config.txt,
 * metrics.jsonl, checkpoints), with --config files, --resume, monitors and a progress bar. The
 * loop itself is the library's nc_train_run (train.h). */
#include "ncssl/train.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "ncssl/backend.h"
#include "ncssl/json.h"
#include "ncssl/runlog.h"
#include "ncssl/status.h"
#include "train_prepare.h"

/* Every option of a run, in the order config.txt lists them. */
typedef struct {
  const char *method, *arch, *stem, *predictor, *optimizer, *schedule, *target_init, *loss;
  const char *data, *data_dir, *preset, *config, *out, *resume, *init_from, *dp_offset;
  const char *device, *precision;
  long width, proj_hidden, proj_out, pred_hidden, freq, batch, epochs, max_steps, seed, threads,
      loader_threads, subset, monitor_every, checkpoint_every, probe_epochs, knn_k;
  long image_size, channels, knn_every, knn_bank, knn_queries;
  int symmetric, pred_bias, ema_cosine, no_stopgrad, eval_every_epoch, force;
  int sync_bn, no_sync_bn; /* data-parallel runs (mpirun) */
  long check_sync;
  double rho, eps, ridge, alpha, alpha_p, wd, wd_predictor, lr, momentum, warmup_epochs, ema;
} train_args;

/* Room for every option build_opts declares (it has fewer). */
#define N_TRAIN_OPTS 96

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
      .choices = "mlp|linear|directpred|directset|directcopy|identity|optimal");
  OPT("pred-hidden", NC_OPT_INT, &a->pred_hidden, "mlp predictor hidden width", NC_RANGE(1, 65536));
  OPT("symmetric", NC_OPT_FLAG, &a->symmetric,
      "linear: W_p <- (W_p + W_p^T)/2 per step; mlp: w0 = w1^T = (w0 + w1^T)/2");
  OPT("pred-bias", NC_OPT_FLAG, &a->pred_bias, "linear/direct predictors: a trained bias");
  OPT("rho", NC_OPT_DOUBLE, &a->rho, "DirectPred/optimal: F moving-average weight rho", NC_PROB);
  OPT("eps", NC_OPT_DOUBLE, &a->eps, "DirectPred: epsilon added to p_j", NC_NONNEG);
  OPT("freq", NC_OPT_INT, &a->freq, "DirectPred/optimal: set W_p every FREQ steps",
      NC_RANGE(1, 1e9));
  OPT("dp-offset", NC_OPT_STRING, &a->dp_offset,
      "DirectPred: p_j = sqrt(max(s_j/s_max - c, 1e-4)) with this c, any sign (off: sqrt + eps)");
  OPT("ridge", NC_OPT_DOUBLE, &a->ridge,
      "optimal: W_p = sym(E[f_a f^T]) (F + ridge*s_max*I)^-1, ridge relative to F's top eigenvalue",
      NC_NONNEG);
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
      NC_RANGE(0, 1e6));
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
  OPT("loader-threads", NC_OPT_INT, &a->loader_threads,
      "data-loader threads (0: one per CPU; -1: 1 on the CPU, whose cores the step uses, one per "
      "CPU with --device cuda)",
      NC_RANGE(-1, 1024));
  OPT("device", NC_OPT_STRING, &a->device, "where to compute: cpu, cuda or cuda:N");
  OPT("precision", NC_OPT_STRING, &a->precision,
      "tf32 (faster convolutions: TF32 on a GPU, Winograd on the CPU), fp32, or bf16 (bf16 "
      "convolution inputs: CPUs with AVX512-BF16 / AMX)");
  OPT("data", NC_OPT_STRING, &a->data,
      "dataset: fashion-mnist, mnist, cifar10, cifar100, stl10, folder:PATH");
  OPT("data-dir", NC_OPT_STRING, &a->data_dir, "dataset directory (empty: the default)");
  OPT("preset", NC_OPT_STRING, &a->preset,
      "augmentations: fashion, cifar, stl10, imagenet (empty: by dataset and image size)");
  OPT("image-size", NC_OPT_INT, &a->image_size,
      "folder: images resized to N x N (0: the first image's shorter side)", NC_RANGE(0, 4096));
  OPT("channels", NC_OPT_INT, &a->channels,
      "folder: 1 (grayscale) or 3 channels (0: as the first image)", NC_RANGE(0, 3));
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
  OPT("knn-every", NC_OPT_INT, &a->knn_every,
      "online kNN of held-out test images every N steps (0: off)", NC_NONNEG);
  OPT("knn-bank", NC_OPT_INT, &a->knn_bank, "online kNN: labelled training images (0: all)",
      NC_NONNEG);
  OPT("knn-queries", NC_OPT_INT, &a->knn_queries, "online kNN: test images classified (0: all)",
      NC_NONNEG);
  OPT("sync-bn", NC_OPT_FLAG, &a->sync_bn,
      "mpirun: batch norm over the global batch (the default with more than one rank)");
  OPT("no-sync-bn", NC_OPT_FLAG, &a->no_sync_bn, "mpirun: per-rank batch-norm statistics");
  OPT("check-sync", NC_OPT_INT, &a->check_sync,
      "mpirun: compare a parameter checksum across ranks every N steps (0: off)", NC_NONNEG);
  OPT("out", NC_OPT_STRING, &a->out, "run directory");
  OPT("config", NC_OPT_STRING, &a->config, "read options from FILE (\"key = value\" lines)");
  OPT("resume", NC_OPT_STRING, &a->resume, "continue the run in RUN_DIR from its checkpoint");
  OPT("init-from", NC_OPT_STRING, &a->init_from,
      "start the backbone from a state dict (torchvision names, e.g. backbone.safetensors)");
  OPT("force", NC_OPT_FLAG, &a->force, "--out may hold another run: replace it");
#undef OPT
  return n;
}

static void defaults(train_args *a) {
  memset(a, 0, sizeof *a);
  a->method = "byol", a->arch = "resnet18", a->stem = "cifar", a->predictor = "mlp";
  a->optimizer = "sgd", a->schedule = "constant", a->target_init = "copy", a->loss = "auto";
  a->data = "fashion-mnist", a->data_dir = "", a->preset = "", a->config = "", a->out = "";
  a->resume = "", a->dp_offset = "off", a->ridge = 0.01;
  a->init_from = "";
  a->device = "cpu", a->precision = "tf32";
  a->width = 64, a->proj_hidden = 512, a->proj_out = 128, a->pred_hidden = 512, a->freq = 1;
  a->batch = 128, a->epochs = 1, a->probe_epochs = 50, a->knn_k = 200, a->loader_threads = -1;
  a->knn_bank = 2000, a->knn_queries = 1000;
  a->rho = 0.3, a->eps = 0.1, a->alpha = 0.5, a->alpha_p = 1;
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
    if (!opt || strcmp(key, "config") == 0 || strcmp(key, "resume") == 0 ||
        strcmp(key, "force") == 0) {
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
    if (strcmp(o->name, "config") == 0 || strcmp(o->name, "resume") == 0 ||
        strcmp(o->name, "force") == 0)
      continue;
    switch (o->type) {
      case NC_OPT_FLAG:
        rc = nc_config_setf(c, o->name, "%d", *(int *)o->dst);
        break;
      case NC_OPT_INT:
        rc = nc_config_setf(c, o->name, "%ld", *(long *)o->dst);
        break;
      case NC_OPT_DOUBLE: { /* the shortest string that reads back exactly (0.3, not 0.2999…) */
        char num[40];
        nc_fmt_shortest(num, sizeof num, *(double *)o->dst);
        rc = nc_config_set(c, o->name, num);
        break;
      }
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
  c->predictor.ridge = a->ridge;
  c->predictor.use_offset = strcmp(a->dp_offset, "off") != 0;
  if (c->predictor.use_offset && nc_parse_double("--dp-offset", a->dp_offset, &c->predictor.offset))
    return NC_EUSAGE;
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

/* Options that the chosen method or predictor would ignore are refused, not dropped silently: a
 * value other than the default for an option that does not apply is an error naming it. */
static int refuse_ignored(const train_args *a) {
  const char *p = a->predictor;
  const int mlp = !strcmp(p, "mlp"), linear = !strcmp(p, "linear"), dp = !strcmp(p, "directpred"),
            dset = !strcmp(p, "directset"), dcopy = !strcmp(p, "directcopy"),
            ident = !strcmp(p, "identity"), optimal = !strcmp(p, "optimal");
  const int corr = dp || dset || dcopy || optimal, simsiam = !strcmp(a->method, "simsiam");
  train_args d;
  defaults(&d);
  char msg[256];
  msg[0] = 0;
  if (a->symmetric && !(linear || mlp))
    snprintf(msg, sizeof msg, "--symmetric: applies to --predictor linear or mlp, not %s", p);
  else if (a->pred_bias && !(linear || corr))
    snprintf(msg, sizeof msg, "--pred-bias: the %s predictor has no optional bias", p);
  else if (a->pred_hidden != d.pred_hidden && !mlp)
    snprintf(msg, sizeof msg, "--pred-hidden: applies to --predictor mlp only");
  else if ((a->rho != d.rho || a->freq != d.freq) && !corr)
    snprintf(msg, sizeof msg, "--%s: applies to directpred/directset/directcopy/optimal, not %s",
             a->rho != d.rho ? "rho" : "freq", p);
  else if (a->eps != d.eps && !(dp || dset || dcopy))
    snprintf(msg, sizeof msg, "--eps: applies to directpred/directset/directcopy, not %s", p);
  else if (strcmp(a->dp_offset, "off") && !dp)
    snprintf(msg, sizeof msg, "--dp-offset: applies to --predictor directpred, not %s", p);
  else if (strcmp(a->dp_offset, "off") && a->eps != d.eps)
    snprintf(msg, sizeof msg, "--eps: the --dp-offset form has no epsilon (c is the offset)");
  else if (a->alpha != d.alpha && !dset)
    snprintf(msg, sizeof msg, "--alpha: applies to --predictor directset, not %s", p);
  else if (a->ridge != d.ridge && !optimal)
    snprintf(msg, sizeof msg, "--ridge: applies to --predictor optimal, not %s", p);
  else if ((a->alpha_p != d.alpha_p || a->wd_predictor != d.wd_predictor) && ident)
    snprintf(msg, sizeof msg, "--%s: the identity predictor has no parameters",
             a->alpha_p != d.alpha_p ? "alpha-p" : "wd-predictor");
  else if (simsiam && (a->ema != d.ema || a->ema_cosine || strcmp(a->target_init, "copy")))
    snprintf(msg, sizeof msg, "--%s: SimSiam has no EMA target",
             a->ema != d.ema ? "ema"
             : a->ema_cosine ? "ema-cosine"
                             : "target-init");
  else if (a->warmup_epochs != d.warmup_epochs && strcmp(a->schedule, "cosine"))
    snprintf(msg, sizeof msg, "--warmup-epochs: applies to --schedule cosine only");
  return msg[0] ? nc_cli_error(NC_EXIT_USAGE, msg) : -1;
}

/* --loader-threads -1 (the default): a CPU step keeps the cores for itself, a GPU step is fed by
 * all of them. config.txt records the count chosen. */
static void resolve_loader_threads(train_args *a) {
  if (a->loader_threads < 0) a->loader_threads = strncmp(a->device, "cuda", 4) == 0 ? 0 : 1;
}

/* For `ncssl reproduce` (train_prepare.h): the same table, defaults and refusals as cmd_train. */
int nc_train_cli_prepare(int argc, char **argv, nc_train_opts *o, char **config_text) {
  train_args a;
  defaults(&a);
  nc_opt opts[N_TRAIN_OPTS];
  int nopts = build_opts(&a, opts);
  const nc_cmd_spec spec = {"train", "", "", opts, nopts, 0};
  nc_args args;
  *config_text = NULL;
  if (nc_args_parse(&spec, argc, argv, &args)) return nc_cli_error(NC_EXIT_USAGE, NULL);
  if (*a.resume || *a.config)
    return nc_cli_error(NC_EXIT_USAGE, "reproduce: rows cannot use --resume or --config");
  if (!*a.out) return nc_cli_error(NC_EXIT_USAGE, "--out: a run directory is required");
  resolve_loader_threads(&a);
  *o = nc_train_default();
  if (to_ssl_config(&a, &o->ssl)) return nc_cli_error(NC_EXIT_USAGE, NULL);
  if (o->ssl.method != NC_SSL_SIMSIAM && a.no_stopgrad)
    return nc_cli_error(NC_EXIT_USAGE, "--no-stopgrad: needs --method simsiam");
  int rc = refuse_ignored(&a);
  if (rc >= 0) return rc;
  nc_config cfg = {0};
  if (effective_config(&spec, &cfg)) return nc_cli_error(NC_EXIT_FAIL, NULL);
  *config_text = nc_config_text(&cfg);
  nc_config_free(&cfg);
  o->data = a.data, o->data_dir = a.data_dir, o->preset = a.preset, o->subset = a.subset;
  o->epochs = (int)a.epochs, o->max_steps = a.max_steps, o->out = a.out;
  o->loader_threads = (int)a.loader_threads, o->monitor_every = a.monitor_every;
  o->checkpoint_every = a.checkpoint_every, o->eval_every_epoch = a.eval_every_epoch;
  o->probe_epochs = (int)a.probe_epochs, o->knn_k = (int)a.knn_k;
  o->warmup_epochs = a.warmup_epochs, o->config_text = *config_text;
  if (a.threads > 0) {
    omp_set_num_threads((int)a.threads);
    openblas_set_num_threads((int)a.threads);
  }
  return -1;
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

int nc_cli_train_defaults(nc_config *c) {
  train_args a;
  defaults(&a);
  nc_opt opts[N_TRAIN_OPTS];
  const nc_cmd_spec spec = {"train", "", "", opts, build_opts(&a, opts), 0};
  return effective_config(&spec, c);
}

/* Ranks other than 0 parse with stderr sent to /dev/null (the same command line fails alike on
 * every rank: rank 0 reports it); it is restored before the run, whose failures may be one
 * rank's own. */
static int saved_stderr = -1;
static int reached_run; /* train_main got as far as nc_train_run */

static void quiet_stderr(void) {
  fflush(stderr);
  saved_stderr = dup(STDERR_FILENO);
  if (saved_stderr >= 0 && !freopen("/dev/null", "w", stderr)) {
    close(saved_stderr);
    saved_stderr = -1;
  }
}

static void restore_stderr(void) {
  if (saved_stderr < 0) return;
  fflush(stderr);
  dup2(saved_stderr, STDERR_FILENO);
  close(saved_stderr);
  saved_stderr = -1;
}

/* The training command proper; comm is this process's communicator (single without mpirun). */
static int train_main(int argc, char **argv, nc_comm *comm) {
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
  if (*resume && a.force)
    return nc_cli_error(NC_EXIT_USAGE,
                        "--force: cannot be combined with --resume (--resume continues the run, "
                        "--force replaces it)");
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
  resolve_loader_threads(&a);
  if ((a.image_size || a.channels) && strncmp(a.data, "folder:", 7) != 0)
    return nc_cli_error(NC_EXIT_USAGE, "--image-size/--channels: only for --data folder:PATH");
  const int n_ranks = nc_comm_size(comm), root = nc_comm_rank(comm) == 0;
  if (a.sync_bn && a.no_sync_bn)
    return nc_cli_error(NC_EXIT_USAGE, "--no-sync-bn: cannot be combined with --sync-bn");
  if (a.batch % n_ranks != 0 || a.batch / n_ranks < 2) {
    char msg[160];
    snprintf(msg, sizeof msg,
             "--batch: the global batch %ld does not split into %d slices of 2 or more images "
             "(one per rank)",
             a.batch, n_ranks);
    return nc_cli_error(NC_EXIT_USAGE, msg);
  }
  nc_train_opts o = nc_train_default();
  if (to_ssl_config(&a, &o.ssl)) return nc_cli_error(NC_EXIT_USAGE, NULL);
  if (o.ssl.method != NC_SSL_SIMSIAM && a.no_stopgrad)
    return nc_cli_error(NC_EXIT_USAGE, "--no-stopgrad: needs --method simsiam");
  if ((rc = nc_cli_check_threads("--threads", a.threads)) >= 0 ||
      (rc = nc_cli_check_threads("--loader-threads", a.loader_threads)) >= 0) {
    nc_config_free(&file_cfg);
    return rc;
  }
  if ((rc = refuse_ignored(&a)) >= 0) {
    nc_config_free(&file_cfg);
    return rc;
  }
  /* the device next: without it nothing is written */
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
  /* config.txt is written by the run once everything (data, checkpoint) has been validated, so
   * a refused --resume leaves the run directory as it was. */
  char *text = nc_config_text(&cfg);
  if (!text) {
    nc_config_free(&cfg), nc_config_free(&file_cfg), nc_backend_close(be);
    return nc_cli_error(NC_EXIT_FAIL, "out of memory");
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
  o.force = a.force;
  o.monitor_every = a.monitor_every;
  o.checkpoint_every = a.checkpoint_every;
  o.eval_every_epoch = a.eval_every_epoch;
  o.probe_epochs = (int)a.probe_epochs;
  o.knn_k = (int)a.knn_k;
  o.warmup_epochs = a.warmup_epochs;
  o.config_text = text;
  o.init_from = a.init_from;
  o.image_size = (int)a.image_size;
  o.knn_every = a.knn_every;
  o.knn_bank = (int)a.knn_bank;
  o.knn_queries = (int)a.knn_queries;
  o.channels = (int)a.channels;
  o.comm = comm;
  o.sync_bn = !a.no_sync_bn; /* on by default; it only matters with more than one rank */
  o.check_sync = a.check_sync;
  o.backend = be;
  progress_ctx ctx = {isatty(STDOUT_FILENO), 0};
  nc_cli_catch_stop_signals(ctx.tty);
  o.stop = nc_cli_stop_flag();
  o.on_progress = on_progress;
  o.on_message = on_message;
  o.ctx = &ctx;
  nc_train_result res;
  restore_stderr();
  reached_run = 1;
  rc = nc_train_run(&o, &res);
  nc_backend_close(be);
  free(text);
  nc_config_free(&cfg);
  if (rc) {
    nc_config_free(&file_cfg);
    int code = rc == NC_EINVAL || rc == NC_EUSAGE ? NC_EXIT_USAGE : NC_EXIT_FAIL;
    if (ctx.tty && root) fputc('\n', stdout);
    fflush(stdout);
    /* one message per job: the rank whose failure stopped it, or rank 0 when all failed alike */
    int speaker = res.failed_rank >= 0 ? res.failed_rank : 0;
    int sig = *o.stop ? (int)*o.stop : SIGTERM; /* (another rank may have been the one asked) */
    if (nc_comm_rank(comm) != speaker) return rc == NC_EINTR ? 128 + sig : code;
    if (rc == NC_EINTR) { /* stopped by a signal: say how to go on, exit 128 + the signal */
      fprintf(stderr, "ncssl: %s: %s; continue with: ncssl train --resume %s\n",
              sig == SIGTERM ? "SIGTERM" : "SIGINT", nc_last_error(), a.out);
      return 128 + sig;
    }
    if (n_ranks > 1) {
      char msg[1024];
      snprintf(msg, sizeof msg, "rank %d of %d: %s", nc_comm_rank(comm), n_ranks, nc_last_error());
      return nc_cli_error(code, msg);
    }
    return nc_cli_error(code, NULL);
  }
  if (!root) {
    nc_config_free(&file_cfg);
    return NC_EXIT_OK;
  }
  if (res.already_finished) {
    printf("already finished at step %ld (raise --epochs or --max-steps to go on); run in %s\n",
           res.steps, a.out);
    nc_config_free(&file_cfg);
    return NC_EXIT_OK;
  }
  if (n_ranks > 1 && res.steps_run > 0) { /* what data parallelism cost (docs/distributed.md) */
    long calls;
    double bytes, seconds;
    nc_comm_stats(comm, &calls, &bytes, &seconds);
    printf("%d ranks (%s): per step %.0f all-reduce calls, %.3f MB, %.1f ms inside them\n", n_ranks,
           nc_comm_kind(comm), (double)calls / res.steps_run, bytes / res.steps_run / 1e6,
           1e3 * seconds / res.steps_run);
  }
  if (res.steps_run > 1 && res.input_seconds > 0) {
    /* whether the loader kept up: a step that waits for its batch idles the device */
    double share = res.input_wait_seconds / res.input_seconds;
    printf("input: the steps waited %.2f s of %.1f s for the loader (%.1f%%)%s\n",
           res.input_wait_seconds, res.input_seconds, 100 * share,
           share > 0.05 ? "; the loader is behind: raise --loader-threads" : "");
  }
  if (res.sync_checks > 0)
    printf("--check-sync: the replicas were compared %ld times and were identical\n",
           res.sync_checks);
  printf("done: %ld steps, last loss %.5f, effective rank %.3f, feature std %.4f%s; run in %s\n",
         res.steps, res.last_loss, res.effective_rank, res.feature_std,
         res.collapsed ? " (COLLAPSED)" : "", a.out);
  nc_config_free(&file_cfg);
  return NC_EXIT_OK;
}

int cmd_train(int argc, char **argv) {
  nc_comm *comm = nc_comm_open(NULL, NULL);
  if (nc_comm_rank(comm) != 0) quiet_stderr();
  int code = train_main(argc, argv, comm);
  nc_cli_run_finished();
  restore_stderr();
  /* A rank that stopped before the run (a config file one node lacks, a run directory rank 0
   * cannot write) still answers the run's first agreement, so the others stop instead of
   * waiting for it forever. */
  if (!reached_run && code != NC_EXIT_OK && nc_comm_size(comm) > 1)
    nc_comm_agree(comm, code == NC_EXIT_USAGE ? NC_EUSAGE : NC_EIO, NULL);
  nc_comm_close(comm);
  return code;
}

/* `ncssl eval CKPT --data NAME`: linear probe and kNN of a frozen backbone (trained, or the
 * random-init floor of the same architecture). */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "ncssl/backend.h"
#include "ncssl/json.h"
#include "ncssl/runlog.h"
#include "ncssl/status.h"
#include "ncssl/train.h"

/* A run directory's backbone.safetensors (or checkpoint.safetensors), or the file itself. */
static void resolve_checkpoint(const char *arg, char *path, size_t n) {
  struct stat st;
  if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode)) {
    snprintf(path, n, "%s/backbone.safetensors", arg);
    if (stat(path, &st) != 0) snprintf(path, n, "%s/checkpoint.safetensors", arg);
  } else {
    snprintf(path, n, "%s", arg);
  }
}

/* Appends the result as an "eval" record to RUN_DIR/metrics.jsonl, at the step and epoch of the
 * run's last record, so `ncssl report` shows it beside the training curves. */
static int log_eval(const char *run_dir, const nc_probe_result *probe, double knn) {
  char path[4096];
  snprintf(path, sizeof path, "%s/metrics.jsonl", run_dir);
  nc_metrics_log log = {0};
  int rc = nc_metrics_read(path, &log);
  double step = 0, epoch = 0;
  for (int i = 0; rc == NC_OK && i < log.n; i++) {
    nc_metric_num(&log.records[i], "step", &step);
    nc_metric_num(&log.records[i], "epoch", &epoch);
  }
  nc_metrics_log_free(&log);
  nc_metrics *m = NULL;
  if (rc == NC_OK) rc = nc_metrics_open(&m, path, 1);
  if (rc == NC_OK) rc = nc_metrics_eval(m, (long)step, (int)epoch, probe, knn);
  nc_metrics_close(m);
  return rc;
}

int cmd_eval(int argc, char **argv) {
  const char *data = "fashion-mnist", *data_dir = "", *preset = "", *arch = "resnet18",
             *stem = "cifar";
  long width = 64, in_channels = 0, probe_epochs = 50, knn_k = 200, seed = 0, subset = 0,
       test_subset = 0, threads = 0, batch = 256;
  int random_init = 0, json = 0, log = 0;
  const char *device = "cpu", *precision = "tf32";
  const nc_opt opts[] = {
      {"data", NC_OPT_STRING, &data,
       "dataset: fashion-mnist, mnist, cifar10, cifar100, stl10, folder:PATH"},
      {"data-dir", NC_OPT_STRING, &data_dir, "dataset directory (empty: the default)"},
      {"preset", NC_OPT_STRING, &preset, "preset whose size/normalisation to use (empty: by data)"},
      {"random-init", NC_OPT_FLAG, &random_init,
       "evaluate the untrained network (architecture from CKPT if given, else the flags)"},
      {"arch", NC_OPT_CHOICE, &arch, "backbone for --random-init without CKPT",
       .choices = "resnet18|resnet34|resnet50"},
      {"stem", NC_OPT_CHOICE, &stem, "stem for --random-init without CKPT",
       .choices = "cifar|imagenet"},
      {"width", NC_OPT_INT, &width, "width for --random-init without CKPT", NC_RANGE(1, 512)},
      {"in-channels", NC_OPT_INT, &in_channels, "input channels (0: the dataset's)",
       NC_RANGE(0, 3)},
      {"seed", NC_OPT_INT, &seed, "seed of --random-init (as train's) and of the probe", NC_NONNEG},
      {"probe-epochs", NC_OPT_INT, &probe_epochs, "linear-probe epochs", NC_RANGE(1, 10000)},
      {"knn-k", NC_OPT_INT, &knn_k, "kNN neighbours", NC_RANGE(1, 100000)},
      {"subset", NC_OPT_INT, &subset, "use the first N training images (0: all)", NC_NONNEG},
      {"test-subset", NC_OPT_INT, &test_subset, "use the first N test images (0: all)", NC_NONNEG},
      {"batch", NC_OPT_INT, &batch, "images per forward", NC_RANGE(1, 65536)},
      {"threads", NC_OPT_INT, &threads, "compute threads (0: the default)", NC_RANGE(0, 1024)},
      {"device", NC_OPT_STRING, &device, "where the backbone runs: cpu, cuda or cuda:N"},
      {"precision", NC_OPT_STRING, &precision, "tf32, fp32 or bf16 (see train)"},
      {"json", NC_OPT_FLAG, &json, "print JSON"},
      {"log", NC_OPT_FLAG, &log,
       "append the result as an eval record to RUN_DIR/metrics.jsonl (for `ncssl report`)"},
  };
  const nc_cmd_spec spec = {
      "eval",
      "[CKPT|RUN_DIR] --data NAME [--random-init] [--probe-epochs 50] [--knn-k 200] [--json]\n"
      "       [--log]",
      "Features of the backbone (no projector, eval-mode batch norm) on un-augmented train and\n"
      "test images; a linear probe as the paper's code (standardised, Adam 3e-4, wd 1e-3, batch\n"
      "128; final and best test top-1) and kNN (cosine, k 200, T 0.1). --random-init gives the\n"
      "untrained floor of the same architecture, initialised as `ncssl train --seed` does.",
      opts,
      sizeof opts / sizeof opts[0],
      1};
  nc_args args;
  int rc = nc_cli_parse(&spec, argc, argv, &args);
  if (rc >= 0) return rc;
  if (args.npositional == 0 && !random_init)
    return nc_cli_error(NC_EXIT_USAGE, "missing CKPT (a checkpoint or run directory)");
  struct stat st;
  if (log && (random_init || args.npositional == 0 || stat(args.positional[0], &st) != 0 ||
              !S_ISDIR(st.st_mode)))
    return nc_cli_error(NC_EXIT_USAGE, "--log: needs a run directory (and no --random-init)");
  nc_backend *be = NULL;
  if ((rc = nc_cli_open_backend(device, precision, &be)) >= 0) return rc;
  if (threads > 0) {
    omp_set_num_threads((int)threads);
    openblas_set_num_threads((int)threads);
  }
  char path[4096] = "";
  nc_resnet_cfg rc_cfg = {atoi(arch + 6),
                          strcmp(stem, "imagenet") == 0 ? NC_STEM_IMAGENET : NC_STEM_CIFAR,
                          (int)in_channels, (int)width};
  if (args.npositional) {
    resolve_checkpoint(args.positional[0], path, sizeof path);
    if ((rc = nc_train_read_arch(path, &rc_cfg, NULL, NULL))) {
      nc_backend_close(be);
      return nc_cli_error(nc_cli_exit_code(rc) == 2 ? 1 : nc_cli_exit_code(rc), NULL);
    }
  }
  nc_data_opts dopts = {0};
  dopts.dir = data_dir;
  nc_dataset train = {0}, test = {0};
  if ((rc = nc_dataset_load(data, "train", &dopts, &train)) ||
      (rc = nc_dataset_load(data, "test", &dopts, &test))) {
    nc_dataset_free(&train);
    nc_backend_close(be);
    return nc_cli_error_flag(NC_EXIT_FAIL, "--data");
  }
  if (subset > 0 && subset < train.n) train.n = (int)subset;
  if (test_subset > 0 && test_subset < test.n) test.n = (int)test_subset;
  nc_aug_preset aug;
  if (nc_aug_preset_get(*preset ? preset : nc_train_default_preset(data), 0, &aug)) {
    nc_dataset_free(&train), nc_dataset_free(&test);
    nc_backend_close(be);
    return nc_cli_error_flag(NC_EXIT_USAGE, "--preset");
  }
  if (rc_cfg.in_channels == 0) rc_cfg.in_channels = train.c;
  nc_net *net = NULL;
  int exit_code = NC_EXIT_OK;
  if (rc_cfg.in_channels != train.c) {
    fprintf(stderr, "ncssl: the network takes %d input channels, %s has %d\n", rc_cfg.in_channels,
            train.name, train.c);
    exit_code = NC_EXIT_USAGE;
  } else if ((rc = nc_resnet_build_on(be, &net, &rc_cfg, aug.view[0].size, aug.view[0].size,
                                      (int)batch, 1, 0, NULL))) {
    exit_code = nc_cli_error(nc_cli_exit_code(rc), NULL);
  } else if (random_init) {
    nc_rng root, r; /* the stream nc_ssl_create initialises the online network from */
    nc_rng_seed(&root, (uint64_t)seed);
    r = nc_rng_split(&root, 1);
    nc_net_init(net, &r);
  } else if ((rc = nc_train_load_backbone(net, path))) {
    exit_code = nc_cli_error(NC_EXIT_FAIL, NULL);
  }
  nc_probe_result probe = {0};
  double knn = 0;
  if (exit_code == NC_EXIT_OK) {
    nc_probe_config pc = nc_probe_default();
    pc.epochs = (int)probe_epochs;
    pc.seed = (uint64_t)seed;
    nc_knn_config kc = nc_knn_default();
    kc.k = (int)knn_k;
    if ((rc = nc_train_evaluate(net, &train, &test, &aug.view[0], &pc, &kc, &probe, &knn)))
      exit_code = nc_cli_error(nc_cli_exit_code(rc) == 2 ? 1 : nc_cli_exit_code(rc), NULL);
  }
  if (exit_code == NC_EXIT_OK && log && log_eval(args.positional[0], &probe, knn))
    exit_code = nc_cli_error_flag(NC_EXIT_FAIL, "--log");
  if (exit_code == NC_EXIT_OK) {
    const char *what = random_init ? "random-init" : path;
    if (json) {
      printf("{\"checkpoint\": ");
      nc_json_str(stdout, what);
      printf(
          ", \"random_init\": %s, \"arch\": \"resnet%d\", \"stem\": \"%s\", \"width\": %d, "
          "\"in_channels\": %d, \"data\": ",
          random_init ? "true" : "false", rc_cfg.depth,
          rc_cfg.stem == NC_STEM_IMAGENET ? "imagenet" : "cifar", rc_cfg.width, rc_cfg.in_channels);
      nc_json_str(stdout, data);
      printf(
          ", \"n_train\": %d, \"n_test\": %d, \"dim\": %d, \"probe_epochs\": %d, "
          "\"probe_top1\": ",
          train.n, test.n, nc_net_out_dim(net), probe.epochs);
      nc_json_num(stdout, probe.final_top1);
      nc_json_field(stdout, "probe_best_top1", probe.best_top1);
      printf(", \"probe_best_epoch\": %d, \"knn_k\": %ld, \"knn_top1\": ", probe.best_epoch, knn_k);
      nc_json_num(stdout, knn);
      printf("}\n");
    } else {
      printf("backbone   %s (resnet%d, %s stem, width %d, %d input channel%s)\n", what,
             rc_cfg.depth, rc_cfg.stem == NC_STEM_IMAGENET ? "imagenet" : "cifar", rc_cfg.width,
             rc_cfg.in_channels, rc_cfg.in_channels > 1 ? "s" : "");
      printf("features   %d per image, %d train / %d test images of %s\n", nc_net_out_dim(net),
             train.n, test.n, data);
      printf("linear probe (%d epochs): final %.2f%%, best %.2f%% (epoch %d)\n", probe.epochs,
             100 * probe.final_top1, 100 * probe.best_top1, probe.best_epoch);
      printf("kNN (k %ld, cosine, T 0.1): %.2f%%\n", knn_k, 100 * knn);
    }
  }
  nc_probe_result_free(&probe);
  nc_net_free(net);
  nc_backend_close(be);
  nc_dataset_free(&train), nc_dataset_free(&test);
  return exit_code;
}

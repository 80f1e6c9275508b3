/* `ncssl eval CKPT --data NAME`: linear probe and kNN of a frozen backbone (trained, or the
 * random-init floor of the same architecture). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "frozen.h"
#include "ncssl/json.h"
#include "ncssl/runlog.h"
#include "ncssl/status.h"
#include "ncssl/train.h"

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

/* The command proper; comm: the ranks under mpirun (the features sharded over them, the probe
 * and kNN on rank 0, which alone prints and logs), else one process. */
static int eval_main(int argc, char **argv, nc_comm *comm) {
  frozen_args a;
  frozen_defaults(&a);
  long probe_epochs = 50, knn_k = 200, subset = 0, test_subset = 0;
  int json = 0, log = 0;
  nc_opt opts[32];
  int nopts = frozen_opts(&a, opts, 1);
  const nc_opt own[] = {
      {"probe-epochs", NC_OPT_INT, &probe_epochs, "linear-probe epochs", NC_RANGE(1, 10000)},
      {"knn-k", NC_OPT_INT, &knn_k, "kNN neighbours", NC_RANGE(1, 100000)},
      {"subset", NC_OPT_INT, &subset, "use the first N training images (0: all)", NC_NONNEG},
      {"test-subset", NC_OPT_INT, &test_subset, "use the first N test images (0: all)", NC_NONNEG},
      {"json", NC_OPT_FLAG, &json, "print JSON"},
      {"log", NC_OPT_FLAG, &log,
       "append the result as an eval record to RUN_DIR/metrics.jsonl (for `ncssl report`)"},
  };
  for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) opts[nopts++] = own[i];
  const nc_cmd_spec spec = {
      "eval",
      "[CKPT|RUN_DIR] --data NAME [--random-init] [--probe-epochs 50] [--knn-k 200] [--json]\n"
      "       [--log]",
      "Features of the backbone (no projector, eval-mode batch norm) on un-augmented train and\n"
      "test images; a linear probe as the paper's code (standardised, Adam 3e-4, wd 1e-3, batch\n"
      "128; final and best test top-1) and kNN (cosine, k 200, T 0.1). --random-init gives the\n"
      "untrained floor of the same architecture, initialised as `ncssl train --seed` does. CKPT\n"
      "may be a torchvision-named state dict without metadata: then --arch, --stem and --width\n"
      "say what it is. Under mpirun the ranks share the feature passes (the same results).",
      opts,
      nopts,
      1};
  nc_args args;
  int rc = nc_cli_parse(&spec, argc, argv, &args);
  if (rc >= 0) return rc;
  const int random_init = a.random_init;
  if (args.npositional == 0 && !random_init)
    return nc_cli_error(NC_EXIT_USAGE, "missing CKPT (a checkpoint or run directory)");
  struct stat st;
  if (log && (random_init || args.npositional == 0 || stat(args.positional[0], &st) != 0 ||
              !S_ISDIR(st.st_mode)))
    return nc_cli_error(NC_EXIT_USAGE, "--log: needs a run directory (and no --random-init)");
  frozen_quit_on_signals(comm);
  nc_dataset train = {0}, test = {0};
  int exit_code = frozen_check(args.npositional ? args.positional[0] : NULL);
  if (!exit_code) exit_code = frozen_load_data(&a, "train", subset, &train);
  if (!exit_code) exit_code = frozen_load_data(&a, "test", test_subset, &test);
  frozen fz = {0};
  if (!exit_code)
    exit_code =
        frozen_open(&a, &spec, &args, args.npositional ? args.positional[0] : NULL, &train, &fz);
  exit_code = frozen_agree(comm, exit_code);
  nc_net *net = fz.net;
  const char *path = fz.path, *data = a.data;
  const nc_resnet_cfg rc_cfg = fz.cfg;
  nc_probe_result probe = {0};
  double knn = 0;
  const int root = nc_comm_rank(comm) == 0;
  if (exit_code == NC_EXIT_OK) {
    nc_probe_config pc = nc_probe_default();
    pc.epochs = (int)probe_epochs;
    pc.seed = (uint64_t)a.seed;
    nc_knn_config kc = nc_knn_default();
    kc.k = (int)knn_k;
    frozen_progress prog;
    frozen_progress_init(&prog);
    prog.tty = prog.tty && root;
    int failed = -1;
    rc = nc_train_evaluate_shard(net, &train, &test, &fz.aug.view[0], &pc, &kc, comm, &probe, &knn,
                                 &failed, frozen_progress_fn, &prog);
    frozen_progress_done(&prog);
    if (rc)
      exit_code = frozen_error(comm, failed, nc_cli_exit_code(rc) == 2 ? 1 : nc_cli_exit_code(rc));
  }
  if (!root) { /* its features are on rank 0, which reports */
    nc_probe_result_free(&probe);
    frozen_close(&fz);
    nc_dataset_free(&train), nc_dataset_free(&test);
    return exit_code;
  }
  nc_cli_critical(1); /* a first signal lets the record be appended whole */
  if (exit_code == NC_EXIT_OK && log && log_eval(args.positional[0], &probe, knn))
    exit_code = nc_cli_error_flag(NC_EXIT_FAIL, "--log");
  nc_cli_critical(0);
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
  frozen_close(&fz);
  nc_dataset_free(&train), nc_dataset_free(&test);
  return exit_code;
}

int cmd_eval(int argc, char **argv) {
  nc_comm *comm = nc_comm_open(NULL, NULL);
  frozen_hold_output(comm);
  return frozen_finish(comm, eval_main(argc, argv, comm));
}

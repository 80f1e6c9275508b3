/* `ncssl embed CKPT --data NAME --out FILE`: the backbone's features (eval mode, un-augmented
 * images with the preset's size and normalisation, exactly as `eval` computes them) and labels of
 * one split, written for analysis in other tools: safetensors (`features` [N, d] F32, `labels`
 * [N] I64) or, for FILE.npy, NumPy arrays FILE.npy (features) and FILE.labels.npy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "frozen.h"
#include "ncssl/checkpoint.h"
#include "ncssl/json.h"
#include "ncssl/npy.h"
#include "ncssl/status.h"

static int ends_with(const char *s, const char *tail) {
  size_t n = strlen(s), m = strlen(tail);
  return n > m && strcmp(s + n - m, tail) == 0;
}

/* FILE.npy -> FILE.labels.npy */
static void labels_path(const char *out, char *buf, size_t n) {
  snprintf(buf, n, "%.*s.labels.npy", (int)(strlen(out) - 4), out);
}

static int write_safetensors(const char *out, const float *f, const int64_t *y, int n, int dim,
                             const char *ckpt, const char *data_name, const char *arch) {
  nc_st_writer *w = NULL;
  int rc = nc_st_writer_create(&w);
  int64_t fshape[2] = {n, dim}, yshape[1] = {n};
  if (!rc) rc = nc_st_add(w, "features", NC_ST_F32, 2, fshape, f);
  if (!rc) rc = nc_st_add(w, "labels", NC_ST_I64, 1, yshape, y);
  if (!rc) rc = nc_st_set_meta(w, "checkpoint", ckpt);
  if (!rc) rc = nc_st_set_meta(w, "data", data_name);
  if (!rc) rc = nc_st_set_meta(w, "arch", arch);
  if (!rc) rc = nc_st_write(w, out);
  nc_st_writer_free(w);
  return rc;
}

static int write_npy(const char *out, const float *f, const int64_t *y, int n, int dim) {
  char lpath[4200];
  labels_path(out, lpath, sizeof lpath);
  int64_t fshape[2] = {n, dim}, yshape[1] = {n};
  int rc = nc_npy_write(lpath, NC_ST_I64, 1, yshape, y);
  if (!rc) {
    rc = nc_npy_write(out, NC_ST_F32, 2, fshape, f);
    if (rc) unlink(lpath); /* both files or neither */
  }
  return rc;
}

/* The command proper; comm: the ranks under mpirun (each computes its share of the features,
 * gathered to rank 0, which alone writes and prints), else one process. */
static int embed_main(int argc, char **argv, nc_comm *comm) {
  frozen_args a;
  frozen_defaults(&a);
  const char *split = "test", *out = "";
  long subset = 0;
  int json = 0;
  nc_opt opts[32];
  int nopts = frozen_opts(&a, opts, 0);
  const nc_opt own[] = {
      {"split", NC_OPT_CHOICE, &split, "which images", .choices = "train|test"},
      {"subset", NC_OPT_INT, &subset, "only the first N images of the split (0: all)", NC_NONNEG},
      {"out", NC_OPT_STRING, &out, "FILE.safetensors, or FILE.npy (+ FILE.labels.npy)"},
      {"json", NC_OPT_FLAG, &json, "print a JSON summary"},
  };
  for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) opts[nopts++] = own[i];
  const nc_cmd_spec spec = {
      "embed",
      "CKPT|RUN_DIR --data NAME [--split train|test] --out FILE.safetensors|FILE.npy",
      "Features of a frozen backbone (no projector, eval-mode batch norm) on the un-augmented\n"
      "images of one split, with the same size and normalisation as `ncssl eval`, and their\n"
      "labels (-1: none). FILE.safetensors holds `features` [N, d] float32 and `labels` [N]\n"
      "int64; FILE.npy gets the features and FILE.labels.npy the labels (numpy.load reads both).\n"
      "CKPT may be a torchvision-named state dict without metadata: then --arch, --stem and\n"
      "--width say what it is. Under mpirun the ranks share the images (the same file).",
      opts,
      nopts,
      1};
  nc_args args;
  int rc = nc_cli_parse(&spec, argc, argv, &args);
  if (rc >= 0) return rc;
  if (args.npositional == 0)
    return nc_cli_error(NC_EXIT_USAGE,
                        "missing CKPT (a checkpoint, backbone file or run directory)");
  if (!*out) return nc_cli_error(NC_EXIT_USAGE, "--out: an output file is required");
  const int npy = ends_with(out, ".npy");
  if (!npy && !ends_with(out, ".safetensors"))
    return nc_cli_error(NC_EXIT_USAGE, "--out: the file name must end in .safetensors or .npy");
  frozen_quit_on_signals(comm); /* a signal before the write: exit at once, nothing written */
  nc_dataset d = {0};
  frozen fz = {0};
  int exit_code = frozen_check(args.positional[0]);
  if (!exit_code) exit_code = frozen_load_data(&a, split, subset, &d);
  if (!exit_code) exit_code = frozen_open(&a, &spec, &args, args.positional[0], &d, &fz);
  const int dim = fz.net ? nc_net_out_dim(fz.net) : 0, root = nc_comm_rank(comm) == 0;
  float *f = NULL;
  int64_t *y = NULL;
  if (!exit_code) { /* rank 0 gathers all the rows, the others hold their share */
    int lo, hi;
    nc_train_shard(d.n, nc_net_batch(fz.net), nc_comm_rank(comm), nc_comm_size(comm), &lo, &hi);
    size_t rows = root ? (size_t)d.n : (size_t)(hi - lo);
    f = malloc((rows ? rows : 1) * dim * sizeof(float));
    y = malloc((root ? (size_t)d.n + 1 : 1) * sizeof(int64_t));
    if (!f || !y) exit_code = nc_cli_error(NC_EXIT_FAIL, "out of memory");
  }
  exit_code = frozen_agree(comm, exit_code);
  if (!exit_code) {
    frozen_progress prog;
    frozen_progress_init(&prog);
    prog.tty = prog.tty && root;
    int failed = -1;
    rc = nc_train_features_shard(fz.net, &d, &fz.aug.view[0], comm, f, &failed, frozen_progress_fn,
                                 &prog);
    frozen_progress_done(&prog);
    if (rc) exit_code = frozen_error(comm, failed, NC_EXIT_FAIL);
  }
  if (!root) { /* rank 0 writes the file */
    free(f), free(y);
    frozen_close(&fz);
    nc_dataset_free(&d);
    return exit_code;
  }
  if (!exit_code) {
    for (int i = 0; i < d.n; i++) y[i] = d.labels[i];
    char arch[128];
    snprintf(arch, sizeof arch, "resnet%d %s in%d w%d", fz.cfg.depth,
             fz.cfg.stem == NC_STEM_IMAGENET ? "imagenet" : "cifar", fz.cfg.in_channels,
             fz.cfg.width);
    nc_cli_critical(1); /* a first signal lets the files be written whole */
    rc = npy ? write_npy(out, f, y, d.n, dim)
             : write_safetensors(out, f, y, d.n, dim, fz.path, d.name, arch);
    if (rc) exit_code = nc_cli_error_flag(NC_EXIT_FAIL, "--out");
    nc_cli_critical(0);
  }
  if (!exit_code) {
    if (json) {
      printf("{\"checkpoint\": ");
      nc_json_str(stdout, fz.path);
      printf(", \"data\": ");
      nc_json_str(stdout, d.name);
      printf(", \"n\": %d, \"dim\": %d, \"image_size\": %d, \"out\": ", d.n, dim,
             fz.aug.view[0].size);
      nc_json_str(stdout, out);
      printf("}\n");
    } else {
      printf("wrote %d x %d features and %d labels of %s (images at %dx%d) to %s%s\n", d.n, dim,
             d.n, d.name, fz.aug.view[0].size, fz.aug.view[0].size, out,
             npy ? " (labels: .labels.npy)" : "");
    }
  }
  free(f), free(y);
  frozen_close(&fz);
  nc_dataset_free(&d);
  return exit_code;
}

int cmd_embed(int argc, char **argv) {
  nc_comm *comm = nc_comm_open(NULL, NULL);
  frozen_hold_output(comm);
  return frozen_finish(comm, embed_main(argc, argv, comm));
}

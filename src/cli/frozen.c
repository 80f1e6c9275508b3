/* The shared path of `eval` and `embed` (frozen.h). */
#include "frozen.h"

#include <cblas.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ncssl/backend.h"
#include "ncssl/clock.h"
#include "ncssl/status.h"

void frozen_defaults(frozen_args *a) {
  memset(a, 0, sizeof *a);
  a->data = "fashion-mnist", a->data_dir = "", a->preset = "", a->arch = "resnet18";
  a->stem = "cifar", a->width = 64, a->batch = 256, a->device = "cpu", a->precision = "tf32";
}

int frozen_opts(frozen_args *a, nc_opt *o, int with_random_init) {
  int n = 0;
#define OPT(...) o[n++] = (nc_opt){__VA_ARGS__}
  OPT("data", NC_OPT_STRING, &a->data,
      "dataset: fashion-mnist, mnist, cifar10, cifar100, stl10, folder:PATH");
  OPT("data-dir", NC_OPT_STRING, &a->data_dir, "dataset directory (empty: the default)");
  OPT("image-size", NC_OPT_INT, &a->image_size,
      "folder: images resized to N x N (0: the first image's shorter side)", NC_RANGE(0, 4096));
  OPT("channels", NC_OPT_INT, &a->channels,
      "folder: 1 (grayscale) or 3 channels (0: as the first image)", NC_RANGE(0, 3));
  OPT("preset", NC_OPT_STRING, &a->preset,
      "preset whose size/normalisation to use (empty: by data)");
  if (with_random_init)
    OPT("random-init", NC_OPT_FLAG, &a->random_init,
        "evaluate the untrained network (architecture from CKPT if given, else the flags)");
  OPT("arch", NC_OPT_CHOICE, &a->arch, "backbone, for a file without metadata or no CKPT",
      .choices = "resnet18|resnet34|resnet50");
  OPT("stem", NC_OPT_CHOICE, &a->stem, "stem, for a file without metadata or no CKPT",
      .choices = "cifar|imagenet");
  OPT("width", NC_OPT_INT, &a->width, "width, for a file without metadata or no CKPT",
      NC_RANGE(1, 512));
  OPT("in-channels", NC_OPT_INT, &a->in_channels, "input channels (0: the dataset's)",
      NC_RANGE(0, 3));
  if (with_random_init)
    OPT("seed", NC_OPT_INT, &a->seed, "seed of --random-init (as train's) and of the probe",
        NC_NONNEG);
  OPT("batch", NC_OPT_INT, &a->batch, "images per forward", NC_RANGE(1, 65536));
  OPT("threads", NC_OPT_INT, &a->threads, "compute threads (0: the default)", NC_RANGE(0, 1024));
  OPT("device", NC_OPT_STRING, &a->device, "where the backbone runs: cpu, cuda or cuda:N");
  OPT("precision", NC_OPT_STRING, &a->precision, "tf32, fp32 or bf16 (see train)");
#undef OPT
  return n;
}

int frozen_load_data(const frozen_args *a, const char *split, long subset, nc_dataset *out) {
  if (a->channels == 2) return nc_cli_error(NC_EXIT_USAGE, "--channels: must be 1 or 3");
  if ((a->image_size || a->channels) && strncmp(a->data, "folder:", 7) != 0)
    return nc_cli_error(NC_EXIT_USAGE, "--image-size/--channels: only for --data folder:PATH");
  int rc = nc_cli_check_threads("--threads", a->threads);
  if (rc >= 0) return rc;
  if (a->threads > 0) {
    omp_set_num_threads((int)a->threads);
    openblas_set_num_threads((int)a->threads);
  }
  nc_data_opts dopts = {0};
  dopts.dir = a->data_dir;
  dopts.image_size = (int)a->image_size;
  dopts.channels = (int)a->channels;
  if (nc_dataset_load(a->data, split, &dopts, out))
    return nc_cli_error_flag(NC_EXIT_FAIL, "--data");
  if (subset > 0 && subset < out->n) out->n = (int)subset;
  return NC_EXIT_OK;
}

/* A run directory's backbone.safetensors (or checkpoint.safetensors), or the file itself. Both
 * files carry their step; when they disagree (a run stopped between writing the two), the
 * checkpoint is the run's state: it is evaluated, and a note says so. */
static void resolve_checkpoint(const char *arg, char *path, size_t n) {
  struct stat st;
  if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode)) {
    char ckpt[4096];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", arg);
    snprintf(path, n, "%s/backbone.safetensors", arg);
    long sb = -1, sc = -1;
    if (lstat(path, &st) != 0) {
      snprintf(path, n, "%s", ckpt);
    } else if (lstat(ckpt, &st) == 0 && nc_train_file_step(path, &sb) == NC_OK &&
               nc_train_file_step(ckpt, &sc) == NC_OK && sb != sc) {
      fprintf(stderr,
              "ncssl: note: %s is at step %ld but %s at step %ld (the run stopped between the "
              "two writes): evaluating the checkpoint\n",
              path, sb, ckpt, sc);
      snprintf(path, n, "%s", ckpt);
    }
  } else {
    snprintf(path, n, "%s", arg);
  }
}

static const char *stem_name(nc_stem s) { return s == NC_STEM_IMAGENET ? "imagenet" : "cifar"; }

/* A flag given on the command line that disagrees with the file's metadata is refused rather
 * than silently ignored. */
static int check_flag(const nc_cmd_spec *spec, const nc_args *args, const char *flag, int differs,
                      const char *path, const char *theirs) {
  if (!nc_args_given(args, spec, flag) || !differs) return NC_EXIT_OK;
  char msg[4400];
  snprintf(msg, sizeof msg, "--%s: %s was trained with %s %s (from its metadata); leave --%s out",
           flag, path, flag, theirs, flag);
  return nc_cli_error(NC_EXIT_USAGE, msg);
}

int frozen_check(const char *ckpt) {
  if (!ckpt) return NC_EXIT_OK;
  char path[4096];
  nc_resnet_cfg cfg = {0};
  resolve_checkpoint(ckpt, path, sizeof path);
  int rc = nc_train_read_arch(path, &cfg, NULL, NULL);
  if (rc && !(rc == NC_EFORMAT && strstr(nc_last_error(), "no architecture")))
    return nc_cli_error(NC_EXIT_FAIL, NULL);
  return NC_EXIT_OK;
}

int frozen_open(const frozen_args *a, const nc_cmd_spec *spec, const nc_args *args,
                const char *ckpt, const nc_dataset *d, frozen *out) {
  memset(out, 0, sizeof *out);
  nc_resnet_cfg flags = {atoi(a->arch + 6),
                         strcmp(a->stem, "imagenet") == 0 ? NC_STEM_IMAGENET : NC_STEM_CIFAR,
                         (int)a->in_channels, (int)a->width};
  out->cfg = flags;
  int rc;
  if (ckpt) {
    resolve_checkpoint(ckpt, out->path, sizeof out->path);
    rc = nc_train_read_arch(out->path, &out->cfg, NULL, NULL);
    const int no_meta = rc == NC_EFORMAT && strstr(nc_last_error(), "no architecture");
    const int arch_given = nc_args_given(args, spec, "arch") || nc_args_given(args, spec, "stem") ||
                           nc_args_given(args, spec, "width");
    if (no_meta && arch_given) {
      out->cfg = flags; /* a plain state dict (torchvision's names): the flags say what it is */
    } else if (no_meta) {
      char msg[4400];
      snprintf(msg, sizeof msg,
               "%s has no architecture metadata (a plain state dict?): pass --arch, --stem and "
               "--width as it was trained (and --in-channels)",
               out->path);
      return nc_cli_error(NC_EXIT_USAGE, msg);
    } else if (rc) {
      return nc_cli_error(NC_EXIT_FAIL, NULL);
    } else {
      char buf[32];
      snprintf(buf, sizeof buf, "resnet%d", out->cfg.depth);
      int x;
      if ((x = check_flag(spec, args, "arch", out->cfg.depth != flags.depth, out->path, buf)) ||
          (x = check_flag(spec, args, "stem", out->cfg.stem != flags.stem, out->path,
                          stem_name(out->cfg.stem))))
        return x;
      snprintf(buf, sizeof buf, "%d", out->cfg.width);
      if ((x = check_flag(spec, args, "width", out->cfg.width != flags.width, out->path, buf)))
        return x;
      snprintf(buf, sizeof buf, "%d", out->cfg.in_channels);
      if ((x = check_flag(spec, args, "in-channels", out->cfg.in_channels != flags.in_channels,
                          out->path, buf)))
        return x;
    }
  }
  const char *preset = *a->preset ? a->preset : nc_train_preset_for(a->data, d->h);
  if (nc_aug_preset_get(preset, 0, &out->aug)) return nc_cli_error_flag(NC_EXIT_USAGE, "--preset");
  if (out->cfg.in_channels == 0) out->cfg.in_channels = d->c;
  if (out->cfg.in_channels != d->c) {
    fprintf(stderr, "ncssl: the network takes %d input channels, %s has %d\n", out->cfg.in_channels,
            d->name, d->c);
    return NC_EXIT_USAGE;
  }
  const int size = out->aug.view[0].size;
  if ((rc = nc_cli_open_backend(a->device, a->precision, &out->be)) >= 0) return rc;
  if ((rc = nc_resnet_build_on(out->be, &out->net, &out->cfg, size, size, (int)a->batch, 1, 0,
                               NULL)))
    return nc_cli_error(nc_cli_exit_code(rc), NULL);
  if (a->random_init) {
    nc_rng r = nc_ssl_online_stream((uint64_t)a->seed);
    nc_net_init(out->net, &r);
  } else if (nc_train_load_backbone(out->net, out->path)) {
    return nc_cli_error(NC_EXIT_FAIL, NULL);
  }
  return NC_EXIT_OK;
}

void frozen_close(frozen *f) {
  nc_net_free(f->net);
  f->net = NULL;
  nc_backend_close(f->be);
  f->be = NULL;
}

void frozen_progress_init(frozen_progress *p) {
  p->tty = isatty(STDERR_FILENO);
  p->t0 = nc_now_seconds();
}

void frozen_progress_fn(void *ctx, long done, long total) {
  frozen_progress *p = ctx;
  if (!p->tty) return;
  double dt = nc_now_seconds() - p->t0;
  fprintf(stderr, "\rfeatures %ld/%ld images, %.0f img/s   ", done, total, dt > 0 ? done / dt : 0);
  fflush(stderr);
}

void frozen_progress_done(frozen_progress *p) {
  if (p->tty) fprintf(stderr, "\r%60s\r", "");
}

/* The held stderr of a rank other than 0: a temporary file in place of descriptor 2. */
static FILE *held;
static int held_saved = -1, agreed;

void frozen_hold_output(nc_comm *c) {
  agreed = 0;
  if (nc_comm_rank(c) == 0) return;
  /* rank 0 alone prints results and --help (failing, this rank is left without stdout: fine) */
  if (!freopen("/dev/null", "w", stdout)) clearerr(stdout);
  fflush(stderr);
  if (!(held = tmpfile())) return; /* then it speaks as it goes: more lines, no hang */
  held_saved = dup(STDERR_FILENO);
  if (held_saved < 0 || dup2(fileno(held), STDERR_FILENO) < 0) {
    if (held_saved >= 0) close(held_saved);
    held_saved = -1;
    fclose(held);
    held = NULL;
  }
}

static void release_stderr(int replay, int rank, int size) {
  if (!held) return;
  fflush(stderr);
  dup2(held_saved, STDERR_FILENO);
  close(held_saved);
  held_saved = -1;
  rewind(held);
  char line[8192];
  while (replay && fgets(line, sizeof line, held)) {
    if (strncmp(line, "ncssl: ", 7) == 0)
      fprintf(stderr, "ncssl: rank %d of %d: %s", rank, size, line + 7);
    else
      fputs(line, stderr);
  }
  fclose(held);
  held = NULL;
}

/* The job ends on a failure that one line has explained: mpirun terminates the ranks that are
 * still running when the first exits non-zero, and their "stopped by a signal" would be a second,
 * misleading line. */
static void end_quietly(void) {
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
}

void frozen_quit_on_signals(nc_comm *c) {
  if (nc_comm_rank(c) == 0)
    nc_cli_quit_on_signals();
  else
    end_quietly();
}

int frozen_agree(nc_comm *c, int code) {
  agreed = 1;
  const int rank = nc_comm_rank(c), size = nc_comm_size(c);
  if (size == 1) return code;
  int first = -1;
  /* exit codes travel as the agreement's result codes: only zero or not matters to it */
  int rc = nc_comm_agree(c, code, &first);
  release_stderr(rank == first, rank, size);
  if (rc) end_quietly();
  if (rc && first < 0) /* the agreement itself failed (MPI's error) */
    return nc_cli_error(NC_EXIT_FAIL, NULL);
  return rc;
}

int frozen_finish(nc_comm *c, int code) {
  if (!agreed && code && nc_comm_size(c) > 1) code = frozen_agree(c, code);
  release_stderr(0, 0, 1);
  nc_comm_close(c);
  return code;
}

int frozen_error(nc_comm *c, int failed_rank, int code) {
  const int rank = nc_comm_rank(c), size = nc_comm_size(c);
  if (size > 1) end_quietly();
  if (rank != (failed_rank >= 0 ? failed_rank : 0)) return code;
  if (size == 1) return nc_cli_error(code, NULL);
  char msg[4200];
  snprintf(msg, sizeof msg, "rank %d of %d: %s", rank, size, nc_last_error());
  return nc_cli_error(code, msg);
}

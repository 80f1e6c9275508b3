/* The shared path of the commands that run a frozen backbone over a dataset (`eval`, `embed`):
 * their common options, the checkpoint (a run directory, a checkpoint, a backbone file or a
 * metadata-less torchvision state dict with --arch/--stem/--width), the dataset with its preset's
 * size and normalisation, and a progress line on a terminal. */
#ifndef NCSSL_CLI_FROZEN_H
#define NCSSL_CLI_FROZEN_H
#include "cli.h"
#include "ncssl/train.h"

typedef struct {
  const char *data, *data_dir, *preset, *arch, *stem, *device, *precision;
  long width, in_channels, image_size, channels, seed, batch, threads;
  int random_init;
} frozen_args;

/* The defaults: fashion-mnist, resnet18, cifar stem, width 64, batch 256. */
void frozen_defaults(frozen_args *a);
/* Appends the shared options (eval's --random-init when with_random_init) to o; returns how
 * many. */
int frozen_opts(frozen_args *a, nc_opt *o, int with_random_init);
/* Loads one split with --data-dir, --image-size, --channels; the first `subset` images when > 0.
 * Returns NC_EXIT_OK, or prints one error line and returns the exit code. */
int frozen_load_data(const frozen_args *a, const char *split, long subset, nc_dataset *out);

typedef struct {
  char path[4096];   /* the weights file ("" for --random-init without CKPT) */
  nc_resnet_cfg cfg; /* the architecture (from the file's metadata, else the flags) */
  nc_aug_preset aug; /* view[0]: the images' size and normalisation */
  nc_net *net;       /* the backbone, weights loaded (or initialised for --random-init) */
  nc_backend *be;    /* where it runs (--device) */
} frozen;

/* Refuses a damaged or unreadable CKPT (a run directory's files are resolved as frozen_open
 * does) before any data is loaded, so a bad file fails at once and in little memory. NULL is fine.
 * Returns NC_EXIT_OK, or prints one error line and returns the exit code. */
int frozen_check(const char *ckpt);
/* Builds the backbone for images of d: architecture from CKPT's metadata (a flag given that
 * disagrees with it is refused) or, for a file without metadata, from the flags; weights from CKPT
 * or, with --random-init, as `ncssl train --seed` initialises them. ckpt may be NULL with
 * --random-init. Returns NC_EXIT_OK, or prints one error line and returns the exit code. */
int frozen_open(const frozen_args *a, const nc_cmd_spec *spec, const nc_args *args,
                const char *ckpt, const nc_dataset *d, frozen *out);
void frozen_close(frozen *f);

/* Under mpirun, `eval` and `embed` run the same setup on every rank (checkpoint, data, network)
 * and the ranks then agree, so that a rank that failed (a file its node lacks) stops them all with
 * one message, not a hang. Ranks other than 0 print nothing on stdout (rank 0 reports, once), and
 * until that agreement they hold their stderr back (frozen_hold_output); frozen_agree releases it,
 * the lowest failing rank's lines replayed as "ncssl: rank R of N: ..." (rank 0's were printed as
 * they came), and returns the exit code the ranks agreed on: NC_EXIT_OK, or the lowest failing
 * rank's code on every rank. One process: code. frozen_finish, at the end of the command, answers
 * the agreement for a rank that failed before it (so the others do not wait for it), then closes
 * comm. */
void frozen_hold_output(nc_comm *c);
int frozen_agree(nc_comm *c, int code);
int frozen_finish(nc_comm *c, int code);
/* nc_cli_quit_on_signals on rank 0; on the others a signal ends the process silently: rank 0
 * says it once (signalled too, or terminated by mpirun when another rank exits). */
void frozen_quit_on_signals(nc_comm *c);
/* One error line for a failure after the agreement (a feature pass, the probe): printed by the
 * rank that failed first (failed_rank; -1: rank 0, the only one that continued), "rank R of N: "
 * before the message when there are several ranks. Returns code. */
int frozen_error(nc_comm *c, int failed_rank, int code);

/* A progress line on stderr ("features 1024/10000 images, 812 img/s") redrawn in place, only when
 * stderr is a terminal; frozen_progress_done clears it. */
typedef struct {
  int tty;
  double t0;
} frozen_progress;
void frozen_progress_init(frozen_progress *p);
void frozen_progress_fn(void *ctx, long done, long total);
void frozen_progress_done(frozen_progress *p);

#endif

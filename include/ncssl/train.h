/* A training run on real data, the library side of `ncssl train` and `ncssl eval`: data and the
 * two-view loader, the SSL step, monitors, checkpoints and resume, and the evaluation of a frozen
 * backbone (linear probe + kNN). Library code: errors come back as nc_code with nc_fail messages;
 * progress and warnings go to the caller through callbacks, never to a stream.
 *
 * A run directory (runlog.h) gets metrics.jsonl and two checkpoints, both safetensors written
 * atomically (the previous file stays whole until the new one is complete):
 *   checkpoint.safetensors  everything a bit-identical resume needs: online.backbone.*,
 *                           online.projector.*, target.backbone.*, target.projector.* (BYOL),
 *                           predictor.* (trained weights, BN statistics), optim.<name> (momentum
 *                           buffers, named after their tensor), predictor.F (F̂), predictor.pv,
 *                           and int64 state: step, epoch, loader_pos (epoch, batch),
 *                           optim_steps, predictor_state (seen, niter), seed; metadata "arch"
 *                           (what must match to resume) and "config" (config.txt's text).
 *   backbone.safetensors    the online backbone alone under torchvision's bare names
 *                           (conv1.weight, layer1.0.bn1.running_mean, ...): torchvision's
 *                           resnet18 loads it with load_state_dict(strict=False) after dropping fc.
 * The loader's views depend only on (seed, epoch, index), so seed + loader position are the whole
 * random state of a run; the step itself draws nothing. */
#ifndef NCSSL_TRAIN_H
#define NCSSL_TRAIN_H
#include <signal.h>
#include <stdint.h>

#include "ncssl/augment.h"
#include "ncssl/comm.h"
#include "ncssl/data.h"
#include "ncssl/loader.h"
#include "ncssl/probe.h"
#include "ncssl/ssl.h"

/* Where a run stands, passed to the progress callback after every step. */
typedef struct {
  long step, total_steps; /* steps done (global), and the run's last step */
  int epoch, epochs;      /* 1-based epoch of the last step */
  long step_in_epoch, steps_per_epoch;
  double loss, lr, images_per_s; /* images/s over the recent steps */
  double elapsed_s;              /* wall time of this process's run so far */
  double eta_s;                  /* estimated time to total_steps at the recent rate */
} nc_train_progress;

typedef struct {
  nc_ssl_config ssl;    /* image size, in_channels and total_steps are filled in from the data */
  const char *data;     /* "fashion-mnist", "mnist", "cifar10", "cifar100", "stl10", "folder:P" */
  const char *data_dir; /* NULL or "" = the dataset's default directory */
  const char *preset;   /* augmentation preset; NULL or "" = nc_train_preset_for(data, size) */
  int image_size;       /* folder: images resized to this (0 = the first image's shorter side) */
  int channels;         /* folder: 1 or 3 (0 = 1 when the first image is gray, else 3) */
  long subset;          /* use only the first N training images (0 = all) */
  int epochs;
  long max_steps;        /* stop after this global step (0 = at the end of the epochs) */
  int loader_threads;    /* 0 = one per CPU */
  const char *out;       /* the run directory (created) */
  int resume;            /* continue from out/checkpoint.safetensors */
  int force;             /* out may hold another run: replace it (else such an out is refused) */
  long monitor_every;    /* also a monitor record every N steps (0 = at epoch ends only) */
  double warmup_epochs;  /* cosine schedule: linear warm-up over this many epochs */
  long checkpoint_every; /* also a checkpoint every N steps (0 = at epoch ends and the end) */
  int eval_every_epoch;  /* probe + kNN on the test split after every epoch */
  int probe_epochs;      /* linear-probe epochs for those evaluations (50) */
  int knn_k;             /* kNN k (200) */
  long knn_every;        /* online kNN every N steps and at the last step (0 = off): a "knn"
                            record of the first knn_queries test images classified by the
                            first knn_bank training images (eval-mode features, k = knn_k) */
  int knn_bank, knn_queries; /* 0 = the whole split */
  const char *config_text;   /* config.txt's text: written to out/config.txt once everything is
                                validated, and stored in checkpoint metadata (may be NULL) */
  const char *init_from;     /* a backbone state dict (torchvision names) to start the online and
                                target backbones from; NULL or "" = random; ignored on resume */
  /* Set (by a signal handler) to ask the run to stop: the current step finishes, a checkpoint is
   * written, and nc_train_run returns NC_EINTR. May be NULL. */
  const volatile sig_atomic_t *stop;
  /* Data-parallel runs (docs/distributed.md): every rank calls nc_train_run with the same
   * options; ssl.batch is the GLOBAL batch (divisible by the ranks), each rank steps on its slice.
   * Rank 0 alone writes metrics.jsonl and checkpoints and calls the callbacks; every rank reads
   * the checkpoint on resume. A failure on one rank stops every rank after the step (the lowest
   * failing rank keeps the message, the others get "rank R failed"). */
  nc_comm *comm;   /* NULL: one process */
  int sync_bn;     /* batch norm over the global batch (with more than one rank) */
  long check_sync; /* every N steps compare a checksum of the parameters across ranks (0: off) */
  nc_backend *backend; /* where the run computes (NULL: the CPU); checkpoints are the same */
  void (*on_progress)(void *ctx, const nc_train_progress *p); /* may be NULL */
  void (*on_message)(void *ctx, const char *line); /* warnings and notices, may be NULL */
  void *ctx;
} nc_train_opts;

typedef struct {
  long steps; /* global step count at the end */
  double last_loss;
  double effective_rank; /* from the last monitor record (NaN if none) */
  double feature_std;
  int collapsed;        /* the last monitor record raised the collapse flag */
  int already_finished; /* a resumed run was already at its last step: nothing was done */
  long steps_run;       /* steps this process took (a resumed run starts later) */
  long sync_checks;     /* --check-sync comparisons made (all found the replicas identical) */
  int failed_rank;      /* data-parallel runs: the lowest rank whose own failure stopped the run
                           (-1: none, or every rank failed alike, e.g. NaN) */
  /* The input pipeline: the time this process's steps waited for the loader, and the time since
   * its first batch arrived (the first batch's own wait, the loader's start, is in neither). */
  double input_wait_seconds, input_seconds;
} nc_train_result;

/* Defaults: nc_ssl_default() with the dataset's preset, 1 epoch, monitors at epoch ends, probe 50
 * epochs, k 200; data "fashion-mnist". */
nc_train_opts nc_train_default(void);
/* The augmentation preset for a dataset name: fashion for (fashion-)mnist, cifar for
 * cifar10/100, stl10 for stl10, imagenet for folder:. */
const char *nc_train_default_preset(const char *data);
/* The preset for a dataset whose images are image_size pixels: for folder: trees the one made for
 * that size (fashion up to 28, cifar up to 32, stl10 up to 96, imagenet above), otherwise
 * nc_train_default_preset(data). */
const char *nc_train_preset_for(const char *data, int image_size);
/* Runs (or resumes) a training run. Everything is validated (data, options, and on resume the
 * checkpoint: architecture, seed, loader position) before the first byte is written to out, so a
 * refused run or resume leaves out as it was; an out that already holds a run is refused unless
 * resume or force. Returns NC_OK; NC_EINTR when *stop was set (the step finished and a checkpoint
 * was written; the message names the step); NC_ENUMERIC when the loss or the weights become
 * NaN/Inf (the message names the step; the last checkpoint is left as it was); NC_EIO,
 * NC_EFORMAT (a damaged or mismatched checkpoint, refused with the reason), NC_EINVAL (also an
 * existing run without resume/force), NC_ENOMEM. */
int nc_train_run(const nc_train_opts *o, nc_train_result *res);

/* ---- Checkpoints ---- */

typedef struct {
  long step;
  int epoch;         /* epochs completed */
  nc_loader_pos pos; /* the loader's next batch */
  uint64_t seed;
  /* The monitor's accumulator, so that a resumed run writes the same monitor records as an
   * uninterrupted one: Σ f fᵀ of the projector outputs since the last record [d×d] (saved as
   * "monitor.corr"), its row count and the previous record's effective rank. NULL: not saved, and
   * not restored on load (a checkpoint without it restores zeros). */
  float *monitor_corr;
  long monitor_rows;
  double monitor_prev_rank;
} nc_train_state;

/* The architecture string stored as metadata "arch" and compared on resume. */
void nc_train_arch_string(const nc_ssl_config *c, char *buf, size_t len);
/* Writes the full state of s to path atomically, with a CRC-32 of every tensor (metadata
 * "crc32:NAME", verified on load). */
int nc_train_save(nc_ssl *s, const char *path, const nc_train_state *st, const char *config_text);
/* Restores s from a file written by nc_train_save for the same architecture; on any refusal
 * (damaged file or checksum, other architecture, missing tensor, a counter out of range) s is
 * unchanged and the message says why. A symbolic link at path is refused. */
int nc_train_load(nc_ssl *s, const char *path, nc_train_state *st);
/* Writes a backbone under torchvision's bare names (metadata "arch" = arch, may be NULL). */
int nc_train_save_backbone(nc_net *backbone, const char *path, const char *arch);
/* The same with metadata "step" = step (when >= 0), so that a reader can tell which checkpoint
 * the backbone belongs to. */
int nc_train_save_backbone_at(nc_net *backbone, const char *path, const char *arch, long step);
/* The "step" a backbone file or checkpoint was written at: 0 and *step set, or NC_EFORMAT when the
 * file does not say (an older file). */
int nc_train_file_step(const char *path, long *step);
/* Loads backbone weights from a backbone file (bare torchvision names; other tensors such as fc.*
 * and num_batches_tracked are ignored) or a full checkpoint (online.backbone.*) into net (built
 * with prefix NULL, or an SSL run's online backbone, "backbone."). Every tensor is checked first
 * (the first missing or mis-shaped one is named, with both shapes), so a refusal changes nothing.
 */
int nc_train_load_backbone(nc_net *net, const char *path);
/* Reads the backbone configuration (depth, stem, in_channels, width) from a checkpoint's "arch"
 * metadata; NC_EFORMAT when the file has none. */
int nc_train_read_arch(const char *path, nc_resnet_cfg *cfg, int *image_h, int *image_w);

/* ---- Data-parallel runs ---- */

/* --check-sync: every rank hashes what the replicas must share (trained parameters, target,
 * DirectPred's F̂; not the BN running statistics, per rank under --no-sync-bn) and compares with
 * rank 0's. NC_OK when all agree; else NC_ENUMERIC on every rank, the lowest differing rank with
 * "step S: the replicas diverged: rank R's parameters differ from rank 0's (...)". Collective. */
int nc_train_check_sync(nc_ssl *s, nc_comm *comm, long step);

/* ---- Evaluation of a frozen backbone ---- */

/* Progress of a long pass: `done` of `total` items (images) finished. */
typedef void (*nc_progress_fn)(void *ctx, long done, long total);

/* Features [d->n, out_dim] of un-augmented images (nc_aug_plain with `view`), the backbone in eval
 * mode (restored to its previous mode after), in chunks of its batch through slot 0. */
int nc_train_features(nc_net *backbone, const nc_dataset *d, const nc_aug_view *view, float *out);
/* The same, calling progress (when not NULL) after every batch. */
int nc_train_features_progress(nc_net *backbone, const nc_dataset *d, const nc_aug_view *view,
                               float *out, nc_progress_fn progress, void *ctx);
/* Linear probe and kNN of a backbone on (train, test): features as above. *knn_top1 gets the kNN
 * accuracy; probe is filled (free it with nc_probe_result_free). */
int nc_train_evaluate(nc_net *backbone, const nc_dataset *train, const nc_dataset *test,
                      const nc_aug_view *view, const nc_probe_config *pc, const nc_knn_config *kc,
                      nc_probe_result *probe, double *knn_top1);
/* The same, with progress over the train + test images of the feature passes. */
int nc_train_evaluate_progress(nc_net *backbone, const nc_dataset *train, const nc_dataset *test,
                               const nc_aug_view *view, const nc_probe_config *pc,
                               const nc_knn_config *kc, nc_probe_result *probe, double *knn_top1,
                               nc_progress_fn progress, void *ctx);

/* Feature extraction sharded over the ranks of comm (`ncssl eval` and `embed` under mpirun): the
 * rank's rows [*lo, *hi) of n images, whole batches of `batch` (the ranks' batches are then the
 * very ones one process forms, so each image's features are bit for bit the same). */
void nc_train_shard(int n, int batch, int rank, int size, int *lo, int *hi);
/* Every rank computes the features of its shard; the ranks agree (a rank that failed stops them
 * all: *failed_rank, if not NULL, gets the lowest failing rank or -1) and the rows are gathered to
 * rank 0. out: [d->n, out_dim] on rank 0, [hi - lo, out_dim] (its shard) on the others. progress,
 * on rank 0, counts its shard scaled to the whole. Collective; comm NULL is one process. */
int nc_train_features_shard(nc_net *backbone, const nc_dataset *d, const nc_aug_view *view,
                            nc_comm *comm, float *out, int *failed_rank, nc_progress_fn progress,
                            void *ctx);
/* nc_train_evaluate_progress with both feature passes sharded over comm: the probe and kNN run on
 * rank 0 alone (probe and *knn_top1 are filled there only; the others return NC_OK once their
 * features are gathered). The results equal one process's with the same threads and batch. */
int nc_train_evaluate_shard(nc_net *backbone, const nc_dataset *train, const nc_dataset *test,
                            const nc_aug_view *view, const nc_probe_config *pc,
                            const nc_knn_config *kc, nc_comm *comm, nc_probe_result *probe,
                            double *knn_top1, int *failed_rank, nc_progress_fn progress, void *ctx);

/* ---- Monitors ---- */

/* Feature std of SimSiam's collapse check: rows of f [n, d] L2-normalised, the std over the batch
 * of each dimension, averaged over dimensions (≈ 1/√d for spread-out features, 0 at collapse). */
double nc_train_feature_std(int n, int d, const float *f);
/* Its parts, for data-parallel runs that add the sums over the ranks: sums [2d + 1] receives the
 * normalised rows' per-dimension sums, their squares' and the row count; the std follows from
 * them (0 for fewer than 2 rows). */
void nc_train_feature_sums(int n, int d, const float *f, double *sums);
double nc_train_feature_std_of_sums(int d, const double *sums);
/* The collapse warning: the effective rank of F (the monitor's, exp of the spectral entropy)
 * below 2 and still falling since the previous record (prev_rank; NaN for none), or the feature
 * std below 0.02/√d. "Falling" because a freshly initialised network maps every image to nearly
 * one direction (rank ≈ 1.8 at step 25 of the Fashion-MNIST demo) and rises from there, while a
 * collapsing one (identity predictor, no stop-gradient) sinks towards 1 (README, measured). */
int nc_train_collapsed(double effective_rank, double prev_rank, double feature_std, int d);

#endif

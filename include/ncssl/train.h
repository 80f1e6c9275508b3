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
#include <stdint.h>

#include "ncssl/augment.h"
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
  const char *preset;   /* augmentation preset; NULL or "" = nc_train_default_preset(data) */
  long subset;          /* use only the first N training images (0 = all) */
  int epochs;
  long max_steps;          /* stop after this global step (0 = at the end of the epochs) */
  int loader_threads;      /* 0 = one per CPU */
  const char *out;         /* the run directory (created) */
  int resume;              /* continue from out/checkpoint.safetensors */
  long monitor_every;      /* also a monitor record every N steps (0 = at epoch ends only) */
  double warmup_epochs;    /* cosine schedule: linear warm-up over this many epochs */
  long checkpoint_every;   /* also a checkpoint every N steps (0 = at epoch ends and the end) */
  int eval_every_epoch;    /* probe + kNN on the test split after every epoch */
  int probe_epochs;        /* linear-probe epochs for those evaluations (50) */
  int knn_k;               /* kNN k (200) */
  const char *config_text; /* config.txt's text, stored in checkpoint metadata (may be NULL) */
  nc_backend *backend;     /* where the run computes (NULL: the CPU); checkpoints are the same */
  void (*on_progress)(void *ctx, const nc_train_progress *p); /* may be NULL */
  void (*on_message)(void *ctx, const char *line); /* warnings and notices, may be NULL */
  void *ctx;
} nc_train_opts;

typedef struct {
  long steps; /* global step count at the end */
  double last_loss;
  double effective_rank; /* from the last monitor record (NaN if none) */
  double feature_std;
  int collapsed; /* the last monitor record raised the collapse flag */
} nc_train_result;

/* Defaults: nc_ssl_default() with the dataset's preset, 1 epoch, monitors at epoch ends, probe 50
 * epochs, k 200; data "fashion-mnist". */
nc_train_opts nc_train_default(void);
/* The augmentation preset for a dataset name: fashion for (fashion-)mnist, cifar for
 * cifar10/100, stl10 for stl10, imagenet for folder:. */
const char *nc_train_default_preset(const char *data);
/* Runs (or resumes) a training run. Returns NC_OK; NC_ENUMERIC when the loss or the weights
 * become NaN/Inf (the message names the step; the last checkpoint is left as it was); NC_EIO,
 * NC_EFORMAT (a damaged or mismatched checkpoint, refused with the reason), NC_EINVAL, NC_ENOMEM.
 */
int nc_train_run(const nc_train_opts *o, nc_train_result *res);

/* ---- Checkpoints ---- */

typedef struct {
  long step;
  int epoch;         /* epochs completed */
  nc_loader_pos pos; /* the loader's next batch */
  uint64_t seed;
} nc_train_state;

/* The architecture string stored as metadata "arch" and compared on resume. */
void nc_train_arch_string(const nc_ssl_config *c, char *buf, size_t len);
/* Writes the full state of s to path atomically. */
int nc_train_save(nc_ssl *s, const char *path, const nc_train_state *st, const char *config_text);
/* Restores s from a file written by nc_train_save for the same architecture; on any refusal
 * (damaged file, other architecture, missing tensor) s is unchanged and the message says why. */
int nc_train_load(nc_ssl *s, const char *path, nc_train_state *st);
/* Writes a backbone under torchvision's bare names (metadata "arch" = arch, may be NULL). */
int nc_train_save_backbone(nc_net *backbone, const char *path, const char *arch);
/* Loads backbone weights from a backbone file (bare names) or a full checkpoint
 * (online.backbone.*) into net (built with prefix NULL). */
int nc_train_load_backbone(nc_net *net, const char *path);
/* Reads the backbone configuration (depth, stem, in_channels, width) from a checkpoint's "arch"
 * metadata; NC_EFORMAT when the file has none. */
int nc_train_read_arch(const char *path, nc_resnet_cfg *cfg, int *image_h, int *image_w);

/* ---- Evaluation of a frozen backbone ---- */

/* Features [d->n, out_dim] of un-augmented images (nc_aug_plain with `view`), the backbone in eval
 * mode (restored to its previous mode after), in chunks of its batch through slot 0. */
int nc_train_features(nc_net *backbone, const nc_dataset *d, const nc_aug_view *view, float *out);
/* Linear probe and kNN of a backbone on (train, test): features as above. *knn_top1 gets the kNN
 * accuracy; probe is filled (free it with nc_probe_result_free). */
int nc_train_evaluate(nc_net *backbone, const nc_dataset *train, const nc_dataset *test,
                      const nc_aug_view *view, const nc_probe_config *pc, const nc_knn_config *kc,
                      nc_probe_result *probe, double *knn_top1);

/* ---- Monitors ---- */

/* Feature std of SimSiam's collapse check: rows of f [n, d] L2-normalised, the std over the batch
 * of each dimension, averaged over dimensions (≈ 1/√d for spread-out features, 0 at collapse). */
double nc_train_feature_std(int n, int d, const float *f);
/* The collapse warning: the effective rank of F (the monitor's, exp of the spectral entropy)
 * below 2 and still falling since the previous record (prev_rank; NaN for none), or the feature
 * std below 0.02/√d. "Falling" because a freshly initialised network maps every image to nearly
 * one direction (rank ≈ 1.8 at step 25 of the Fashion-MNIST demo) and rises from there, while a
 * collapsing one (identity predictor, no stop-gradient) sinks towards 1 (README, measured). */
int nc_train_collapsed(double effective_rank, double prev_rank, double feature_std, int d);

#endif

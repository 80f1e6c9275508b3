/* Evaluation of frozen features: the linear probe and the kNN classifier (digest §8.1, "Linear
 * evaluation"). Features are row-major [n, dim] float32, labels are in [0, n_classes).
 *
 * Linear probe, as the paper's linear_feature_eval.py: standardise with the training set's mean
 * and population standard deviation (sklearn's StandardScaler; a constant feature keeps scale 1),
 * then a logistic regression Linear(dim, n_classes) (weight [c, dim] and bias, PyTorch's default
 * initialisation U(±1/√dim)) trained with softmax cross-entropy (mean over the batch) by Adam
 * (lr 3e-4, betas 0.9/0.999, eps 1e-8, weight decay 1e-3 added to the gradient of weight and bias
 * as torch.optim.Adam does), batch 128 with the last partial batch kept, 50 epochs, the training
 * set reshuffled every epoch from an nc_rng. Test top-1 is measured after every epoch; the paper
 * reports the best.
 *
 * kNN (InstDisc / SimSiam monitor): L2-normalised features, cosine similarity, the k = 200 most
 * similar training samples (ties broken by the lower training index) each vote for its class with
 * weight exp(sim / 0.1); the class with the largest total wins (ties: the lower class). */
#ifndef NCSSL_PROBE_H
#define NCSSL_PROBE_H
#include <stdint.h>

#include "ncssl/net.h"

typedef struct {
  int epochs;          /* 50 */
  int batch;           /* 128 */
  double lr;           /* 3e-4 */
  double weight_decay; /* 1e-3 */
  double beta1, beta2; /* 0.9, 0.999 */
  double eps;          /* 1e-8 */
  uint64_t seed;       /* initialisation and shuffling */
} nc_probe_config;

typedef struct {
  int epochs;
  double final_top1;  /* test accuracy in [0, 1] after the last epoch */
  double best_top1;   /* the best over epochs */
  int best_epoch;     /* 1-based epoch of the best */
  double *test_top1;  /* [epochs] after each epoch (malloc'd) */
  double *train_loss; /* [epochs] mean training loss during each epoch (malloc'd) */
} nc_probe_result;

/* The paper's settings above, seed 0. */
nc_probe_config nc_probe_default(void);
/* Trains the probe on (train_x, train_y) and tests on (test_x, test_y). Returns NC_OK, NC_EINVAL
 * (empty set, dim or n_classes < 1, a label out of range, a bad config) or NC_ENOMEM. Free the
 * result with nc_probe_result_free. */
int nc_linear_probe(const float *train_x, const int *train_y, int n_train, const float *test_x,
                    const int *test_y, int n_test, int dim, int n_classes,
                    const nc_probe_config *cfg, nc_probe_result *out);
/* Frees the arrays of a result (a zeroed result is fine). */
void nc_probe_result_free(nc_probe_result *r);

/* ---- The pieces, exposed for tests and for callers that train their own way ---- */

/* Column mean and population std of x [n, dim] (std 0 becomes 1, as StandardScaler). */
void nc_standardize_fit(const float *x, int n, int dim, float *mean, float *std);
/* x = (x − mean) / std in place. */
void nc_standardize_apply(float *x, int n, int dim, const float *mean, const float *std);

/* Logistic regression with Adam state, weight W [c, d] row-major and bias b [c]. */
typedef struct {
  int d, c;
  float *W, *b;             /* parameters */
  float *gW, *gb;           /* gradients of the last nc_logreg_loss_grad */
  float *mW, *vW, *mb, *vb; /* Adam moments */
  long t;                   /* Adam steps taken */
  float *logits;            /* scratch [max_batch, c] */
  int max_batch;
} nc_logreg;

/* Allocates for d features, c classes and batches up to max_batch; parameters initialised as
 * torch.nn.Linear from rng. Returns NC_OK, NC_EINVAL or NC_ENOMEM. */
int nc_logreg_init(nc_logreg *m, int d, int c, int max_batch, uint64_t seed);
/* Frees it (a zeroed struct is fine). */
void nc_logreg_free(nc_logreg *m);
/* Mean softmax cross-entropy over n ≤ max_batch samples; fills gW, gb with its gradient. */
double nc_logreg_loss_grad(nc_logreg *m, const float *x, const int *y, int n);
/* One torch.optim.Adam step from gW, gb (weight decay added to the gradient first). */
void nc_logreg_adam_step(nc_logreg *m, const nc_probe_config *cfg);
/* Fraction of the n samples whose argmax logit (first on ties) equals the label. */
double nc_logreg_accuracy(nc_logreg *m, const float *x, const int *y, int n);

/* ---- Features ---- */

/* Features of n inputs (NCHW images for a ResNet) through net in eval mode, in batches of the
 * network's maximum batch, into out [n, out_dim]; the network's train/eval mode is restored after.
 * Returns NC_OK or the forward's error. */
int nc_extract_features(nc_net *net, const float *x, int n, float *out);

/* ---- kNN ---- */

typedef struct {
  int k;              /* 200 (capped at n_train) */
  double temperature; /* 0.1 */
} nc_knn_config;

/* k = 200, temperature 0.1. */
nc_knn_config nc_knn_default(void);
/* Classifies every test sample; *top1 receives the accuracy in [0, 1] and pred, when not NULL, the
 * predicted classes [n_test]. Returns NC_OK, NC_EINVAL (empty set, bad shape, label out of range,
 * k < 1, temperature ≤ 0) or NC_ENOMEM. */
int nc_knn_eval(const float *train_x, const int *train_y, int n_train, const float *test_x,
                const int *test_y, int n_test, int dim, int n_classes, const nc_knn_config *cfg,
                double *top1, int *pred);

#endif

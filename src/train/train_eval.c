/* Evaluation of a frozen backbone (features of un-augmented images, linear probe, kNN) and the
 * collapse measures of the training monitors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ncssl/status.h"
#include "ncssl/train.h"

int nc_train_features(nc_net *backbone, const nc_dataset *d, const nc_aug_view *view, float *out) {
  return nc_train_features_progress(backbone, d, view, out, NULL, NULL);
}

/* Features of images [lo, hi) into out (row 0 is image lo); progress reports the range's share
 * scaled to all d->n images. */
static int features_range(nc_net *backbone, const nc_dataset *d, const nc_aug_view *view, int lo,
                          int hi, float *out, nc_progress_fn progress, void *ctx) {
  const int batch = nc_net_batch(backbone), dim = nc_net_out_dim(backbone);
  const size_t in = nc_net_in_size(backbone);
  if ((size_t)d->c * view->size * view->size != in)
    return nc_fail(NC_EINVAL, "features: %s images (%dx%dx%d at size %d) do not fit the network",
                   d->name, d->c, d->h, d->w, view->size);
  float *x = malloc((size_t)batch * in * sizeof(float));
  float *scratch = malloc(nc_aug_scratch_floats(view, d->c, d->h, d->w) * sizeof(float) + 64);
  if (!x || !scratch) {
    free(x), free(scratch);
    return nc_fail(NC_ENOMEM, "features: out of memory");
  }
  const int was_train = nc_net_is_train(backbone);
  nc_net_set_train(backbone, 0);
  int rc = NC_OK;
  for (int i0 = lo; i0 < hi && !rc; i0 += batch) {
    int n = hi - i0 < batch ? hi - i0 : batch;
    for (int k = 0; k < n; k++)
      nc_aug_plain(view, nc_dataset_image(d, i0 + k), d->c, d->h, d->w, x + (size_t)k * in,
                   scratch);
    rc = nc_net_forward(backbone, 0, n, x, out + (size_t)(i0 - lo) * dim);
    if (progress && !rc) progress(ctx, (long)((double)(i0 + n - lo) * d->n / (hi - lo)), d->n);
  }
  nc_net_set_train(backbone, was_train);
  free(x), free(scratch);
  return rc;
}

int nc_train_features_progress(nc_net *backbone, const nc_dataset *d, const nc_aug_view *view,
                               float *out, nc_progress_fn progress, void *ctx) {
  return features_range(backbone, d, view, 0, d->n, out, progress, ctx);
}

void nc_train_shard(int n, int batch, int rank, int size, int *lo, int *hi) {
  const long batches = ((long)n + batch - 1) / batch;
  long b0 = batches * rank / size, b1 = batches * (rank + 1) / size;
  *lo = (int)(b0 * batch < n ? b0 * batch : n);
  *hi = (int)(b1 * batch < n ? b1 * batch : n);
}

/* The ranks agree on rc (each rank's own feature pass) and, when all succeeded, rank 0 gathers
 * the shards' rows into out. */
static int agree_gather(nc_comm *comm, int rc, int n, int batch, int dim, float *out,
                        int *failed_rank) {
  int first = -1;
  rc = nc_comm_agree(comm, rc, &first);
  if (failed_rank) *failed_rank = first;
  if (rc) return rc;
  const int size = nc_comm_size(comm);
  size_t *counts = malloc((size_t)size * sizeof *counts);
  /* every rank is past the agreement: one that cannot allocate this ends the job */
  if (!counts) return nc_fail(NC_ENOMEM, "features: out of memory");
  for (int r = 0; r < size; r++) {
    int lo, hi;
    nc_train_shard(n, batch, r, size, &lo, &hi);
    counts[r] = (size_t)(hi - lo) * dim;
  }
  rc = nc_comm_gatherv_f(comm, out, out, counts, 0);
  free(counts);
  return rc;
}

int nc_train_features_shard(nc_net *backbone, const nc_dataset *d, const nc_aug_view *view,
                            nc_comm *comm, float *out, int *failed_rank, nc_progress_fn progress,
                            void *ctx) {
  const int batch = nc_net_batch(backbone), rank = nc_comm_rank(comm);
  int lo, hi;
  nc_train_shard(d->n, batch, rank, nc_comm_size(comm), &lo, &hi);
  int rc = features_range(backbone, d, view, lo, hi, out, rank == 0 ? progress : NULL, ctx);
  return agree_gather(comm, rc, d->n, batch, nc_net_out_dim(backbone), out, failed_rank);
}

int nc_train_evaluate(nc_net *backbone, const nc_dataset *train, const nc_dataset *test,
                      const nc_aug_view *view, const nc_probe_config *pc, const nc_knn_config *kc,
                      nc_probe_result *probe, double *knn_top1) {
  return nc_train_evaluate_progress(backbone, train, test, view, pc, kc, probe, knn_top1, NULL,
                                    NULL);
}

/* Progress of the two feature passes as one count over train + test images. */
typedef struct {
  nc_progress_fn fn;
  void *ctx;
  long offset, total;
} two_pass;

static void two_pass_progress(void *vctx, long done, long total) {
  (void)total;
  const two_pass *t = vctx;
  t->fn(t->ctx, t->offset + done, t->total);
}

int nc_train_evaluate_progress(nc_net *backbone, const nc_dataset *train, const nc_dataset *test,
                               const nc_aug_view *view, const nc_probe_config *pc,
                               const nc_knn_config *kc, nc_probe_result *probe, double *knn_top1,
                               nc_progress_fn progress, void *ctx) {
  return nc_train_evaluate_shard(backbone, train, test, view, pc, kc, NULL, probe, knn_top1, NULL,
                                 progress, ctx);
}

/* Rows of d this rank holds: all of them on rank 0 (the gather's destination), its shard
 * elsewhere (at least one, so that malloc has something to return). */
static size_t rows_held(const nc_dataset *d, int batch, nc_comm *comm) {
  int lo, hi, rank = nc_comm_rank(comm);
  nc_train_shard(d->n, batch, rank, nc_comm_size(comm), &lo, &hi);
  size_t n = rank == 0 ? (size_t)d->n : (size_t)(hi - lo);
  return n ? n : 1;
}

int nc_train_evaluate_shard(nc_net *backbone, const nc_dataset *train, const nc_dataset *test,
                            const nc_aug_view *view, const nc_probe_config *pc,
                            const nc_knn_config *kc, nc_comm *comm, nc_probe_result *probe,
                            double *knn_top1, int *failed_rank, nc_progress_fn progress,
                            void *ctx) {
  const int dim = nc_net_out_dim(backbone), batch = nc_net_batch(backbone);
  const int root = nc_comm_rank(comm) == 0;
  const int classes = train->classes > test->classes ? train->classes : test->classes;
  if (failed_rank) *failed_rank = -1;
  /* a failure here goes through the first agreement too (ranks may read different copies) */
  int rc = classes < 2 ? nc_fail(NC_EINVAL, "evaluate: %s has no labels", train->name) : NC_OK;
  float *ftr = rc ? NULL : malloc(rows_held(train, batch, comm) * dim * sizeof(float));
  float *fte = rc ? NULL : malloc(rows_held(test, batch, comm) * dim * sizeof(float));
  if (!rc && (!ftr || !fte)) rc = nc_fail(NC_ENOMEM, "evaluate: out of memory");
  two_pass tp = {progress, ctx, 0, (long)train->n + test->n};
  nc_progress_fn fn = progress ? two_pass_progress : NULL;
  /* each pass ends in an agreement: a rank that failed stops the others before the gather */
  int lo, hi;
  nc_train_shard(train->n, batch, nc_comm_rank(comm), nc_comm_size(comm), &lo, &hi);
  if (!rc) rc = features_range(backbone, train, view, lo, hi, ftr, root ? fn : NULL, &tp);
  rc = agree_gather(comm, rc, train->n, batch, dim, ftr, failed_rank);
  if (!rc) { /* (after an agreed failure every rank stops here alike) */
    tp.offset = train->n;
    nc_train_shard(test->n, batch, nc_comm_rank(comm), nc_comm_size(comm), &lo, &hi);
    rc = features_range(backbone, test, view, lo, hi, fte, root ? fn : NULL, &tp);
    rc = agree_gather(comm, rc, test->n, batch, dim, fte, failed_rank);
  }
  if (!rc && root) {
    int *ytr = malloc((size_t)train->n * sizeof(int)), *yte = malloc((size_t)test->n * sizeof(int));
    if (!ytr || !yte) rc = nc_fail(NC_ENOMEM, "evaluate: out of memory");
    for (int i = 0; !rc && i < train->n; i++) ytr[i] = train->labels[i];
    for (int i = 0; !rc && i < test->n; i++) yte[i] = test->labels[i];
    /* kNN first: the probe standardises its own copies, but keep the raw features for kNN. */
    if (!rc)
      rc = nc_knn_eval(ftr, ytr, train->n, fte, yte, test->n, dim, classes, kc, knn_top1, NULL);
    if (!rc) rc = nc_linear_probe(ftr, ytr, train->n, fte, yte, test->n, dim, classes, pc, probe);
    free(ytr), free(yte);
  }
  free(ftr), free(fte);
  return rc;
}

void nc_train_feature_sums(int n, int d, const float *f, double *sums) {
  double *mean = sums, *sq = sums + d;
  memset(sums, 0, (2 * (size_t)d + 1) * sizeof(double));
  for (int i = 0; i < n; i++) {
    const float *r = f + (size_t)i * d;
    double norm = 0;
    for (int j = 0; j < d; j++) norm += (double)r[j] * r[j];
    norm = sqrt(norm);
    double inv = norm > 0 ? 1.0 / norm : 0;
    for (int j = 0; j < d; j++) {
      double v = r[j] * inv;
      mean[j] += v;
      sq[j] += v * v;
    }
  }
  sums[2 * d] = n;
}

double nc_train_feature_std_of_sums(int d, const double *sums) {
  const double rows = sums[2 * d], *mean = sums, *sq = sums + d;
  if (rows < 2 || d < 1) return 0;
  double total = 0;
  for (int j = 0; j < d; j++) {
    double m = mean[j] / rows, var = sq[j] / rows - m * m;
    total += sqrt(var > 0 ? var : 0);
  }
  return total / d;
}

double nc_train_feature_std(int n, int d, const float *f) {
  if (n < 2 || d < 1) return 0;
  double *sums = malloc((2 * (size_t)d + 1) * sizeof(double));
  if (!sums) return NAN;
  nc_train_feature_sums(n, d, f, sums);
  double std = nc_train_feature_std_of_sums(d, sums);
  free(sums);
  return std;
}

int nc_train_collapsed(double effective_rank, double prev_rank, double feature_std, int d) {
  return (effective_rank < 2 && effective_rank < prev_rank) || feature_std * sqrt((double)d) < 0.02;
}

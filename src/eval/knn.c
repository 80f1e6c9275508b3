/* Weighted kNN on cosine similarity (probe.h): similarities by SGEMM over chunks of test rows,
 * the k best per row kept in a min-heap ordered by (similarity, then lower index is better). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval_internal.h"
#include "ncssl/linalg.h"
#include "ncssl/probe.h"
#include "ncssl/status.h"

#define KNN_CHUNK 64 /* test rows per GEMM: 64 × n_train floats of similarities */

nc_knn_config nc_knn_default(void) { return (nc_knn_config){.k = 200, .temperature = 0.1}; }

/* Row i scaled to unit L2 norm (F.normalize: divided by max(‖x‖, 1e-12)). */
static void normalize_rows(const float *x, float *out, int n, int dim) {
  for (int i = 0; i < n; i++) {
    const float *r = x + (size_t)i * dim;
    double ss = 0;
    for (int j = 0; j < dim; j++) ss += (double)r[j] * r[j];
    double inv = 1.0 / fmax(sqrt(ss), 1e-12);
    for (int j = 0; j < dim; j++) out[(size_t)i * dim + j] = (float)(r[j] * inv);
  }
}

typedef struct {
  float sim;
  int idx;
} neighbour;

/* a ranks below b: lower similarity, or equal similarity and a higher index. */
static int worse(neighbour a, neighbour b) {
  return a.sim < b.sim || (a.sim == b.sim && a.idx > b.idx);
}

static void sift_down(neighbour *h, int n, int i) {
  for (;;) {
    int l = 2 * i + 1, r = l + 1, m = i;
    if (l < n && worse(h[l], h[m])) m = l;
    if (r < n && worse(h[r], h[m])) m = r;
    if (m == i) return;
    neighbour t = h[i];
    h[i] = h[m];
    h[m] = t;
    i = m;
  }
}

/* The k best of sims[0..n) into heap h (root = the worst kept). */
static void top_k(const float *sims, int n, int k, neighbour *h) {
  for (int j = 0; j < k; j++) h[j] = (neighbour){sims[j], j};
  for (int i = k / 2 - 1; i >= 0; i--) sift_down(h, k, i);
  for (int j = k; j < n; j++) {
    neighbour c = {sims[j], j};
    if (worse(h[0], c)) {
      h[0] = c;
      sift_down(h, k, 0);
    }
  }
}

int nc_knn_eval(const float *train_x, const int *train_y, int n_train, const float *test_x,
                const int *test_y, int n_test, int dim, int n_classes, const nc_knn_config *cfg,
                double *top1, int *pred) {
  int rc = nc_eval_check_sets("kNN", train_y, n_train, test_y, n_test, dim, n_classes);
  if (rc) return rc;
  if (cfg->k < 1 || !(cfg->temperature > 0))
    return nc_fail(NC_EINVAL, "kNN: need k >= 1 and temperature > 0 (got %d, %g)", cfg->k,
                   cfg->temperature);
  int k = cfg->k < n_train ? cfg->k : n_train;
  float *tr = malloc((size_t)n_train * dim * sizeof *tr),
        *te = malloc((size_t)KNN_CHUNK * dim * sizeof *te),
        *sims = malloc((size_t)KNN_CHUNK * n_train * sizeof *sims);
  neighbour *heap = malloc((size_t)k * sizeof *heap);
  double *votes = malloc((size_t)n_classes * sizeof *votes);
  if (!tr || !te || !sims || !heap || !votes) {
    rc = nc_fail(NC_ENOMEM, "out of memory for kNN (%d training samples)", n_train);
    goto done;
  }
  normalize_rows(train_x, tr, n_train, dim);
  long correct = 0;
  for (int start = 0; start < n_test; start += KNN_CHUNK) {
    int nb = n_test - start < KNN_CHUNK ? n_test - start : KNN_CHUNK;
    normalize_rows(test_x + (size_t)start * dim, te, nb, dim);
    nc_mm_f(0, 1, nb, n_train, dim, 1.0f, te, tr, 0.0f, sims);
    for (int i = 0; i < nb; i++) {
      top_k(sims + (size_t)i * n_train, n_train, k, heap);
      memset(votes, 0, (size_t)n_classes * sizeof *votes);
      for (int j = 0; j < k; j++)
        votes[train_y[heap[j].idx]] += exp(heap[j].sim / cfg->temperature);
      int best = 0;
      for (int c = 1; c < n_classes; c++)
        if (votes[c] > votes[best]) best = c;
      if (pred) pred[start + i] = best;
      correct += best == test_y[start + i];
    }
  }
  *top1 = (double)correct / n_test;
done:
  free(tr);
  free(te);
  free(sims);
  free(heap);
  free(votes);
  return rc;
}

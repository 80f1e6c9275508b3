// ctest-labels: unit
/* kNN: a hand-checked weighting case (one close neighbour outvotes two farther ones at T = 0.1 but
 * not at T = 1), similarity and vote ties, clusters, scale invariance, agreement with a brute-force
 * double-precision reference, argument errors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ncssl/probe.h"
#include "ncssl/rng.h"
#include "ncssl/status.h"
#include "testing.h"

static void test_weighting_by_hand(void) {
  /* Query (1, 0). Class 0: one sample at cos 0.9; class 1: two samples at cos 0.8; a far one. */
  float tr[4 * 2] = {0.9f, sqrtf(1 - 0.81f), 0.8f, 0.6f, 0.8f, -0.6f, -1.0f, 0.0f};
  int ytr[4] = {0, 1, 1, 1};
  float te[2] = {3.0f, 0.0f}; /* not unit: normalised inside */
  int yte[1] = {0}, pred[1];
  double top1;
  nc_knn_config cfg = {.k = 3, .temperature = 0.1};
  /* exp(9) = 8103 > 2·exp(8) = 5962: class 0. */
  CHECK(nc_knn_eval(tr, ytr, 4, te, yte, 1, 2, 2, &cfg, &top1, pred) == NC_OK);
  CHECK(pred[0] == 0 && top1 == 1.0);
  /* T = 1: exp(0.9) = 2.46 < 2·exp(0.8) = 4.45: class 1. */
  cfg.temperature = 1.0;
  CHECK(nc_knn_eval(tr, ytr, 4, te, yte, 1, 2, 2, &cfg, &top1, pred) == NC_OK);
  CHECK(pred[0] == 1 && top1 == 0.0);
  /* k = 4 with T = 0.1 adds exp(−10) for class 1: still class 0. k = 1: the nearest, class 0. */
  cfg = (nc_knn_config){.k = 4, .temperature = 0.1};
  CHECK(nc_knn_eval(tr, ytr, 4, te, yte, 1, 2, 2, &cfg, &top1, pred) == NC_OK && pred[0] == 0);
  /* k larger than the training set is capped: every sample votes, same as k = 4. */
  cfg.k = 200;
  CHECK(nc_knn_eval(tr, ytr, 4, te, yte, 1, 2, 2, &cfg, &top1, pred) == NC_OK && pred[0] == 0);
}

static void test_ties(void) {
  /* Two identical training vectors of classes 2 (index 0) and 1 (index 1): with k = 1 the lower
   * training index is kept; with k = 2 the votes tie and the lower class wins. */
  float tr[3 * 2] = {1, 1, 1, 1, -1, 0};
  int ytr[3] = {2, 1, 0}, yte[1] = {1}, pred[1];
  float te[2] = {1, 1};
  double top1;
  nc_knn_config cfg = {.k = 1, .temperature = 0.1};
  CHECK(nc_knn_eval(tr, ytr, 3, te, yte, 1, 2, 3, &cfg, &top1, pred) == NC_OK && pred[0] == 2);
  cfg.k = 2;
  CHECK(nc_knn_eval(tr, ytr, 3, te, yte, 1, 2, 3, &cfg, &top1, pred) == NC_OK && pred[0] == 1);
  CHECK(top1 == 1.0);
  /* A zero query has similarity 0 to everything: all tie, the first k indices vote. */
  float zero[2] = {0, 0};
  cfg.k = 1;
  CHECK(nc_knn_eval(tr, ytr, 3, zero, yte, 1, 2, 3, &cfg, &top1, pred) == NC_OK && pred[0] == 2);
}

/* Brute force in double: full ranking by (similarity desc, index asc), weighted votes. */
static int reference(const float *tr, const int *ytr, int n, const float *q, int d, int c, int k,
                     double T) {
  double *sim = malloc(n * sizeof *sim), qn = 0;
  char *used = calloc(n, 1);
  for (int j = 0; j < d; j++) qn += (double)q[j] * q[j];
  for (int i = 0; i < n; i++) {
    double dot = 0, tn = 0;
    for (int j = 0; j < d; j++)
      dot += (double)q[j] * tr[i * d + j], tn += (double)tr[i * d + j] * tr[i * d + j];
    sim[i] = dot / sqrt(qn * tn);
  }
  double votes[16] = {0};
  for (int t = 0; t < k; t++) {
    int best = -1;
    for (int i = 0; i < n; i++)
      if (!used[i] && (best < 0 || sim[i] > sim[best])) best = i;
    used[best] = 1;
    votes[ytr[best]] += exp(sim[best] / T);
  }
  int b = 0;
  for (int j = 1; j < c; j++)
    if (votes[j] > votes[b]) b = j;
  free(sim);
  free(used);
  return b;
}

static void test_clusters_and_reference(void) {
  enum { NTR = 600, NTE = 150, D = 12, C = 5 };
  nc_rng r;
  nc_rng_seed(&r, 3);
  double centres[C * D];
  for (int i = 0; i < C * D; i++) centres[i] = nc_rng_normal(&r);
  float *tr = malloc(NTR * D * sizeof *tr), *te = malloc(NTE * D * sizeof *te);
  int ytr[NTR], yte[NTE], pred[NTE], pred2[NTE];
  for (int s = 0; s < 2; s++) {
    float *x = s ? te : tr;
    int *y = s ? yte : ytr, n = s ? NTE : NTR;
    for (int i = 0; i < n; i++) {
      y[i] = (int)nc_rng_below(&r, C);
      for (int j = 0; j < D; j++)
        x[i * D + j] = (float)(3 * centres[y[i] * D + j] + nc_rng_normal(&r));
    }
  }
  double top1;
  nc_knn_config cfg = nc_knn_default();
  CHECK(cfg.k == 200 && cfg.temperature == 0.1);
  CHECK(nc_knn_eval(tr, ytr, NTR, te, yte, NTE, D, C, &cfg, &top1, pred) == NC_OK);
  CHECK(top1 >= 0.98);
  /* Scaling rows by positive factors changes nothing (cosine similarity). */
  for (int i = 0; i < NTR * D; i++) tr[i] *= (float)(1 + (i / D) % 7);
  CHECK(nc_knn_eval(tr, ytr, NTR, te, yte, NTE, D, C, &cfg, &top1, pred2) == NC_OK);
  CHECK(memcmp(pred, pred2, sizeof pred) == 0);
  /* Overlapping clusters with k = 15, T = 0.5: every prediction equals the brute-force one. */
  for (int i = 0; i < NTE * D; i++) te[i] = (float)nc_rng_normal(&r);
  cfg = (nc_knn_config){.k = 15, .temperature = 0.5};
  CHECK(nc_knn_eval(tr, ytr, NTR, te, yte, NTE, D, C, &cfg, &top1, pred) == NC_OK);
  int agree = 0;
  for (int i = 0; i < NTE; i++)
    agree += pred[i] == reference(tr, ytr, NTR, te + i * D, D, C, 15, 0.5);
  CHECK(agree == NTE);
  /* Errors. */
  CHECK(nc_knn_eval(tr, ytr, 0, te, yte, NTE, D, C, &cfg, &top1, NULL) == NC_EINVAL);
  CHECK(nc_knn_eval(tr, ytr, NTR, te, yte, NTE, D, 0, &cfg, &top1, NULL) == NC_EINVAL);
  ytr[3] = -1;
  CHECK(nc_knn_eval(tr, ytr, NTR, te, yte, NTE, D, C, &cfg, &top1, NULL) == NC_EINVAL);
  CHECK(strstr(nc_last_error(), "kNN: training label -1 of sample 3"));
  ytr[3] = 0;
  cfg.k = 0;
  CHECK(nc_knn_eval(tr, ytr, NTR, te, yte, NTE, D, C, &cfg, &top1, NULL) == NC_EINVAL);
  cfg = (nc_knn_config){.k = 5, .temperature = 0};
  CHECK(nc_knn_eval(tr, ytr, NTR, te, yte, NTE, D, C, &cfg, &top1, NULL) == NC_EINVAL);
  free(tr);
  free(te);
}

int main(void) {
  test_weighting_by_hand();
  test_ties();
  test_clusters_and_reference();
  return nc_test_done();
}

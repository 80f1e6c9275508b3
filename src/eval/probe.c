/* Linear probe: standardised features, logistic regression, torch.optim.Adam (probe.h). */
#include "ncssl/probe.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval_internal.h"
#include "ncssl/linalg.h"
#include "ncssl/rng.h"
#include "ncssl/status.h"

nc_probe_config nc_probe_default(void) {
  return (nc_probe_config){.epochs = 50,
                           .batch = 128,
                           .lr = 3e-4,
                           .weight_decay = 1e-3,
                           .beta1 = 0.9,
                           .beta2 = 0.999,
                           .eps = 1e-8,
                           .seed = 0};
}

void nc_standardize_fit(const float *x, int n, int dim, float *mean, float *std) {
  for (int j = 0; j < dim; j++) {
    double s = 0, ss = 0;
    for (int i = 0; i < n; i++) s += x[(size_t)i * dim + j];
    double mu = n > 0 ? s / n : 0;
    for (int i = 0; i < n; i++) {
      double d = x[(size_t)i * dim + j] - mu;
      ss += d * d;
    }
    double sd = n > 0 ? sqrt(ss / n) : 0;
    mean[j] = (float)mu;
    std[j] = sd > 0 ? (float)sd : 1.0f; /* StandardScaler leaves constant features unscaled */
  }
}

void nc_standardize_apply(float *x, int n, int dim, const float *mean, const float *std) {
  for (int i = 0; i < n; i++)
    for (int j = 0; j < dim; j++) {
      float *v = &x[(size_t)i * dim + j];
      *v = (*v - mean[j]) / std[j];
    }
}

void nc_logreg_free(nc_logreg *m) {
  free(m->W); /* one block holds every array */
  memset(m, 0, sizeof *m);
}

int nc_logreg_init(nc_logreg *m, int d, int c, int max_batch, uint64_t seed) {
  memset(m, 0, sizeof *m);
  if (d < 1 || c < 1 || max_batch < 1)
    return nc_fail(NC_EINVAL, "logistic regression: need d, c, batch >= 1 (got %d, %d, %d)", d, c,
                   max_batch);
  size_t dc = (size_t)d * c, total = 4 * dc + 4 * (size_t)c + (size_t)max_batch * c;
  float *block = calloc(total, sizeof *block);
  if (!block) return nc_fail(NC_ENOMEM, "out of memory for the linear probe");
  m->d = d;
  m->c = c;
  m->max_batch = max_batch;
  m->W = block;
  m->gW = m->W + dc;
  m->mW = m->gW + dc;
  m->vW = m->mW + dc;
  m->b = m->vW + dc;
  m->gb = m->b + c;
  m->mb = m->gb + c;
  m->vb = m->mb + c;
  m->logits = m->vb + c;
  /* torch.nn.Linear: weight and bias both U(−1/√fan_in, 1/√fan_in). */
  nc_rng r;
  nc_rng_seed(&r, seed);
  double bound = 1.0 / sqrt((double)d);
  for (size_t i = 0; i < dc; i++) m->W[i] = (float)((2 * nc_rng_uniform(&r) - 1) * bound);
  for (int i = 0; i < c; i++) m->b[i] = (float)((2 * nc_rng_uniform(&r) - 1) * bound);
  return NC_OK;
}

/* logits[n, c] = x Wᵀ + b for n ≤ max_batch rows. */
static void forward(nc_logreg *m, const float *x, int n) {
  nc_mm_f(0, 1, n, m->c, m->d, 1.0f, x, m->W, 0.0f, m->logits);
  for (int i = 0; i < n; i++)
    for (int k = 0; k < m->c; k++) m->logits[(size_t)i * m->c + k] += m->b[k];
}

double nc_logreg_loss_grad(nc_logreg *m, const float *x, const int *y, int n) {
  int c = m->c;
  forward(m, x, n);
  double loss = 0;
  /* Turn logits into ∂L/∂logits = (softmax − onehot)/n in place. */
  for (int i = 0; i < n; i++) {
    float *z = &m->logits[(size_t)i * c];
    double mx = z[0], sum = 0;
    for (int k = 1; k < c; k++) mx = z[k] > mx ? z[k] : mx;
    for (int k = 0; k < c; k++) sum += exp(z[k] - mx);
    loss += log(sum) + mx - z[y[i]];
    for (int k = 0; k < c; k++) z[k] = (float)(exp(z[k] - mx) / sum / n);
    z[y[i]] -= 1.0f / (float)n;
  }
  nc_mm_f(1, 0, c, m->d, n, 1.0f, m->logits, x, 0.0f, m->gW);
  for (int k = 0; k < c; k++) {
    double s = 0;
    for (int i = 0; i < n; i++) s += m->logits[(size_t)i * c + k];
    m->gb[k] = (float)s;
  }
  return loss / n;
}

/* torch.optim.Adam (amsgrad off) on one tensor, float arithmetic as torch does. */
static void adam(float *w, const float *g, float *mo, float *v, size_t n,
                 const nc_probe_config *cfg, long t) {
  float b1 = (float)cfg->beta1, b2 = (float)cfg->beta2, wd = (float)cfg->weight_decay;
  double bc1 = 1 - pow(cfg->beta1, (double)t), bc2 = 1 - pow(cfg->beta2, (double)t);
  float step = (float)(cfg->lr / bc1), bc2_sqrt = (float)sqrt(bc2), eps = (float)cfg->eps;
  for (size_t i = 0; i < n; i++) {
    float gi = g[i] + wd * w[i];
    mo[i] = b1 * mo[i] + (1 - b1) * gi;
    v[i] = b2 * v[i] + (1 - b2) * gi * gi;
    w[i] -= step * mo[i] / (sqrtf(v[i]) / bc2_sqrt + eps);
  }
}

void nc_logreg_adam_step(nc_logreg *m, const nc_probe_config *cfg) {
  m->t++;
  adam(m->W, m->gW, m->mW, m->vW, (size_t)m->d * m->c, cfg, m->t);
  adam(m->b, m->gb, m->mb, m->vb, (size_t)m->c, cfg, m->t);
}

double nc_logreg_accuracy(nc_logreg *m, const float *x, const int *y, int n) {
  long correct = 0;
  for (int start = 0; start < n; start += m->max_batch) {
    int nb = n - start < m->max_batch ? n - start : m->max_batch;
    forward(m, x + (size_t)start * m->d, nb);
    for (int i = 0; i < nb; i++) {
      const float *z = &m->logits[(size_t)i * m->c];
      int best = 0;
      for (int k = 1; k < m->c; k++)
        if (z[k] > z[best]) best = k;
      correct += best == y[start + i];
    }
  }
  return n > 0 ? (double)correct / n : 0;
}

void nc_probe_result_free(nc_probe_result *r) {
  free(r->test_top1);
  free(r->train_loss);
  memset(r, 0, sizeof *r);
}

/* Shared argument checks of the probe and kNN. */
int nc_eval_check_sets(const char *what, const int *train_y, int n_train, const int *test_y,
                       int n_test, int dim, int n_classes) {
  if (n_train < 1 || n_test < 1)
    return nc_fail(NC_EINVAL, "%s: empty %s set", what, n_train < 1 ? "training" : "test");
  if (dim < 1 || n_classes < 1)
    return nc_fail(NC_EINVAL, "%s: need dim >= 1 and classes >= 1 (got %d, %d)", what, dim,
                   n_classes);
  for (int s = 0; s < 2; s++) {
    const int *y = s ? test_y : train_y;
    for (int i = 0, n = s ? n_test : n_train; i < n; i++)
      if (y[i] < 0 || y[i] >= n_classes)
        return nc_fail(NC_EINVAL, "%s: %s label %d of sample %d is outside [0, %d)", what,
                       s ? "test" : "training", y[i], i, n_classes);
  }
  return NC_OK;
}

int nc_linear_probe(const float *train_x, const int *train_y, int n_train, const float *test_x,
                    const int *test_y, int n_test, int dim, int n_classes,
                    const nc_probe_config *cfg, nc_probe_result *out) {
  memset(out, 0, sizeof *out);
  int rc = nc_eval_check_sets("linear probe", train_y, n_train, test_y, n_test, dim, n_classes);
  if (rc) return rc;
  if (cfg->epochs < 1 || cfg->batch < 1 || !(cfg->lr > 0) || !(cfg->weight_decay >= 0) ||
      !(cfg->beta1 >= 0 && cfg->beta1 < 1) || !(cfg->beta2 >= 0 && cfg->beta2 < 1) ||
      !(cfg->eps > 0))
    return nc_fail(NC_EINVAL, "linear probe: bad configuration (epochs %d, batch %d, lr %g)",
                   cfg->epochs, cfg->batch, cfg->lr);
  size_t ntr = (size_t)n_train * dim, nte = (size_t)n_test * dim;
  float *xtr = malloc(ntr * sizeof *xtr), *xte = malloc(nte * sizeof *xte),
        *xb = malloc((size_t)cfg->batch * dim * sizeof *xb), *mean = malloc(dim * sizeof *mean),
        *std = malloc(dim * sizeof *std);
  int *perm = malloc((size_t)n_train * sizeof *perm), *yb = malloc(cfg->batch * sizeof *yb);
  out->test_top1 = calloc(cfg->epochs, sizeof *out->test_top1);
  out->train_loss = calloc(cfg->epochs, sizeof *out->train_loss);
  nc_logreg m = {0};
  if (!xtr || !xte || !xb || !mean || !std || !perm || !yb || !out->test_top1 || !out->train_loss) {
    rc = nc_fail(NC_ENOMEM, "out of memory for the linear probe");
    goto done;
  }
  memcpy(xtr, train_x, ntr * sizeof *xtr);
  memcpy(xte, test_x, nte * sizeof *xte);
  nc_standardize_fit(xtr, n_train, dim, mean, std);
  nc_standardize_apply(xtr, n_train, dim, mean, std);
  nc_standardize_apply(xte, n_test, dim, mean, std);
  nc_rng root;
  nc_rng_seed(&root, cfg->seed);
  nc_rng shuffle = nc_rng_split(&root, 2);
  if ((rc = nc_logreg_init(&m, dim, n_classes, cfg->batch, nc_rng_u64(&root))) != NC_OK) goto done;
  for (int i = 0; i < n_train; i++) perm[i] = i;
  out->epochs = cfg->epochs;
  out->best_top1 = -1;
  for (int e = 0; e < cfg->epochs; e++) {
    for (int i = n_train - 1; i > 0; i--) { /* Fisher–Yates */
      int j = (int)nc_rng_below(&shuffle, (uint64_t)i + 1), t = perm[i];
      perm[i] = perm[j];
      perm[j] = t;
    }
    double loss_sum = 0;
    for (int start = 0; start < n_train; start += cfg->batch) {
      int nb = n_train - start < cfg->batch ? n_train - start : cfg->batch;
      for (int i = 0; i < nb; i++) {
        memcpy(xb + (size_t)i * dim, xtr + (size_t)perm[start + i] * dim, dim * sizeof *xb);
        yb[i] = train_y[perm[start + i]];
      }
      loss_sum += nc_logreg_loss_grad(&m, xb, yb, nb) * nb;
      nc_logreg_adam_step(&m, cfg);
    }
    out->train_loss[e] = loss_sum / n_train;
    double acc = nc_logreg_accuracy(&m, xte, test_y, n_test);
    out->test_top1[e] = acc;
    if (acc > out->best_top1) {
      out->best_top1 = acc;
      out->best_epoch = e + 1;
    }
    out->final_top1 = acc;
    if (!isfinite(out->train_loss[e])) {
      rc = nc_fail(NC_ENUMERIC, "linear probe: loss is not finite in epoch %d", e + 1);
      goto done;
    }
  }
done:
  if (rc) nc_probe_result_free(out);
  nc_logreg_free(&m);
  free(xtr);
  free(xte);
  free(xb);
  free(mean);
  free(std);
  free(perm);
  free(yb);
  return rc;
}

// ctest-labels: golden
/* A width-8 ResNet-18 (CIFAR stem) against PyTorch: features, every parameter gradient, running
 * statistics and eval-mode features for the weights and inputs in golden/backbone_w8.bin (written
 * by golden/make_backbone_golden.py; its docstring gives the format). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ncssl/net.h"
#include "ncssl/status.h"
#include "testing.h"

typedef struct {
  char name[96];
  int ndim, dims[4];
  size_t n;
  float *data;
} record;

static record recs[256];
static int nrec;

static int load(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  char magic[8];
  if (fread(magic, 1, 8, f) != 8 || memcmp(magic, "NCGOLD1\n", 8) != 0) return fclose(f), 0;
  uint32_t len;
  while (nrec < 256 && fread(&len, 4, 1, f) == 1) {
    record *r = &recs[nrec];
    uint32_t nd, d;
    if (len >= sizeof r->name || fread(r->name, 1, len, f) != len) break;
    r->name[len] = 0;
    if (fread(&nd, 4, 1, f) != 1 || nd > 4) break;
    r->ndim = (int)nd, r->n = 1;
    for (uint32_t k = 0; k < nd; k++) {
      if (fread(&d, 4, 1, f) != 1) goto bad;
      r->dims[k] = (int)d, r->n *= d;
    }
    r->data = malloc(r->n * sizeof(float));
    if (!r->data || fread(r->data, sizeof(float), r->n, f) != r->n) goto bad;
    nrec++;
  }
  fclose(f);
  return nrec;
bad:
  fclose(f);
  return 0;
}

static const record *find(const char *prefix, const char *name) {
  char full[128];
  snprintf(full, sizeof full, "%s%s", prefix, name);
  for (int i = 0; i < nrec; i++)
    if (strcmp(recs[i].name, full) == 0) return &recs[i];
  return NULL;
}

/* ‖got − want‖ / ‖want‖ */
static double rel_err(const float *got, const float *want, size_t n) {
  double d = 0, w = 0;
  for (size_t i = 0; i < n; i++) d += pow(got[i] - want[i], 2), w += pow(want[i], 2);
  return w > 0 ? sqrt(d / w) : sqrt(d);
}

int main(void) {
  if (!load("golden/backbone_w8.bin")) {
    fprintf(stderr, "cannot read golden/backbone_w8.bin\n");
    return 1;
  }
  nc_resnet_cfg cfg = {18, NC_STEM_CIFAR, 3, 8};
  nc_net *net;
  CHECK(nc_resnet_build(&net, &cfg, 32, 32, 2, 1, 1, NULL) == NC_OK);
  if (!net) return nc_test_done();
  nc_param_list *l = nc_net_params(net);
  int loaded = 0;
  for (int i = 0; i < l->n; i++) {
    const record *r = find("param:", l->items[i].name);
    CHECK(r && r->n == l->items[i].n);
    if (r && r->n == l->items[i].n) memcpy(l->items[i].w, r->data, r->n * sizeof(float)), loaded++;
  }
  int in_file = 0;
  for (int i = 0; i < nrec; i++) in_file += strncmp(recs[i].name, "param:", 6) == 0;
  CHECK(loaded == in_file); /* the same set of names as PyTorch's state_dict */
  const record *x = find("", "input"), *dy = find("", "dy"), *feat = find("", "features");
  const record *feat_eval = find("", "features_eval");
  CHECK(x && dy && feat && feat_eval);
  if (!x || !dy || !feat || !feat_eval) return nc_test_done();
  float y[2 * 64];
  nc_params_zero_grad(l);
  CHECK(nc_net_forward(net, 0, 2, x->data, y) == NC_OK);
  double e = rel_err(y, feat->data, feat->n);
  fprintf(stderr, "features: rel err %.3g\n", e);
  CHECK(e <= 1e-4);
  CHECK(nc_net_backward(net, 0, dy->data, NULL) == NC_OK);
  double worst = 0, worst_stat = 0;
  for (int i = 0; i < l->n; i++) {
    nc_param *p = &l->items[i];
    const record *r = find(p->is_buffer ? "after:" : "grad:", p->name);
    CHECK(r && r->n == p->n);
    if (!r || r->n != p->n) continue;
    double err = rel_err(p->is_buffer ? p->w : p->g, r->data, p->n);
    if (err > (p->is_buffer ? 1e-4 : 1e-3)) fprintf(stderr, "%s: rel err %.3g\n", p->name, err);
    CHECK(err <= (p->is_buffer ? 1e-4 : 1e-3));
    if (p->is_buffer)
      worst_stat = fmax(worst_stat, err);
    else
      worst = fmax(worst, err);
  }
  fprintf(stderr, "gradients: worst rel err %.3g; running statistics: %.3g\n", worst, worst_stat);
  nc_net_set_train(net, 0);
  CHECK(nc_net_forward(net, 0, 2, x->data, y) == NC_OK);
  e = rel_err(y, feat_eval->data, feat_eval->n);
  fprintf(stderr, "eval features: rel err %.3g\n", e);
  CHECK(e <= 1e-4);
  nc_net_free(net);
  for (int i = 0; i < nrec; i++) free(recs[i].data);
  return nc_test_done();
}

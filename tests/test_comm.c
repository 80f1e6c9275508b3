// ctest-labels: unit
/* The communicator and synchronised batch norm. Run alone (ctest): the single communicator, and
 * the split batch-norm kernels (statistics → apply) against the fused ones bit for bit. Run under
 * `mpirun -np 2 test_comm` (tests/mpi_comm.sh): all-reduce, broadcast and agreement over real
 * ranks, and a ResNet whose batch norm is synchronised over two ranks, each holding half the
 * batch, against the same network on the whole batch in one process (outputs, input gradients,
 * parameter gradients and running statistics, to float tolerance). */
#include <stdlib.h>
#include <string.h>

#include "ncssl/comm.h"
#include "ncssl/layers.h"
#include "ncssl/net.h"
#include "ncssl/rng.h"
#include "ncssl/status.h"
#include "ncssl/train.h"
#include "testing.h"

static nc_rng rng;

static void fill(float *x, size_t n, double scale, double shift) {
  for (size_t i = 0; i < n; i++) x[i] = (float)(shift + scale * nc_rng_normal(&rng));
}

static int same(const float *a, const float *b, size_t n) { return memcmp(a, b, n * 4) == 0; }

/* The split form with one process's sums equals the fused kernels bit for bit, in both layouts,
 * with and without the fused ReLU, affine or not. */
static void test_split_bn(int relu, int affine, int cnhw) {
  enum { N = 6, C = 5, H = 3, W = 4 };
  const size_t len = (size_t)N * C * H * W;
  nc_t4 s = cnhw ? nc_t4_cnhw(N, C, H, W) : nc_t4_nchw(N, C, H, W);
  float x[N * C * H * W], y1[N * C * H * W], y2[N * C * H * W], dy[N * C * H * W];
  float dx1[N * C * H * W] = {0}, dx2[N * C * H * W] = {0};
  float gamma[C], beta[C], rm1[C], rv1[C], rm2[C], rv2[C], save1[2 * C], save2[2 * C];
  float dg1[C] = {0}, db1[C] = {0}, dg2[C] = {0}, db2[C] = {0};
  fill(x, len, 1.7, 0.3);
  fill(dy, len, 1.0, 0.0);
  fill(gamma, C, 0.5, 1.0);
  fill(beta, C, 0.5, 0.0);
  fill(rm1, C, 0.1, 0), fill(rv1, C, 0.1, 1.0);
  memcpy(rm2, rm1, sizeof rm1), memcpy(rv2, rv1, sizeof rv1);
  const float *g = affine ? gamma : NULL, *b = affine ? beta : NULL;
  (relu ? nc_batchnorm_relu_forward : nc_batchnorm_forward)(s, x, y1, g, b, rm1, rv1, 1, save1,
                                                            save1 + C);
  double mean[C], ss[C], m = (double)N * H * W;
  nc_batchnorm_sums(s, x, mean);
  for (int c = 0; c < C; c++) mean[c] /= m;
  nc_batchnorm_sqdev(s, x, mean, ss);
  nc_batchnorm_apply(s, x, y2, g, b, rm2, rv2, mean, ss, m, relu, save2, save2 + C);
  CHECK(same(y1, y2, len));
  CHECK(same(save1, save2, 2 * C));
  CHECK(same(rm1, rm2, C) && same(rv1, rv2, C));
  if (relu)
    nc_batchnorm_relu_backward(s, x, y1, dy, g, save1, save1 + C, 1, dx1, affine ? dg1 : NULL,
                               affine ? db1 : NULL);
  else
    nc_batchnorm_backward(s, x, dy, g, save1, save1 + C, 1, dx1, affine ? dg1 : NULL,
                          affine ? db1 : NULL);
  double sg[2 * C];
  nc_batchnorm_grad_sums(s, x, relu ? y2 : NULL, dy, save2, sg, sg + C);
  nc_batchnorm_param_grads(C, sg, sg + C, save2 + C, affine ? dg2 : NULL, affine ? db2 : NULL);
  nc_batchnorm_backward_apply(s, x, relu ? y2 : NULL, dy, g, save2, save2 + C, sg, sg + C, m, dx2);
  CHECK(same(dx1, dx2, len));
  CHECK(same(dg1, dg2, C) && same(db1, db2, C));
}

static void test_single(void) {
  nc_comm *c = nc_comm_single();
  CHECK(nc_comm_rank(c) == 0 && nc_comm_size(c) == 1);
  CHECK(strcmp(nc_comm_kind(c), "single") == 0);
  float f[3] = {1, 2, 3};
  double d[2] = {4, 5};
  CHECK(nc_comm_allreduce_f(c, f, 3, NC_COMM_SUM) == NC_OK && f[2] == 3);
  CHECK(nc_comm_allreduce_d(c, d, 2, NC_COMM_MAX) == NC_OK && d[1] == 5);
  CHECK(nc_comm_bcast(c, f, sizeof f, 0) == NC_OK);
  CHECK(nc_comm_bcast(c, f, sizeof f, 1) == NC_EINVAL);
  CHECK(nc_comm_barrier(c) == NC_OK);
  size_t count[1] = {3};
  float g[3] = {0};
  CHECK(nc_comm_gatherv_f(c, f, g, count, 0) == NC_OK && same(f, g, 3));
  CHECK(nc_comm_gatherv_f(c, g, g, count, 0) == NC_OK && same(f, g, 3)); /* in place */
  CHECK(nc_comm_gatherv_f(c, f, g, count, 1) == NC_EINVAL);
  int first = 7;
  CHECK(nc_comm_agree(c, NC_OK, &first) == NC_OK && first == -1);
  CHECK(nc_comm_agree(c, NC_EIO, &first) == NC_EIO && first == 0);
  /* NULL is the single communicator too */
  CHECK(nc_comm_size(NULL) == 1 && nc_comm_rank(NULL) == 0);
}

static void test_mpi_collectives(nc_comm *c) {
  const int r = nc_comm_rank(c), n = nc_comm_size(c);
  float f[2] = {(float)r, 1.0f};
  CHECK(nc_comm_allreduce_f(c, f, 2, NC_COMM_SUM) == NC_OK);
  CHECK(f[0] == (float)(n * (n - 1) / 2) && f[1] == (float)n);
  double d[2] = {(double)r, -(double)r};
  CHECK(nc_comm_allreduce_d(c, d, 2, NC_COMM_MAX) == NC_OK && d[0] == n - 1 && d[1] == 0);
  d[0] = r + 10;
  CHECK(nc_comm_allreduce_d(c, d, 1, NC_COMM_MIN) == NC_OK && d[0] == 10);
  long v = r == n - 1 ? 12345 : -1;
  CHECK(nc_comm_bcast(c, &v, sizeof v, n - 1) == NC_OK && v == 12345);
  CHECK(nc_comm_barrier(c) == NC_OK);
  /* gather: rank q sends q + 1 floats of value q (none when q is 1); to rank 0 with its block
   * in place, then to the last rank from a separate buffer */
  size_t counts[8], total = 0;
  for (int q = 0; q < n && q < 8; q++) counts[q] = q == 1 ? 0 : (size_t)q + 1, total += counts[q];
  float all[64], mine_f[8];
  for (size_t i = 0; i < counts[r]; i++) all[i] = mine_f[i] = (float)r;
  for (int root = 0; root < n; root += n - 1) {
    int ok = nc_comm_gatherv_f(c, root == 0 ? all : mine_f, all, counts, root) == NC_OK;
    if (r == root) {
      size_t at = 0;
      for (int q = 0; q < n; q++)
        for (size_t i = 0; i < counts[q]; i++) ok = ok && all[at++] == (float)q;
      ok = ok && at == total;
    }
    CHECK(ok);
    if (n == 1) break;
  }
  /* agreement: all fine; then the last rank fails alone */
  int first = 7;
  CHECK(nc_comm_agree(c, NC_OK, &first) == NC_OK && first == -1);
  int mine = r == n - 1 ? nc_fail(NC_EIO, "disk full on the last rank") : NC_OK;
  int got = nc_comm_agree(c, mine, &first);
  CHECK(got == NC_EIO && first == n - 1);
  if (r == n - 1)
    CHECK(strcmp(nc_last_error(), "disk full on the last rank") == 0);
  else
    CHECK(strstr(nc_last_error(), "failed") != NULL);
}

static double max_rel(const float *a, const float *b, size_t n) {
  double m = 0, d = 0;
  for (size_t i = 0; i < n; i++) {
    if (fabs(a[i]) > m) m = fabs(a[i]);
    if (fabs((double)a[i] - b[i]) > d) d = fabs((double)a[i] - b[i]);
  }
  return d / (m > 0 ? m : 1);
}

/* A width-4 ResNet-18 on 8 images of 3×8×8: rank r forwards and backwards rows [4r, 4r + 4) with
 * synchronised BN; the reference is the same network on all 8 in this process. The loss is
 * Σ w·y over the global batch, so rank r's dy is its rows of w. Parameter gradients summed over
 * the ranks equal the reference's. Two steps, the second after an SGD update of the weights, so
 * non-trivial γ, β are covered. */
static void test_sync_net(nc_comm *c, int sync) {
  const int n = nc_comm_size(c), r = nc_comm_rank(c), N = 8, per = N / n;
  nc_resnet_cfg cfg = {18, NC_STEM_CIFAR, 3, 4};
  nc_net *full = NULL, *part = NULL;
  CHECK(nc_resnet_build(&full, &cfg, 8, 8, N, 1, 1, NULL) == NC_OK);
  CHECK(nc_resnet_build(&part, &cfg, 8, 8, per, 1, 1, NULL) == NC_OK);
  if (!full || !part) return;
  CHECK(nc_net_set_comm(part, sync ? c : NULL) == NC_OK);
  nc_rng init;
  nc_rng_seed(&init, 5);
  nc_net_init(full, &init);
  CHECK(nc_net_copy_params(part, full) == NC_OK);
  const size_t in = nc_net_in_size(full), od = nc_net_out_dim(full);
  float *x = malloc(N * in * 4), *w = malloc(N * od * 4), *y = malloc(N * od * 4);
  float *dx = malloc(N * in * 4), *yp = malloc(per * od * 4), *dxp = malloc(per * in * 4);
  nc_rng data;
  nc_rng_seed(&data, 9);
  double worst_y = 0, worst_dx = 0, worst_g = 0, worst_buf = 0;
  for (int step = 0; step < 2; step++) {
    rng = data;
    fill(x, N * in, 1.0, 0.2);
    fill(w, N * od, 1.0, 0.0);
    data = rng;
    float *fw, *fg, *pw, *pg;
    size_t nw, npw;
    nc_net_flat(full, &fw, &fg, &nw);
    nc_net_flat(part, &pw, &pg, &npw);
    memset(fg, 0, nw * 4), memset(pg, 0, npw * 4);
    memset(dx, 0, N * in * 4), memset(dxp, 0, per * in * 4);
    nc_net_forward(full, 0, N, x, y);
    nc_net_backward(full, 0, w, dx);
    nc_net_forward(part, 0, per, x + r * per * in, yp);
    nc_net_backward(part, 0, w + r * per * od, dxp);
    nc_comm_allreduce_f(c, pg, npw, NC_COMM_SUM);
    double e;
    if ((e = max_rel(y + r * per * od, yp, per * od)) > worst_y) worst_y = e;
    if ((e = max_rel(dx + r * per * in, dxp, per * in)) > worst_dx) worst_dx = e;
    if ((e = max_rel(fg, pg, nw)) > worst_g) worst_g = e;
    nc_param_list *pf = nc_net_params(full), *pp = nc_net_params(part);
    for (int i = 0; i < pf->n; i++)
      if (pf->items[i].is_buffer &&
          (e = max_rel(pf->items[i].w, pp->items[i].w, pf->items[i].n)) > worst_buf)
        worst_buf = e;
    /* an SGD step on both (the summed gradients are the reference's) */
    for (size_t i = 0; i < nw; i++) fw[i] -= 0.5f * fg[i], pw[i] -= 0.5f * pg[i];
  }
  printf("sync %d: worst relative differences y %.2g dx %.2g grad %.2g running stats %.2g\n", sync,
         worst_y, worst_dx, worst_g, worst_buf);
  if (sync) {
    CHECK(worst_y < 1e-4 && worst_dx < 1e-4 && worst_g < 1e-4 && worst_buf < 1e-4);
  } else { /* per-rank statistics are another computation: the test shows it differs */
    CHECK(worst_y > 1e-3);
  }
  free(x), free(w), free(y), free(dx), free(yp), free(dxp);
  nc_net_free(full);
  nc_net_free(part);
}

/* --check-sync's comparison: replicas built from one seed agree; one weight changed on the last
 * rank is caught there, and every rank stops. */
static void test_check_sync(nc_comm *c) {
  nc_ssl_config cfg = nc_ssl_default();
  cfg.backbone.width = 2, cfg.backbone.in_channels = 1;
  cfg.image_h = cfg.image_w = 8, cfg.batch = 4, cfg.proj_hidden = 8, cfg.proj_out = 4;
  cfg.predictor = nc_predictor_default(NC_PREDICTOR_DIRECTPRED);
  cfg.predictor.dim = 4;
  nc_ssl *s = NULL;
  CHECK(nc_ssl_create(&s, &cfg) == NC_OK);
  if (!s) return;
  CHECK(nc_train_check_sync(s, c, 1) == NC_OK);
  float *w, *g;
  size_t n;
  nc_net_flat(nc_ssl_projector(s), &w, &g, &n);
  if (nc_comm_rank(c) == nc_comm_size(c) - 1) w[n / 2] += 1e-6f;
  CHECK(nc_train_check_sync(s, c, 7) == NC_ENUMERIC);
  if (nc_comm_rank(c) == nc_comm_size(c) - 1)
    CHECK(strstr(nc_last_error(), "step 7: the replicas diverged") != NULL);
  nc_ssl_free(s);
}

int main(void) {
  nc_rng_seed(&rng, 1);
  nc_comm *c = nc_comm_open(NULL, NULL);
  if (nc_comm_size(c) == 1) {
    test_single();
    for (int relu = 0; relu < 2; relu++)
      for (int affine = 0; affine < 2; affine++)
        for (int cnhw = 0; cnhw < 2; cnhw++) test_split_bn(relu, affine, cnhw);
  } else {
    test_mpi_collectives(c);
    test_sync_net(c, 1);
    test_sync_net(c, 0);
    test_check_sync(c);
  }
  int rc = nc_test_done();
  nc_comm_close(c);
  return rc;
}

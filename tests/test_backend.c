// ctest-labels: unit
/* The backend interface on the CPU: a "spy" backend (the CPU backend's table with every operation
 * counted) proves that networks, the predictor, the optimizer and the SSL step run THROUGH the
 * backend (a step on the spy is bit-identical to one on the CPU backend, and every operation was
 * called), that the host touches a GPU backend's tensors only after waiting for its queued work
 * (a step on the "deferred" backend, whose operations run when the host waits, is bit-identical to
 * one run at once), the CPU backend's own step operations against their formulas, and --device /
 * --precision parsing with the error a missing CUDA device gives. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/comm/comm_internal.h"
#include "deferred_backend.h"
#include "ncssl/arena.h"
#include "ncssl/backend.h"
#include "ncssl/net.h"
#include "ncssl/predictor.h"
#include "ncssl/ssl.h"
#include "ncssl/status.h"
#include "testing.h"

/* ---- the spy: the CPU's table, each call counted ---- */

enum {
  C_ALLOC,
  C_FREE,
  C_UPLOAD,
  C_COPY,
  C_ZERO,
  C_CONV_F,
  C_CONV_B,
  C_BN_F,
  C_BN_B,
  C_RELU_F,
  C_RELU_B,
  C_ADD_F,
  C_ADD_B,
  C_MAX_F,
  C_MAX_B,
  C_AVG_F,
  C_AVG_B,
  C_LIN_F,
  C_LIN_B,
  C_LOSS,
  C_UPDATE,
  C_EMA,
  C_FHAT,
  C_EIGH,
  C_PSD,
  C_NONFINITE,
  C_HOST_ALLOC,
  C_N
};
static long count[C_N];
static const nc_backend_i *cpu;
static nc_backend_i spy_i;
static nc_backend spy;

static void *s_alloc(nc_backend *b, size_t n) { return count[C_ALLOC]++, cpu->alloc(b, n); }
static void s_free(nc_backend *b, void *p) { count[C_FREE]++, cpu->free(b, p); }
static void s_upload(nc_backend *b, void *d, const void *s, size_t n) {
  count[C_UPLOAD]++, cpu->upload(b, d, s, n);
}
static void s_copy(nc_backend *b, void *d, const void *s, size_t n) {
  count[C_COPY]++, cpu->copy(b, d, s, n);
}
static void s_zero(nc_backend *b, void *d, size_t n) { count[C_ZERO]++, cpu->zero(b, d, n); }
static void s_conv_f(nc_backend *b, nc_conv_plan *p, const nc_conv_cfg *c, nc_t4 xs, const float *x,
                     const float *W, nc_t4 ys, float *y, void *ws, size_t wb) {
  count[C_CONV_F]++, cpu->conv_forward(b, p, c, xs, x, W, ys, y, ws, wb);
}
static void s_conv_b(nc_backend *b, nc_conv_plan *p, const nc_conv_cfg *c, nc_t4 xs, const float *x,
                     const float *W, nc_t4 ys, const float *dy, float *dx, float *dW, void *ws,
                     size_t wb) {
  count[C_CONV_B]++, cpu->conv_backward(b, p, c, xs, x, W, ys, dy, dx, dW, ws, wb);
}
static void s_bn_f(nc_backend *b, nc_t4 s, const float *x, float *y, const float *g,
                   const float *be, float *rm, float *rv, int t, float *sm, float *si, int r) {
  count[C_BN_F]++, cpu->bn_forward(b, s, x, y, g, be, rm, rv, t, sm, si, r);
}
static void s_bn_b(nc_backend *b, nc_t4 s, const float *x, const float *y, float *dy,
                   const float *g, const float *sm, const float *si, int t, float *dx, float *dg,
                   float *db) {
  count[C_BN_B]++, cpu->bn_backward(b, s, x, y, dy, g, sm, si, t, dx, dg, db);
}
static void s_relu_f(nc_backend *b, size_t n, const float *x, float *y) {
  count[C_RELU_F]++, cpu->relu_forward(b, n, x, y);
}
static void s_relu_b(nc_backend *b, size_t n, const float *y, const float *dy, float *dx) {
  count[C_RELU_B]++, cpu->relu_backward(b, n, y, dy, dx);
}
static void s_add_f(nc_backend *b, size_t n, const float *a, const float *c, float *y, int r) {
  count[C_ADD_F]++, cpu->add_forward(b, n, a, c, y, r);
}
static void s_add_b(nc_backend *b, size_t n, const float *y, float *dy, float *db, int r) {
  count[C_ADD_B]++, cpu->add_backward(b, n, y, dy, db, r);
}
static void s_max_f(nc_backend *b, int k, int st, int p, nc_t4 xs, const float *x, nc_t4 ys,
                    float *y, int32_t *am) {
  count[C_MAX_F]++, cpu->maxpool_forward(b, k, st, p, xs, x, ys, y, am);
}
static void s_max_b(nc_backend *b, int k, int st, int p, nc_t4 xs, float *dx, nc_t4 ys,
                    const float *dy, const int32_t *am) {
  count[C_MAX_B]++, cpu->maxpool_backward(b, k, st, p, xs, dx, ys, dy, am);
}
static void s_avg_f(nc_backend *b, nc_t4 xs, const float *x, float *y) {
  count[C_AVG_F]++, cpu->avgpool_forward(b, xs, x, y);
}
static void s_avg_b(nc_backend *b, nc_t4 xs, const float *dy, float *dx) {
  count[C_AVG_B]++, cpu->avgpool_backward(b, xs, dy, dx);
}
static void s_lin_f(nc_backend *b, int n, int in, int out, const float *x, const float *W,
                    const float *bias, float *y) {
  count[C_LIN_F]++, cpu->linear_forward(b, n, in, out, x, W, bias, y);
}
static void s_lin_b(nc_backend *b, int n, int in, int out, const float *x, const float *W,
                    const float *dy, float *dx, float *dW, float *db) {
  count[C_LIN_B]++, cpu->linear_backward(b, n, in, out, x, W, dy, dx, dW, db);
}
static double s_loss(nc_backend *b, nc_loss_kind k, int B, int d, const float *q1, const float *q2,
                     const float *z1, const float *z2, float *dq1, float *dq2, float *dz1,
                     float *dz2) {
  return count[C_LOSS]++, cpu->loss(b, k, B, d, q1, q2, z1, z2, dq1, dq2, dz1, dz2);
}
static void s_update(nc_backend *b, const nc_update *u, float *w, const float *g, float *buf,
                     size_t n) {
  count[C_UPDATE]++, cpu->update(b, u, w, g, buf, n);
}
static void s_ema(nc_backend *b, size_t n, float *t, const float *o, double tau) {
  count[C_EMA]++, cpu->ema(b, n, t, o, tau);
}
static void s_fhat(nc_backend *b, int n, int d, const float *f1, const float *f2, float keep,
                   float add, float *F) {
  count[C_FHAT]++, cpu->fhat_update(b, n, d, f1, f2, keep, add, F);
}
static int s_eigh(nc_backend *b, int n, float *A, float *w) {
  return count[C_EIGH]++, cpu->eigh(b, n, A, w);
}
static void s_psd(nc_backend *b, int d, const float *U, const float *p, float *W) {
  count[C_PSD]++, cpu->psd_compose(b, d, U, p, W);
}
static void *s_host_alloc(nc_backend *b, size_t n) {
  return count[C_HOST_ALLOC]++, cpu->host_alloc(b, n);
}
static size_t s_nonfinite(nc_backend *b, const float *x, size_t n) {
  return count[C_NONFINITE]++, cpu->nonfinite(b, x, n);
}

static void make_spy(void) {
  cpu = nc_backend_cpu()->i;
  spy_i = *cpu;
  spy_i.name = "spy";
  spy_i.alloc = s_alloc, spy_i.free = s_free, spy_i.upload = s_upload, spy_i.copy = s_copy;
  spy_i.zero = s_zero, spy_i.conv_forward = s_conv_f, spy_i.conv_backward = s_conv_b;
  spy_i.bn_forward = s_bn_f, spy_i.bn_backward = s_bn_b, spy_i.relu_forward = s_relu_f;
  spy_i.relu_backward = s_relu_b, spy_i.add_forward = s_add_f, spy_i.add_backward = s_add_b;
  spy_i.maxpool_forward = s_max_f, spy_i.maxpool_backward = s_max_b;
  spy_i.avgpool_forward = s_avg_f, spy_i.avgpool_backward = s_avg_b;
  spy_i.linear_forward = s_lin_f, spy_i.linear_backward = s_lin_b, spy_i.loss = s_loss;
  spy_i.update = s_update, spy_i.ema = s_ema, spy_i.fhat_update = s_fhat;
  spy_i.nonfinite = s_nonfinite, spy_i.eigh = s_eigh, spy_i.host_alloc = s_host_alloc;
  spy_i.psd_compose = s_psd;
  spy = *nc_backend_cpu();
  spy.i = &spy_i;
}

/* ---- the SSL step on the spy equals the step on the CPU backend, bit for bit ---- */

enum { B = 4, HW = 8 };
static float x1[B * 3 * HW * HW], x2[B * 3 * HW * HW];

static nc_ssl_config tiny(nc_predictor_type pred) {
  nc_ssl_config c = nc_ssl_default();
  c.backbone.width = 4;
  c.image_h = c.image_w = HW;
  c.batch = B;
  c.proj_hidden = 16;
  c.proj_out = 8;
  c.predictor = nc_predictor_default(pred);
  c.predictor.dim = 8;
  c.predictor.hidden = 16;
  c.optim.kind = NC_OPTIM_LARS; /* the trust ratio too */
  c.lr.base = 0.5;
  c.ema = 0.9;
  c.seed = 3;
  return c;
}

static int same_floats(const float *a, const float *b, size_t n) {
  return memcmp(a, b, n * sizeof(float)) == 0;
}

static void test_step_through_spy(nc_predictor_type pred) {
  nc_ssl_config c = tiny(pred);
  nc_ssl *ref = NULL, *s = NULL;
  CHECK(nc_ssl_create(&ref, &c) == NC_OK);
  memset(count, 0, sizeof count);
  CHECK(nc_ssl_create_on(&spy, &s, &c) == NC_OK);
  if (!ref || !s) return;
  CHECK(nc_ssl_backend(s) == &spy && nc_ssl_backend(ref) == nc_backend_cpu());
  CHECK(nc_net_backend(nc_ssl_backbone(s)) == &spy);
  CHECK(count[C_ALLOC] >= 6); /* four nets, predictor, optimizer, the step's buffers */
  for (int k = 0; k < 3; k++) {
    double l_ref = 0, l = 0;
    CHECK(nc_ssl_step(ref, B, x1, x2, &l_ref) == NC_OK);
    CHECK(nc_ssl_step(s, B, x1, x2, &l) == NC_OK);
    CHECK(l == l_ref);
  }
  nc_net *nets[4][2] = {{nc_ssl_backbone(s), nc_ssl_backbone(ref)},
                        {nc_ssl_projector(s), nc_ssl_projector(ref)},
                        {nc_ssl_target_backbone(s), nc_ssl_target_backbone(ref)},
                        {nc_ssl_target_projector(s), nc_ssl_target_projector(ref)}};
  for (int k = 0; k < 4; k++) {
    float *w0, *w1, *g;
    size_t n0, n1;
    nc_net_flat(nets[k][0], &w0, &g, &n0);
    nc_net_flat(nets[k][1], &w1, &g, &n1);
    CHECK(n0 == n1 && same_floats(w0, w1, n0));
  }
  nc_param_list *p0 = nc_predictor_params(nc_ssl_predictor(s)),
                *p1 = nc_predictor_params(nc_ssl_predictor(ref));
  CHECK(p0->n == p1->n && p0->n > 0);
  for (int i = 0; i < p0->n && i < p1->n; i++)
    CHECK(same_floats(p0->items[i].w, p1->items[i].w, p0->items[i].n));
  /* every operation of the step went through the backend */
  int ops[] = {C_UPLOAD, C_COPY,  C_ZERO,  C_CONV_F, C_CONV_B, C_BN_F, C_BN_B,   C_ADD_F,
               C_ADD_B,  C_AVG_F, C_AVG_B, C_LIN_F,  C_LIN_B,  C_LOSS, C_UPDATE, C_EMA};
  for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
    if (count[ops[k]] == 0) fprintf(stderr, "op %d never called through the backend\n", ops[k]);
    CHECK(count[ops[k]] > 0);
  }
  CHECK(count[C_LOSS] == 3);
  /* DirectPred: F̂ folded in and decomposed on the backend at every step (freq 1) */
  if (pred == NC_PREDICTOR_DIRECTPRED)
    CHECK(count[C_FHAT] == 3 && count[C_EIGH] == 3 && count[C_PSD] == 3);
  count[C_NONFINITE] = 0;
  CHECK(nc_ssl_weights_finite(s) == 1);
  CHECK(count[C_NONFINITE] >= 3);
  nc_ssl_free(s);
  CHECK(count[C_FREE] == count[C_ALLOC]); /* everything back to the backend */
  nc_ssl_free(ref);
}

/* A GPU backend's networks keep dense NCHW maps (no channel-major tensor for cuDNN to take as a
 * strided view): the CPU's table under another kind computes the same steps in that layout (batch
 * 16 of 16×16: batch norm over 4 samples of 1×1 maps would magnify round-off). */
static void test_device_layout(void) {
  enum { DB = 16, DHW = 16, DN = DB * 3 * DHW * DHW };
  static float xa[DN], xb[DN];
  for (int i = 0; i < DN; i++) xa[i] = (float)sin(0.37 * i), xb[i] = (float)cos(0.23 * i);
  nc_backend dev = *nc_backend_cpu();
  dev.kind = NC_DEVICE_CUDA;
  nc_ssl_config c = tiny(NC_PREDICTOR_MLP);
  c.batch = DB, c.image_h = c.image_w = DHW;
  c.optim.kind = NC_OPTIM_SGD, c.lr.base = 0.05;
  nc_ssl *ref = NULL, *s = NULL;
  CHECK(nc_ssl_create(&ref, &c) == NC_OK);
  CHECK(nc_ssl_create_on(&dev, &s, &c) == NC_OK);
  if (!ref || !s) return;
  int blocked, planar, ref_blocked, ref_planar;
  nc_net_layout_count(nc_ssl_backbone(s), &blocked, &planar);
  nc_net_layout_count(nc_ssl_backbone(ref), &ref_blocked, &ref_planar);
  CHECK(blocked == 0 && planar == 0);  /* no channel-major map at all */
  CHECK(ref_blocked + ref_planar > 0); /* the CPU's are */
  /* a step agrees to round-off (later steps drift apart: BYOL's steps magnify it) */
  double l_ref = 0, l = 0;
  CHECK(nc_ssl_step(ref, DB, xa, xb, &l_ref) == NC_OK);
  CHECK(nc_ssl_step(s, DB, xa, xb, &l) == NC_OK);
  CHECK_NEAR(l, l_ref, 1e-6 * fabs(l_ref));
  float *w0, *w1, *g;
  size_t n0, n1;
  nc_net_flat(nc_ssl_backbone(s), &w0, &g, &n0);
  nc_net_flat(nc_ssl_backbone(ref), &w1, &g, &n1);
  CHECK(n0 == n1 && nc_test_rel_dist(w0, w1, n0) < 1e-5);
  nc_ssl_free(s);
  nc_ssl_free(ref);
}

/* The host reads a GPU backend's tensors only after waiting for its queued work: the optimal
 * predictor sums C on the host, so on a CUDA-kind backend observe_target syncs first (and
 * returns the wait's error); on the CPU, whose operations are done when they return, it does not.
 */
static long syncs;
static int sync_fails;
static int s_sync(nc_backend *b) {
  syncs++;
  return sync_fails ? nc_fail(NC_EIO, "test: the device failed") : cpu->sync(b);
}

static void test_host_reads_wait(void) {
  nc_backend_i table = *cpu;
  table.sync = s_sync;
  nc_backend dev = *nc_backend_cpu(), host = dev;
  dev.i = host.i = &table;
  dev.kind = NC_DEVICE_CUDA;
  nc_predictor_config c = nc_predictor_default(NC_PREDICTOR_OPTIMAL);
  enum { N = 4 };
  float *f = calloc((size_t)N * c.dim, sizeof(float)),
        *z = calloc((size_t)N * c.dim, sizeof(float));
  for (int i = 0; f && z && i < N * c.dim; i++) f[i] = (float)sin(0.3 * i), z[i] = (float)cos(i);
  nc_predictor *on_dev = NULL, *on_host = NULL;
  CHECK(nc_predictor_create_on(&dev, &on_dev, &c, N) == NC_OK);
  CHECK(nc_predictor_create_on(&host, &on_host, &c, N) == NC_OK);
  if (!on_dev || !on_host || !f || !z) return;
  nc_predictor_observe(on_dev, N, f, f);
  nc_predictor_observe(on_host, N, f, f);
  long before = syncs;
  CHECK(nc_predictor_observe_target(on_host, N, f, f, z, z) == NC_OK);
  CHECK(syncs == before);
  CHECK(nc_predictor_observe_target(on_dev, N, f, f, z, z) == NC_OK);
  CHECK(syncs > before);
  CHECK(memcmp(nc_predictor_cross(on_dev), nc_predictor_cross(on_host),
               (size_t)c.dim * c.dim * sizeof(float)) == 0);
  sync_fails = 1;
  CHECK(nc_predictor_observe_target(on_dev, N, f, f, z, z) == NC_EIO);
  sync_fails = 0;
  nc_predictor_free(on_dev);
  nc_predictor_free(on_host);
  free(f);
  free(z);
}

/* On a GPU the step's operations are queued: the host may touch tensors only after a wait. On the
 * deferred backend (deferred_backend.h: the CPU's operations run late, when the host waits) every
 * step agrees bit for bit with the same backend run at once, for every predictor and the
 * symmetric ones (their W_p is averaged on the host after the optimizer's queued update), and
 * nothing is left queued when a step returns (the host reads tensors after it). */
static void params_same(nc_param_list *a, nc_param_list *b, const char *what) {
  CHECK(a->n == b->n);
  for (int i = 0; i < a->n && i < b->n; i++)
    if (!same_floats(a->items[i].w, b->items[i].w, a->items[i].n)) {
      fprintf(stderr, "%s: %s differs\n", what, a->items[i].name);
      CHECK(0);
    }
}

static void test_deferred_step(nc_ssl_method method, nc_predictor_type pred, int symmetric,
                               double alpha) {
  nc_ssl_config c = tiny(pred);
  c.method = method;
  c.loss = method == NC_SSL_SIMSIAM ? NC_LOSS_SIMSIAM : NC_LOSS_BYOL;
  c.predictor.symmetric = symmetric;
  if (alpha > 0) c.predictor.alpha = alpha;
  nc_ssl *ref = NULL, *s = NULL;
  CHECK(nc_ssl_create_on(&deferred_immediate, &ref, &c) == NC_OK);
  CHECK(nc_ssl_create_on(&deferred_be, &s, &c) == NC_OK);
  if (!ref || !s) return;
  CHECK(deferred_pending() == 0); /* the target's copy is done: a resume may load on the host */
  long ran = dq_ran;
  for (int k = 0; k < 3; k++) {
    double l_ref = 0, l = 0;
    CHECK(nc_ssl_step(ref, B, x1, x2, &l_ref) == NC_OK);
    CHECK(nc_ssl_step(s, B, x1, x2, &l) == NC_OK);
    CHECK(deferred_pending() == 0);
    CHECK(l == l_ref);
  }
  CHECK(dq_ran > ran); /* the step's operations did go through the queue */
  params_same(nc_net_params(nc_ssl_backbone(s)), nc_net_params(nc_ssl_backbone(ref)), "backbone");
  params_same(nc_net_params(nc_ssl_projector(s)), nc_net_params(nc_ssl_projector(ref)),
              "projector");
  if (nc_ssl_target_backbone(s)) {
    params_same(nc_net_params(nc_ssl_target_backbone(s)),
                nc_net_params(nc_ssl_target_backbone(ref)), "target backbone");
    params_same(nc_net_params(nc_ssl_target_projector(s)),
                nc_net_params(nc_ssl_target_projector(ref)), "target projector");
  }
  params_same(nc_predictor_params(nc_ssl_predictor(s)), nc_predictor_params(nc_ssl_predictor(ref)),
              "predictor");
  const float *F = nc_predictor_corr(nc_ssl_predictor(s)),
              *F_ref = nc_predictor_corr(nc_ssl_predictor(ref));
  CHECK((F == NULL) == (F_ref == NULL));
  if (F && F_ref) CHECK(same_floats(F, F_ref, (size_t)c.proj_out * c.proj_out));
  CHECK(nc_ssl_weights_finite(s) == 1);
  nc_ssl_free(s);
  nc_ssl_free(ref);
}

/* Data-parallel runs stay on the CPU backend: a communicator of two ranks is refused for an SSL
 * step on a CUDA-kind backend (its gradients would be all-reduced by the host while queued),
 * with sync BN or without, and taken on the CPU. */
static int fake_allreduce(nc_comm *c, void *buf, size_t n, nc_comm_dtype t, nc_comm_op op) {
  return (void)c, (void)buf, (void)n, (void)t, (void)op, NC_OK;
}

static void test_data_parallel_stays_on_cpu(void) {
  static const nc_comm_ops ops = {.kind = "fake", .allreduce = fake_allreduce};
  nc_comm two = {.ops = &ops, .rank = 0, .size = 2};
  nc_backend dev = *nc_backend_cpu();
  dev.kind = NC_DEVICE_CUDA;
  nc_ssl_config c = tiny(NC_PREDICTOR_MLP);
  nc_ssl *on_dev = NULL, *on_cpu = NULL;
  CHECK(nc_ssl_create_on(&dev, &on_dev, &c) == NC_OK);
  CHECK(nc_ssl_create(&on_cpu, &c) == NC_OK);
  if (!on_dev || !on_cpu) return;
  for (int sync_bn = 0; sync_bn < 2; sync_bn++) {
    CHECK(nc_ssl_set_comm(on_dev, &two, sync_bn) == NC_EINVAL);
    CHECK(nc_ssl_comm(on_dev) == NULL);
  }
  CHECK(nc_ssl_set_comm(on_cpu, &two, 0) == NC_OK && nc_ssl_comm(on_cpu) == &two);
  nc_ssl_free(on_dev);
  nc_ssl_free(on_cpu);
}

/* ImageNet stem: max pooling and a ReLU-free path through the spy, forward and backward. */
static void test_maxpool_through_spy(void) {
  nc_resnet_cfg rc = {18, NC_STEM_IMAGENET, 3, 2};
  nc_net *a = NULL, *b = NULL;
  CHECK(nc_resnet_build_on(&spy, &a, &rc, 32, 32, 2, 1, 1, NULL) == NC_OK);
  CHECK(nc_resnet_build(&b, &rc, 32, 32, 2, 1, 1, NULL) == NC_OK);
  if (!a || !b) return;
  nc_rng r1, r2;
  nc_rng_seed(&r1, 7), nc_rng_seed(&r2, 7);
  nc_net_init(a, &r1), nc_net_init(b, &r2);
  static float x[2 * 3 * 32 * 32], ya[2 * 16], yb[2 * 16], dy[2 * 16];
  for (size_t i = 0; i < sizeof x / sizeof x[0]; i++) x[i] = (float)sin(0.37 * i);
  for (int i = 0; i < 2 * 16; i++) dy[i] = (float)cos(0.5 * i);
  memset(count, 0, sizeof count);
  CHECK(nc_net_forward(a, 0, 2, x, ya) == NC_OK && nc_net_forward(b, 0, 2, x, yb) == NC_OK);
  CHECK(nc_net_backward(a, 0, dy, NULL) == NC_OK && nc_net_backward(b, 0, dy, NULL) == NC_OK);
  CHECK(count[C_MAX_F] == 1 && count[C_MAX_B] == 1);
  CHECK(same_floats(ya, yb, 2 * 16));
  float *wa, *wb, *ga, *gb;
  size_t na, nb;
  nc_net_flat(a, &wa, &ga, &na), nc_net_flat(b, &wb, &gb, &nb);
  CHECK(na == nb && same_floats(ga, gb, na));
  nc_net_free(a), nc_net_free(b);
}

/* ---- the CPU backend's step operations against their formulas ---- */

static void test_cpu_step_ops(void) {
  nc_backend *be = nc_backend_cpu();
  const nc_backend_i *op = be->i;
  float *p = op->alloc(be, 1000);
  CHECK(p && ((uintptr_t)p % 64) == 0);
  int zero = 1;
  for (int i = 0; i < 250; i++) zero &= p[i] == 0.0f;
  CHECK(zero);
  op->free(be, p);
  /* non-finite count */
  float v[6] = {1, NAN, 2, INFINITY, -INFINITY, 0};
  CHECK(op->nonfinite(be, v, 6) == 3);
  CHECK(op->nonfinite(be, v, 1) == 0);
  /* EMA */
  float t[3] = {1, 2, 3}, o[3] = {3, 2, 1};
  op->ema(be, 3, t, o, 0.75);
  CHECK_NEAR(t[0], 1.5, 1e-6);
  CHECK_NEAR(t[2], 2.5, 1e-6);
  /* SGD with momentum and decay, two steps */
  float w[2] = {1.0f, -2.0f}, g[2] = {0.5f, 0.25f}, buf[2] = {0, 0};
  nc_update u = {0.1f, 0.9f, 0.01f, 0, 1e-3};
  op->update(be, &u, w, g, buf, 2);
  op->update(be, &u, w, g, buf, 2);
  double w0 = 1.0, b0 = 0;
  for (int k = 0; k < 2; k++) {
    double d = 0.5 + 0.01 * w0;
    b0 = 0.9 * b0 + d;
    w0 -= 0.1 * b0;
  }
  CHECK_NEAR(w[0], w0, 1e-6);
  /* LARS: d scaled by trust·‖w‖/‖d‖ */
  float lw[2] = {3.0f, 4.0f}, lg[2] = {1.0f, 0.0f}, lb[2] = {0, 0};
  nc_update l = {1.0f, 0.0f, 0.0f, 1, 0.5};
  op->update(be, &l, lw, lg, lb, 2);
  CHECK_NEAR(lw[0], 3.0 - 0.5 * 5.0, 1e-6); /* ‖w‖ = 5, ‖d‖ = 1 */
  CHECK_NEAR(lw[1], 4.0, 1e-6);
  /* F̂ update */
  float f1[2 * 2] = {1, 2, 3, 4}, f2[2 * 2] = {0, 1, 1, 0}, F[4] = {1, 1, 1, 1};
  op->fhat_update(be, 2, 2, f1, f2, 0.5f, 0.25f, F);
  /* f1ᵀf1 = [[10, 14], [14, 20]], f2ᵀf2 = [[1, 0], [0, 1]] */
  CHECK_NEAR(F[0], 0.5 + 0.25 * 11, 1e-6);
  CHECK_NEAR(F[1], 0.5 + 0.25 * 14, 1e-6);
  CHECK_NEAR(F[3], 0.5 + 0.25 * 21, 1e-6);
}

/* ---- the arena on a backend ---- */

static void test_arena_on(void) {
  nc_arena a;
  memset(count, 0, sizeof count);
  CHECK(nc_arena_init_on(&a, 1000, &spy) == NC_OK);
  CHECK(count[C_ALLOC] == 1 && a.cap >= 1000);
  CHECK(nc_arena_floats(&a, 10) != NULL);
  nc_arena_free(&a);
  CHECK(count[C_FREE] == 1);
}

/* ---- host memory and the eigensolver ---- */

static void test_host_memory_and_eigh(void) {
  memset(count, 0, sizeof count);
  float *p = nc_backend_host_alloc(&spy, 100 * sizeof(float));
  CHECK(p != NULL && count[C_HOST_ALLOC] == 1 && (uintptr_t)p % 64 == 0);
  if (p) p[99] = 1; /* writable to its end (ASan checks) */
  nc_backend_host_free(&spy, p);
  nc_backend_host_free(&spy, NULL);
  /* the CPU's eigh is LAPACKE's: eigenvectors as columns, eigenvalues ascending */
  float A[4] = {2, 1, 1, 2}, w[2];
  CHECK(nc_backend_cpu()->i->eigh(nc_backend_cpu(), 2, A, w) == NC_OK);
  CHECK_NEAR(w[0], 1, 1e-6);
  CHECK_NEAR(w[1], 3, 1e-6);
  CHECK_NEAR(fabs(A[1]), sqrt(0.5), 1e-6); /* the column of 3: (1, 1)/√2 */
  CHECK_NEAR(A[1], A[3], 1e-6);
  CHECK_NEAR(A[0], -A[2], 1e-6); /* the column of 1: (1, −1)/√2 */
  /* W = U diag(p) Uᵀ from those columns: back to A with p = w; another p, exactly symmetric */
  float W[4], p2[2] = {0.5f, 2.0f};
  nc_backend_cpu()->i->psd_compose(nc_backend_cpu(), 2, A, w, W);
  CHECK_NEAR(W[0], 2, 1e-6);
  CHECK_NEAR(W[1], 1, 1e-6);
  CHECK_NEAR(W[3], 2, 1e-6);
  nc_backend_cpu()->i->psd_compose(nc_backend_cpu(), 2, A, p2, W);
  CHECK(W[1] == W[2]);
  CHECK_NEAR(W[0], 1.25, 1e-6); /* ½·0.5 + ½·2 */
  CHECK_NEAR(W[1], 0.75, 1e-6); /* −½·0.5 + ½·2 */
  /* NCSSL_EIGH is checked before a device is looked for */
  nc_backend *be = NULL;
  setenv("NCSSL_EIGH", "gpu", 1);
  CHECK(nc_backend_open(&be, "cuda", NULL) == NC_EUSAGE && be == NULL);
  CHECK(strstr(nc_last_error(), "NCSSL_EIGH") != NULL);
  setenv("NCSSL_EIGH", "device", 1);
  if (getenv("NCSSL_TEST_HAS_GPU") == NULL)
    CHECK(nc_backend_open(&be, "cuda", NULL) == NC_EIO && be == NULL);
  else if (nc_backend_open(&be, "cuda", NULL) == NC_OK) {
    CHECK(be->eigh == NC_EIGH_DEVICE);
    nc_backend_close(be);
  }
  unsetenv("NCSSL_EIGH");
}

/* NCSSL_CUDA_BN is checked by the CUDA module before it looks for a device. */
static void test_cuda_bn_choice(void) {
  nc_backend *be = NULL;
  setenv("NCSSL_CUDA_BN", "fast", 1);
  int rc = nc_backend_open(&be, "cuda", NULL);
  if (nc_backend_cuda_built()) {
    CHECK(rc == NC_EUSAGE && be == NULL);
    CHECK(strstr(nc_last_error(), "NCSSL_CUDA_BN") != NULL);
  } else {
    CHECK(rc == NC_EIO && be == NULL); /* no CUDA in this build: said first */
  }
  unsetenv("NCSSL_CUDA_BN");
}

/* ---- --device and --precision ---- */

static void test_parse(void) {
  nc_device_kind k;
  int d;
  CHECK(nc_device_parse("cpu", &k, &d) == NC_OK && k == NC_DEVICE_CPU && d == 0);
  CHECK(nc_device_parse("cuda", &k, &d) == NC_OK && k == NC_DEVICE_CUDA && d == 0);
  CHECK(nc_device_parse("cuda:3", &k, &d) == NC_OK && k == NC_DEVICE_CUDA && d == 3);
  CHECK(nc_device_parse("cuda:", &k, &d) == NC_EUSAGE);
  CHECK(nc_device_parse("cuda:x", &k, &d) == NC_EUSAGE);
  CHECK(nc_device_parse("gpu", &k, &d) == NC_EUSAGE);
  CHECK(nc_device_parse("cudax", &k, &d) == NC_EUSAGE);
  nc_precision p;
  CHECK(nc_precision_parse("tf32", &p) == NC_OK && p == NC_PRECISION_TF32);
  CHECK(nc_precision_parse("fp32", &p) == NC_OK && p == NC_PRECISION_FP32);
  CHECK(nc_precision_parse("bf16", &p) == NC_OK && p == NC_PRECISION_BF16);
  CHECK(nc_precision_parse("fp16", &p) == NC_EUSAGE);
  CHECK(!strcmp(nc_precision_name(NC_PRECISION_BF16), "bf16"));
  nc_backend *be = NULL;
  CHECK(nc_backend_open(&be, "cpu", "fp32") == NC_OK && be == nc_backend_cpu());
  CHECK(nc_backend_open(&be, "cpu", "tf32") == NC_OK && be == nc_backend_cpu_at(NC_PRECISION_TF32));
  CHECK(be->kind == NC_DEVICE_CPU && be->precision == NC_PRECISION_TF32 && be != nc_backend_cpu());
  nc_backend_close(be); /* a shared instance too */
  CHECK(nc_backend_open(&be, "cpu", NULL) == NC_OK && be->precision == NC_PRECISION_TF32);
  /* bf16 where the CPU has bf16 convolution kernels, refused where it has none */
  if (nc_conv_bf16_available()) {
    CHECK(nc_backend_open(&be, "cpu", "bf16") == NC_OK &&
          be == nc_backend_cpu_at(NC_PRECISION_BF16));
    CHECK(be && be->precision == NC_PRECISION_BF16 && be->kind == NC_DEVICE_CPU);
  } else {
    CHECK(nc_backend_cpu_at(NC_PRECISION_BF16) == NULL);
    CHECK(nc_backend_open(&be, "cpu", "bf16") == NC_EUSAGE && be == NULL);
  }
  nc_backend_close(nc_backend_cpu()); /* the shared instance stays */
  CHECK(nc_backend_cpu()->i->alloc != NULL);
  /* No GPU here (and maybe no CUDA in the build): a runtime failure, one message. */
  if (getenv("NCSSL_TEST_HAS_GPU") == NULL) {
    CHECK(nc_backend_open(&be, "cuda:0", NULL) == NC_EIO && be == NULL);
    CHECK(strstr(nc_last_error(), "cuda") != NULL);
  }
}

int main(void) {
  for (size_t i = 0; i < sizeof x1 / sizeof x1[0]; i++) {
    x1[i] = (float)sin(0.1 * i);
    x2[i] = (float)cos(0.13 * i);
  }
  make_spy();
  test_step_through_spy(NC_PREDICTOR_MLP);
  test_step_through_spy(NC_PREDICTOR_DIRECTPRED);
  test_maxpool_through_spy();
  test_device_layout();
  test_host_reads_wait();
  deferred_setup();
  test_deferred_step(NC_SSL_BYOL, NC_PREDICTOR_MLP, 0, 0);
  test_deferred_step(NC_SSL_BYOL, NC_PREDICTOR_MLP, 1, 0);
  test_deferred_step(NC_SSL_BYOL, NC_PREDICTOR_LINEAR, 1, 0);
  test_deferred_step(NC_SSL_BYOL, NC_PREDICTOR_DIRECTPRED, 0, 0);
  test_deferred_step(NC_SSL_BYOL, NC_PREDICTOR_DIRECTSET, 0, 1.0); /* DirectCopy: no eigh */
  test_deferred_step(NC_SSL_BYOL, NC_PREDICTOR_OPTIMAL, 0, 0);
  test_deferred_step(NC_SSL_BYOL, NC_PREDICTOR_IDENTITY, 0, 0);
  test_deferred_step(NC_SSL_SIMSIAM, NC_PREDICTOR_MLP, 1, 0);
  test_data_parallel_stays_on_cpu();
  test_cpu_step_ops();
  test_arena_on();
  test_host_memory_and_eigh();
  test_cuda_bn_choice();
  test_parse();
  return nc_test_done();
}

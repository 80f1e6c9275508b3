/* A CUDA-kind backend on the CPU whose operations run LATE, as a GPU's queued work does: every
 * operation that the CUDA backend puts on its stream (uploads, copies, zeroing, the layers, the
 * optimizer update, EMA, F̂'s update, psd_compose) is recorded and runs, in order, only when the
 * host waits: sync, download, loss, eigh and nonfinite (the operations documented as waiting), and
 * free / host_free (which wait on a GPU too). alloc does NOT wait (the interface does not say it
 * does). A host read of a tensor without a wait sees it as it was before the queued work, and a
 * host write lands before queued operations that read it: races that the synchronous CPU backend
 * hides become wrong numbers here. The arithmetic is the CPU backend's, in the same order, so a
 * race-free caller gets the same bits on this backend as on the CPU table under the CUDA kind
 * (deferred_immediate: the same layout, nothing deferred).
 *
 * One instance per test program (static state); include it once. */
#ifndef NCSSL_TEST_DEFERRED_BACKEND_H
#define NCSSL_TEST_DEFERRED_BACKEND_H
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ncssl/backend.h"

enum {
  DQ_UPLOAD,
  DQ_COPY,
  DQ_ZERO,
  DQ_CONV_F,
  DQ_CONV_B,
  DQ_BN_F,
  DQ_BN_B,
  DQ_RELU_F,
  DQ_RELU_B,
  DQ_ADD_F,
  DQ_ADD_B,
  DQ_MAX_F,
  DQ_MAX_B,
  DQ_AVG_F,
  DQ_AVG_B,
  DQ_LIN_F,
  DQ_LIN_B,
  DQ_UPDATE,
  DQ_EMA,
  DQ_FHAT,
  DQ_PSD
};

typedef struct {
  int op;
  nc_backend *be;
  void *p[9]; /* pointer arguments in order (const cast away) */
  nc_t4 t[2];
  size_t z;
  int i[4];
  float f[2];
  double d;
  nc_conv_plan *plan;
  const nc_conv_cfg *cfg;
  nc_update u;
  float *owned; /* psd_compose's p: host memory, read at the call as CUDA does */
} dq_rec;

static const nc_backend_i *dq_cpu;
static nc_backend_i dq_table, dq_imm_table;
static nc_backend deferred_be, deferred_immediate;
static dq_rec *dq_q;
static size_t dq_n, dq_cap;
static long dq_waits, dq_ran;

static dq_rec *dq_push(nc_backend *be, int op) {
  if (dq_n == dq_cap) {
    size_t cap = dq_cap ? 2 * dq_cap : 256;
    dq_rec *q = realloc(dq_q, cap * sizeof *q);
    if (!q) abort();
    dq_q = q, dq_cap = cap;
  }
  dq_rec *r = &dq_q[dq_n++];
  memset(r, 0, sizeof *r);
  r->op = op, r->be = be;
  return r;
}

/* Runs the queued operations in order: the host's wait. */
static void dq_flush(void) {
  const nc_backend_i *c = dq_cpu;
  for (size_t k = 0; k < dq_n; k++) {
    dq_rec *r = &dq_q[k];
    nc_backend *b = r->be;
    void **p = r->p;
    switch (r->op) {
      case DQ_UPLOAD:
        c->upload(b, p[0], p[1], r->z);
        break;
      case DQ_COPY:
        c->copy(b, p[0], p[1], r->z);
        break;
      case DQ_ZERO:
        c->zero(b, p[0], r->z);
        break;
      case DQ_CONV_F:
        c->conv_forward(b, r->plan, r->cfg, r->t[0], p[0], p[1], r->t[1], p[2], p[3], r->z);
        break;
      case DQ_CONV_B:
        c->conv_backward(b, r->plan, r->cfg, r->t[0], p[0], p[1], r->t[1], p[2], p[3], p[4], p[5],
                         r->z);
        break;
      case DQ_BN_F:
        c->bn_forward(b, r->t[0], p[0], p[1], p[2], p[3], p[4], p[5], r->i[0], p[6], p[7], r->i[1]);
        break;
      case DQ_BN_B:
        c->bn_backward(b, r->t[0], p[0], p[1], p[2], p[3], p[4], p[5], r->i[0], p[6], p[7], p[8]);
        break;
      case DQ_RELU_F:
        c->relu_forward(b, r->z, p[0], p[1]);
        break;
      case DQ_RELU_B:
        c->relu_backward(b, r->z, p[0], p[1], p[2]);
        break;
      case DQ_ADD_F:
        c->add_forward(b, r->z, p[0], p[1], p[2], r->i[0]);
        break;
      case DQ_ADD_B:
        c->add_backward(b, r->z, p[0], p[1], p[2], r->i[0]);
        break;
      case DQ_MAX_F:
        c->maxpool_forward(b, r->i[0], r->i[1], r->i[2], r->t[0], p[0], r->t[1], p[1], p[2]);
        break;
      case DQ_MAX_B:
        c->maxpool_backward(b, r->i[0], r->i[1], r->i[2], r->t[0], p[0], r->t[1], p[1], p[2]);
        break;
      case DQ_AVG_F:
        c->avgpool_forward(b, r->t[0], p[0], p[1]);
        break;
      case DQ_AVG_B:
        c->avgpool_backward(b, r->t[0], p[0], p[1]);
        break;
      case DQ_LIN_F:
        c->linear_forward(b, r->i[0], r->i[1], r->i[2], p[0], p[1], p[2], p[3]);
        break;
      case DQ_LIN_B:
        c->linear_backward(b, r->i[0], r->i[1], r->i[2], p[0], p[1], p[2], p[3], p[4], p[5]);
        break;
      case DQ_UPDATE:
        c->update(b, &r->u, p[0], p[1], p[2], r->z);
        break;
      case DQ_EMA:
        c->ema(b, r->z, p[0], p[1], r->d);
        break;
      case DQ_FHAT:
        c->fhat_update(b, r->i[0], r->i[1], p[0], p[1], r->f[0], r->f[1], p[2]);
        break;
      case DQ_PSD:
        c->psd_compose(b, r->i[0], p[0], r->owned, p[1]);
        break;
    }
    free(r->owned);
    dq_ran++;
  }
  dq_n = 0;
}

#define DQ_P(r, k, v) ((r)->p[k] = (void *)(uintptr_t)(v))

static void dq_free(nc_backend *b, void *p) { dq_flush(), dq_cpu->free(b, p); }
static void dq_host_free(nc_backend *b, void *p) { dq_flush(), dq_cpu->host_free(b, p); }
static int dq_sync(nc_backend *b) {
  dq_waits++, dq_flush();
  return dq_cpu->sync(b);
}
static void dq_upload(nc_backend *b, void *d, const void *s, size_t n) {
  dq_rec *r = dq_push(b, DQ_UPLOAD);
  DQ_P(r, 0, d), DQ_P(r, 1, s), r->z = n;
}
static void dq_download(nc_backend *b, void *d, const void *s, size_t n) {
  dq_waits++, dq_flush(), dq_cpu->download(b, d, s, n);
}
static void dq_copy(nc_backend *b, void *d, const void *s, size_t n) {
  dq_rec *r = dq_push(b, DQ_COPY);
  DQ_P(r, 0, d), DQ_P(r, 1, s), r->z = n;
}
static void dq_zero(nc_backend *b, void *d, size_t n) {
  dq_rec *r = dq_push(b, DQ_ZERO);
  DQ_P(r, 0, d), r->z = n;
}
static void dq_conv_f(nc_backend *b, nc_conv_plan *pl, const nc_conv_cfg *c, nc_t4 xs,
                      const float *x, const float *W, nc_t4 ys, float *y, void *ws, size_t wb) {
  dq_rec *r = dq_push(b, DQ_CONV_F);
  r->plan = pl, r->cfg = c, r->t[0] = xs, r->t[1] = ys, r->z = wb;
  DQ_P(r, 0, x), DQ_P(r, 1, W), DQ_P(r, 2, y), DQ_P(r, 3, ws);
}
static void dq_conv_b(nc_backend *b, nc_conv_plan *pl, const nc_conv_cfg *c, nc_t4 xs,
                      const float *x, const float *W, nc_t4 ys, const float *dy, float *dx,
                      float *dW, void *ws, size_t wb) {
  dq_rec *r = dq_push(b, DQ_CONV_B);
  r->plan = pl, r->cfg = c, r->t[0] = xs, r->t[1] = ys, r->z = wb;
  DQ_P(r, 0, x), DQ_P(r, 1, W), DQ_P(r, 2, dy), DQ_P(r, 3, dx), DQ_P(r, 4, dW), DQ_P(r, 5, ws);
}
static void dq_bn_f(nc_backend *b, nc_t4 s, const float *x, float *y, const float *g,
                    const float *be, float *rm, float *rv, int t, float *sm, float *si, int relu) {
  dq_rec *r = dq_push(b, DQ_BN_F);
  r->t[0] = s, r->i[0] = t, r->i[1] = relu;
  DQ_P(r, 0, x), DQ_P(r, 1, y), DQ_P(r, 2, g), DQ_P(r, 3, be), DQ_P(r, 4, rm), DQ_P(r, 5, rv);
  DQ_P(r, 6, sm), DQ_P(r, 7, si);
}
static void dq_bn_b(nc_backend *b, nc_t4 s, const float *x, const float *y, float *dy,
                    const float *g, const float *sm, const float *si, int t, float *dx, float *dg,
                    float *db) {
  dq_rec *r = dq_push(b, DQ_BN_B);
  r->t[0] = s, r->i[0] = t;
  DQ_P(r, 0, x), DQ_P(r, 1, y), DQ_P(r, 2, dy), DQ_P(r, 3, g), DQ_P(r, 4, sm), DQ_P(r, 5, si);
  DQ_P(r, 6, dx), DQ_P(r, 7, dg), DQ_P(r, 8, db);
}
static void dq_relu_f(nc_backend *b, size_t n, const float *x, float *y) {
  dq_rec *r = dq_push(b, DQ_RELU_F);
  r->z = n, DQ_P(r, 0, x), DQ_P(r, 1, y);
}
static void dq_relu_b(nc_backend *b, size_t n, const float *y, const float *dy, float *dx) {
  dq_rec *r = dq_push(b, DQ_RELU_B);
  r->z = n, DQ_P(r, 0, y), DQ_P(r, 1, dy), DQ_P(r, 2, dx);
}
static void dq_add_f(nc_backend *b, size_t n, const float *a, const float *c, float *y, int relu) {
  dq_rec *r = dq_push(b, DQ_ADD_F);
  r->z = n, r->i[0] = relu, DQ_P(r, 0, a), DQ_P(r, 1, c), DQ_P(r, 2, y);
}
static void dq_add_b(nc_backend *b, size_t n, const float *y, float *dy, float *db, int relu) {
  dq_rec *r = dq_push(b, DQ_ADD_B);
  r->z = n, r->i[0] = relu, DQ_P(r, 0, y), DQ_P(r, 1, dy), DQ_P(r, 2, db);
}
static void dq_max_f(nc_backend *b, int k, int st, int pad, nc_t4 xs, const float *x, nc_t4 ys,
                     float *y, int32_t *am) {
  dq_rec *r = dq_push(b, DQ_MAX_F);
  r->i[0] = k, r->i[1] = st, r->i[2] = pad, r->t[0] = xs, r->t[1] = ys;
  DQ_P(r, 0, x), DQ_P(r, 1, y), DQ_P(r, 2, am);
}
static void dq_max_b(nc_backend *b, int k, int st, int pad, nc_t4 xs, float *dx, nc_t4 ys,
                     const float *dy, const int32_t *am) {
  dq_rec *r = dq_push(b, DQ_MAX_B);
  r->i[0] = k, r->i[1] = st, r->i[2] = pad, r->t[0] = xs, r->t[1] = ys;
  DQ_P(r, 0, dx), DQ_P(r, 1, dy), DQ_P(r, 2, am);
}
static void dq_avg_f(nc_backend *b, nc_t4 xs, const float *x, float *y) {
  dq_rec *r = dq_push(b, DQ_AVG_F);
  r->t[0] = xs, DQ_P(r, 0, x), DQ_P(r, 1, y);
}
static void dq_avg_b(nc_backend *b, nc_t4 xs, const float *dy, float *dx) {
  dq_rec *r = dq_push(b, DQ_AVG_B);
  r->t[0] = xs, DQ_P(r, 0, dy), DQ_P(r, 1, dx);
}
static void dq_lin_f(nc_backend *b, int n, int in, int out, const float *x, const float *W,
                     const float *bias, float *y) {
  dq_rec *r = dq_push(b, DQ_LIN_F);
  r->i[0] = n, r->i[1] = in, r->i[2] = out;
  DQ_P(r, 0, x), DQ_P(r, 1, W), DQ_P(r, 2, bias), DQ_P(r, 3, y);
}
static void dq_lin_b(nc_backend *b, int n, int in, int out, const float *x, const float *W,
                     const float *dy, float *dx, float *dW, float *db) {
  dq_rec *r = dq_push(b, DQ_LIN_B);
  r->i[0] = n, r->i[1] = in, r->i[2] = out;
  DQ_P(r, 0, x), DQ_P(r, 1, W), DQ_P(r, 2, dy), DQ_P(r, 3, dx), DQ_P(r, 4, dW), DQ_P(r, 5, db);
}
static double dq_loss(nc_backend *b, nc_loss_kind k, int B, int d, const float *q1, const float *q2,
                      const float *z1, const float *z2, float *dq1, float *dq2, float *dz1,
                      float *dz2) {
  dq_waits++, dq_flush();
  return dq_cpu->loss(b, k, B, d, q1, q2, z1, z2, dq1, dq2, dz1, dz2);
}
static void dq_update(nc_backend *b, const nc_update *u, float *w, const float *g, float *buf,
                      size_t n) {
  dq_rec *r = dq_push(b, DQ_UPDATE);
  r->u = *u, r->z = n, DQ_P(r, 0, w), DQ_P(r, 1, g), DQ_P(r, 2, buf);
}
static void dq_ema(nc_backend *b, size_t n, float *t, const float *o, double tau) {
  dq_rec *r = dq_push(b, DQ_EMA);
  r->z = n, r->d = tau, DQ_P(r, 0, t), DQ_P(r, 1, o);
}
static void dq_fhat(nc_backend *b, int n, int d, const float *f1, const float *f2, float keep,
                    float add, float *F) {
  dq_rec *r = dq_push(b, DQ_FHAT);
  r->i[0] = n, r->i[1] = d, r->f[0] = keep, r->f[1] = add;
  DQ_P(r, 0, f1), DQ_P(r, 1, f2), DQ_P(r, 2, F);
}
static int dq_eigh(nc_backend *b, int n, float *A, float *w) {
  dq_waits++, dq_flush();
  return dq_cpu->eigh(b, n, A, w);
}
static void dq_psd(nc_backend *b, int d, const float *U, const float *p, float *W) {
  dq_rec *r = dq_push(b, DQ_PSD);
  r->i[0] = d, DQ_P(r, 0, U), DQ_P(r, 1, W);
  r->owned = malloc((size_t)d * sizeof(float));
  if (!r->owned) abort();
  memcpy(r->owned, p, (size_t)d * sizeof(float));
}
static size_t dq_nonfinite(nc_backend *b, const float *x, size_t n) {
  dq_waits++, dq_flush();
  return dq_cpu->nonfinite(b, x, n);
}

/* Makes deferred_be (operations late) and deferred_immediate (the same CUDA kind and layout,
 * operations at once: the reference). */
static void deferred_setup(void) {
  dq_cpu = nc_backend_cpu()->i;
  dq_imm_table = *dq_cpu;
  dq_imm_table.name = "cpu-as-cuda";
  deferred_immediate = *nc_backend_cpu();
  deferred_immediate.i = &dq_imm_table;
  deferred_immediate.kind = NC_DEVICE_CUDA;
  nc_backend_i *t = &dq_table;
  *t = *dq_cpu;
  t->name = "deferred";
  t->free = dq_free, t->host_free = dq_host_free, t->sync = dq_sync;
  t->upload = dq_upload, t->download = dq_download, t->copy = dq_copy, t->zero = dq_zero;
  t->conv_forward = dq_conv_f, t->conv_backward = dq_conv_b;
  t->bn_forward = dq_bn_f, t->bn_backward = dq_bn_b;
  t->relu_forward = dq_relu_f, t->relu_backward = dq_relu_b;
  t->add_forward = dq_add_f, t->add_backward = dq_add_b;
  t->maxpool_forward = dq_max_f, t->maxpool_backward = dq_max_b;
  t->avgpool_forward = dq_avg_f, t->avgpool_backward = dq_avg_b;
  t->linear_forward = dq_lin_f, t->linear_backward = dq_lin_b;
  t->loss = dq_loss, t->update = dq_update, t->ema = dq_ema, t->fhat_update = dq_fhat;
  t->eigh = dq_eigh, t->psd_compose = dq_psd, t->nonfinite = dq_nonfinite;
  deferred_be = *nc_backend_cpu();
  deferred_be.i = t;
  deferred_be.kind = NC_DEVICE_CUDA;
}

/* Operations queued and not yet run (0 after any wait). */
static size_t deferred_pending(void) { return dq_n; }

#endif

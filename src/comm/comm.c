/* The public communicator functions and the single-process implementation (every collective is
 * the identity; the time is still counted so the benchmark's numbers are comparable). */
#include <stdlib.h>
#include <string.h>

#include "comm_internal.h"
#include "ncssl/clock.h"
#include "ncssl/status.h"

static int single_allreduce(nc_comm *c, void *buf, size_t n, nc_comm_dtype t, nc_comm_op op) {
  (void)c, (void)buf, (void)n, (void)t, (void)op;
  return NC_OK;
}
static int single_bcast(nc_comm *c, void *buf, size_t bytes, int root) {
  (void)c, (void)buf, (void)bytes;
  return root == 0 ? NC_OK : nc_fail(NC_EINVAL, "comm: broadcast from rank %d of 1", root);
}
static int single_gatherv(nc_comm *c, const float *send, float *recv, const size_t *counts,
                          int root) {
  (void)c;
  if (root != 0) return nc_fail(NC_EINVAL, "comm: gather to rank %d of 1", root);
  if (send != recv) memmove(recv, send, counts[0] * sizeof(float));
  return NC_OK;
}
static int single_barrier(nc_comm *c) {
  (void)c;
  return NC_OK;
}
static void single_abort(nc_comm *c, int code) {
  (void)c;
  exit(code);
}
static void single_close(nc_comm *c) { (void)c; }

static const nc_comm_ops single_ops = {"single",       single_allreduce, single_bcast,
                                       single_gatherv, single_barrier,   single_abort,
                                       single_close};
static nc_comm single = {&single_ops, 0, 1, 0, 0, 0, NULL};

nc_comm *nc_comm_single(void) { return &single; }

nc_comm *nc_comm_open(int *argc, char ***argv) {
  nc_comm *c = nc_comm_mpi_open(argc, argv);
  return c ? c : &single;
}

void nc_comm_close(nc_comm *c) {
  if (c && c != &single) c->ops->close(c);
}

int nc_comm_rank(const nc_comm *c) { return c ? c->rank : 0; }
int nc_comm_size(const nc_comm *c) { return c ? c->size : 1; }
const char *nc_comm_kind(const nc_comm *c) { return c ? c->ops->kind : "single"; }

static int allreduce(nc_comm *c, void *buf, size_t n, nc_comm_dtype t, nc_comm_op op) {
  if (!c || n == 0) return NC_OK;
  double t0 = nc_now_seconds();
  int rc = c->ops->allreduce(c, buf, n, t, op);
  c->seconds += nc_now_seconds() - t0;
  c->calls++;
  c->bytes += (double)n * (t == NC_DT_FLOAT ? sizeof(float) : sizeof(double));
  return rc;
}

int nc_comm_allreduce_f(nc_comm *c, float *buf, size_t n, nc_comm_op op) {
  return allreduce(c, buf, n, NC_DT_FLOAT, op);
}
int nc_comm_allreduce_d(nc_comm *c, double *buf, size_t n, nc_comm_op op) {
  return allreduce(c, buf, n, NC_DT_DOUBLE, op);
}
int nc_comm_bcast(nc_comm *c, void *buf, size_t bytes, int root) {
  return c ? c->ops->bcast(c, buf, bytes, root) : NC_OK;
}
int nc_comm_gatherv_f(nc_comm *c, const float *send, float *recv, const size_t *counts, int root) {
  return (c ? c : &single)->ops->gatherv(c ? c : &single, send, recv, counts, root);
}
int nc_comm_barrier(nc_comm *c) { return c ? c->ops->barrier(c) : NC_OK; }

int nc_comm_agree(nc_comm *c, int rc, int *first_failed) {
  if (first_failed) *first_failed = rc ? 0 : -1;
  if (!c || c->size == 1) return rc;
  /* [lowest failing rank (size when none), its code] in two reductions of one double each */
  double v[1] = {rc ? (double)c->rank : (double)c->size};
  int err = c->ops->allreduce(c, v, 1, NC_DT_DOUBLE, NC_COMM_MIN);
  if (err) return err;
  int first = (int)v[0];
  if (first_failed) *first_failed = first < c->size ? first : -1;
  if (first == c->size) return NC_OK;
  double code[1] = {c->rank == first ? (double)rc : 0};
  if ((err = c->ops->allreduce(c, code, 1, NC_DT_DOUBLE, NC_COMM_MAX))) return err;
  if (c->rank == first) return rc;
  return nc_fail((int)code[0], "rank %d failed", first);
}

void nc_comm_abort(nc_comm *c, int code) {
  if (!c) exit(code);
  c->ops->abort(c, code);
}

void nc_comm_stats(const nc_comm *c, long *calls, double *bytes, double *seconds) {
  if (calls) *calls = c ? c->calls : 0;
  if (bytes) *bytes = c ? c->bytes : 0;
  if (seconds) *seconds = c ? c->seconds : 0;
}

#ifndef NCSSL_HAVE_MPI
/* Built without MPI: every process is a single one. */
nc_comm *nc_comm_mpi_open(int *argc, char ***argv) {
  (void)argc, (void)argv;
  return NULL;
}
#endif

/* The MPI communicator (MPI_COMM_WORLD), compiled only when CMake found MPI (NCSSL_MPI). */
#include <limits.h>
#include <mpi.h>
#include <stdlib.h>

#include "comm_internal.h"
#include "ncssl/status.h"

static int mpi_error(int err, const char *what) {
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(err, msg, &len);
  return nc_fail(NC_EIO, "comm: %s failed: %s", what, msg);
}

static int mpi_allreduce(nc_comm *c, void *buf, size_t n, nc_comm_dtype t, nc_comm_op op) {
  (void)c;
  MPI_Datatype dt = t == NC_DT_FLOAT ? MPI_FLOAT : MPI_DOUBLE;
  MPI_Op mop = op == NC_COMM_MAX ? MPI_MAX : op == NC_COMM_MIN ? MPI_MIN : MPI_SUM;
  size_t esize = t == NC_DT_FLOAT ? sizeof(float) : sizeof(double);
  /* MPI counts are int: large vectors go in chunks */
  const size_t chunk = (size_t)1 << 30;
  for (size_t off = 0; off < n; off += chunk) {
    int count = (int)(n - off < chunk ? n - off : chunk);
    int err =
        MPI_Allreduce(MPI_IN_PLACE, (char *)buf + off * esize, count, dt, mop, MPI_COMM_WORLD);
    if (err != MPI_SUCCESS) return mpi_error(err, "MPI_Allreduce");
  }
  return NC_OK;
}

static int mpi_bcast(nc_comm *c, void *buf, size_t bytes, int root) {
  if (root < 0 || root >= c->size)
    return nc_fail(NC_EINVAL, "comm: broadcast from rank %d of %d", root, c->size);
  const size_t chunk = (size_t)1 << 30;
  for (size_t off = 0; off < bytes; off += chunk) {
    int count = (int)(bytes - off < chunk ? bytes - off : chunk);
    int err = MPI_Bcast((char *)buf + off, count, MPI_BYTE, root, MPI_COMM_WORLD);
    if (err != MPI_SUCCESS) return mpi_error(err, "MPI_Bcast");
  }
  return NC_OK;
}

static int mpi_gatherv(nc_comm *c, const float *send, float *recv, const size_t *counts, int root) {
  if (root < 0 || root >= c->size)
    return nc_fail(NC_EINVAL, "comm: gather to rank %d of %d", root, c->size);
  int *cnt = malloc(2 * (size_t)c->size * sizeof(int)), *displ = cnt ? cnt + c->size : NULL;
  if (!cnt) return nc_fail(NC_ENOMEM, "comm: out of memory");
  /* MPI's counts and offsets are int: a larger gather (over 8 GiB of floats) is refused */
  size_t off = 0;
  for (int r = 0; r < c->size; r++) {
    if (counts[r] > INT_MAX || off > INT_MAX - counts[r]) {
      free(cnt);
      return nc_fail(NC_EINVAL, "comm: gather of %zu+ floats exceeds MPI's int counts", off);
    }
    cnt[r] = (int)counts[r], displ[r] = (int)off;
    off += counts[r];
  }
  const int me = c->rank == root;
  const void *src = me && send == recv + displ[root] ? MPI_IN_PLACE : send;
  int err =
      MPI_Gatherv(src, cnt[c->rank], MPI_FLOAT, recv, cnt, displ, MPI_FLOAT, root, MPI_COMM_WORLD);
  free(cnt);
  return err == MPI_SUCCESS ? NC_OK : mpi_error(err, "MPI_Gatherv");
}

static int mpi_barrier(nc_comm *c) {
  (void)c;
  int err = MPI_Barrier(MPI_COMM_WORLD);
  return err == MPI_SUCCESS ? NC_OK : mpi_error(err, "MPI_Barrier");
}

static void mpi_abort(nc_comm *c, int code) {
  (void)c;
  MPI_Abort(MPI_COMM_WORLD, code);
  exit(code); /* not reached */
}

static void mpi_close(nc_comm *c) {
  int fin = 0;
  MPI_Finalized(&fin);
  if (!fin) MPI_Finalize();
  free(c);
}

static const nc_comm_ops mpi_ops = {"mpi",       mpi_allreduce, mpi_bcast, mpi_gatherv,
                                    mpi_barrier, mpi_abort,     mpi_close};

/* Started by a launcher? Open MPI's mpirun, or srun/PMIx/PMI. Without one, MPI_Init would try a
 * singleton start (slow, and fragile in containers), and a plain process needs none of it. */
static int launched(void) {
  const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"};
  for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
    if (getenv(vars[i])) return 1;
  return 0;
}

nc_comm *nc_comm_mpi_open(int *argc, char ***argv) {
  if (!launched()) return NULL;
  int inited = 0;
  MPI_Initialized(&inited);
  if (!inited && MPI_Init(argc, argv) != MPI_SUCCESS) return NULL;
  /* errors come back as codes (turned into messages above), not as MPI's own abort */
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  nc_comm *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->ops = &mpi_ops;
  MPI_Comm_rank(MPI_COMM_WORLD, &c->rank);
  MPI_Comm_size(MPI_COMM_WORLD, &c->size);
  return c;
}

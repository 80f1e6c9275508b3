/* The communicator's operations table, shared by comm.c (the public functions and the single
 * implementation) and comm_mpi.c. A future NCCL communicator fills in the same table. */
#ifndef NCSSL_COMM_INTERNAL_H
#define NCSSL_COMM_INTERNAL_H
#include "ncssl/comm.h"

typedef enum { NC_DT_FLOAT = 0, NC_DT_DOUBLE = 1 } nc_comm_dtype;

typedef struct {
  const char *kind;
  int (*allreduce)(nc_comm *c, void *buf, size_t n, nc_comm_dtype t, nc_comm_op op);
  int (*bcast)(nc_comm *c, void *buf, size_t bytes, int root);
  int (*gatherv)(nc_comm *c, const float *send, float *recv, const size_t *counts, int root);
  int (*barrier)(nc_comm *c);
  void (*abort)(nc_comm *c, int code);
  void (*close)(nc_comm *c);
} nc_comm_ops;

struct nc_comm {
  const nc_comm_ops *ops;
  int rank, size;
  long calls; /* all-reduce calls, traffic and time, for the benchmark */
  double bytes, seconds;
  void *impl;
};

/* The MPI communicator, or NULL when this process was not started by an MPI launcher (or the
 * build has no MPI). */
nc_comm *nc_comm_mpi_open(int *argc, char ***argv);

#endif

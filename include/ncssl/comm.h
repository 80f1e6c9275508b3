/* The communicator: how the ranks of a data-parallel run talk (PyTorch DDP's process group).
 * One small interface with two implementations behind it:
 *   single  one process, every collective is the identity (size 1, rank 0), so the training code
 *           has one path whether or not it was started by mpirun;
 *   mpi     Open MPI (MPI_COMM_WORLD), used when the binary was built with NCSSL_MPI and started
 *           by mpirun or srun (nc_comm_open looks at the launcher's environment).
 * Room for NCCL (docs/distributed.md): a third implementation of the same operations on device
 * buffers, its unique id broadcast over the MPI communicator at start (llm.c's bootstrap), with
 * MPI kept for the rare host-side collectives (agreement, checksums).
 *
 * Collectives are blocking and must be called by every rank in the same order with the same
 * sizes, OUTSIDE OpenMP parallel regions (one call per process). Functions return NC_OK or
 * NC_EIO with a message (MPI's own error string). */
#ifndef NCSSL_COMM_H
#define NCSSL_COMM_H
#include <stddef.h>
#include <stdint.h>

typedef struct nc_comm nc_comm;

typedef enum { NC_COMM_SUM = 0, NC_COMM_MAX = 1, NC_COMM_MIN = 2 } nc_comm_op;

/* The process's communicator: MPI when built with it and launched by mpirun/srun (MPI_Init on
 * the first call), else the single-process one. argc/argv may be NULL. Never fails: without MPI
 * the single communicator is returned. */
nc_comm *nc_comm_open(int *argc, char ***argv);
/* The single-process communicator (static; closing it is a no-op). */
nc_comm *nc_comm_single(void);
/* Finalizes MPI (when nc_comm_open initialised it); NULL or the single communicator are fine. */
void nc_comm_close(nc_comm *c);
/* Rank of this process in 0..size-1, and the number of ranks (a NULL communicator is single). */
int nc_comm_rank(const nc_comm *c);
int nc_comm_size(const nc_comm *c);
/* "single" or "mpi". */
const char *nc_comm_kind(const nc_comm *c);
/* Element-wise reduction over the ranks, in place: every rank gets the result. */
int nc_comm_allreduce_f(nc_comm *c, float *buf, size_t n, nc_comm_op op);
int nc_comm_allreduce_d(nc_comm *c, double *buf, size_t n, nc_comm_op op);
/* Copies root's `bytes` bytes into buf on every rank. */
int nc_comm_bcast(nc_comm *c, void *buf, size_t bytes, int root);
/* Gathers the ranks' blocks of floats to root, in rank order: rank r sends counts[r] floats from
 * `send` (every rank passes the same counts); root's recv receives all of them one after another
 * (sum of counts), and root's own block may already lie in place there (send == its offset in
 * recv). recv is not used on other ranks. For features computed by slices of a dataset. */
int nc_comm_gatherv_f(nc_comm *c, const float *send, float *recv, const size_t *counts, int root);
/* Waits for every rank. */
int nc_comm_barrier(nc_comm *c);
/* Agreement after a step that may fail on some ranks only (a file rank 0 writes, a dataset one
 * node lacks): every rank passes its own result code and gets back NC_OK when all succeeded; else
 * the lowest failing rank gets its own code (its message kept) and every other rank gets the same
 * code with the message "rank R failed" (so only that rank needs to say why). *first_failed, if
 * not NULL, receives R (-1 when all succeeded). */
int nc_comm_agree(nc_comm *c, int rc, int *first_failed);
/* Ends the whole job now with exit code `code` (MPI_Abort; exit() for single). For a failure
 * that other ranks cannot learn of through a collective; the caller prints its message first. */
void nc_comm_abort(nc_comm *c, int code);

/* All-reduce calls, the bytes passed to them and the seconds spent inside them since the start
 * (this rank; any pointer may be NULL). */
void nc_comm_stats(const nc_comm *c, long *calls, double *bytes, double *seconds);

#endif

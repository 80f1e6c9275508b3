/* Backends: where tensors live and where the operations of a training step run.
 *
 * A backend is a small table of functions (ggml's ggml_backend_i is the model): buffers (allocate,
 * free, copy between host and device, zero), synchronise, and every operation the tape (net.c) and
 * the SSL step (ssl.c, optim.c, predictor.c) call. Networks, predictors, optimizers and the SSL
 * wiring are created ON a backend: the arena carves one backend buffer with the same offsets as
 * before, so a tensor's backend is the backend of the object that owns it.
 *
 * - The CPU backend (nc_backend_cpu) is the engine's original code: OpenMP + OpenBLAS/oneDNN,
 *   calling the nc_* layer functions of layers.h. It is the reference every other backend is
 *   tested against, op by op. Its memory is ordinary host memory.
 * - The CUDA backend (nc_backend_cuda_create, built with NCSSL_CUDA) runs cuDNN convolutions and
 *   batch norm, cuBLAS linear layers and its own kernels on one stream. Its buffers are CUDA
 *   managed memory, so the few places that must read tensors on the host (checkpoints, monitor
 *   records, DirectPred's 128×128 eigendecomposition) read the same pointers after
 *   nc_backend_sync. Operations are asynchronous; errors are kept and reported by the next sync.
 *
 * Operation semantics are those of layers.h (backward ACCUMULATES into gradients, NULL gradient
 * pointers are skipped, the same in-place rules) unless said otherwise here. All pointers passed
 * to an operation are memory of that backend. */
#ifndef NCSSL_BACKEND_H
#define NCSSL_BACKEND_H
#include <stddef.h>
#include <stdint.h>

#include "ncssl/layers.h"
#include "ncssl/loss.h"

typedef enum { NC_DEVICE_CPU = 0, NC_DEVICE_CUDA = 1 } nc_device_kind;

/* Arithmetic allowed in convolutions and matrix products. tf32 (the default, as PyTorch's for
 * convolutions): faster convolution arithmetic within TF32's error, i.e. TF32 tensor cores where
 * the device has them and, on the CPU, Winograd F(4×4, 3×3) convolutions (fp32 arithmetic with a
 * few times a direct convolution's rounding error); fp32: direct fp32 arithmetic only; bf16: mixed
 * precision, the convolutions' inputs (activations, weights, output gradients) rounded to bf16
 * with fp32 accumulation, everything else (weights, batch-norm statistics, loss, F̂, optimizer
 * state, the stored activations) fp32. The CPU has it where oneDNN has bf16 kernels, the CUDA
 * backend through cuDNN's bf16 convolutions. */
typedef enum { NC_PRECISION_TF32 = 0, NC_PRECISION_FP32 = 1, NC_PRECISION_BF16 = 2 } nc_precision;

/* One optimizer update of one tensor (optim.h: SGD as torch.optim.SGD, or LARS):
 *   d = g + wd·w;  d *= trust·‖w‖/‖d‖ when lars (1 when a norm is 0);  buf = μ·buf + d;  w −=
 * lr·buf. */
typedef struct {
  float lr, momentum, weight_decay;
  int lars;          /* 1: the trust-ratio scaling above */
  double lars_trust; /* η_tc */
} nc_update;

typedef struct nc_backend nc_backend;

/* Where a GPU backend decomposes F̂: LAPACKE's ssyevd on the host after a sync (the default), or
 * cuSOLVER's syevd on the device. The CPU backend always uses LAPACKE. `ncssl bench eigh` times
 * both; NCSSL_EIGH=host|device picks one for a run (nc_backend_open). */
typedef enum { NC_EIGH_HOST = 0, NC_EIGH_DEVICE = 1 } nc_eigh_where;

typedef struct {
  const char *name; /* "cpu", "cuda" */
  void (*destroy)(nc_backend *be);
  /* ---- buffers ---- */
  /* `bytes` zeroed bytes aligned to 64, or NULL when out of memory. */
  void *(*alloc)(nc_backend *be, size_t bytes);
  void (*free)(nc_backend *be, void *p);
  /* dst (this backend) ← src (host or this backend), bytes. */
  void (*upload)(nc_backend *be, void *dst, const void *src, size_t bytes);
  /* dst (host) ← src (this backend); waits for the work queued before it. */
  void (*download)(nc_backend *be, void *dst, const void *src, size_t bytes);
  /* dst ← src, both this backend's memory. */
  void (*copy)(nc_backend *be, void *dst, const void *src, size_t bytes);
  void (*zero)(nc_backend *be, void *dst, size_t bytes);
  /* Host memory for data on its way to this backend (the loader's batches): page-locked on a GPU,
   * so upload copies from it run asynchronously (copies from pageable memory go through a
   * driver buffer and return only when staged); plain memory on the CPU. `bytes` bytes aligned
   * to 64 (not zeroed), or NULL when out of memory; freed with host_free. */
  void *(*host_alloc)(nc_backend *be, size_t bytes);
  void (*host_free)(nc_backend *be, void *p);
  /* Waits for all queued work; NC_OK or the first error since the last sync (nc_fail'ed). */
  int (*sync)(nc_backend *be);
  /* ---- layers (layers.h) ---- */
  /* Bytes of workspace a convolution of n images of h×w needs (forward and backward). */
  size_t (*conv_workspace)(nc_backend *be, const nc_conv_cfg *cfg, int n, int h, int w);
  /* plan: the layer's CPU convolution plan (layers.h; NULL, or ignored by other backends). */
  void (*conv_forward)(nc_backend *be, nc_conv_plan *plan, const nc_conv_cfg *cfg, nc_t4 xs,
                       const float *x, const float *W, nc_t4 ys, float *y, void *ws,
                       size_t ws_bytes);
  /* Backward-data (dx +=) and backward-filter (dW +=) in one call (either may be NULL): the CPU
   * shares one im2col between them. */
  void (*conv_backward)(nc_backend *be, nc_conv_plan *plan, const nc_conv_cfg *cfg, nc_t4 xs,
                        const float *x, const float *W, nc_t4 ys, const float *dy, float *dx,
                        float *dW, void *ws, size_t ws_bytes);
  /* Batch norm, followed by ReLU when relu is 1. */
  void (*bn_forward)(nc_backend *be, nc_t4 s, const float *x, float *y, const float *gamma,
                     const float *beta, float *running_mean, float *running_var, int train,
                     float *save_mean, float *save_invstd, int relu);
  /* y is the forward's output when a ReLU was fused (its mask), else NULL; with y given, dy may
   * be overwritten by the masked gradient (the tape reads it only here). */
  void (*bn_backward)(nc_backend *be, nc_t4 s, const float *x, const float *y, float *dy,
                      const float *gamma, const float *save_mean, const float *save_invstd,
                      int train, float *dx, float *dgamma, float *dbeta);
  void (*relu_forward)(nc_backend *be, size_t n, const float *x, float *y);
  void (*relu_backward)(nc_backend *be, size_t n, const float *y, const float *dy, float *dx);
  /* y = a + b, then ReLU when relu is 1. */
  void (*add_forward)(nc_backend *be, size_t n, const float *a, const float *b, float *y, int relu);
  /* relu 0: db += dy (dy is also a's gradient, in place). relu 1: nc_add_relu_backward (dy is
   * masked in place by y > 0, db += the masked dy). */
  void (*add_backward)(nc_backend *be, size_t n, const float *y, float *dy, float *db, int relu);
  void (*maxpool_forward)(nc_backend *be, int k, int stride, int pad, nc_t4 xs, const float *x,
                          nc_t4 ys, float *y, int32_t *argmax);
  void (*maxpool_backward)(nc_backend *be, int k, int stride, int pad, nc_t4 xs, float *dx,
                           nc_t4 ys, const float *dy, const int32_t *argmax);
  void (*avgpool_forward)(nc_backend *be, nc_t4 xs, const float *x, float *y);
  void (*avgpool_backward)(nc_backend *be, nc_t4 xs, const float *dy, float *dx);
  void (*linear_forward)(nc_backend *be, int n, int in, int out, const float *x, const float *W,
                         const float *b, float *y);
  void (*linear_backward)(nc_backend *be, int n, int in, int out, const float *x, const float *W,
                          const float *dy, float *dx, float *dW, float *db);
  /* ---- the step ---- */
  /* nc_loss_symmetric; returns the loss on the host (so it waits for the queued work). */
  double (*loss)(nc_backend *be, nc_loss_kind kind, int B, int d, const float *q1, const float *q2,
                 const float *z1, const float *z2, float *dq1, float *dq2, float *dz1, float *dz2);
  /* One optimizer update of n floats (see nc_update). */
  void (*update)(nc_backend *be, const nc_update *u, float *w, const float *g, float *buf,
                 size_t n);
  /* target ← τ·target + (1 − τ)·online (PyTorch's mul_(τ).add_(o, alpha = 1 − τ)). */
  void (*ema)(nc_backend *be, size_t n, float *target, const float *online, double tau);
  /* DirectPred's F̂ ← keep·F̂ + add·(f1ᵀf1 + f2ᵀf2), f [n, d] row-major, F̂ [d, d]. */
  void (*fhat_update)(nc_backend *be, int n, int d, const float *f1, const float *f2, float keep,
                      float add, float *F);
  /* DirectPred's eigendecomposition of F̂ (linalg.h's nc_eigh_f): A (n×n symmetric, row-major,
   * this backend's memory) is overwritten with the eigenvectors as columns, w (HOST memory, n)
   * gets the eigenvalues in ascending order; waits for the queued work. Returns NC_OK or
   * NC_ENUMERIC. Runs where nc_backend.eigh says. */
  int (*eigh)(nc_backend *be, int n, float *A, float *w);
  /* W = U·diag(p)·Uᵀ, exactly symmetric (d×d, row-major; U's columns are eigenvectors, as eigh
   * leaves them): DirectPred's W_p from F̂'s eigenvectors. U and W this backend's memory, p (d
   * values ≥ 0) HOST memory. */
  void (*psd_compose)(nc_backend *be, int d, const float *U, const float *p, float *W);
  /* Number of non-finite values among x[0..n) (a device reduction read back: call it rarely). */
  size_t (*nonfinite)(nc_backend *be, const float *x, size_t n);
} nc_backend_i;

struct nc_backend {
  const nc_backend_i *i;
  nc_device_kind kind;
  int device;                   /* device index (0 on the CPU) */
  nc_precision precision;       /* what the backend was created with */
  void *ctx;                    /* the backend's own state */
  size_t bytes_now, bytes_peak; /* buffer bytes held now and at most (backends that count) */
  nc_eigh_where eigh;           /* where eigh runs (GPU backends; the CPU ignores it) */
};

/* The CPU backend at fp32 (direct convolutions): what a NULL backend means everywhere. One shared
 * instance; never destroy it. */
nc_backend *nc_backend_cpu(void);
/* The CPU backend's shared instance at a precision it has: fp32, tf32, and bf16 where the CPU has
 * bf16 convolution kernels (nc_conv_bf16_available); NULL otherwise. */
nc_backend *nc_backend_cpu_at(nc_precision precision);
/* 1 when this build has the CUDA backend (NCSSL_CUDA). */
int nc_backend_cuda_built(void);
/* Creates the CUDA backend on device `device` with the given precision. Returns NC_OK, NC_EUSAGE
 * (a precision the backend does not implement) or NC_EIO (a build without CUDA, no such device,
 * or the CUDA runtime / cuDNN / cuBLAS failed to start). */
int nc_backend_cuda_create(nc_backend **out, int device, nc_precision precision);
/* Parses "cpu", "cuda" or "cuda:N" into kind and device. Returns NC_OK or NC_EUSAGE. */
int nc_device_parse(const char *s, nc_device_kind *kind, int *device);
/* Parses "tf32", "fp32" or "bf16". Returns NC_OK or NC_EUSAGE. */
int nc_precision_parse(const char *s, nc_precision *p);
const char *nc_precision_name(nc_precision p);
/* Creates the backend a --device / --precision pair names (the CPU backend for "cpu": tf32 and
 * fp32 compute fp32, bf16 rounds the convolutions' inputs to bf16 and is refused, NC_EUSAGE, on
 * a CPU without bf16 kernels). Errors as above. */
int nc_backend_open(nc_backend **out, const char *device, const char *precision);
/* Destroys a backend from nc_backend_open / nc_backend_cuda_create (the CPU one is left alone;
 * NULL is fine). */
void nc_backend_close(nc_backend *be);
/* Waits for the backend's queued work: NC_OK or its first error. */
int nc_backend_sync(nc_backend *be);
/* The backend's host_alloc / host_free for callers that know no backend (the loader: see
 * nc_loader_opts.memory): ctx is the backend. */
void *nc_backend_host_alloc(void *ctx, size_t bytes);
void nc_backend_host_free(void *ctx, void *p);
/* Peak bytes the backend has held allocated (its buffers; 0 when it does not count). */
size_t nc_backend_peak_bytes(const nc_backend *be);

#endif

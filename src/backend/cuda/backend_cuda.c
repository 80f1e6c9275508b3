/* The CUDA backend: cuDNN convolutions (algorithm chosen once per shape by cuDNN's heuristics,
 * deterministic algorithms only, cached), cuBLAS for the linear layers and F̂, cuSOLVER for F̂'s
 * eigendecomposition when asked (NCSSL_EIGH=device), the own kernels of cuda_kernels.cu for the
 * rest, batch norm with its ReLU fused included (cuDNN's with NCSSL_CUDA_BN=cudnn). Everything
 * runs in order on one stream.
 *
 * Memory is CUDA managed memory: the host code that must read tensors (checkpoints, monitor
 * records, DirectPred's eigendecomposition of the 128×128 F̂) reads the same pointers after a
 * sync, so no second copy of the model is kept. Dedicated device memory with explicit copies is
 * the alternative to measure on a GPU.
 *
 * Layouts: networks built on this backend keep dense NCHW maps (nc_net_conv); every view is still
 * passed to cuDNN with its strides, so the tests' channel-major views work too.
 *
 * Errors: operations return nothing; the first failure is kept and reported by the next sync
 * (nc_backend_sync, which every SSL step ends with). */
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>
#include <cusolverDn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_kernels.h"
#include "ncssl/backend.h"
#include "ncssl/linalg.h"
#include "ncssl/status.h"

#define MAX_CHANNELS 65536    /* BN's ones/zeros for affine-free layers */
#define MAX_ROWS 65536        /* the loss's per-row sums */
#define BN_MAX_CHANNELS 65535 /* the own batch-norm kernels: a channel per grid row */
#define HEADER 256            /* an allocation's size is kept in front of it */

typedef struct {
  nc_conv_cfg cfg;
  nc_t4 xs, ys;
  cudnnTensorDescriptor_t x, y;
  cudnnFilterDescriptor_t w;
  cudnnConvolutionDescriptor_t conv;
  cudnnConvolutionFwdAlgo_t fwd;
  cudnnConvolutionBwdDataAlgo_t bwd_data;
  cudnnConvolutionBwdFilterAlgo_t bwd_filter;
  /* the math type each algorithm was ranked and sized with, set on conv before it runs */
  cudnnMathType_t fwd_math, bwd_data_math, bwd_filter_math;
  size_t ws; /* workspace bytes of the three algorithms (the largest) */
} conv_entry;

typedef struct {
  cudaStream_t stream;
  cudnnHandle_t dnn;
  cublasHandle_t blas;
  cusolverDnHandle_t solver; /* created on the first device eigh */
  int eig_n, eig_lwork;      /* the eigensolver's buffers: for n ≤ eig_n */
  float *eig_work, *eig_t, *eig_w;
  int *eig_info;
  int psd_n;               /* psd_compose's buffers: for d ≤ psd_n */
  float *psd_a, *psd_sqrt; /* U·diag(√p) [d, d] and √p [d] on the device */
  float *psd_host;         /* √p on the host (pageable: free to reuse once the copy returns) */
  conv_entry *convs;
  int nconv, capconv;
  cudnnTensorDescriptor_t bn_x, bn_p;
  int bn_cudnn;       /* batch norm through cuDNN (NCSSL_CUDA_BN=cudnn) instead of own kernels */
  double *bn_scratch; /* the own kernels' sums: NC_CUK_BN_SCRATCH_DOUBLES(MAX_CHANNELS, ...) */
  float *ones, *zeros, *junk; /* [MAX_CHANNELS], [MAX_CHANNELS], [2·MAX_CHANNELS] */
  double *rows;               /* [2·MAX_ROWS + 4]: loss rows, the loss sum, LARS norms */
  unsigned long long *count;
  double *host_sum;
  char err[512];
  int failed;
} cuda_ctx;

static cuda_ctx *ctx_of(nc_backend *be) { return (cuda_ctx *)be->ctx; }

/* Keeps the first failure for the next sync. */
static void fail(nc_backend *be, const char *what, const char *why) {
  cuda_ctx *c = ctx_of(be);
  if (c->failed) return;
  c->failed = 1;
  snprintf(c->err, sizeof c->err, "%.250s: %.250s", what, why);
}

#define CK_CUDA(be, call)                                           \
  do {                                                              \
    cudaError_t e_ = (call);                                        \
    if (e_ != cudaSuccess) fail(be, #call, cudaGetErrorString(e_)); \
  } while (0)
#define CK_DNN(be, call)                                                      \
  do {                                                                        \
    cudnnStatus_t e_ = (call);                                                \
    if (e_ != CUDNN_STATUS_SUCCESS) fail(be, #call, cudnnGetErrorString(e_)); \
  } while (0)
#define CK_SOLVER(be, call)                                        \
  do {                                                             \
    cusolverStatus_t e_ = (call);                                  \
    if (e_ != CUSOLVER_STATUS_SUCCESS) {                           \
      char why_[32];                                               \
      snprintf(why_, sizeof why_, "cusolverStatus_t %d", (int)e_); \
      fail(be, #call, why_);                                       \
    }                                                              \
  } while (0)
#define CK_BLAS(be, call)                                                        \
  do {                                                                           \
    cublasStatus_t e_ = (call);                                                  \
    if (e_ != CUBLAS_STATUS_SUCCESS) fail(be, #call, cublasGetStatusString(e_)); \
  } while (0)

/* ---- buffers ---- */

static void *cu_alloc(nc_backend *be, size_t bytes) {
  cuda_ctx *c = ctx_of(be);
  char *p = NULL;
  if (cudaMallocManaged((void **)&p, bytes + HEADER, cudaMemAttachGlobal) != cudaSuccess)
    return NULL;
  /* zeroed before the host may write it (nc_net_init draws the weights on the host) */
  if (cudaMemsetAsync(p, 0, bytes + HEADER, c->stream) != cudaSuccess ||
      cudaStreamSynchronize(c->stream) != cudaSuccess) {
    cudaFree(p);
    return NULL;
  }
  memcpy(p, &bytes, sizeof bytes);
  be->bytes_now += bytes;
  if (be->bytes_now > be->bytes_peak) be->bytes_peak = be->bytes_now;
  return p + HEADER;
}

static void cu_free(nc_backend *be, void *p) {
  if (!p) return;
  char *base = (char *)p - HEADER;
  size_t bytes;
  /* the header is managed memory: read on the host once the queued work is done */
  CK_CUDA(be, cudaStreamSynchronize(ctx_of(be)->stream));
  memcpy(&bytes, base, sizeof bytes);
  CK_CUDA(be, cudaFree(base));
  be->bytes_now -= bytes;
}

/* Page-locked, portable (usable whichever device is current): the DMA engine reads it directly,
 * so an upload from it returns at once and overlaps the work queued before it. */
static void *cu_host_alloc(nc_backend *be, size_t bytes) {
  (void)be;
  void *p = NULL;
  if (cudaHostAlloc(&p, bytes ? bytes : 1, cudaHostAllocPortable) != cudaSuccess) return NULL;
  return p;
}

static void cu_host_free(nc_backend *be, void *p) {
  /* a copy from p may still be queued */
  CK_CUDA(be, cudaStreamSynchronize(ctx_of(be)->stream));
  CK_CUDA(be, cudaFreeHost(p));
}

static void cu_copy(nc_backend *be, void *dst, const void *src, size_t bytes) {
  if (dst == src || !bytes) return;
  CK_CUDA(be, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, ctx_of(be)->stream));
}

static void cu_download(nc_backend *be, void *dst, const void *src, size_t bytes) {
  cu_copy(be, dst, src, bytes);
  CK_CUDA(be, cudaStreamSynchronize(ctx_of(be)->stream));
}

static void cu_zero(nc_backend *be, void *dst, size_t bytes) {
  CK_CUDA(be, cudaMemsetAsync(dst, 0, bytes, ctx_of(be)->stream));
}

static int cu_sync(nc_backend *be) {
  cuda_ctx *c = ctx_of(be);
  CK_CUDA(be, cudaStreamSynchronize(c->stream));
  CK_CUDA(be, cudaGetLastError());
  if (!c->failed) return NC_OK;
  /* reported: the next sync reports what fails after this one (a sticky CUDA error comes back
   * from the stream's synchronisation anyway) */
  c->failed = 0;
  return nc_fail(NC_EIO, "cuda:%d: %.400s", be->device, c->err);
}

/* ---- convolutions ---- */

static void set_tensor(nc_backend *be, cudnnTensorDescriptor_t d, nc_t4 t, cudnnDataType_t type) {
  /* planar views only: a channel-blocked one has no 4-d stride description */
  if (t.blk) return fail(be, "cudnn tensor", "channel-blocked views are the CPU's");
  CK_DNN(be,
         cudnnSetTensor4dDescriptorEx(d, type, t.n, t.c, t.h, t.w, (int)t.sn, (int)t.sc, t.w, 1));
}

/* --precision bf16: convolutions read and write bf16 copies of their tensors (x, W, y; dy, dx, dW)
 * made in the front of their workspace, with fp32 accumulation inside cuDNN (its
 * PSEUDO_BFLOAT16 configuration); the network's tensors stay fp32, as on the CPU. */
static int conv_bf16(const nc_backend *be) { return be->precision == NC_PRECISION_BF16; }

/* The bf16 copies in front of a convolution's workspace: x, dx, W, dW, then y or dy. */
typedef struct {
  uint16_t *x, *dx, *w, *dw, *y;
  size_t bytes;
} bf16_copies;

static size_t copy_bytes(size_t elements) { return (2 * elements + 255) / 256 * 256; }

static size_t copies_bytes(const nc_conv_cfg *cfg, nc_t4 xs, nc_t4 ys) {
  size_t nw = (size_t)cfg->cout * cfg->cin * cfg->kh * cfg->kw;
  return 2 * copy_bytes(nc_t4_numel(xs)) + 2 * copy_bytes(nw) + copy_bytes(nc_t4_numel(ys));
}

/* The copies are made element by element over a view's numel floats from its base: the view
 * must be dense (NCHW or CNHW without gaps, as every tensor of the tape is). */
static int dense(nc_t4 t) {
  const long hw = (long)t.h * t.w;
  return (t.sc == hw && t.sn == t.c * hw) || (t.sn == hw && t.sc == t.n * hw);
}

static bf16_copies copies_in(void *ws, const nc_conv_cfg *cfg, nc_t4 xs, nc_t4 ys) {
  size_t nx = copy_bytes(nc_t4_numel(xs));
  size_t nw = copy_bytes((size_t)cfg->cout * cfg->cin * cfg->kh * cfg->kw);
  char *p = ws;
  bf16_copies c = {(uint16_t *)p,
                   (uint16_t *)(p + nx),
                   (uint16_t *)(p + 2 * nx),
                   (uint16_t *)(p + 2 * nx + nw),
                   (uint16_t *)(p + 2 * nx + 2 * nw),
                   copies_bytes(cfg, xs, ys)};
  return c;
}

static int same_view(nc_t4 a, nc_t4 b) {
  return a.n == b.n && a.c == b.c && a.h == b.h && a.w == b.w && a.sn == b.sn && a.sc == b.sc;
}

/* Frees the descriptors of an entry (one that failed half-way, or at destroy). */
static void conv_entry_free(conv_entry *e) {
  if (e->x) cudnnDestroyTensorDescriptor(e->x);
  if (e->y) cudnnDestroyTensorDescriptor(e->y);
  if (e->w) cudnnDestroyFilterDescriptor(e->w);
  if (e->conv) cudnnDestroyConvolutionDescriptor(e->conv);
}

/* The math type an algorithm runs with. cuDNN's heuristics rank (algorithm, math type) pairs and
 * the kernel and workspace depend on both, so the caller must set the pair's math type before
 * running it (PyTorch's Note [behavior of cudnnFind and cudnnGet]); fp32 keeps FMA whatever the
 * ranking says, so no TF32 slips in. */
static cudnnMathType_t algo_math(const nc_backend *be, cudnnMathType_t ranked) {
  return be->precision == NC_PRECISION_FP32 ? CUDNN_FMA_MATH : ranked;
}

/* Sets the math type an entry's algorithm was chosen with; 0 after a failure. */
static int use_math(nc_backend *be, conv_entry *e, cudnnMathType_t m) {
  CK_DNN(be, cudnnSetConvolutionMathType(e->conv, m));
  return !ctx_of(be)->failed;
}

/* The three directions of a convolution, each with its own algorithm. */
typedef enum { DIR_FORWARD, DIR_BACKWARD_DATA, DIR_BACKWARD_FILTER } conv_dir;

/* One (algorithm, math type) pair of cuDNN's heuristic ranking, whichever the direction. */
typedef struct {
  int algo;
  cudnnStatus_t status;
  cudnnDeterminism_t determinism;
  size_t memory;
  cudnnMathType_t math;
} ranked_algo;

#define MAX_RANKED 16
_Static_assert((int)CUDNN_CONVOLUTION_FWD_ALGO_COUNT <= MAX_RANKED &&
                   (int)CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT <= MAX_RANKED &&
                   (int)CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT <= MAX_RANKED,
               "every direction's ranking fits");

#define RANKED(p) \
  ((ranked_algo){(int)(p).algo, (p).status, (p).determinism, (p).memory, (p).mathType})

/* cuDNN's heuristic ranking of e's algorithms in one direction, under the math type set on e;
 * returns how many (0 after a failure). */
static int rank_algos(nc_backend *be, conv_entry *e, conv_dir dir, ranked_algo *out) {
  cuda_ctx *c = ctx_of(be);
  int got = 0;
  if (dir == DIR_FORWARD) {
    cudnnConvolutionFwdAlgoPerf_t p[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    CK_DNN(be, cudnnGetConvolutionForwardAlgorithm_v7(c->dnn, e->x, e->w, e->conv, e->y,
                                                      CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &got, p));
    for (int i = 0; !c->failed && i < got; i++) out[i] = RANKED(p[i]);
  } else if (dir == DIR_BACKWARD_DATA) {
    cudnnConvolutionBwdDataAlgoPerf_t p[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    CK_DNN(be,
           cudnnGetConvolutionBackwardDataAlgorithm_v7(
               c->dnn, e->w, e->y, e->conv, e->x, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &got, p));
    for (int i = 0; !c->failed && i < got; i++) out[i] = RANKED(p[i]);
  } else {
    cudnnConvolutionBwdFilterAlgoPerf_t p[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    CK_DNN(be, cudnnGetConvolutionBackwardFilterAlgorithm_v7(
                   c->dnn, e->x, e->y, e->conv, e->w, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &got,
                   p));
    for (int i = 0; !c->failed && i < got; i++) out[i] = RANKED(p[i]);
  }
  return c->failed ? 0 : got;
}

/* The workspace cuDNN asks for to run algo in direction dir with the math type set on e; 0 when
 * it refuses the pair. */
static int workspace_of(nc_backend *be, conv_entry *e, conv_dir dir, int algo, size_t *bytes) {
  cudnnHandle_t h = ctx_of(be)->dnn;
  cudnnStatus_t st =
      dir == DIR_FORWARD ? cudnnGetConvolutionForwardWorkspaceSize(
                               h, e->x, e->w, e->conv, e->y, (cudnnConvolutionFwdAlgo_t)algo, bytes)
      : dir == DIR_BACKWARD_DATA
          ? cudnnGetConvolutionBackwardDataWorkspaceSize(h, e->w, e->y, e->conv, e->x,
                                                         (cudnnConvolutionBwdDataAlgo_t)algo, bytes)
          : cudnnGetConvolutionBackwardFilterWorkspaceSize(
                h, e->x, e->y, e->conv, e->w, (cudnnConvolutionBwdFilterAlgo_t)algo, bytes);
  return st == CUDNN_STATUS_SUCCESS;
}

/* The first deterministic pair of cuDNN's ranking (ranked under `math`) whose workspace, as
 * cuDNN sizes it for the pair that will run, fits `limit`: *algo and *algo_math; e->ws grows to
 * it. Returns 0 when none fits. */
static int pick_algo(nc_backend *be, conv_entry *e, conv_dir dir, cudnnMathType_t math,
                     size_t limit, int *algo, cudnnMathType_t *algo_math_out) {
  cuda_ctx *c = ctx_of(be);
  ranked_algo r[MAX_RANKED];
  if (!c->failed) CK_DNN(be, cudnnSetConvolutionMathType(e->conv, math));
  const int got = c->failed ? 0 : rank_algos(be, e, dir, r);
  for (int i = 0; i < got; i++) {
    if (r[i].status != CUDNN_STATUS_SUCCESS || r[i].determinism != CUDNN_DETERMINISTIC) continue;
    const cudnnMathType_t m = algo_math(be, r[i].math);
    size_t need = 0;
    if (cudnnSetConvolutionMathType(e->conv, m) != CUDNN_STATUS_SUCCESS ||
        !workspace_of(be, e, dir, r[i].algo, &need))
      continue;
    if (r[i].memory > need) need = r[i].memory;
    if (need > limit) continue;
    *algo = r[i].algo, *algo_math_out = m;
    if (need > e->ws) e->ws = need;
    return 1;
  }
  return 0;
}

/* The cached descriptors and algorithms of one convolution shape; algorithms are the first
 * deterministic ones cuDNN's heuristics rank, needing at most `limit` bytes of workspace. An
 * entry chosen under a larger limit is not reused for a smaller one. */
static conv_entry *conv_for(nc_backend *be, const nc_conv_cfg *cfg, nc_t4 xs, nc_t4 ys,
                            size_t limit) {
  cuda_ctx *c = ctx_of(be);
  if (c->failed) return NULL;
  for (int i = 0; i < c->nconv; i++) {
    conv_entry *e = &c->convs[i];
    if (!memcmp(&e->cfg, cfg, sizeof *cfg) && same_view(e->xs, xs) && same_view(e->ys, ys) &&
        e->ws <= limit)
      return e;
  }
  if (c->nconv == c->capconv) {
    int cap = c->capconv ? 2 * c->capconv : 32;
    conv_entry *m = realloc(c->convs, (size_t)cap * sizeof *m);
    if (!m) return fail(be, "conv", "out of host memory"), NULL;
    c->convs = m, c->capconv = cap;
  }
  conv_entry *e = &c->convs[c->nconv];
  memset(e, 0, sizeof *e);
  e->cfg = *cfg, e->xs = xs, e->ys = ys;
  CK_DNN(be, cudnnCreateTensorDescriptor(&e->x));
  CK_DNN(be, cudnnCreateTensorDescriptor(&e->y));
  CK_DNN(be, cudnnCreateFilterDescriptor(&e->w));
  CK_DNN(be, cudnnCreateConvolutionDescriptor(&e->conv));
  const cudnnDataType_t type = conv_bf16(be) ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
  if (!c->failed) set_tensor(be, e->x, xs, type);
  if (!c->failed) set_tensor(be, e->y, ys, type);
  if (!c->failed)
    CK_DNN(be, cudnnSetFilter4dDescriptor(e->w, type, CUDNN_TENSOR_NCHW, cfg->cout, cfg->cin,
                                          cfg->kh, cfg->kw));
  if (!c->failed)
    CK_DNN(be,
           cudnnSetConvolution2dDescriptor(e->conv, cfg->pad, cfg->pad, cfg->stride, cfg->stride, 1,
                                           1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  if (c->failed) return conv_entry_free(e), NULL;
  /* The math type the heuristics may rank with: fp32 plain FMA; tf32 the default (TF32 tensor
   * cores allowed, PyTorch's default for convolutions); bf16 tensor-core math, without which the
   * legacy API runs no tensor-core kernel. */
  const cudnnMathType_t math = be->precision == NC_PRECISION_FP32   ? CUDNN_FMA_MATH
                               : be->precision == NC_PRECISION_BF16 ? CUDNN_TENSOR_OP_MATH
                                                                    : CUDNN_DEFAULT_MATH;
  int fwd = 0, bwd_data = 0, bwd_filter = 0;
  const int found =
      pick_algo(be, e, DIR_FORWARD, math, limit, &fwd, &e->fwd_math) +
      pick_algo(be, e, DIR_BACKWARD_DATA, math, limit, &bwd_data, &e->bwd_data_math) +
      pick_algo(be, e, DIR_BACKWARD_FILTER, math, limit, &bwd_filter, &e->bwd_filter_math);
  if (!c->failed && found != 3)
    fail(be, "conv", "no deterministic cuDNN algorithm fits the workspace");
  if (c->failed) return conv_entry_free(e), NULL;
  e->fwd = (cudnnConvolutionFwdAlgo_t)fwd;
  e->bwd_data = (cudnnConvolutionBwdDataAlgo_t)bwd_data;
  e->bwd_filter = (cudnnConvolutionBwdFilterAlgo_t)bwd_filter;
  c->nconv++;
  return e;
}

static size_t cu_conv_workspace(nc_backend *be, const nc_conv_cfg *cfg, int n, int h, int w) {
  int oh, ow;
  nc_conv2d_out_hw(cfg, h, w, &oh, &ow);
  /* every layout pair a convolution may see: networks on this backend keep NCHW maps
   * (nc_net_conv), the CPU's are channel-major (CNHW); the entries made here are the ones the
   * layers then find, so their algorithms fit the workspace sized from them */
  nc_t4 in[2] = {nc_t4_nchw(n, cfg->cin, h, w), nc_t4_cnhw(n, cfg->cin, h, w)};
  nc_t4 out[2] = {nc_t4_nchw(n, cfg->cout, oh, ow), nc_t4_cnhw(n, cfg->cout, oh, ow)};
  cuda_ctx *c = ctx_of(be);
  size_t ws = 0;
  for (int k = 0; k < 4; k++) {
    /* NCHW → NCHW is what networks here run, and its failure stands. The other pairs serve
     * callers with the CPU's views (the cross tests): a pair cuDNN has no deterministic algorithm
     * for must not fail a network that never uses it, so that failure is dropped here (conv_for
     * makes host calls only) and met again, and kept, by a convolution that asks for the pair. */
    const int was = c->failed;
    conv_entry *e = conv_for(be, cfg, in[k / 2], out[k % 2], (size_t)1 << 30);
    if (k > 0 && !was && c->failed) c->failed = 0, c->err[0] = 0;
    if (e && e->ws > ws) ws = e->ws;
  }
  return ws + (conv_bf16(be) ? copies_bytes(cfg, in[0], out[0]) : 0);
}

static const float one = 1.0f, zero = 0.0f;

static void cu_conv_forward(nc_backend *be, nc_conv_plan *plan, const nc_conv_cfg *cfg, nc_t4 xs,
                            const float *x, const float *W, nc_t4 ys, float *y, void *ws,
                            size_t ws_bytes) {
  (void)plan; /* cuDNN's algorithms are chosen and cached per shape here (conv_for) */
  cudaStream_t st = ctx_of(be)->stream;
  if (conv_bf16(be)) {
    bf16_copies b = copies_in(ws, cfg, xs, ys);
    if (b.bytes > ws_bytes || !dense(xs) || !dense(ys))
      return fail(be, "conv", "bf16: a strided view or a workspace smaller than the copies");
    conv_entry *e = conv_for(be, cfg, xs, ys, ws_bytes - b.bytes);
    if (!e) return;
    const size_t nw = (size_t)cfg->cout * cfg->cin * cfg->kh * cfg->kw;
    CK_CUDA(be, nc_cuk_to_bf16(st, nc_t4_numel(xs), x, b.x));
    CK_CUDA(be, nc_cuk_to_bf16(st, nw, W, b.w));
    if (!use_math(be, e, e->fwd_math)) return;
    CK_DNN(be, cudnnConvolutionForward(ctx_of(be)->dnn, &one, e->x, b.x, e->w, b.w, e->conv, e->fwd,
                                       (char *)ws + b.bytes, ws_bytes - b.bytes, &zero, e->y, b.y));
    CK_CUDA(be, nc_cuk_from_bf16(st, nc_t4_numel(ys), b.y, y, 0));
    return;
  }
  conv_entry *e = conv_for(be, cfg, xs, ys, ws_bytes);
  if (!e || !use_math(be, e, e->fwd_math)) return;
  CK_DNN(be, cudnnConvolutionForward(ctx_of(be)->dnn, &one, e->x, x, e->w, W, e->conv, e->fwd, ws,
                                     ws_bytes, &zero, e->y, y));
}

/* The bf16 backward: gradients computed into bf16 copies, then added to the fp32 ones. */
static void conv_backward_bf16(nc_backend *be, const nc_conv_cfg *cfg, nc_t4 xs, const float *x,
                               const float *W, nc_t4 ys, const float *dy, float *dx, float *dW,
                               void *ws, size_t ws_bytes) {
  cudaStream_t st = ctx_of(be)->stream;
  cudnnHandle_t h = ctx_of(be)->dnn;
  bf16_copies b = copies_in(ws, cfg, xs, ys);
  if (b.bytes > ws_bytes || !dense(xs) || !dense(ys))
    return fail(be, "conv", "bf16: a strided view or a workspace smaller than the copies");
  conv_entry *e = conv_for(be, cfg, xs, ys, ws_bytes - b.bytes);
  if (!e) return;
  void *cws = (char *)ws + b.bytes;
  const size_t cws_bytes = ws_bytes - b.bytes,
               nw = (size_t)cfg->cout * cfg->cin * cfg->kh * cfg->kw;
  CK_CUDA(be, nc_cuk_to_bf16(st, nc_t4_numel(ys), dy, b.y));
  if (dW && use_math(be, e, e->bwd_filter_math)) {
    CK_CUDA(be, nc_cuk_to_bf16(st, nc_t4_numel(xs), x, b.x));
    CK_DNN(be, cudnnConvolutionBackwardFilter(h, &one, e->x, b.x, e->y, b.y, e->conv, e->bwd_filter,
                                              cws, cws_bytes, &zero, e->w, b.dw));
    CK_CUDA(be, nc_cuk_from_bf16(st, nw, b.dw, dW, 1));
  }
  if (dx && use_math(be, e, e->bwd_data_math)) {
    CK_CUDA(be, nc_cuk_to_bf16(st, nw, W, b.w));
    CK_DNN(be, cudnnConvolutionBackwardData(h, &one, e->w, b.w, e->y, b.y, e->conv, e->bwd_data,
                                            cws, cws_bytes, &zero, e->x, b.dx));
    CK_CUDA(be, nc_cuk_from_bf16(st, nc_t4_numel(xs), b.dx, dx, 1));
  }
}

static void cu_conv_backward(nc_backend *be, nc_conv_plan *plan, const nc_conv_cfg *cfg, nc_t4 xs,
                             const float *x, const float *W, nc_t4 ys, const float *dy, float *dx,
                             float *dW, void *ws, size_t ws_bytes) {
  (void)plan;
  if (conv_bf16(be)) return conv_backward_bf16(be, cfg, xs, x, W, ys, dy, dx, dW, ws, ws_bytes);
  conv_entry *e = conv_for(be, cfg, xs, ys, ws_bytes);
  if (!e) return;
  cudnnHandle_t h = ctx_of(be)->dnn;
  /* β = 1: gradients accumulate, as layers.h says */
  if (dW && use_math(be, e, e->bwd_filter_math))
    CK_DNN(be, cudnnConvolutionBackwardFilter(h, &one, e->x, x, e->y, dy, e->conv, e->bwd_filter,
                                              ws, ws_bytes, &one, e->w, dW));
  if (dx && use_math(be, e, e->bwd_data_math))
    CK_DNN(be, cudnnConvolutionBackwardData(h, &one, e->w, W, e->y, dy, e->conv, e->bwd_data, ws,
                                            ws_bytes, &one, e->x, dx));
}

/* ---- batch norm ---- */

static void bn_descs(nc_backend *be, nc_t4 s) {
  cuda_ctx *c = ctx_of(be);
  set_tensor(be, c->bn_x, s, CUDNN_DATA_FLOAT);
  CK_DNN(be, cudnnDeriveBNTensorDescriptor(c->bn_p, c->bn_x, CUDNN_BATCHNORM_SPATIAL));
  if (s.c > MAX_CHANNELS) fail(be, "batch norm", "more channels than the backend supports");
}

/* Own kernels (the default): any strided view, the ReLU fused into the passes, the CPU's
 * per-channel arithmetic. */
static void own_bn_forward(nc_backend *be, nc_t4 s, const float *x, float *y, const float *gamma,
                           const float *beta, float *running_mean, float *running_var, int train,
                           float *save_mean, float *save_invstd, int relu) {
  cuda_ctx *c = ctx_of(be);
  if (s.c > BN_MAX_CHANNELS)
    return fail(be, "batch norm", "more channels than the backend supports");
  if (train) {
    CK_CUDA(be, nc_cuk_bn_train_forward(c->stream, s, x, y, gamma, beta, running_mean, running_var,
                                        save_mean, save_invstd, relu, c->bn_scratch, MAX_CHANNELS));
  } else {
    CK_CUDA(be,
            nc_cuk_bn_eval_save(c->stream, s.c, running_mean, running_var, save_mean, save_invstd));
    CK_CUDA(be,
            nc_cuk_bn_forward_apply(c->stream, s, x, y, gamma, beta, save_mean, save_invstd, relu));
  }
}

static void cu_bn_forward(nc_backend *be, nc_t4 s, const float *x, float *y, const float *gamma,
                          const float *beta, float *running_mean, float *running_var, int train,
                          float *save_mean, float *save_invstd, int relu) {
  cuda_ctx *c = ctx_of(be);
  if (!c->bn_cudnn)
    return own_bn_forward(be, s, x, y, gamma, beta, running_mean, running_var, train, save_mean,
                          save_invstd, relu);
  bn_descs(be, s);
  if (c->failed) return;
  const float *g = gamma ? gamma : c->ones, *b = beta ? beta : c->zeros;
  if (train) {
    /* running ← 0.9·running + 0.1·batch statistic (unbiased variance), as PyTorch */
    CK_DNN(be, cudnnBatchNormalizationForwardTraining(c->dnn, CUDNN_BATCHNORM_SPATIAL, &one, &zero,
                                                      c->bn_x, x, c->bn_x, y, c->bn_p, g, b,
                                                      NC_BN_MOMENTUM, running_mean, running_var,
                                                      NC_BN_EPS, save_mean, save_invstd));
  } else {
    CK_DNN(be, cudnnBatchNormalizationForwardInference(c->dnn, CUDNN_BATCHNORM_SPATIAL, &one, &zero,
                                                       c->bn_x, x, c->bn_x, y, c->bn_p, g, b,
                                                       running_mean, running_var, NC_BN_EPS));
    CK_CUDA(be,
            nc_cuk_bn_eval_save(c->stream, s.c, running_mean, running_var, save_mean, save_invstd));
  }
  if (relu)
    CK_CUDA(be, nc_cuk_relu_forward(c->stream, nc_t4_numel(s), y, y)); /* dense in either layout */
}

static void cu_bn_backward(nc_backend *be, nc_t4 s, const float *x, const float *y, float *dy,
                           const float *gamma, const float *save_mean, const float *save_invstd,
                           int train, float *dx, float *dgamma, float *dbeta) {
  cuda_ctx *c = ctx_of(be);
  if (!c->bn_cudnn && train) {
    if (s.c > BN_MAX_CHANNELS)
      return fail(be, "batch norm", "more channels than the backend supports");
    CK_CUDA(be, nc_cuk_bn_train_backward(c->stream, s, x, y, dy, gamma, save_mean, save_invstd, dx,
                                         dgamma, dbeta, c->bn_scratch, MAX_CHANNELS));
    return;
  }
  bn_descs(be, s);
  if (c->failed) return;
  /* the fused ReLU's mask, in place: the tape reads this gradient only here */
  if (y) CK_CUDA(be, nc_cuk_relu_backward(c->stream, nc_t4_numel(s), y, dy, dy));
  if (!train) {
    CK_CUDA(be, nc_cuk_bn_eval_backward(c->stream, s, x, dy, gamma, save_mean, save_invstd, dx,
                                        dgamma, dbeta));
    return;
  }
  if (!dx) return fail(be, "batch norm backward", "the input gradient is required on CUDA");
  const float *g = gamma ? gamma : c->ones;
  /* One β serves both parameter gradients: 1 (they accumulate) when either is wanted, the one
   * skipped (NULL) then landing in junk cleared first; 0 when both go to junk. */
  float *dg = dgamma ? dgamma : c->junk, *db = dbeta ? dbeta : c->junk + MAX_CHANNELS;
  const float keep_params = dgamma || dbeta ? 1.0f : 0.0f;
  if (keep_params != 0.0f && (!dgamma || !dbeta))
    cu_zero(be, dgamma ? db : dg, (size_t)s.c * sizeof(float));
  CK_DNN(be, cudnnBatchNormalizationBackward(
                 c->dnn, CUDNN_BATCHNORM_SPATIAL, &one, &one, &one, &keep_params, c->bn_x, x,
                 c->bn_x, dy, c->bn_x, dx, c->bn_p, g, dg, db, NC_BN_EPS, save_mean, save_invstd));
}

/* ---- elementwise and pooling ---- */

static void cu_relu_forward(nc_backend *be, size_t n, const float *x, float *y) {
  CK_CUDA(be, nc_cuk_relu_forward(ctx_of(be)->stream, n, x, y));
}
static void cu_relu_backward(nc_backend *be, size_t n, const float *y, const float *dy, float *dx) {
  CK_CUDA(be, nc_cuk_relu_backward(ctx_of(be)->stream, n, y, dy, dx));
}
static void cu_add_forward(nc_backend *be, size_t n, const float *a, const float *b, float *y,
                           int relu) {
  CK_CUDA(be, nc_cuk_add_forward(ctx_of(be)->stream, n, a, b, y, relu));
}
static void cu_add_backward(nc_backend *be, size_t n, const float *y, float *dy, float *db,
                            int relu) {
  CK_CUDA(be, nc_cuk_add_backward(ctx_of(be)->stream, n, y, dy, db, relu));
}
static void cu_maxpool_forward(nc_backend *be, int k, int stride, int pad, nc_t4 xs, const float *x,
                               nc_t4 ys, float *y, int32_t *argmax) {
  CK_CUDA(be, nc_cuk_maxpool_forward(ctx_of(be)->stream, k, stride, pad, xs, x, ys, y, argmax));
}
static void cu_maxpool_backward(nc_backend *be, int k, int stride, int pad, nc_t4 xs, float *dx,
                                nc_t4 ys, const float *dy, const int32_t *argmax) {
  CK_CUDA(be, nc_cuk_maxpool_backward(ctx_of(be)->stream, k, stride, pad, xs, dx, ys, dy, argmax));
}
static void cu_avgpool_forward(nc_backend *be, nc_t4 xs, const float *x, float *y) {
  CK_CUDA(be, nc_cuk_avgpool_forward(ctx_of(be)->stream, xs, x, y));
}
static void cu_avgpool_backward(nc_backend *be, nc_t4 xs, const float *dy, float *dx) {
  CK_CUDA(be, nc_cuk_avgpool_backward(ctx_of(be)->stream, xs, dy, dx));
}

/* ---- linear layers (cuBLAS is column-major: a row-major [r, c] matrix is its [c, r]ᵀ) ---- */

static void cu_linear_forward(nc_backend *be, int n, int in, int out, const float *x,
                              const float *W, const float *b, float *y) {
  cuda_ctx *c = ctx_of(be);
  /* yᵀ[out, n] = W[out, in]·xᵀ[in, n] */
  CK_BLAS(be, cublasSgemm(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, out, n, in, &one, W, in, x, in, &zero,
                          y, out));
  if (b) CK_CUDA(be, nc_cuk_bias_forward(c->stream, n, out, b, y));
}

static void cu_linear_backward(nc_backend *be, int n, int in, int out, const float *x,
                               const float *W, const float *dy, float *dx, float *dW, float *db) {
  cuda_ctx *c = ctx_of(be);
  /* dxᵀ[in, n] += Wᵀ[in, out]·dyᵀ[out, n] */
  if (dx)
    CK_BLAS(be, cublasSgemm(c->blas, CUBLAS_OP_N, CUBLAS_OP_N, in, n, out, &one, W, in, dy, out,
                            &one, dx, in));
  /* dWᵀ[in, out] += xᵀ[in, n]·dy[n, out] */
  if (dW)
    CK_BLAS(be, cublasSgemm(c->blas, CUBLAS_OP_N, CUBLAS_OP_T, in, out, n, &one, x, in, dy, out,
                            &one, dW, in));
  if (db) CK_CUDA(be, nc_cuk_bias_backward(c->stream, n, out, dy, db));
}

/* ---- the step ---- */

static double cu_loss(nc_backend *be, nc_loss_kind kind, int B, int d, const float *q1,
                      const float *q2, const float *z1, const float *z2, float *dq1, float *dq2,
                      float *dz1, float *dz2) {
  cuda_ctx *c = ctx_of(be);
  if (B > MAX_ROWS) return fail(be, "loss", "batch larger than the backend supports"), 0.0;
  double w = nc_loss_direction_weight(kind);
  CK_CUDA(be, nc_cuk_loss_direction(c->stream, (int)kind, B, d, q1, z2, w, dq1, dz2, c->rows));
  CK_CUDA(be, nc_cuk_loss_direction(c->stream, (int)kind, B, d, q2, z1, w, dq2, dz1, c->rows + B));
  CK_CUDA(be, nc_cuk_sum(c->stream, 2 * B, c->rows, c->rows + 2 * MAX_ROWS));
  cu_download(be, c->host_sum, c->rows + 2 * MAX_ROWS, sizeof(double));
  return c->failed ? NAN : *c->host_sum;
}

static void cu_update(nc_backend *be, const nc_update *u, float *w, const float *g, float *buf,
                      size_t n) {
  cuda_ctx *c = ctx_of(be);
  double *norms = NULL;
  if (u->lars) {
    norms = c->rows + 2 * MAX_ROWS + 2;
    CK_CUDA(be, nc_cuk_lars_norms(c->stream, n, w, g, u->weight_decay, norms));
  }
  CK_CUDA(be, nc_cuk_update(c->stream, n, w, g, buf, u->weight_decay, u->momentum, u->lr, norms,
                            u->lars_trust));
}

static void cu_ema(nc_backend *be, size_t n, float *target, const float *online, double tau) {
  CK_CUDA(be, nc_cuk_ema(ctx_of(be)->stream, n, target, online, (float)tau, (float)(1.0 - tau)));
}

static void cu_fhat_update(nc_backend *be, int n, int d, const float *f1, const float *f2,
                           float keep, float add, float *F) {
  cuda_ctx *c = ctx_of(be);
  /* F̂ is symmetric, so row- and column-major agree: F̂ = keep·F̂ + add·f1ᵀf1, then + add·f2ᵀf2 */
  CK_BLAS(be,
          cublasSgemm(c->blas, CUBLAS_OP_N, CUBLAS_OP_T, d, d, n, &add, f1, d, f1, d, &keep, F, d));
  CK_BLAS(be,
          cublasSgemm(c->blas, CUBLAS_OP_N, CUBLAS_OP_T, d, d, n, &add, f2, d, f2, d, &one, F, d));
}

/* The solver and its buffers for n×n problems (kept for the largest n so far). Returns 0 after
 * a failure (kept for the sync). */
static int eigh_buffers(nc_backend *be, int n) {
  cuda_ctx *c = ctx_of(be);
  if (!c->solver) {
    CK_SOLVER(be, cusolverDnCreate(&c->solver));
    if (!c->failed) CK_SOLVER(be, cusolverDnSetStream(c->solver, c->stream));
  }
  if (c->failed || n <= c->eig_n) return !c->failed;
  CK_CUDA(be, cudaStreamSynchronize(c->stream));
  cudaFree(c->eig_work), cudaFree(c->eig_t), cudaFree(c->eig_w), cudaFree(c->eig_info);
  c->eig_work = c->eig_t = c->eig_w = NULL, c->eig_info = NULL, c->eig_n = 0;
  CK_CUDA(be, cudaMalloc((void **)&c->eig_t, (size_t)n * n * sizeof(float)));
  CK_CUDA(be, cudaMalloc((void **)&c->eig_w, (size_t)n * sizeof(float)));
  CK_CUDA(be, cudaMalloc((void **)&c->eig_info, sizeof(int)));
  if (!c->failed)
    CK_SOLVER(
        be, cusolverDnSsyevd_bufferSize(c->solver, CUSOLVER_EIG_MODE_VECTOR, CUBLAS_FILL_MODE_LOWER,
                                        n, c->eig_t, n, c->eig_w, &c->eig_lwork));
  if (!c->failed)
    CK_CUDA(be, cudaMalloc((void **)&c->eig_work, (size_t)c->eig_lwork * sizeof(float)));
  if (!c->failed) c->eig_n = n;
  return !c->failed;
}

/* F̂'s eigendecomposition, on the host (LAPACKE reads the managed matrix after a sync) or with
 * cuSOLVER's syevd on the stream (nc_backend.eigh). */
static int cu_eigh(nc_backend *be, int n, float *A, float *w) {
  cuda_ctx *c = ctx_of(be);
  int rc, info = 0;
  if (be->eigh == NC_EIGH_HOST) return (rc = cu_sync(be)) ? rc : nc_eigh_f(n, A, w);
  if (eigh_buffers(be, n)) {
    /* a symmetric row-major matrix is its own column-major self */
    CK_SOLVER(be, cusolverDnSsyevd(c->solver, CUSOLVER_EIG_MODE_VECTOR, CUBLAS_FILL_MODE_LOWER, n,
                                   A, n, c->eig_w, c->eig_work, c->eig_lwork, c->eig_info));
    /* the eigenvectors come as column-major columns, i.e. row-major rows: transpose them
     * (eig_t = Aᵀ + 0·A: B is A, finite, rather than eig_t's uninitialised memory) */
    CK_BLAS(be, cublasSgeam(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, n, n, &one, A, n, &zero, A, n,
                            c->eig_t, n));
    cu_copy(be, A, c->eig_t, (size_t)n * n * sizeof(float));
    cu_download(be, w, c->eig_w, (size_t)n * sizeof(float));
    cu_download(be, &info, c->eig_info, sizeof info);
  }
  if ((rc = cu_sync(be))) return rc;
  if (info != 0)
    return nc_fail(NC_ENUMERIC, "cusolver ssyevd: info %d (%s)", info,
                   info > 0 ? "did not converge" : "an invalid argument");
  return NC_OK;
}

static int compose_buffers(nc_backend *be, int d) {
  cuda_ctx *c = ctx_of(be);
  if (c->failed || d <= c->psd_n) return !c->failed;
  CK_CUDA(be, cudaStreamSynchronize(c->stream));
  cudaFree(c->psd_a), cudaFree(c->psd_sqrt), free(c->psd_host);
  c->psd_a = c->psd_sqrt = c->psd_host = NULL, c->psd_n = 0;
  CK_CUDA(be, cudaMalloc((void **)&c->psd_a, (size_t)d * d * sizeof(float)));
  CK_CUDA(be, cudaMalloc((void **)&c->psd_sqrt, (size_t)d * sizeof(float)));
  if (!(c->psd_host = malloc((size_t)d * sizeof(float)))) fail(be, "psd_compose", "out of memory");
  if (!c->failed) c->psd_n = d;
  return !c->failed;
}

/* W = A·Aᵀ with A = U·diag(√p): one SYRK, so W is symmetric by construction. Row-major A is the
 * column-major B = Aᵀ, and W = Bᵀ·B; SYRK fills its column-major lower triangle, which is the
 * row-major upper one, and the kernel mirrors it. */
static void cu_psd_compose(nc_backend *be, int d, const float *U, const float *p, float *W) {
  cuda_ctx *c = ctx_of(be);
  if (!compose_buffers(be, d)) return;
  for (int k = 0; k < d; k++) c->psd_host[k] = sqrtf(p[k]);
  CK_CUDA(be, cudaMemcpyAsync(c->psd_sqrt, c->psd_host, (size_t)d * sizeof(float),
                              cudaMemcpyHostToDevice, c->stream));
  CK_CUDA(be, nc_cuk_scale_columns(c->stream, d, U, c->psd_sqrt, c->psd_a));
  CK_BLAS(be, cublasSsyrk(c->blas, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_T, d, d, &one, c->psd_a, d,
                          &zero, W, d));
  CK_CUDA(be, nc_cuk_mirror_upper(c->stream, d, W));
}

static size_t cu_nonfinite(nc_backend *be, const float *x, size_t n) {
  cuda_ctx *c = ctx_of(be);
  unsigned long long host = 0;
  cu_zero(be, c->count, sizeof *c->count);
  CK_CUDA(be, nc_cuk_nonfinite(c->stream, n, x, c->count));
  cu_download(be, &host, c->count, sizeof host);
  return c->failed ? n : (size_t)host;
}

static void cu_destroy(nc_backend *be) {
  cuda_ctx *c = ctx_of(be);
  if (c->stream) cudaStreamSynchronize(c->stream);
  for (int i = 0; i < c->nconv; i++) conv_entry_free(&c->convs[i]);
  free(c->convs);
  if (c->bn_x) cudnnDestroyTensorDescriptor(c->bn_x);
  if (c->bn_p) cudnnDestroyTensorDescriptor(c->bn_p);
  cudaFree(c->ones), cudaFree(c->zeros), cudaFree(c->junk), cudaFree(c->rows), cudaFree(c->count);
  cudaFree(c->bn_scratch);
  cudaFreeHost(c->host_sum);
  cudaFree(c->eig_work), cudaFree(c->eig_t), cudaFree(c->eig_w), cudaFree(c->eig_info);
  if (c->solver) cusolverDnDestroy(c->solver);
  cudaFree(c->psd_a), cudaFree(c->psd_sqrt), free(c->psd_host);
  if (c->blas) cublasDestroy(c->blas);
  if (c->dnn) cudnnDestroy(c->dnn);
  if (c->stream) cudaStreamDestroy(c->stream);
  free(c);
  free(be);
}

static const nc_backend_i cuda_i = {
    .name = "cuda",
    .destroy = cu_destroy,
    .alloc = cu_alloc,
    .free = cu_free,
    .upload = cu_copy,
    .download = cu_download,
    .copy = cu_copy,
    .zero = cu_zero,
    .host_alloc = cu_host_alloc,
    .host_free = cu_host_free,
    .sync = cu_sync,
    .conv_workspace = cu_conv_workspace,
    .conv_forward = cu_conv_forward,
    .conv_backward = cu_conv_backward,
    .bn_forward = cu_bn_forward,
    .bn_backward = cu_bn_backward,
    .relu_forward = cu_relu_forward,
    .relu_backward = cu_relu_backward,
    .add_forward = cu_add_forward,
    .add_backward = cu_add_backward,
    .maxpool_forward = cu_maxpool_forward,
    .maxpool_backward = cu_maxpool_backward,
    .avgpool_forward = cu_avgpool_forward,
    .avgpool_backward = cu_avgpool_backward,
    .linear_forward = cu_linear_forward,
    .linear_backward = cu_linear_backward,
    .loss = cu_loss,
    .update = cu_update,
    .ema = cu_ema,
    .fhat_update = cu_fhat_update,
    .eigh = cu_eigh,
    .psd_compose = cu_psd_compose,
    .nonfinite = cu_nonfinite,
};

/* The module's one entry point, found by nc_backend_cuda_create (backend.c) with dlsym. */
int nc_cuda_module_create(nc_backend **out, int device, nc_precision precision);
int nc_cuda_module_create(nc_backend **out, int device, nc_precision precision) {
  *out = NULL;
  /* batch norm: own kernels, or cuDNN's for comparisons */
  const char *bn = getenv("NCSSL_CUDA_BN");
  if (bn && *bn && strcmp(bn, "own") != 0 && strcmp(bn, "cudnn") != 0)
    return nc_fail(NC_EUSAGE, "NCSSL_CUDA_BN: expected own or cudnn, got '%.40s'", bn);
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0)
    return nc_fail(NC_EIO, "--device cuda:%d: no CUDA device (%s)", device,
                   e != cudaSuccess ? cudaGetErrorString(e) : "none found");
  if (device >= count)
    return nc_fail(NC_EIO, "--device cuda:%d: only %d CUDA device(s) (0..%d)", device, count,
                   count - 1);
  nc_backend *be = calloc(1, sizeof *be);
  cuda_ctx *c = calloc(1, sizeof *c);
  if (!be || !c) {
    free(be), free(c);
    return nc_fail(NC_ENOMEM, "cuda: out of host memory");
  }
  *be = (nc_backend){&cuda_i, NC_DEVICE_CUDA, device, precision, c, 0, 0};
  c->bn_cudnn = bn && strcmp(bn, "cudnn") == 0;
  CK_CUDA(be, cudaSetDevice(device));
  CK_CUDA(be, cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));
  CK_DNN(be, cudnnCreate(&c->dnn));
  if (!c->failed) CK_DNN(be, cudnnSetStream(c->dnn, c->stream));
  CK_BLAS(be, cublasCreate(&c->blas));
  if (!c->failed) {
    CK_BLAS(be, cublasSetStream(c->blas, c->stream));
    /* PyTorch's default: no TF32 in matrix products (allow_tf32 = False), only in convolutions */
    CK_BLAS(be, cublasSetMathMode(c->blas, CUBLAS_PEDANTIC_MATH));
  }
  CK_DNN(be, cudnnCreateTensorDescriptor(&c->bn_x));
  CK_DNN(be, cudnnCreateTensorDescriptor(&c->bn_p));
  CK_CUDA(be, cudaMalloc((void **)&c->ones, MAX_CHANNELS * sizeof(float)));
  CK_CUDA(be, cudaMalloc((void **)&c->zeros, MAX_CHANNELS * sizeof(float)));
  CK_CUDA(be, cudaMalloc((void **)&c->junk, 2 * MAX_CHANNELS * sizeof(float)));
  CK_CUDA(be, cudaMalloc((void **)&c->rows, (2 * MAX_ROWS + 4) * sizeof(double)));
  CK_CUDA(be, cudaMalloc((void **)&c->count, sizeof *c->count));
  CK_CUDA(be, cudaMalloc((void **)&c->bn_scratch,
                         NC_CUK_BN_SCRATCH_DOUBLES(MAX_CHANNELS, MAX_CHANNELS) * sizeof(double)));
  CK_CUDA(be, cudaMallocHost((void **)&c->host_sum, sizeof(double)));
  if (!c->failed) {
    float *h = malloc(MAX_CHANNELS * sizeof(float));
    if (h) {
      for (int i = 0; i < MAX_CHANNELS; i++) h[i] = 1.0f;
      /* on the stream, which is non-blocking: cudaMemcpy/cudaMemset would run on the legacy
       * default stream, unordered with it (and cudaMemset returns before it is done) */
      CK_CUDA(be, cudaMemcpyAsync(c->ones, h, MAX_CHANNELS * sizeof(float), cudaMemcpyHostToDevice,
                                  c->stream));
      CK_CUDA(be, cudaStreamSynchronize(c->stream));
      free(h);
    } else
      fail(be, "cuda", "out of host memory");
    CK_CUDA(be, cudaMemsetAsync(c->zeros, 0, MAX_CHANNELS * sizeof(float), c->stream));
    CK_CUDA(be, cudaStreamSynchronize(c->stream));
  }
  if (c->failed) {
    char why[512];
    memcpy(why, c->err, sizeof why);
    cu_destroy(be);
    return nc_fail(NC_EIO, "--device cuda:%d: %.400s", device, why);
  }
  *out = be;
  return NC_OK;
}

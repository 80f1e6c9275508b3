/* Layers of the deep engine as plain forward/backward pairs on float32 tensors (llm.c style).
 *
 * Conventions, shared by every layer:
 * - Backward ACCUMULATES: dx += ∂L/∂x and parameter gradients dW += ∂L/∂W, so a tensor used twice
 *   (a residual branch, BYOL's two views) sums its gradients. Zero the buffers before the first
 * use. Any gradient pointer may be NULL when that gradient is not wanted.
 * - In-place forms are allowed only where a function says so.
 * - No function allocates; scratch memory is passed in (sized by the *_scratch_floats helpers).
 * - 4-D tensors are described by an nc_t4 view, so one function serves PyTorch's NCHW layout, the
 *   channel-major CNHW layout (one channel of the whole batch is one contiguous row, which turns a
 *   convolution over a batch into one large GEMM) and the channel-blocked nChw16c layout that
 *   oneDNN's convolution kernels work in (the CPU networks keep activations of 16k channels in it,
 *   so no convolution copies them into another layout and back).
 * - Matrices ([n, d] activations, Linear weights [out, in] as PyTorch) are row-major. */
#ifndef NCSSL_LAYERS_H
#define NCSSL_LAYERS_H
#include <stddef.h>
#include <stdint.h>

#define NC_BN_EPS 1e-5f
#define NC_BN_MOMENTUM 0.1f

/* A view of n images of c channels of h×w pixels. With blk = 0 (planar), pixel p = y*w + x of
 * channel ci of image i is at i*sn + ci*sc + p (one channel plane of one image is contiguous).
 * With blk = 16 (channel-blocked, oneDNN's nChw16c; c a multiple of 16), channels come in blocks
 * of 16 that are interleaved pixel by pixel: it is at i*sn + (ci/16)*sc + p*16 + ci%16, so sc is
 * the stride of a channel block. An [n, d] matrix is nc_t4_nchw(n, d, 1, 1). */
typedef struct {
  int n, c, h, w;
  long sn, sc;
  int blk; /* 0: planar; 16: channel-blocked */
} nc_t4;

#define NC_T4_BLOCK 16

/* The view of a dense NCHW tensor (PyTorch's layout). */
nc_t4 nc_t4_nchw(int n, int c, int h, int w);
/* The view of a dense CNHW tensor (channel-major: all images of channel 0, then channel 1, ...). */
nc_t4 nc_t4_cnhw(int n, int c, int h, int w);
/* The view of a dense nChw16c tensor (c must be a multiple of NC_T4_BLOCK). */
nc_t4 nc_t4_blocked(int n, int c, int h, int w);
/* Number of elements n*c*h*w. */
size_t nc_t4_numel(nc_t4 t);
/* Offset of pixel p (= y*w + x) of channel ci of image i. */
static inline long nc_t4_at(nc_t4 t, int i, int ci, long p) {
  return t.blk ? i * t.sn + (ci / t.blk) * t.sc + p * t.blk + ci % t.blk : i * t.sn + ci * t.sc + p;
}

/* ---- Linear: y[n, out] = x[n, in] · Wᵀ + b, W is [out, in], b is [out] or NULL. ---- */

/* Forward; y must not alias x. */
void nc_linear_forward(int n, int in, int out, const float *x, const float *W, const float *b,
                       float *y);
/* Backward: dx += dy·W, dW += dyᵀ·x, db += Σ_rows dy (any of dx, dW, db may be NULL). */
void nc_linear_backward(int n, int in, int out, const float *x, const float *W, const float *dy,
                        float *dx, float *dW, float *db);

/* ---- Batch normalisation over (n, h, w) per channel, for 2-D (h, w > 1) and 1-D (h = w = 1)
 * inputs; x and y share the view s and must not alias. gamma/beta are NULL when affine is off.
 * Training mode normalises with the batch mean and biased variance and, when running_mean/var are
 * not NULL, updates them as PyTorch does: r ← (1 − 0.1)·r + 0.1·stat with the UNBIASED variance.
 * Eval mode normalises with the running statistics. save_mean / save_invstd ([c] each) receive the
 * mean and 1/sqrt(var + eps) used, for the backward. ---- */

void nc_batchnorm_forward(nc_t4 s, const float *x, float *y, const float *gamma, const float *beta,
                          float *running_mean, float *running_var, int train, float *save_mean,
                          float *save_invstd);
/* Backward from the forward's input x and saved statistics (train selects the batch-statistics
 * formula or the plain affine one of eval mode): dx +=, dgamma +=, dbeta += (each may be NULL). */
void nc_batchnorm_backward(nc_t4 s, const float *x, const float *dy, const float *gamma,
                           const float *save_mean, const float *save_invstd, int train, float *dx,
                           float *dgamma, float *dbeta);

/* Batch norm followed by ReLU in one pass (y = max(bn(x), 0)); same arguments as
 * nc_batchnorm_forward. */
void nc_batchnorm_relu_forward(nc_t4 s, const float *x, float *y, const float *gamma,
                               const float *beta, float *running_mean, float *running_var,
                               int train, float *save_mean, float *save_invstd);
/* Backward of nc_batchnorm_relu_forward, given its output y (the ReLU mask) as well as x. */
void nc_batchnorm_relu_backward(nc_t4 s, const float *x, const float *y, const float *dy,
                                const float *gamma, const float *save_mean,
                                const float *save_invstd, int train, float *dx, float *dgamma,
                                float *dbeta);

/* ---- Batch norm split into statistics → reduce → apply, for synchronised batch norm across
 * ranks (the caller all-reduces the per-channel double sums between the calls, outside any
 * OpenMP region). With the sums of one process these give bit for bit what the fused functions
 * above give. Training mode only; m is the number of samples per channel the sums cover (n·h·w
 * summed over the ranks). ---- */

/* sum[c] = Σ x over the batch and pixels of channel c. */
void nc_batchnorm_sums(nc_t4 s, const float *x, double *sum);
/* ss[c] = Σ (x − mean[c])², the deviations taken from the float-rounded mean as the fused form. */
void nc_batchnorm_sqdev(nc_t4 s, const float *x, const double *mean, double *ss);
/* y = bn(x) (then ReLU when relu) with mean[c] and var = ss[c]/m; running statistics (if not
 * NULL) updated with the unbiased ss[c]/(m − 1); save_mean/save_invstd as the fused forward. */
void nc_batchnorm_apply(nc_t4 s, const float *x, float *y, const float *gamma, const float *beta,
                        float *running_mean, float *running_var, const double *mean,
                        const double *ss, double m, int relu, float *save_mean, float *save_invstd);
/* sum_g[c] = Σ g, sum_gx[c] = Σ g·(x − mean), g = dy masked by the forward's output y > 0 when
 * y is not NULL (the fused ReLU). */
void nc_batchnorm_grad_sums(nc_t4 s, const float *x, const float *y, const float *dy,
                            const float *save_mean, double *sum_g, double *sum_gx);
/* dgamma += Σ g·xhat, dbeta += Σ g from this process's sums (either may be NULL). */
void nc_batchnorm_param_grads(int channels, const double *sum_g, const double *sum_gx,
                              const float *save_invstd, float *dgamma, float *dbeta);
/* dx += the batch-statistics gradient from the (reduced) sums over m samples. */
void nc_batchnorm_backward_apply(nc_t4 s, const float *x, const float *y, const float *dy,
                                 const float *gamma, const float *save_mean,
                                 const float *save_invstd, const double *sum_g,
                                 const double *sum_gx, double m, float *dx);

/* ---- ReLU over n contiguous floats. ---- */

/* y = max(x, 0); y may equal x (in place). */
void nc_relu_forward(size_t n, const float *x, float *y);
/* From the forward's OUTPUT y: dx += dy·[y > 0]; when dx == dy it is done in place
 * (dx = dy·[y > 0]). */
void nc_relu_backward(size_t n, const float *y, const float *dy, float *dx);

/* ---- Residual add over n contiguous floats. ---- */

/* y = a + b; y may equal a or b. */
void nc_add_forward(size_t n, const float *a, const float *b, float *y);
/* da += dy, db += dy (either may be NULL). */
void nc_add_backward(size_t n, const float *dy, float *da, float *db);

/* Residual add followed by ReLU in one pass: y = max(a + b, 0); y may equal a or b. */
void nc_add_relu_forward(size_t n, const float *a, const float *b, float *y);
/* Its backward from the output y, for the in-place form (y = a): dy is masked in place
 * (dy ← dy·[y > 0], which is then also a's gradient) and db += the masked dy. */
void nc_add_relu_backward(size_t n, const float *y, float *dy, float *db);

/* ---- 2-D convolution without bias: W is [cout, cin, kh, kw] as PyTorch; any kernel, stride,
 * padding (zero). Computed as im2col + SGEMM over chunks of images, the chunks shared by OpenMP
 * threads. OpenBLAS runs single-threaded inside them (its own pool competing with OpenMP's for
 * the cores was 3-4× slower); its thread count is restored on return, so the caller's setting
 * holds for everything else. Results are deterministic for a given OpenMP thread count. ---- */

typedef struct {
  int cin, cout, kh, kw, stride, pad;
} nc_conv_cfg;

/* Output height/width for an input of h×w. */
void nc_conv2d_out_hw(const nc_conv_cfg *cfg, int h, int w, int *oh, int *ow);
/* Floats of scratch the forward or backward needs for n images of h×w with as many threads as
 * omp_get_max_threads() gives now (a smaller scratch runs on fewer threads). */
size_t nc_conv2d_scratch_floats(const nc_conv_cfg *cfg, int n, int h, int w);
/* y = conv(x, W); xs and ys give the layouts (ys must have the output shape); y must not alias x.
 * scratch holds scratch_floats floats (64-byte aligned is fastest), at least one thread's share. */
void nc_conv2d_forward(const nc_conv_cfg *cfg, nc_t4 xs, const float *x, const float *W, nc_t4 ys,
                       float *y, float *scratch, size_t scratch_floats);
/* dx += ∂/∂x, dW += ∂/∂W (dx or dW may be NULL). */
void nc_conv2d_backward(const nc_conv_cfg *cfg, nc_t4 xs, const float *x, const float *W, nc_t4 ys,
                        const float *dy, float *dx, float *dW, float *scratch,
                        size_t scratch_floats);
/* Forward FLOPs (2 per multiply-add) for n images of h×w. */
double nc_conv2d_flops(const nc_conv_cfg *cfg, int n, int h, int w);

/* ---- Convolution plans: oneDNN's convolution primitives for one layer's shape, created once
 * (at network build time) in the channel-blocked layout oneDNN prefers on this CPU, with reorders
 * from and to the caller's layout in the scratch (none for nc_t4_blocked views when oneDNN works in
 * nChw16c, as its AVX-512 and Winograd kernels do). Same contract as nc_conv2d_* (backward
 * accumulates; deterministic for a given OpenMP thread count). Without oneDNN, or when it declines
 * the shape, no plan is made and the *_with functions run im2col + SGEMM, which take planar views
 * only: for blocked views a plan is made whatever the shape. ---- */

typedef struct nc_conv_plan nc_conv_plan;

/* The arithmetic a plan may use. NC_CONV_FP32: direct fp32 kernels. NC_CONV_TF32: also Winograd
 * F(4×4, 3×3) for the 3×3 stride-1 layers of 32+ channels where it pays (faster; a few times a
 * direct convolution's rounding error). NC_CONV_BF16: inputs, weights and output gradients
 * rounded to bf16 on their way into oneDNN's AVX512-BF16 / AMX kernels, fp32 accumulation, fp32
 * outputs and gradients (the tensors stay fp32), for the 3×3 layers of 16+ input channels, where
 * it pays; the others, and every layer on a CPU without bf16 kernels, are planned as at tf32. */
typedef enum { NC_CONV_FP32 = 0, NC_CONV_TF32 = 1, NC_CONV_BF16 = 2 } nc_conv_math;
/* 1 when this build and CPU have bf16 convolution kernels (oneDNN's effective ISA includes
 * AVX512-BF16: Cooper Lake, Sapphire Rapids and later, Zen 4); ONEDNN_MAX_CPU_ISA lowers it. */
int nc_conv_bf16_available(void);

/* *plan = a plan for inputs in view xs (its n is the batch) and outputs in view ys, with the
 * backward primitives when backward != 0, using the arithmetic `math` allows (nc_conv_math);
 * *plan = NULL (and NC_OK) when there is none for this shape (never for blocked views while
 * oneDNN is there). Fails only when out of memory. */
int nc_conv_plan_new(nc_conv_plan **plan, const nc_conv_cfg *cfg, nc_t4 xs, nc_t4 ys, int backward,
                     nc_conv_math math);
void nc_conv_plan_free(nc_conv_plan *plan);
/* Scratch floats the plan's forward and backward need (0 for NULL). */
size_t nc_conv_plan_scratch_floats(const nc_conv_plan *plan);
/* Whether the plan serves these views (same batch and layout) with this much scratch. */
int nc_conv_plan_fits(const nc_conv_plan *plan, nc_t4 xs, nc_t4 ys, size_t scratch_floats);
/* Makes the plan serve these views (remaking its primitives for another batch size, as
 * nc_conv2d_*_with do) and returns whether it does (0 for NULL, without oneDNN, or when oneDNN
 * failed to remake them). */
int nc_conv_plan_follow(nc_conv_plan *plan, nc_t4 xs, nc_t4 ys, size_t scratch_floats);
/* What nc_conv2d_*_with runs for the plan's views: "winograd", "winograd-gemm", "onednn-bf16"
 * or "onednn" (direct fp32 kernels) when a plan exists, "im2col" otherwise. */
const char *nc_conv_plan_kind(const nc_conv_plan *plan);
/* nc_conv2d_forward / nc_conv2d_backward through the plan when it fits (remade for another batch
 * size when needed), else im2col + SGEMM; blocked views that no plan serves get NaNs (a caller
 * with blocked views checks nc_conv_plan_follow first). */
void nc_conv2d_forward_with(nc_conv_plan *plan, const nc_conv_cfg *cfg, nc_t4 xs, const float *x,
                            const float *W, nc_t4 ys, float *y, float *scratch,
                            size_t scratch_floats);
void nc_conv2d_backward_with(nc_conv_plan *plan, const nc_conv_cfg *cfg, nc_t4 xs, const float *x,
                             const float *W, nc_t4 ys, const float *dy, float *dx, float *dW,
                             float *scratch, size_t scratch_floats);

/* ---- Max pooling k×k, stride, zero-free padding (padded cells never win), as PyTorch's
 * MaxPool2d(k, stride, pad); the ResNet stem uses 3, 2, 1. ---- */

/* Output height/width of pooling an h×w input. */
void nc_maxpool_out_hw(int k, int stride, int pad, int h, int w, int *oh, int *ow);
/* y = maxpool(x); argmax (one per output element, in ys's layout) receives the winning position
 * y*w + x inside the input channel plane, for the backward. A window without a pixel (pad ≥ k)
 * gives -FLT_MAX and argmax -1. */
void nc_maxpool_forward(int k, int stride, int pad, nc_t4 xs, const float *x, nc_t4 ys, float *y,
                        int32_t *argmax);
/* dx[winner] += dy (nothing for a window without a pixel). */
void nc_maxpool_backward(nc_t4 xs, float *dx, nc_t4 ys, const float *dy, const int32_t *argmax);

/* ---- Global average pooling: y[n, c] (row-major matrix) = mean over h×w. ---- */

void nc_avgpool_forward(nc_t4 xs, const float *x, float *y);
/* dx += dy / (h·w) broadcast over each plane. */
void nc_avgpool_backward(nc_t4 xs, const float *dy, float *dx);

#endif

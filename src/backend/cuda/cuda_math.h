/* The per-element arithmetic of the CUDA backend's own kernels, as inline functions that nvcc
 * compiles for the device (__host__ __device__) and a plain C compiler compiles for the host, so
 * tests/test_cuda_math.c checks them on the CPU against the CPU backend's results. Each function
 * is the same float expression, in the same order, as the CPU code it mirrors (layers.c, loss.c,
 * the CPU backend's update and EMA). */
#ifndef NCSSL_BACKEND_CUDA_MATH_H
#define NCSSL_BACKEND_CUDA_MATH_H
#include <math.h>

#ifdef __CUDACC__
#define NC_HD __host__ __device__ __forceinline__
#else
#define NC_HD static inline
#endif

/* ReLU: y = max(x, 0). */
NC_HD float nc_cm_relu(float x) { return x > 0 ? x : 0.0f; }
/* The ReLU's gradient from its output y. */
NC_HD float nc_cm_relu_grad(float y, float dy) { return y > 0 ? dy : 0.0f; }
/* Residual add followed by ReLU. */
NC_HD float nc_cm_add_relu(float a, float b) {
  float v = a + b;
  return v > 0 ? v : 0.0f;
}

/* Batch norm as y = x·scale + shift with scale = γ·invstd, shift = β − mean·scale. */
NC_HD float nc_cm_bn_scale(float gamma, float invstd) { return gamma * invstd; }
NC_HD float nc_cm_bn_shift(float beta, float mean, float scale) { return beta - mean * scale; }
NC_HD float nc_cm_bn_apply(float x, float scale, float shift, int relu) {
  float v = x * scale + shift;
  return relu ? (v > 0 ? v : 0.0f) : v;
}
/* Batch-norm input gradient: train, dx = scale·(g − a − (x − mean)·b) with a = mean(g) and b =
 * mean(g·x̂)·invstd; eval is the same with a = b = 0. */
NC_HD float nc_cm_bn_dx(float g, float x, float mean, float scale, float a, float b) {
  return scale * (g - a - (x - mean) * b);
}

/* One channel's statistics → its affine map y = x·scale + shift (layers_blocked.h's
 * nc_bn_channel_affine, same operations): in training the running statistics (when running_mean
 * is not NULL) move by `momentum` towards the batch's (unbiased variance from ss = Σ (x − mean)²
 * over m samples), and the mean and 1/sqrt(var + eps) are saved for the backward. momentum
 * and eps are floats, as layers.h's constants, so (1 − momentum) is the CPU's float. */
NC_HD void nc_cm_bn_affine(double mean, double var, double ss, double m, int train, float gamma,
                           float beta, float momentum, float eps, float *running_mean,
                           float *running_var, float *save_mean, float *save_invstd, float *scale,
                           float *shift) {
  if (train && running_mean) {
    double unbiased = m > 1 ? ss / (m - 1) : var;
    *running_mean = (float)((1 - momentum) * *running_mean + momentum * mean);
    *running_var = (float)((1 - momentum) * *running_var + momentum * unbiased);
  }
  float invstd = (float)(1.0 / sqrt(var + eps));
  *save_mean = (float)mean;
  *save_invstd = invstd;
  *scale = gamma * invstd;
  *shift = beta - (float)mean * *scale;
}
/* The input gradient's coefficients for nc_cm_bn_dx from Σ g and Σ g·(x − mean) over m samples
 * (layers_blocked.h's nc_bn_grad_coefs): a = mean(g), b = mean(g·x̂)·invstd; 0 in eval mode. */
NC_HD void nc_cm_bn_grad_coefs(float gamma, float invstd, int train, double sum_g, double sum_gx,
                               double m, float *scale, float *a, float *b) {
  double sum_g_xhat = sum_gx * invstd;
  *scale = gamma * invstd;
  *a = train ? (float)(sum_g / m) : 0.0f;
  *b = train ? (float)(sum_g_xhat / m) * invstd : 0.0f;
}

/* One element of the SGD / LARS update (torch.optim.SGD's order of float operations); scale is
 * LARS's trust ratio (1 for SGD). Returns the new weight, writes the new momentum to *buf. */
NC_HD float nc_cm_sgd(float w, float g, float *buf, float wd, float mu, float lr, float scale) {
  float d = g + wd * w;
  if (scale != 1.0f) d *= scale;
  float b = *buf * mu + d;
  *buf = b;
  return w - lr * b;
}
/* LARS's trust ratio from ‖w‖ and ‖g + wd·w‖ (1 when either is 0). */
NC_HD float nc_cm_lars_scale(double wnorm, double dnorm, double trust) {
  return (wnorm > 0 && dnorm > 0) ? (float)(trust * wnorm / dnorm) : 1.0f;
}
/* The EMA: target·τ + (1 − τ)·online with keep = (float)τ, mix = (float)(1 − τ). */
NC_HD float nc_cm_ema(float target, float online, float keep, float mix) {
  return target * keep + mix * online;
}

/* The cosine losses (loss.c): with nq, nz the clamped norms and c = cos(q, z), row i's loss is
 * a + b·c and ∂/∂q_k = w·b·(ẑ_k − c·q̂_k)/nq (w = weight/B); ∂/∂z swaps the roles. */
NC_HD double nc_cm_cos_grad(double own, double other, double norm_own, double norm_other, double c,
                            double wb) {
  double oh = own / norm_own, th = other / norm_other;
  return wb * (th - c * oh) / norm_own;
}
/* The squared loss's gradient: w·(q − z). */
NC_HD double nc_cm_sq_grad(double q, double z, double w) { return w * (q - z); }

/* fp32 → bf16 bits, rounding to nearest with ties to even (as oneDNN and PyTorch round); a NaN
 * stays a (quiet) NaN. */
NC_HD unsigned short nc_cm_bf16(float x) {
  union {
    float f;
    unsigned int u;
  } v;
  v.f = x;
  if ((v.u & 0x7fffffffu) > 0x7f800000u) return (unsigned short)((v.u >> 16) | 0x40u);
  return (unsigned short)((v.u + 0x7fffu + ((v.u >> 16) & 1u)) >> 16);
}
/* bf16 bits → fp32 (exact). */
NC_HD float nc_cm_from_bf16(unsigned short b) {
  union {
    unsigned int u;
    float f;
  } v;
  v.u = (unsigned int)b << 16;
  return v.f;
}

/* 1 for NaN or ±Inf (x − x is NaN exactly then; no libm needed on either side). */
NC_HD int nc_cm_nonfinite(float x) {
  float d = x - x;
  return d != d;
}

#endif

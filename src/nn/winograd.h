/* Winograd F(4×4, 3×3) convolutions through SGEMM, on channel-blocked feature maps (nChw16c),
 * for the CPUs where oneDNN has no fp32 Winograd kernels (below AVX-512). Not a public header:
 * the convolution plans (conv_plan.c) choose it. */
#ifndef NCSSL_NN_WINOGRAD_H
#define NCSSL_NN_WINOGRAD_H
#include <stddef.h>

#include "ncssl/layers.h"

/* Whether it computes this layer: 3×3, stride 1, padding 1, both views blocked. */
int nc_wino_fits(const nc_conv_cfg *cfg, nc_t4 xs, nc_t4 ys);
/* Scratch floats for the forward and the backward of these views. */
size_t nc_wino_scratch_floats(const nc_conv_cfg *cfg, nc_t4 xs);
/* y = conv(x, W). */
void nc_wino_forward(const nc_conv_cfg *cfg, nc_t4 xs, const float *x, const float *W, nc_t4 ys,
                     float *y, float *scratch);
/* dx += ∂L/∂x, dW += ∂L/∂W (either may be NULL). */
void nc_wino_backward(const nc_conv_cfg *cfg, nc_t4 xs, const float *x, const float *W, nc_t4 ys,
                      const float *dy, float *dx, float *dW, float *scratch);

#endif

/* Internal: PIL-style antialiased bilinear resampling of a box of a uint8 CHW image. */
#ifndef NCSSL_DATA_RESAMPLE_H
#define NCSSL_DATA_RESAMPLE_H
#include <stddef.h>
#include <stdint.h>

/* Floats of scratch nc_resample needs for boxes up to h x w resized to oh x ow (c channels). */
size_t nc_resample_scratch(int c, int h, int w, int oh, int ow);
/* Resizes rows [bi, bi+bh) x columns [bj, bj+bw) of img (c x h x w uint8) to oh x ow floats in
 * [0, 1] (out, CHW). The triangle filter widens by the shrink factor (antialiasing, as PIL's
 * BILINEAR) and never reads outside the box. */
void nc_resample(const uint8_t *img, int c, int h, int w, int bi, int bj, int bh, int bw, int oh,
                 int ow, float *out, float *scratch);

#endif

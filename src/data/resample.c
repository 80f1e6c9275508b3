/* Separable resampling with PIL's BILINEAR filter: for output sample x the source centre is
 * (x + 0.5) * scale, the triangle's support is max(scale, 1), weights are renormalised after
 * clipping to the box. Horizontal pass into scratch, then vertical pass. */
#include "resample.h"

#include <math.h>
#include <string.h>

static int kernel_len(int in, int out) {
  double scale = (double)in / out;
  double support = scale > 1.0 ? scale : 1.0;
  return (int)ceil(support) * 2 + 2;
}

size_t nc_resample_scratch(int c, int h, int w, int oh, int ow) {
  size_t tmp = (size_t)c * h * ow;
  size_t kh = kernel_len(h, oh), kw = kernel_len(w, ow);
  return tmp + (size_t)oh * (kh + 2) + (size_t)ow * (kw + 2);
}

/* Per output sample: first source index (relative to the box), count, then k weights. The
 * layout in floats is [start-as-int, count-as-int, k weights]. */
static void axis_weights(int in, int out, int k, float *dst) {
  double scale = (double)in / out;
  double fscale = scale > 1.0 ? scale : 1.0;
  double support = fscale;
  for (int x = 0; x < out; x++) {
    float *row = dst + (size_t)x * (k + 2);
    double center = (x + 0.5) * scale;
    int lo = (int)floor(center - support + 0.5), hi = (int)floor(center + support + 0.5);
    if (lo < 0) lo = 0;
    if (hi > in) hi = in;
    if (hi - lo > k) hi = lo + k;
    double sum = 0;
    for (int t = lo; t < hi; t++) {
      double d = fabs((t - center + 0.5) / fscale);
      double wt = d < 1.0 ? 1.0 - d : 0.0;
      row[2 + t - lo] = (float)wt;
      sum += wt;
    }
    if (sum <= 0) { /* cannot happen for in >= 1, but keep the output defined */
      lo = (int)center < in ? (int)center : in - 1;
      hi = lo + 1;
      row[2] = 1.0f;
      sum = 1.0;
    }
    for (int t = 0; t < hi - lo; t++) row[2 + t] = (float)(row[2 + t] / sum);
    int meta[2] = {lo, hi - lo};
    memcpy(row, meta, sizeof meta);
  }
}

void nc_resample(const uint8_t *img, int c, int h, int w, int bi, int bj, int bh, int bw, int oh,
                 int ow, float *out, float *scratch) {
  const float inv255 = 1.0f / 255.0f;
  if (bh == oh && bw == ow) { /* the filter is the identity: copy */
    for (int ch = 0; ch < c; ch++)
      for (int y = 0; y < oh; y++) {
        const uint8_t *src = img + ((size_t)ch * h + bi + y) * w + bj;
        float *dst = out + ((size_t)ch * oh + y) * ow;
        for (int x = 0; x < ow; x++) dst[x] = src[x] * inv255;
      }
    return;
  }
  int kw = kernel_len(bw, ow), kh = kernel_len(bh, oh);
  float *tmp = scratch;
  float *wx = tmp + (size_t)c * bh * ow;
  float *wy = wx + (size_t)ow * (kw + 2);
  axis_weights(bw, ow, kw, wx);
  axis_weights(bh, oh, kh, wy);
  for (int ch = 0; ch < c; ch++)
    for (int y = 0; y < bh; y++) {
      const uint8_t *src = img + ((size_t)ch * h + bi + y) * w + bj;
      float *dst = tmp + ((size_t)ch * bh + y) * ow;
      for (int x = 0; x < ow; x++) {
        const float *row = wx + (size_t)x * (kw + 2);
        int meta[2];
        memcpy(meta, row, sizeof meta);
        float acc = 0;
        for (int t = 0; t < meta[1]; t++) acc += row[2 + t] * src[meta[0] + t];
        dst[x] = acc * inv255;
      }
    }
  for (int ch = 0; ch < c; ch++)
    for (int y = 0; y < oh; y++) {
      const float *row = wy + (size_t)y * (kh + 2);
      int meta[2];
      memcpy(meta, row, sizeof meta);
      float *dst = out + ((size_t)ch * oh + y) * ow;
      for (int x = 0; x < ow; x++) dst[x] = 0;
      for (int t = 0; t < meta[1]; t++) {
        const float *src = tmp + ((size_t)ch * bh + meta[0] + t) * ow;
        float wt = row[2 + t];
        for (int x = 0; x < ow; x++) dst[x] += wt * src[x];
      }
    }
}

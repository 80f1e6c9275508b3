/* Augmentations on float CHW images in [0, 1], following torchvision's tensor functional code
 * (blend-and-clamp colour ops, its RGB<->HSV conversion, RandomResizedCrop.get_params). */
#include "ncssl/augment.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ncssl/status.h"
#include "resample.h"

static float clamp01(float v) { return v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v; }

static double uniform(nc_rng *rng, double lo, double hi) {
  return lo + (hi - lo) * nc_rng_uniform(rng);
}

nc_crop_box nc_aug_crop_params(nc_rng *rng, int h, int w, double scale_lo, double scale_hi,
                               double ratio_lo, double ratio_hi) {
  double area = (double)h * w, log_lo = log(ratio_lo), log_hi = log(ratio_hi);
  for (int attempt = 0; attempt < 10; attempt++) {
    double target = area * uniform(rng, scale_lo, scale_hi);
    double aspect = exp(uniform(rng, log_lo, log_hi));
    /* Python's round() is round-half-even, which nearbyint gives in the default mode. */
    int cw = (int)nearbyint(sqrt(target * aspect)), ch = (int)nearbyint(sqrt(target / aspect));
    if (cw > 0 && cw <= w && ch > 0 && ch <= h) {
      int i = (int)nc_rng_below(rng, (uint64_t)(h - ch + 1));
      int j = (int)nc_rng_below(rng, (uint64_t)(w - cw + 1));
      return (nc_crop_box){i, j, ch, cw};
    }
  }
  /* Fallback: the whole image, cut down to the nearest allowed aspect ratio, centred. */
  double in_ratio = (double)w / h;
  int cw = w, ch = h;
  if (in_ratio < ratio_lo) {
    ch = (int)nearbyint(cw / ratio_lo);
  } else if (in_ratio > ratio_hi) {
    cw = (int)nearbyint(ch * ratio_hi);
  }
  if (ch < 1) ch = 1;
  if (cw < 1) cw = 1;
  if (ch > h) ch = h;
  if (cw > w) cw = w;
  return (nc_crop_box){(h - ch) / 2, (w - cw) / 2, ch, cw};
}

void nc_aug_resized_crop(const uint8_t *img, int c, int h, int w, nc_crop_box box, int oh, int ow,
                         float *out, float *scratch) {
  nc_resample(img, c, h, w, box.i, box.j, box.h, box.w, oh, ow, out, scratch);
}

void nc_aug_hflip(float *x, int c, int h, int w) {
  for (int r = 0; r < c * h; r++) {
    float *row = x + (size_t)r * w;
    for (int a = 0, b = w - 1; a < b; a++, b--) {
      float t = row[a];
      row[a] = row[b];
      row[b] = t;
    }
  }
}

void nc_aug_brightness(float *x, int c, int h, int w, float f) {
  size_t n = (size_t)c * h * w;
  for (size_t i = 0; i < n; i++) x[i] = clamp01(x[i] * f);
}

static float gray_at(const float *x, size_t plane, size_t p) {
  return 0.299f * x[p] + 0.587f * x[plane + p] + 0.114f * x[2 * plane + p];
}

void nc_aug_contrast(float *x, int c, int h, int w, float f) {
  size_t plane = (size_t)h * w, n = (size_t)c * plane;
  double sum = 0;
  if (c == 3)
    for (size_t p = 0; p < plane; p++) sum += gray_at(x, plane, p);
  else
    for (size_t p = 0; p < plane; p++) sum += x[p];
  float mean = (float)(sum / plane);
  for (size_t i = 0; i < n; i++) x[i] = clamp01(f * x[i] + (1.0f - f) * mean);
}

void nc_aug_saturation(float *x, int c, int h, int w, float f) {
  if (c != 3) return;
  size_t plane = (size_t)h * w;
  for (size_t p = 0; p < plane; p++) {
    float g = gray_at(x, plane, p);
    for (int ch = 0; ch < 3; ch++) {
      float *v = x + ch * plane + p;
      *v = clamp01(f * *v + (1.0f - f) * g);
    }
  }
}

/* One channel of HSV -> RGB without branches: v - v s clamp(min(k, 4 - k), 0, 1) with
 * k = (n + 6h) mod 6, n = 5, 3, 1 for R, G, B; equal to torchvision's six-sector table. */
static float hsv_channel(float n, float h6, float s, float v) {
  float k = n + h6;
  k = k >= 6.0f ? k - 6.0f : k;
  float m = k < 4.0f - k ? k : 4.0f - k;
  m = m < 0.0f ? 0.0f : m > 1.0f ? 1.0f : m;
  return v - v * s * m;
}

void nc_aug_hue(float *x, int c, int h, int w, float f) {
  if (c != 3) return;
  size_t plane = (size_t)h * w;
  float *R = x, *G = x + plane, *B = x + 2 * plane;
  for (size_t p = 0; p < plane; p++) {
    float r = R[p], g = G[p], b = B[p];
    float maxc = r > g ? r : g, minc = r < g ? r : g;
    maxc = b > maxc ? b : maxc;
    minc = b < minc ? b : minc;
    float cr = maxc - minc;
    /* Gray pixels (cr = 0) divide by 1, as torchvision's where(eqc, ones, ...). */
    float s = cr / (maxc > 0.0f ? maxc : 1.0f), inv = 1.0f / (cr > 0.0f ? cr : 1.0f);
    float rc = (maxc - r) * inv, gc = (maxc - g) * inv, bc = (maxc - b) * inv;
    float hh = maxc == r ? bc - gc : maxc == g ? 2.0f + rc - bc : 4.0f + gc - rc;
    hh = hh * (1.0f / 6.0f) + 1.0f; /* in [5/6, 2): fmod(., 1) is one subtraction */
    hh = hh >= 1.0f ? hh - 1.0f : hh;
    hh += f; /* |f| <= 0.5: Python's % 1.0 is at most one step either way */
    hh = hh < 0.0f ? hh + 1.0f : hh;
    hh = hh >= 1.0f ? hh - 1.0f : hh;
    float h6 = hh * 6.0f;
    R[p] = hsv_channel(5.0f, h6, s, maxc);
    G[p] = hsv_channel(3.0f, h6, s, maxc);
    B[p] = hsv_channel(1.0f, h6, s, maxc);
  }
}

void nc_aug_color_jitter(float *x, int c, int h, int w, double b, double ct, double s, double hue,
                         nc_rng *rng) {
  int order[4] = {0, 1, 2, 3};
  for (int i = 3; i > 0; i--) { /* a random permutation, as torch.randperm(4) */
    int j = (int)nc_rng_below(rng, (uint64_t)i + 1);
    int t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  double fb = b > 0 ? uniform(rng, fmax(0.0, 1.0 - b), 1.0 + b) : 1.0;
  double fc = ct > 0 ? uniform(rng, fmax(0.0, 1.0 - ct), 1.0 + ct) : 1.0;
  double fs = s > 0 ? uniform(rng, fmax(0.0, 1.0 - s), 1.0 + s) : 1.0;
  double fh = hue > 0 ? uniform(rng, -hue, hue) : 0.0;
  for (int k = 0; k < 4; k++) switch (order[k]) {
      case 0:
        if (b > 0) nc_aug_brightness(x, c, h, w, (float)fb);
        break;
      case 1:
        if (ct > 0) nc_aug_contrast(x, c, h, w, (float)fc);
        break;
      case 2:
        if (s > 0) nc_aug_saturation(x, c, h, w, (float)fs);
        break;
      default:
        if (hue > 0) nc_aug_hue(x, c, h, w, (float)fh);
        break;
    }
}

void nc_aug_grayscale(float *x, int c, int h, int w) {
  if (c != 3) return;
  size_t plane = (size_t)h * w;
  for (size_t p = 0; p < plane; p++) x[p] = x[plane + p] = x[2 * plane + p] = gray_at(x, plane, p);
}

/* Reflection without repeating the edge (numpy/torch "reflect"), for any offset. */
static int reflect(int i, int n) {
  if (n == 1) return 0;
  int period = 2 * (n - 1);
  i %= period;
  if (i < 0) i += period;
  return i < n ? i : period - i;
}

void nc_aug_gaussian_blur(float *x, int c, int h, int w, int kernel, double sigma, float *scratch) {
  enum { MAX_R = 128, MAX_SIDE = 4096 };
  int r = kernel / 2;
  if (r > MAX_R) r = MAX_R;
  float k[2 * MAX_R + 1];
  double sum = 0;
  for (int t = -r; t <= r; t++) sum += exp(-(double)t * t / (2 * sigma * sigma));
  for (int t = -r; t <= r; t++) k[t + r] = (float)(exp(-(double)t * t / (2 * sigma * sigma)) / sum);
  /* Reflected source index of every padded position, computed once per axis. */
  int xs[MAX_SIDE + 2 * MAX_R], ys[MAX_SIDE + 2 * MAX_R];
  if (w > MAX_SIDE || h > MAX_SIDE) return; /* presets never come near this */
  for (int i = -r; i < w + r; i++) xs[i + r] = reflect(i, w);
  for (int i = -r; i < h + r; i++) ys[i + r] = reflect(i, h);
  float pad[MAX_SIDE + 2 * MAX_R];
  for (int ch = 0; ch < c; ch++) {
    float *img = x + (size_t)ch * h * w, *tmp = scratch + (size_t)ch * h * w;
    for (int y = 0; y < h; y++) { /* horizontal pass through a reflected copy of the row */
      const float *row = img + (size_t)y * w;
      for (int i = 0; i < w + 2 * r; i++) pad[i] = row[xs[i]];
      float *dst = tmp + (size_t)y * w;
      for (int xx = 0; xx < w; xx++) {
        float acc = 0;
        for (int t = 0; t <= 2 * r; t++) acc += k[t] * pad[xx + t];
        dst[xx] = acc;
      }
    }
    for (int y = 0; y < h; y++) { /* vertical pass: whole rows at a time */
      float *dst = img + (size_t)y * w;
      for (int xx = 0; xx < w; xx++) dst[xx] = 0;
      for (int t = 0; t <= 2 * r; t++) {
        const float *src = tmp + (size_t)ys[y + t] * w;
        float kt = k[t];
        for (int xx = 0; xx < w; xx++) dst[xx] += kt * src[xx];
      }
    }
  }
}

void nc_aug_solarize(float *x, size_t n, float threshold) {
  for (size_t i = 0; i < n; i++)
    if (x[i] >= threshold) x[i] = 1.0f - x[i];
}

void nc_aug_normalize(float *x, int c, int h, int w, const float *mean, const float *std) {
  size_t plane = (size_t)h * w;
  for (int ch = 0; ch < c; ch++) {
    float m = mean[ch < 3 ? ch : 0], inv = 1.0f / std[ch < 3 ? ch : 0];
    float *p = x + ch * plane;
    for (size_t i = 0; i < plane; i++) p[i] = (p[i] - m) * inv;
  }
}

size_t nc_aug_scratch_floats(const nc_aug_view *v, int c, int h, int w) {
  int big = h > w ? h : w;
  size_t a = nc_resample_scratch(c, big, big, v->size, v->size);
  size_t b = (size_t)c * v->size * v->size;
  return a > b ? a : b;
}

void nc_aug_apply(const nc_aug_view *v, const uint8_t *img, int c, int h, int w, nc_rng *rng,
                  float *out, float *scratch) {
  int s = v->size;
  nc_crop_box box =
      nc_aug_crop_params(rng, h, w, v->scale_lo, v->scale_hi, v->ratio_lo, v->ratio_hi);
  nc_aug_resized_crop(img, c, h, w, box, s, s, out, scratch);
  if (v->flip_p > 0 && nc_rng_uniform(rng) < v->flip_p) nc_aug_hflip(out, c, s, s);
  if (v->jitter_p > 0 && nc_rng_uniform(rng) < v->jitter_p)
    nc_aug_color_jitter(out, c, s, s, v->brightness, v->contrast, v->saturation, v->hue, rng);
  if (v->gray_p > 0 && nc_rng_uniform(rng) < v->gray_p) nc_aug_grayscale(out, c, s, s);
  if (v->blur_p > 0 && nc_rng_uniform(rng) < v->blur_p) {
    double sigma = uniform(rng, v->blur_sigma_lo, v->blur_sigma_hi);
    nc_aug_gaussian_blur(out, c, s, s, v->blur_kernel, sigma, scratch);
  }
  if (v->solarize_p > 0 && nc_rng_uniform(rng) < v->solarize_p)
    nc_aug_solarize(out, (size_t)c * s * s, 0.5f);
  if (v->normalize) nc_aug_normalize(out, c, s, s, v->mean, v->std);
}

void nc_aug_plain(const nc_aug_view *v, const uint8_t *img, int c, int h, int w, float *out,
                  float *scratch) {
  int side = h < w ? h : w;
  nc_resample(img, c, h, w, (h - side) / 2, (w - side) / 2, side, side, v->size, v->size, out,
              scratch);
  if (v->normalize) nc_aug_normalize(out, c, v->size, v->size, v->mean, v->std);
}

/* The common SimCLR/BYOL base: RandomResizedCrop(size) with torchvision's default ranges and
 * a horizontal flip with probability 0.5. */
static nc_aug_view base_view(int size) {
  nc_aug_view v;
  memset(&v, 0, sizeof v);
  v.size = size;
  v.scale_lo = 0.08, v.scale_hi = 1.0;
  v.ratio_lo = 3.0 / 4.0, v.ratio_hi = 4.0 / 3.0;
  v.flip_p = 0.5;
  return v;
}

static void set_jitter(nc_aug_view *v, double p, double b, double c, double s, double h) {
  v->jitter_p = p, v->brightness = b, v->contrast = c, v->saturation = s, v->hue = h;
}

/* The SimCLR code's kernel: int(0.1 * size), made odd as radius * 2 + 1. */
static int blur_kernel_for(int size) { return ((int)(0.1 * size) / 2) * 2 + 1; }

static void set_norm(nc_aug_view *v, float m0, float m1, float m2, float s0, float s1, float s2) {
  v->normalize = 1;
  v->mean[0] = m0, v->mean[1] = m1, v->mean[2] = m2;
  v->std[0] = s0, v->std[1] = s1, v->std[2] = s2;
}

int nc_aug_preset_get(const char *name, int size, nc_aug_preset *out) {
  memset(out, 0, sizeof *out);
  if (size < 0 || size > 4096) return nc_fail(NC_EUSAGE, "augmentation size %d out of range", size);
  nc_aug_view v;
  if (name && !strcmp(name, "cifar")) {
    v = base_view(size ? size : 32);
    set_jitter(&v, 0.8, 0.4, 0.4, 0.4, 0.1);
    v.gray_p = 0.2;
    set_norm(&v, 0.4914f, 0.4822f, 0.4465f, 0.2023f, 0.1994f, 0.2010f);
    out->view[0] = out->view[1] = v;
  } else if (name && !strcmp(name, "stl10")) {
    v = base_view(size ? size : 96);
    set_jitter(&v, 0.8, 0.8, 0.8, 0.8, 0.2);
    v.gray_p = 0.2;
    v.blur_p = 1.0, v.blur_kernel = blur_kernel_for(v.size);
    v.blur_sigma_lo = 0.1, v.blur_sigma_hi = 2.0;
    out->view[0] = out->view[1] = v;
  } else if (name && !strcmp(name, "imagenet")) {
    v = base_view(size ? size : 224);
    set_jitter(&v, 0.8, 0.4, 0.4, 0.2, 0.1);
    v.gray_p = 0.2;
    v.blur_kernel = blur_kernel_for(v.size);
    v.blur_sigma_lo = 0.1, v.blur_sigma_hi = 2.0;
    set_norm(&v, 0.485f, 0.456f, 0.406f, 0.229f, 0.224f, 0.225f);
    out->view[0] = out->view[1] = v;
    out->view[0].blur_p = 1.0, out->view[1].blur_p = 0.1;
    out->view[0].solarize_p = 0.0, out->view[1].solarize_p = 0.2;
  } else if (name && !strcmp(name, "fashion")) {
    v = base_view(size ? size : 28);
    v.scale_lo = 0.2; /* 0.08 of a 28x28 image is an 8x8 patch: too little left of the item */
    set_jitter(&v, 0.8, 0.4, 0.4, 0.0, 0.0);
    set_norm(&v, 0.2860f, 0.2860f, 0.2860f, 0.3530f, 0.3530f, 0.3530f);
    out->view[0] = out->view[1] = v;
  } else {
    return nc_fail(NC_EUSAGE,
                   "unknown augmentation preset '%s' (expected cifar, stl10, imagenet "
                   "or fashion)",
                   name ? name : "");
  }
  snprintf(out->name, sizeof out->name, "%s", name);
  return NC_OK;
}

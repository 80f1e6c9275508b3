// ctest-labels: unit
/* Augmentations against hand-computed cases: flip, grayscale weights, solarize, colour ops,
 * blur (impulse response, reflection), PIL-style resampling, crop-box statistics, presets and
 * determinism. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ncssl/augment.h"
#include "testing.h"

static void test_flip(void) {
  float x[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}; /* 2 channels x 2 rows x 3 */
  const float want[12] = {3, 2, 1, 6, 5, 4, 9, 8, 7, 12, 11, 10};
  nc_aug_hflip(x, 2, 2, 3);
  CHECK(memcmp(x, want, sizeof x) == 0);
  nc_aug_hflip(x, 2, 2, 3);
  for (int i = 0; i < 12; i++) CHECK(x[i] == i + 1);
}

static void test_grayscale_solarize(void) {
  /* Three pixels: pure red, green, blue (planes R, G, B of a 1x3 image). */
  float x[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  nc_aug_grayscale(x, 3, 1, 3);
  const float w[3] = {0.299f, 0.587f, 0.114f};
  for (int ch = 0; ch < 3; ch++)
    for (int p = 0; p < 3; p++) CHECK_NEAR(x[ch * 3 + p], w[p], 1e-7);
  float y[4] = {0.2f, 0.5f, 0.7f, 1.0f};
  nc_aug_solarize(y, 4, 0.5f);
  CHECK(y[0] == 0.2f && y[1] == 0.5f && fabsf(y[2] - 0.3f) < 1e-7f && y[3] == 0.0f);
}

static void test_colour(void) {
  float x[4] = {0.8f, 0.4f, 0.0f, 0.2f};
  nc_aug_brightness(x, 1, 2, 2, 1.5f);
  CHECK(x[0] == 1.0f && fabsf(x[1] - 0.6f) < 1e-7f && x[2] == 0 && fabsf(x[3] - 0.3f) < 1e-7f);
  /* Contrast of a gray image: blend with its mean 0.475; f = 2 doubles the distance to it. */
  float y[4] = {0.8f, 0.4f, 0.5f, 0.2f};
  nc_aug_contrast(y, 1, 2, 2, 2.0f);
  const float cy[4] = {1.0f, 0.325f, 0.525f, 0.0f}; /* 1.125 and -0.075 clamp */
  for (int i = 0; i < 4; i++) CHECK_NEAR(y[i], cy[i], 1e-6);
  /* Contrast of an RGB image uses the mean of its grayscale. */
  float z[6] = {1, 0, 0, 0, 0, 1}; /* red pixel, blue pixel */
  nc_aug_contrast(z, 3, 1, 2, 0.0f);
  float m = (0.299f + 0.114f) / 2;
  for (int i = 0; i < 6; i++) CHECK_NEAR(z[i], m, 1e-6);
  /* Saturation 0 is grayscale, 1 the identity. */
  float s[6] = {0.9f, 0.1f, 0.3f, 0.5f, 0.2f, 0.7f}, s0[6], g[6];
  memcpy(s0, s, sizeof s);
  memcpy(g, s, sizeof s);
  nc_aug_grayscale(g, 3, 1, 2);
  nc_aug_saturation(s, 3, 1, 2, 1.0f);
  for (int i = 0; i < 6; i++) CHECK_NEAR(s[i], s0[i], 1e-7);
  nc_aug_saturation(s, 3, 1, 2, 0.0f);
  for (int i = 0; i < 6; i++) CHECK_NEAR(s[i], g[i], 1e-6);
  /* Hue: +1/3 turn sends red to green, +1/2 sends red to cyan, gray stays gray, 0 keeps all. */
  float h[9] = {1, 0.5f, 0.3f, 0, 0.5f, 0.6f, 0, 0.5f, 0.9f}; /* red, gray, a blue-ish colour */
  float h0[9];
  memcpy(h0, h, sizeof h);
  nc_aug_hue(h, 3, 1, 3, 0.0f);
  for (int i = 0; i < 9; i++) CHECK_NEAR(h[i], h0[i], 1e-6);
  nc_aug_hue(h, 3, 1, 3, 1.0f / 3.0f);
  CHECK_NEAR(h[0], 0, 1e-6);
  CHECK_NEAR(h[3], 1, 1e-6);
  CHECK_NEAR(h[6], 0, 1e-6);
  for (int ch = 0; ch < 3; ch++) CHECK_NEAR(h[ch * 3 + 1], 0.5, 1e-6);
  /* (0.3, 0.6, 0.9): hue 7/12; +1/3 -> 11/12: (0.9, 0.3, 0.6). Value and saturation kept. */
  CHECK_NEAR(h[2], 0.9, 1e-6);
  CHECK_NEAR(h[5], 0.3, 1e-6);
  CHECK_NEAR(h[8], 0.6, 1e-6);
  float r[3] = {1, 0, 0};
  nc_aug_hue(r, 3, 1, 1, 0.5f);
  CHECK_NEAR(r[0], 0, 1e-6);
  CHECK_NEAR(r[1], 1, 1e-6);
  CHECK_NEAR(r[2], 1, 1e-6);
  /* Random colours: a hue shift keeps max and min (value and saturation) and is undone by the
   * opposite shift. */
  nc_rng rng;
  nc_rng_seed(&rng, 3);
  enum { P = 500 };
  float rgb[3 * P], back[3 * P];
  for (int i = 0; i < 3 * P; i++) rgb[i] = (float)nc_rng_uniform(&rng);
  memcpy(back, rgb, sizeof rgb);
  nc_aug_hue(back, 3, 1, P, 0.37f);
  int kept = 1;
  for (int p = 0; p < P; p++) {
    float a0 = fmaxf(rgb[p], fmaxf(rgb[P + p], rgb[2 * P + p]));
    float a1 = fmaxf(back[p], fmaxf(back[P + p], back[2 * P + p]));
    float b0 = fminf(rgb[p], fminf(rgb[P + p], rgb[2 * P + p]));
    float b1 = fminf(back[p], fminf(back[P + p], back[2 * P + p]));
    kept &= fabsf(a0 - a1) < 1e-6f && fabsf(b0 - b1) < 1e-5f;
  }
  CHECK(kept);
  nc_aug_hue(back, 3, 1, P, -0.37f);
  double worst = 0;
  for (int i = 0; i < 3 * P; i++) worst = fmax(worst, fabs(back[i] - rgb[i]));
  CHECK(worst < 1e-5);
  /* 1-channel images: saturation and hue do nothing. */
  float one[2] = {0.25f, 0.75f};
  nc_aug_saturation(one, 1, 1, 2, 0.0f);
  nc_aug_hue(one, 1, 1, 2, 0.3f);
  CHECK(one[0] == 0.25f && one[1] == 0.75f);
}

static void test_blur(void) {
  enum { N = 15 };
  float x[N * N] = {0}, scratch[N * N];
  x[7 * N + 7] = 1;
  double sigma = 1.3;
  nc_aug_gaussian_blur(x, 1, N, N, 9, sigma, scratch);
  double sum = 0, k[9], ks = 0;
  for (int t = -4; t <= 4; t++) ks += (k[t + 4] = exp(-t * t / (2 * sigma * sigma)));
  for (int i = 0; i < N * N; i++) sum += x[i];
  CHECK_NEAR(sum, 1.0, 1e-6);
  for (int y = 0; y < N; y++)
    for (int xx = 0; xx < N; xx++) {
      float v = x[y * N + xx];
      CHECK(v == x[y * N + (N - 1 - xx)]);                  /* mirror in x */
      CHECK(v == x[(N - 1 - y) * N + xx]);                  /* mirror in y */
      CHECK_NEAR(v, x[xx * N + y], 1e-9);                   /* transpose */
      if (abs(xx - 7) > 4 || abs(y - 7) > 4) CHECK(v == 0); /* support of a 9-tap kernel */
    }
  CHECK_NEAR(x[7 * N + 7], (k[4] / ks) * (k[4] / ks), 1e-7);
  CHECK_NEAR(x[7 * N + 9], (k[4] / ks) * (k[6] / ks), 1e-7);
  /* Reflection padding ("reflect", edge not repeated), 3-tap kernel with sigma 1. */
  double c = 1 / (1 + 2 * exp(-0.5)), e = exp(-0.5) * c;
  float a[25] = {0}, s25[25];
  a[0] = 1; /* corner impulse: the padded pixel at -1 mirrors pixel 1 (zero) */
  nc_aug_gaussian_blur(a, 1, 5, 5, 3, 1.0, s25);
  CHECK_NEAR(a[0], c * c, 1e-7);
  CHECK_NEAR(a[1], c * e, 1e-7);
  CHECK_NEAR(a[6], e * e, 1e-7);
  float b[5] = {0, 1, 0, 0, 0}, s5[5]; /* 1 x 5: pixel 0 sees pixel 1 on both sides */
  nc_aug_gaussian_blur(b, 1, 1, 5, 3, 1.0, s5);
  CHECK_NEAR(b[0], 2 * e, 1e-7);
  CHECK_NEAR(b[1], c, 1e-7);
}

static void test_resample(void) {
  /* A 1 x 4 row shrunk to 2: PIL's BILINEAR with support 2 (hand-computed weights). */
  uint8_t row[4] = {0, 10, 20, 30};
  float out[2], scratch[64];
  nc_aug_resized_crop(row, 1, 1, 4, (nc_crop_box){0, 0, 1, 4}, 1, 2, out, scratch);
  CHECK_NEAR(out[0] * 255, (0.75 * 0 + 0.75 * 10 + 0.25 * 20) / 1.75, 1e-4);
  CHECK_NEAR(out[1] * 255, (0.25 * 10 + 0.75 * 20 + 0.75 * 30) / 1.75, 1e-4);
  /* Enlarged 2 -> 4: half-pixel bilinear, edges held. */
  uint8_t two[2] = {0, 100};
  float four[4];
  nc_aug_resized_crop(two, 1, 1, 2, (nc_crop_box){0, 0, 1, 2}, 1, 4, four, scratch);
  CHECK_NEAR(four[0] * 255, 0, 1e-4);
  CHECK_NEAR(four[1] * 255, 25, 1e-4);
  CHECK_NEAR(four[2] * 255, 75, 1e-4);
  CHECK_NEAR(four[3] * 255, 100, 1e-4);
  /* Same size: exact copy of the box, scaled to [0, 1]. */
  uint8_t img[2 * 3 * 4];
  for (int i = 0; i < 24; i++) img[i] = (uint8_t)(i * 10);
  float box[2 * 2 * 2];
  nc_aug_resized_crop(img, 2, 3, 4, (nc_crop_box){1, 2, 2, 2}, 2, 2, box, scratch);
  CHECK_NEAR(box[0], 60 / 255.0, 1e-7);
  CHECK_NEAR(box[3], 110 / 255.0, 1e-7);
  CHECK_NEAR(box[4], 180 / 255.0, 1e-7);
  /* A constant image stays constant at any size. */
  uint8_t flat[9 * 7];
  memset(flat, 77, sizeof flat);
  float f[5 * 3], big[200];
  nc_aug_resized_crop(flat, 1, 9, 7, (nc_crop_box){1, 1, 8, 5}, 5, 3, f, big);
  for (int i = 0; i < 15; i++) CHECK_NEAR(f[i] * 255, 77, 1e-3);
}

static void test_crop_params(void) {
  nc_rng rng;
  nc_rng_seed(&rng, 7);
  const int H = 32, W = 48, T = 20000;
  double mean_scale = 0, min_s = 1e9, max_s = 0, mean_ci = 0, mean_cj = 0;
  int out_of_range = 0;
  for (int t = 0; t < T; t++) {
    nc_crop_box b = nc_aug_crop_params(&rng, H, W, 0.08, 1.0, 0.75, 4.0 / 3.0);
    if (b.i < 0 || b.j < 0 || b.h < 1 || b.w < 1 || b.i + b.h > H || b.j + b.w > W) out_of_range++;
    double s = (double)b.h * b.w / (H * W);
    /* Rounding each side to an integer moves the area and ratio by at most half a pixel. */
    double lo_ratio = (b.w - 0.5) / (b.h + 0.5), hi_ratio = (b.w + 0.5) / (b.h - 0.5);
    if (hi_ratio < 0.75 || lo_ratio > 4.0 / 3.0) out_of_range++;
    mean_scale += s / T;
    if (s < min_s) min_s = s;
    if (s > max_s) max_s = s;
    mean_ci += (b.i + b.h / 2.0) / T;
    mean_cj += (b.j + b.w / 2.0) / T;
  }
  CHECK(out_of_range == 0);
  CHECK(min_s > 0.06 && min_s < 0.1); /* the low end is reached */
  /* On a 3:2 image the largest allowed box is 32 x round(32 * 4/3) = 32 x 43. */
  CHECK(max_s > 0.85 && max_s <= 43.0 * 32 / (H * W) + 1e-12);
  CHECK(mean_scale > 0.3 && mean_scale < 0.5); /* large areas are often rejected here */
  /* Crops are centred on average. */
  CHECK_NEAR(mean_ci, H / 2.0, 0.3);
  CHECK_NEAR(mean_cj, W / 2.0, 0.4);
  /* Square image, ratio 1: every first try fits, so area ~ U(0.08, 1), mean 0.54. */
  mean_scale = 0;
  for (int t = 0; t < T; t++) {
    nc_crop_box b = nc_aug_crop_params(&rng, 32, 32, 0.08, 1.0, 1.0, 1.0);
    CHECK(b.h == b.w);
    mean_scale += (double)b.h * b.w / (32 * 32) / T;
  }
  CHECK_NEAR(mean_scale, 0.54, 0.01);
  /* Impossible scale: 10 failed tries, then the centre crop clamped to the ratio range. */
  nc_crop_box f = nc_aug_crop_params(&rng, 20, 40, 2.0, 3.0, 0.75, 4.0 / 3.0);
  CHECK(f.h == 20 && f.w == 27 && f.i == 0 && f.j == 6);
  f = nc_aug_crop_params(&rng, 40, 20, 2.0, 3.0, 0.75, 4.0 / 3.0);
  CHECK(f.w == 20 && f.h == 27 && f.j == 0 && f.i == 6);
  f = nc_aug_crop_params(&rng, 30, 30, 2.0, 3.0, 0.75, 4.0 / 3.0);
  CHECK(f.w == 30 && f.h == 30 && f.i == 0 && f.j == 0);
}

static void test_presets_and_apply(void) {
  nc_aug_preset p;
  CHECK(nc_aug_preset_get("cifar", 0, &p) == 0);
  CHECK(p.view[0].size == 32 && p.view[0].normalize && p.view[0].blur_p == 0);
  CHECK(p.view[0].brightness == 0.4 && p.view[0].hue == 0.1 && p.view[0].jitter_p == 0.8);
  CHECK(p.view[0].mean[0] == 0.4914f && p.view[0].std[2] == 0.2010f && p.view[0].gray_p == 0.2);
  CHECK(nc_aug_preset_get("stl10", 0, &p) == 0);
  CHECK(p.view[1].size == 96 && p.view[1].blur_kernel == 9 && p.view[1].blur_p == 1.0);
  CHECK(p.view[1].saturation == 0.8 && p.view[1].hue == 0.2 && !p.view[1].normalize);
  CHECK(nc_aug_preset_get("imagenet", 0, &p) == 0);
  CHECK(p.view[0].blur_kernel == 23 && p.view[0].blur_p == 1.0 && p.view[1].blur_p == 0.1);
  CHECK(p.view[0].solarize_p == 0.0 && p.view[1].solarize_p == 0.2);
  CHECK(nc_aug_preset_get("fashion", 0, &p) == 0 && p.view[0].size == 28);
  CHECK(nc_aug_preset_get("bogus", 0, &p) != 0);

  /* Determinism: the same rng state gives the same view; another state a different one. */
  CHECK(nc_aug_preset_get("stl10", 48, &p) == 0 && p.view[0].blur_kernel == 5);
  enum { C = 3, H = 40, W = 50 };
  uint8_t *img = malloc(C * H * W);
  for (int i = 0; i < C * H * W; i++) img[i] = (uint8_t)((i * 37) ^ (i >> 3));
  size_t ns = nc_aug_scratch_floats(&p.view[0], C, H, W), nv = (size_t)C * 48 * 48;
  float *scratch = malloc(sizeof(float) * ns), *a = malloc(sizeof(float) * nv),
        *b = malloc(sizeof(float) * nv);
  nc_rng r1, r2;
  nc_rng_seed(&r1, 99);
  r2 = r1;
  nc_aug_apply(&p.view[0], img, C, H, W, &r1, a, scratch);
  nc_aug_apply(&p.view[0], img, C, H, W, &r2, b, scratch);
  CHECK(memcmp(a, b, sizeof(float) * nv) == 0 && memcmp(&r1, &r2, sizeof r1) == 0);
  nc_aug_apply(&p.view[0], img, C, H, W, &r2, b, scratch);
  CHECK(memcmp(a, b, sizeof(float) * nv) != 0);
  int in_range = 1;
  for (size_t i = 0; i < nv; i++) in_range &= a[i] >= 0 && a[i] <= 1;
  CHECK(in_range); /* stl10 has no normalisation */
  /* Plain view: same size copies, normalised when the preset normalises. */
  nc_aug_preset cp;
  nc_aug_preset_get("cifar", 0, &cp);
  uint8_t small[3 * 32 * 32];
  memset(small, 255, sizeof small);
  float plain[3 * 32 * 32];
  nc_aug_plain(&cp.view[0], small, 3, 32, 32, plain, scratch);
  CHECK_NEAR(plain[0], (1 - 0.4914) / 0.2023, 1e-5);
  CHECK_NEAR(plain[2 * 1024 + 5], (1 - 0.4465) / 0.2010, 1e-5);
  free(img), free(scratch), free(a), free(b);
}

int main(void) {
  test_flip();
  test_grayscale_solarize();
  test_colour();
  test_blur();
  test_resample();
  test_crop_params();
  test_presets_and_apply();
  return nc_test_done();
}

/* Image augmentations for two-view self-supervised learning, as torchvision computes them on
 * float images in [0, 1]: uint8 CHW in, float32 CHW out, every random choice drawn from an
 * nc_rng so a view is a pure function of (image, rng state). */
#ifndef NCSSL_AUGMENT_H
#define NCSSL_AUGMENT_H
#include <stddef.h>
#include <stdint.h>

#include "ncssl/rng.h"

/* One view's recipe, applied in this order (torchvision's Compose order of the presets):
 * RandomResizedCrop -> horizontal flip -> ColorJitter (with prob. jitter_p, its four parts in a
 * random order) -> RandomGrayscale -> GaussianBlur (prob. blur_p) -> Solarize (prob. solarize_p)
 * -> Normalize. A probability of 0 switches a step off. */
typedef struct {
  int size;                                     /* output height = width */
  double scale_lo, scale_hi;                    /* crop area fraction range (torchvision 0.08, 1) */
  double ratio_lo, ratio_hi;                    /* crop aspect ratio range (3/4, 4/3) */
  double flip_p;                                /* horizontal flip probability */
  double jitter_p;                              /* probability of applying ColorJitter */
  double brightness, contrast, saturation, hue; /* ColorJitter strengths (hue <= 0.5) */
  double gray_p;                                /* RandomGrayscale probability */
  double blur_p;                                /* GaussianBlur probability */
  int blur_kernel;                              /* odd kernel size */
  double blur_sigma_lo, blur_sigma_hi;          /* sigma ~ U(lo, hi) */
  double solarize_p;                            /* Solarize probability (threshold 0.5) */
  int normalize;                                /* subtract mean, divide by std per channel */
  float mean[3], std[3];                        /* per channel (a 1-channel image uses [0]) */
} nc_aug_view;

/* Two recipes, one per view (equal except for asymmetric presets such as imagenet). */
typedef struct {
  char name[16];
  nc_aug_view view[2];
} nc_aug_preset;

/* Fills a preset by name; size > 0 overrides the output size (blur kernel scaled to stay ~10%):
 *  cifar    RRC(32), flip .5, jitter(.4,.4,.4,.1) p .8, gray .2, Normalize CIFAR mean/std
 *  stl10    RRC(96), flip .5, jitter(.8,.8,.8,.2) p .8, gray .2, blur k 9 sigma U(.1,2) always
 *  imagenet BYOL: RRC(224), flip .5, jitter(.4,.4,.2,.1) p .8, gray .2, blur k 23 p 1.0 / 0.1,
 *           solarize p 0 / 0.2, Normalize ImageNet mean/std
 *  fashion  RRC(28, scale .2-1), flip .5, jitter(.4,.4,0,0) p .8, Normalize .2860/.3530
 * Returns NC_EUSAGE naming the preset when unknown. */
int nc_aug_preset_get(const char *name, int size, nc_aug_preset *out);
/* Floats of scratch nc_aug_apply needs for a c x h x w input. */
size_t nc_aug_scratch_floats(const nc_aug_view *v, int c, int h, int w);
/* Applies one view to a uint8 c x h x w image: out gets c*size*size floats. Draws from rng. */
void nc_aug_apply(const nc_aug_view *v, const uint8_t *img, int c, int h, int w, nc_rng *rng,
                  float *out, float *scratch);
/* The un-augmented image for evaluation: scaled to [0,1], shorter side resized to v->size and
 * centre-cropped when the size differs, normalised when v->normalize. */
void nc_aug_plain(const nc_aug_view *v, const uint8_t *img, int c, int h, int w, float *out,
                  float *scratch);

/* --- The single operations (public for tests and custom pipelines) --- */

/* A crop box: top row i, left column j, height h, width w. */
typedef struct {
  int i, j, h, w;
} nc_crop_box;

/* torchvision RandomResizedCrop.get_params: 10 tries of area ~ U(scale) and log-uniform ratio,
 * then the centre-crop fallback clamped to the ratio range. */
nc_crop_box nc_aug_crop_params(nc_rng *rng, int h, int w, double scale_lo, double scale_hi,
                               double ratio_lo, double ratio_hi);
/* Resizes box of a uint8 image to oh x ow floats in [0,1] (bilinear, antialiased when shrinking
 * as PIL). scratch: c*box.h*ow floats. */
void nc_aug_resized_crop(const uint8_t *img, int c, int h, int w, nc_crop_box box, int oh, int ow,
                         float *out, float *scratch);
/* Mirrors each row in place. */
void nc_aug_hflip(float *x, int c, int h, int w);
/* x *= f, clamped to [0,1]. */
void nc_aug_brightness(float *x, int c, int h, int w, float f);
/* Blends with the mean of the grayscale image: f*x + (1-f)*mean, clamped. */
void nc_aug_contrast(float *x, int c, int h, int w, float f);
/* Blends with the grayscale image (no-op for 1 channel). */
void nc_aug_saturation(float *x, int c, int h, int w, float f);
/* Shifts hue by f (in turns, |f| <= 0.5) through HSV (no-op for 1 channel). */
void nc_aug_hue(float *x, int c, int h, int w, float f);
/* ColorJitter: factors drawn as torchvision (brightness ~ U(max(0,1-b), 1+b), ..., hue ~
 * U(-hue, hue)), applied in a random permutation of the four; zero strengths are skipped. */
void nc_aug_color_jitter(float *x, int c, int h, int w, double b, double ct, double s, double hue,
                         nc_rng *rng);
/* Replaces every channel of a 3-channel image by 0.299 R + 0.587 G + 0.114 B (ITU-R 601-2). */
void nc_aug_grayscale(float *x, int c, int h, int w);
/* Separable Gaussian blur with reflection padding (kernel <= 257, sides <= 4096, as the presets
 * guarantee); scratch: c*h*w floats. */
void nc_aug_gaussian_blur(float *x, int c, int h, int w, int kernel, double sigma, float *scratch);
/* x >= threshold becomes 1 - x. */
void nc_aug_solarize(float *x, size_t n, float threshold);
/* (x - mean[ch]) / std[ch]. */
void nc_aug_normalize(float *x, int c, int h, int w, const float *mean, const float *std);

#endif

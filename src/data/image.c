/* JPEG (libjpeg-turbo) and PNG (libpng's simplified API) decoding from memory, to 1 or 3
 * channels, with the folder reader's resize policy: shorter side to `size`, centre square. */
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* jpeglib.h needs size_t and FILE declared first. */
#include <jpeglib.h>
/* jerror.h: the warning codes. */
#include <jerror.h>
#include <png.h>

#include "ncssl/data.h"
#include "ncssl/status.h"
#include "resample.h"

/* Refuse images above this many pixels before allocating (a corrupt header can claim 4G x 4G). */
#define NC_MAX_PIXELS ((size_t)1 << 26)

typedef struct {
  struct jpeg_error_mgr mgr;
  jmp_buf jump;
  char msg[JMSG_LENGTH_MAX];
} jpeg_err;

static void jpeg_on_error(j_common_ptr cinfo) {
  jpeg_err *e = (jpeg_err *)cinfo->err;
  e->mgr.format_message(cinfo, e->msg);
  longjmp(e->jump, 1);
}

static void jpeg_quiet(j_common_ptr cinfo) { (void)cinfo; }

/* A truncated file is an error (libjpeg would pad it with gray and only warn); other warnings,
 * such as extraneous bytes before a marker, are common in real photos and PIL accepts them. */
static void jpeg_on_warning(j_common_ptr cinfo, int level) {
  int code = cinfo->err->msg_code;
  if (level < 0 && (code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER)) jpeg_on_error(cinfo);
}

static int decode_jpeg(const uint8_t *buf, size_t len, const char *what, int channels,
                       uint8_t **pixels, int *h, int *w) {
  struct jpeg_decompress_struct cinfo;
  jpeg_err err;
  uint8_t *volatile interleaved = NULL;
  uint8_t *volatile planar = NULL;
  memset(&cinfo, 0, sizeof cinfo);
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_on_error;
  err.mgr.output_message = jpeg_quiet;
  err.mgr.emit_message = jpeg_on_warning;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    free(interleaved);
    free(planar);
    return nc_fail(NC_EFORMAT, "%s: unreadable JPEG: %s", what, err.msg);
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, buf, (unsigned long)len);
  jpeg_read_header(&cinfo, TRUE);
  cinfo.out_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  if ((size_t)cinfo.image_width * cinfo.image_height > NC_MAX_PIXELS) {
    snprintf(err.msg, sizeof err.msg, "%ux%u is too large", cinfo.image_width, cinfo.image_height);
    longjmp(err.jump, 1);
  }
  jpeg_start_decompress(&cinfo);
  int W = (int)cinfo.output_width, H = (int)cinfo.output_height, C = cinfo.output_components;
  if (C != channels) {
    snprintf(err.msg, sizeof err.msg, "unexpected %d output components", C);
    longjmp(err.jump, 1);
  }
  interleaved = malloc((size_t)W * H * C);
  planar = malloc((size_t)W * H * C);
  if (!interleaved || !planar) {
    snprintf(err.msg, sizeof err.msg, "out of memory");
    longjmp(err.jump, 1);
  }
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = interleaved + (size_t)cinfo.output_scanline * W * C;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  for (int c = 0; c < C; c++)
    for (size_t p = 0; p < (size_t)W * H; p++)
      planar[(size_t)c * W * H + p] = interleaved[p * C + c];
  free(interleaved);
  *pixels = planar;
  *h = H;
  *w = W;
  return NC_OK;
}

static int decode_png(const uint8_t *buf, size_t len, const char *what, int channels,
                      uint8_t **pixels, int *h, int *w) {
  png_image img;
  memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&img, buf, len))
    return nc_fail(NC_EFORMAT, "%s: unreadable PNG: %s", what, img.message);
  if ((size_t)img.width * img.height > NC_MAX_PIXELS) {
    png_image_free(&img);
    return nc_fail(NC_EFORMAT, "%s: unreadable PNG: %ux%u is too large", what, img.width,
                   img.height);
  }
  /* Colour PNGs become gray with PIL's integer ITU-R 601-2 weights (libpng's own conversion
   * works in linear light and would disagree with JPEG's luma and with PIL). */
  int colour = (img.format & PNG_FORMAT_FLAG_COLOR) != 0;
  int read_c = channels == 1 && colour ? 3 : channels;
  img.format = read_c == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  size_t W = img.width, H = img.height, C = (size_t)channels;
  uint8_t *interleaved = malloc(W * H * read_c), *planar = malloc(W * H * C);
  if (!interleaved || !planar) {
    png_image_free(&img);
    free(interleaved);
    free(planar);
    return nc_fail(NC_ENOMEM, "%s: out of memory for a %zux%zu image", what, W, H);
  }
  /* Composite any alpha onto black: a defined answer for transparent pixels. */
  png_color black = {0, 0, 0};
  if (!png_image_finish_read(&img, &black, interleaved, 0, NULL)) {
    free(interleaved);
    free(planar);
    png_image_free(&img);
    return nc_fail(NC_EFORMAT, "%s: unreadable PNG: %s", what, img.message);
  }
  if (read_c != (int)C) {
    for (size_t p = 0; p < W * H; p++) {
      const uint8_t *q = interleaved + 3 * p;
      planar[p] = (uint8_t)((q[0] * 19595u + q[1] * 38470u + q[2] * 7471u + 0x8000u) >> 16);
    }
  } else {
    for (size_t c = 0; c < C; c++)
      for (size_t p = 0; p < W * H; p++) planar[c * W * H + p] = interleaved[p * C + c];
  }
  free(interleaved);
  *pixels = planar;
  *h = (int)H;
  *w = (int)W;
  return NC_OK;
}

int nc_image_decode_raw(const uint8_t *buf, size_t len, const char *what, int channels,
                        uint8_t **pixels, int *h, int *w) {
  *pixels = NULL;
  *h = *w = 0;
  if (channels != 1 && channels != 3)
    return nc_fail(NC_EINVAL, "%s: channels must be 1 or 3", what);
  if (len == 0) return nc_fail(NC_EFORMAT, "%s: empty file", what);
  static const uint8_t png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (len >= 3 && buf[0] == 0xff && buf[1] == 0xd8 && buf[2] == 0xff)
    return decode_jpeg(buf, len, what, channels, pixels, h, w);
  if (len >= 8 && !memcmp(buf, png_magic, 8))
    return decode_png(buf, len, what, channels, pixels, h, w);
  return nc_fail(NC_EFORMAT, "%s: unreadable image: neither JPEG nor PNG", what);
}

int nc_image_decode(const uint8_t *buf, size_t len, const char *what, int channels, int size,
                    uint8_t *out) {
  if (size <= 0) return nc_fail(NC_EINVAL, "%s: bad size %d", what, size);
  uint8_t *px;
  int h, w;
  int rc = nc_image_decode_raw(buf, len, what, channels, &px, &h, &w);
  if (rc) return rc;
  /* The centre square of side min(h, w), resized to size x size. */
  int side = h < w ? h : w, bi = (h - side) / 2, bj = (w - side) / 2;
  size_t n = (size_t)channels * size * size;
  float *f = malloc(sizeof(float) * (n + nc_resample_scratch(channels, side, side, size, size)));
  if (!f) {
    free(px);
    return nc_fail(NC_ENOMEM, "%s: out of memory", what);
  }
  nc_resample(px, channels, h, w, bi, bj, side, side, size, size, f, f + n);
  for (size_t i = 0; i < n; i++) {
    float v = f[i] * 255.0f + 0.5f;
    out[i] = v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)v;
  }
  free(f);
  free(px);
  return NC_OK;
}

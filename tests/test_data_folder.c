// ctest-labels: unit
/* Image-folder trees: PNG and JPEG files written here (libpng, libjpeg), read back with the
 * resize policy (shorter side, centre square, PIL bilinear) checked on hand-computed pixels;
 * damaged images, empty trees and missing splits give one error naming the file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* jpeglib.h needs size_t and FILE first. */
#include <jpeglib.h>
#include <png.h>

#include "ncssl/data.h"
#include "ncssl/status.h"
#include "testing.h"

static char tmpdir[64];

static const char *path_of(const char *rel) {
  static char p[4][512];
  static int k;
  char *out = p[k++ % 4];
  snprintf(out, 512, "%s/%s", tmpdir, rel);
  return out;
}

static void mkdirs(const char *rel) {
  char buf[512];
  snprintf(buf, sizeof buf, "%s", path_of(rel));
  for (char *s = buf + strlen(tmpdir) + 1; *s; s++)
    if (*s == '/') {
      *s = 0;
      mkdir(buf, 0755);
      *s = '/';
    }
  mkdir(buf, 0755);
}

/* interleaved pixels, channels 1 or 3 */
static void write_png(const char *rel, const uint8_t *px, int w, int h, int c) {
  png_image img;
  memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  img.width = (png_uint_32)w, img.height = (png_uint_32)h;
  img.format = c == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  CHECK(png_image_write_to_file(&img, path_of(rel), 0, px, 0, NULL) != 0);
}

static size_t encode_jpeg(const uint8_t *px, int w, int h, int c, unsigned char **out) {
  struct jpeg_compress_struct ci;
  struct jpeg_error_mgr err;
  unsigned long len = 0;
  ci.err = jpeg_std_error(&err);
  jpeg_create_compress(&ci);
  *out = NULL;
  jpeg_mem_dest(&ci, out, &len);
  ci.image_width = (JDIMENSION)w, ci.image_height = (JDIMENSION)h, ci.input_components = c;
  ci.in_color_space = c == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&ci);
  jpeg_set_quality(&ci, 95, TRUE);
  jpeg_start_compress(&ci, TRUE);
  while (ci.next_scanline < ci.image_height) {
    JSAMPROW row = (JSAMPROW)(px + (size_t)ci.next_scanline * w * c);
    jpeg_write_scanlines(&ci, &row, 1);
  }
  jpeg_finish_compress(&ci);
  jpeg_destroy_compress(&ci);
  return len;
}

static void write_bytes(const char *rel, const void *b, size_t n) {
  FILE *f = fopen(path_of(rel), "wb");
  fwrite(b, 1, n, f);
  fclose(f);
}

static void expect_error(int rc, const nc_dataset *d, const char *file, const char *what) {
  CHECK(rc != 0);
  CHECK(d->pixels == NULL && d->n == 0);
  const char *msg = nc_last_error();
  if (!strstr(msg, file) || !strstr(msg, what)) {
    fprintf(stderr, "message '%s' lacks '%s' or '%s'\n", msg, file, what);
    CHECK(0);
  }
}

int main(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/ncssl-folder-XXXXXX");
  if (!mkdtemp(tmpdir)) return 1;

  /* tree/cat: a red 8x6 PNG and a gray 10x10 JPEG; tree/dog: a 16x8 PNG, black left half,
   * white right half; plus files that are not images. */
  mkdirs("tree/cat");
  mkdirs("tree/dog");
  uint8_t red[6 * 8 * 3], gray[100], halves[8 * 16];
  for (int p = 0; p < 48; p++) red[3 * p] = 255, red[3 * p + 1] = 0, red[3 * p + 2] = 0;
  memset(gray, 128, sizeof gray);
  for (int y = 0; y < 8; y++)
    for (int x = 0; x < 16; x++) halves[y * 16 + x] = x < 8 ? 0 : 255;
  write_png("tree/cat/a.png", red, 8, 6, 3);
  unsigned char *jpg;
  size_t jlen = encode_jpeg(gray, 10, 10, 1, &jpg);
  write_bytes("tree/cat/b.JPG", jpg, jlen);
  write_png("tree/dog/c.png", halves, 16, 8, 1);
  write_bytes("tree/dog/notes.txt", "hello", 5);
  write_bytes("tree/.hidden", "x", 1);

  nc_dataset d;
  CHECK(nc_folder_read(path_of("tree"), 4, 3, &d) == 0);
  CHECK(d.n == 3 && d.c == 3 && d.h == 4 && d.w == 4 && d.classes == 2);
  CHECK(d.labels[0] == 0 && d.labels[1] == 0 && d.labels[2] == 1);
  const uint8_t *a = nc_dataset_image(&d, 0), *b = nc_dataset_image(&d, 1),
                *c = nc_dataset_image(&d, 2);
  int ok_a = 1, ok_b = 1;
  for (int p = 0; p < 16; p++) {
    ok_a &= a[p] == 255 && a[16 + p] == 0 && a[32 + p] == 0;
    for (int ch = 0; ch < 3; ch++) ok_b &= abs(b[ch * 16 + p] - 128) <= 1;
  }
  CHECK(ok_a);
  CHECK(ok_b);
  /* Centre square: columns 4..11 (4 black, 4 white) shrunk 2x with the triangle of support 2:
   * column 1 = 255 * 0.25/2 = 31.875, column 2 = 255 - 31.875. */
  const int want[4] = {0, 32, 223, 255};
  for (int y = 0; y < 4; y++)
    for (int x = 0; x < 4; x++)
      for (int ch = 0; ch < 3; ch++) CHECK(c[(ch * 4 + y) * 4 + x] == want[x]);
  nc_dataset_free(&d);

  /* Gray output: red becomes PIL's L = 0.299 * 255. */
  CHECK(nc_folder_read(path_of("tree"), 4, 1, &d) == 0 && d.c == 1);
  CHECK(d.pixels[0] == 76 && abs(d.pixels[16] - 128) <= 1);
  nc_dataset_free(&d);

  /* By name, with a train/val layout; missing splits. */
  mkdirs("split/train/x");
  mkdirs("split/val/x");
  write_png("split/train/x/1.png", halves, 16, 8, 1);
  write_png("split/val/x/2.png", red, 8, 6, 3);
  char name[600];
  snprintf(name, sizeof name, "folder:%s", path_of("split"));
  nc_data_opts o = {.image_size = 6, .channels = 3};
  CHECK(nc_dataset_load(name, "train", &o, &d) == 0 && d.n == 1 && d.h == 6);
  nc_dataset_free(&d);
  CHECK(nc_dataset_load(name, "test", &o, &d) == 0 && d.n == 1 && d.pixels[0] == 255);
  nc_dataset_free(&d);
  snprintf(name, sizeof name, "folder:%s", path_of("tree"));
  expect_error(nc_dataset_load(name, "val", &o, &d), &d, "tree", "no split 'val'");
  /* Size and channels from the first training image when not given (16x8 gray: 8, 1), the test
   * split following the training one (its 8x6 RGB image becomes 8x8 gray). */
  snprintf(name, sizeof name, "folder:%s", path_of("split"));
  nc_data_opts native = {0};
  CHECK(nc_dataset_load(name, "train", &native, &d) == 0 && d.h == 8 && d.w == 8 && d.c == 1);
  nc_dataset_free(&d);
  CHECK(nc_dataset_load(name, "test", &native, &d) == 0 && d.h == 8 && d.c == 1);
  nc_dataset_free(&d);
  int psize = 0, pch = 0;
  CHECK(nc_folder_probe(path_of("split/val"), &psize, &pch) == 0 && psize == 6 && pch == 3);
  nc_data_opts gray6 = {.image_size = 6, .channels = 0};
  CHECK(nc_dataset_load(name, "train", &gray6, &d) == 0 && d.h == 6 && d.c == 1);
  nc_dataset_free(&d);

  /* Damaged images. */
  mkdirs("bad/x");
  write_bytes("bad/x/trunc.jpg", jpg, jlen / 2);
  expect_error(nc_folder_read(path_of("bad"), 4, 3, &d), &d, "trunc.jpg", "unreadable JPEG");
  write_bytes("bad/x/trunc.jpg", "not an image", 12);
  expect_error(nc_folder_read(path_of("bad"), 4, 3, &d), &d, "trunc.jpg", "neither JPEG nor PNG");
  write_bytes("bad/x/trunc.jpg", "", 0);
  expect_error(nc_folder_read(path_of("bad"), 4, 3, &d), &d, "trunc.jpg", "empty file");
  uint8_t png_head[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  write_bytes("bad/x/trunc.jpg", png_head, 8);
  expect_error(nc_folder_read(path_of("bad"), 4, 3, &d), &d, "trunc.jpg", "unreadable PNG");
  mkdirs("empty");
  expect_error(nc_folder_read(path_of("empty"), 4, 3, &d), &d, "empty", "no class sub-folders");
  mkdirs("noimg/x");
  write_bytes("noimg/x/a.txt", "x", 1);
  expect_error(nc_folder_read(path_of("noimg"), 4, 3, &d), &d, "noimg", "no .jpg/.jpeg/.png");
  free(jpg);

  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
  return nc_test_done();
}

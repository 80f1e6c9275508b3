// ctest-labels: unit
/* Dataset readers: small IDX / CIFAR / STL-10 files written here, good and damaged; every damaged
 * copy must give one error naming the file and what is wrong, and no dataset. Then the real
 * Fashion-MNIST of Debian's dataset-fashion-mnist, loaded by name. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "ncssl/data.h"
#include "ncssl/status.h"
#include "testing.h"

static char tmpdir[64];

static const char *write_file(const char *name, const uint8_t *bytes, size_t len) {
  static char path[8][256];
  static int k;
  char *p = path[k++ % 8];
  snprintf(p, 256, "%s/%s", tmpdir, name);
  FILE *f = fopen(p, "wb");
  if (len) fwrite(bytes, 1, len, f);
  fclose(f);
  return p;
}

static const char *write_gz(const char *name, const uint8_t *bytes, size_t len) {
  static char p[256];
  snprintf(p, sizeof p, "%s/%s", tmpdir, name);
  gzFile g = gzopen(p, "wb");
  gzwrite(g, bytes, (unsigned)len);
  gzclose(g);
  return p;
}

/* The call failed, left no dataset, and its message names the file and says what. */
static void expect_error(int rc, const nc_dataset *d, const char *file, const char *what) {
  CHECK(rc != 0);
  CHECK(d->pixels == NULL && d->n == 0);
  const char *msg = nc_last_error();
  if (!strstr(msg, file) || !strstr(msg, what)) {
    fprintf(stderr, "message '%s' lacks '%s' or '%s'\n", msg, file, what);
    CHECK(0);
  }
  CHECK(strchr(msg, '\n') == NULL);
}

static void put_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* n images of h x w with pixel value (i * 31 + y * w + x) % 256; labels i % 10. */
static size_t make_idx(uint8_t *img, uint8_t *lab, int n, int h, int w) {
  put_be32(img, 0x803), put_be32(img + 4, n), put_be32(img + 8, h), put_be32(img + 12, w);
  for (int i = 0; i < n; i++)
    for (int p = 0; p < h * w; p++) img[16 + i * h * w + p] = (uint8_t)((i * 31 + p) % 256);
  put_be32(lab, 0x801), put_be32(lab + 4, n);
  for (int i = 0; i < n; i++) lab[8 + i] = (uint8_t)(i % 10);
  return 16 + (size_t)n * h * w;
}

static void test_idx(void) {
  uint8_t img[16 + 12 * 4 * 3], lab[8 + 12];
  size_t ni = make_idx(img, lab, 12, 4, 3);
  char pi[256], pl[256];
  snprintf(pi, sizeof pi, "%s", write_file("img.idx", img, ni));
  snprintf(pl, sizeof pl, "%s", write_file("lab.idx", lab, sizeof lab));
  nc_dataset d;
  CHECK(nc_idx_read(pi, pl, 10, &d) == 0);
  CHECK(d.n == 12 && d.c == 1 && d.h == 4 && d.w == 3 && d.classes == 10);
  CHECK(d.pixels[5 * 12 + 7] == (5 * 31 + 7) % 256);
  CHECK(d.labels[11] == 1);
  nc_dataset_free(&d);

  /* gzip-compressed copies read the same. */
  char gzi[256];
  snprintf(gzi, sizeof gzi, "%s", write_gz("img.idx.gz", img, ni));
  CHECK(nc_idx_read(gzi, pl, 10, &d) == 0 && d.n == 12 && d.pixels[16] == img[32]);
  nc_dataset_free(&d);

  /* Truncated gzip. */
  uint8_t *gz;
  size_t gzlen;
  FILE *f = fopen(gzi, "rb");
  gz = malloc(4096);
  gzlen = fread(gz, 1, 4096, f);
  fclose(f);
  const char *p = write_file("trunc.idx.gz", gz, gzlen - 10);
  expect_error(nc_idx_read(p, pl, 10, &d), &d, "trunc.idx.gz", "truncated gzip");
  free(gz);

  p = write_file("empty.idx", img, 0);
  expect_error(nc_idx_read(p, pl, 10, &d), &d, "empty.idx", "empty file");
  p = write_file("short.idx", img, ni - 1);
  expect_error(nc_idx_read(p, pl, 10, &d), &d, "short.idx", "does not match");
  p = write_file("hdr.idx", img, 9);
  expect_error(nc_idx_read(p, pl, 10, &d), &d, "hdr.idx", "truncated header");
  uint8_t bad[sizeof img];
  memcpy(bad, img, ni);
  bad[3] = 0x01; /* a label file's magic where images are expected */
  p = write_file("magic.idx", bad, ni);
  expect_error(nc_idx_read(p, pl, 10, &d), &d, "magic.idx", "wrong magic");
  /* Counts that disagree: 12 images, 11 labels (header and data both consistent). */
  uint8_t lab11[8 + 11];
  memcpy(lab11, lab, sizeof lab11);
  put_be32(lab11 + 4, 11);
  p = write_file("lab11.idx", lab11, sizeof lab11);
  expect_error(nc_idx_read(pi, p, 10, &d), &d, "lab11.idx", "11 labels for 12 images");
  uint8_t lab_bad[sizeof lab];
  memcpy(lab_bad, lab, sizeof lab);
  lab_bad[8 + 4] = 10;
  p = write_file("range.idx", lab_bad, sizeof lab_bad);
  expect_error(nc_idx_read(pi, p, 10, &d), &d, "range.idx", "out of range");
  expect_error(nc_idx_read("/nonexistent/x.idx", pl, 10, &d), &d, "/nonexistent/x.idx",
               "No such file");
}

static void test_cifar(void) {
  enum { N = 3, REC10 = 3073, REC100 = 3074 };
  uint8_t *buf = malloc(N * REC100);
  for (int i = 0; i < N; i++) {
    uint8_t *r = buf + i * REC10;
    r[0] = (uint8_t)(7 + i) % 10;
    for (int p = 0; p < 3072; p++) r[1 + p] = (uint8_t)(p * 7 + i);
  }
  const char *paths[2];
  char p0[256];
  snprintf(p0, sizeof p0, "%s", write_file("data_batch_1.bin", buf, N * REC10));
  paths[0] = p0;
  paths[1] = p0;
  nc_dataset d;
  CHECK(nc_cifar_read(paths, 2, 0, 0, &d) == 0);
  CHECK(d.n == 2 * N && d.c == 3 && d.h == 32 && d.w == 32 && d.classes == 10);
  /* Record 1, green plane (offset 1024), row 2, column 5. */
  CHECK(d.pixels[1 * 3072 + 1024 + 2 * 32 + 5] == (uint8_t)((1024 + 69) * 7 + 1));
  CHECK(d.labels[1] == 8 && d.labels[N + 2] == 9);
  nc_dataset_free(&d);

  paths[1] = write_file("short.bin", buf, N * REC10 - 5);
  expect_error(nc_cifar_read(paths, 2, 0, 0, &d), &d, "short.bin", "whole number");
  paths[1] = write_file("empty.bin", buf, 0);
  expect_error(nc_cifar_read(paths, 2, 0, 0, &d), &d, "empty.bin", "empty file");
  buf[REC10] = 10;
  paths[1] = write_file("label.bin", buf, N * REC10);
  expect_error(nc_cifar_read(paths, 2, 0, 0, &d), &d, "label.bin", "label 10 of record 1");
  paths[1] = "/nonexistent/data_batch_2.bin";
  expect_error(nc_cifar_read(paths, 2, 0, 0, &d), &d, "data_batch_2.bin", "No such file");

  /* CIFAR-100: coarse then fine label per record. */
  for (int i = 0; i < N; i++) {
    uint8_t *r = buf + i * REC100;
    r[0] = (uint8_t)(19 - i), r[1] = (uint8_t)(90 + i);
    memset(r + 2, i, 3072);
  }
  paths[0] = write_file("train.bin", buf, N * REC100);
  CHECK(nc_cifar_read(paths, 1, 1, 0, &d) == 0 && d.classes == 100 && d.labels[2] == 92 &&
        d.pixels[2 * 3072 + 100] == 2);
  nc_dataset_free(&d);
  CHECK(nc_cifar_read(paths, 1, 1, 1, &d) == 0 && d.classes == 20 && d.labels[2] == 17);
  nc_dataset_free(&d);
  buf[REC100 + 1] = 100;
  paths[0] = write_file("fine.bin", buf, N * REC100);
  expect_error(nc_cifar_read(paths, 1, 1, 0, &d), &d, "fine.bin", "label 100 of record 1");
  free(buf);
}

static void test_stl10(void) {
  enum { N = 2, B = 3 * 96 * 96 };
  uint8_t *x = malloc(N * B), y[N] = {1, 10};
  /* Column-major on disk: byte (c, x, y) holds c*50 + x (mod 256) so rows read back as x. */
  for (int i = 0; i < N; i++)
    for (int c = 0; c < 3; c++)
      for (int xx = 0; xx < 96; xx++)
        for (int yy = 0; yy < 96; yy++)
          x[i * B + (c * 96 + xx) * 96 + yy] = (uint8_t)(c * 50 + xx + (yy == 0 ? i : 0));
  char px[256];
  snprintf(px, sizeof px, "%s", write_file("train_X.bin", x, N * B));
  const char *py = write_file("train_y.bin", y, N);
  nc_dataset d;
  CHECK(nc_stl10_read(px, py, &d) == 0);
  CHECK(d.n == N && d.c == 3 && d.h == 96 && d.w == 96 && d.classes == 10);
  /* Row-major in memory: pixel (c=2, row 7, col 40) = 100 + 40; row 0 carries the image index. */
  CHECK(d.pixels[(2 * 96 + 7) * 96 + 40] == 140);
  CHECK(d.pixels[B + (1 * 96 + 0) * 96 + 3] == 50 + 3 + 1);
  CHECK(d.labels[0] == 0 && d.labels[1] == 9);
  nc_dataset_free(&d);
  CHECK(nc_stl10_read(px, NULL, &d) == 0 && d.classes == 0 && d.labels[1] == -1);
  nc_dataset_free(&d);

  const char *p = write_file("short_X.bin", x, N * B - 1);
  expect_error(nc_stl10_read(p, py, &d), &d, "short_X.bin", "whole number");
  uint8_t y0[N] = {0, 3};
  p = write_file("zero_y.bin", y0, N);
  expect_error(nc_stl10_read(px, p, &d), &d, "zero_y.bin", "label 0 of image 0 out of range");
  p = write_file("one_y.bin", y, 1);
  expect_error(nc_stl10_read(px, p, &d), &d, "one_y.bin", "1 labels for 2 images");
  free(x);
}

static void test_by_name(void) {
  nc_data_opts o = {.dir = tmpdir};
  nc_dataset d;
  /* tmpdir has train_X.bin and train_y.bin but no test split or unlabeled file. */
  CHECK(nc_dataset_load("stl10", "train", &o, &d) == 0 && d.n == 2);
  CHECK(strcmp(d.name, "stl10/train") == 0);
  nc_dataset_free(&d);
  expect_error(nc_dataset_load("stl10", "test", &o, &d), &d, "test_X.bin", "No such file");
  expect_error(nc_dataset_load("stl10", "train+unlabeled", &o, &d), &d, "unlabeled_X.bin",
               "No such file");
  expect_error(nc_dataset_load("stl10", "valid", &o, &d), &d, "stl10", "split 'valid'");
  /* data_batch_1.bin was written by test_cifar: the next one is missing. */
  expect_error(nc_dataset_load("cifar10", "train", &o, &d), &d, "data_batch_2.bin", "No such file");
  expect_error(nc_dataset_load("imagenet21k", "train", &o, &d), &d, "imagenet21k",
               "unknown dataset");
  expect_error(nc_dataset_load("fashion-mnist", "test", &o, &d), &d, "t10k-images-idx3-ubyte",
               "No such file");
  CHECK(strcmp(nc_dataset_default_dir("fashion-mnist"), "/usr/share/datasets/fashion-mnist") == 0);
}

/* The real Fashion-MNIST: 60k + 10k 28x28 images, 10 balanced classes. */
static void test_fashion_mnist(void) {
  if (access("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz", R_OK) != 0) {
    fprintf(stderr, "skipping Fashion-MNIST: dataset-fashion-mnist is not installed\n");
    return;
  }
  nc_dataset d;
  CHECK(nc_dataset_load("fashion-mnist", "test", NULL, &d) == 0);
  CHECK(d.n == 10000 && d.c == 1 && d.h == 28 && d.w == 28 && d.classes == 10);
  int count[10] = {0};
  for (int i = 0; i < d.n; i++) count[d.labels[i]]++;
  for (int k = 0; k < 10; k++) CHECK(count[k] == 1000);
  /* The first test image is an ankle boot (class 9). */
  CHECK(d.labels[0] == 9);
  nc_dataset_free(&d);
  CHECK(nc_dataset_load("fashion-mnist", "train", NULL, &d) == 0);
  CHECK(d.n == 60000 && d.labels[0] == 9);
  nc_dataset_free(&d);
}

int main(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/ncssl-data-XXXXXX");
  if (!mkdtemp(tmpdir)) return 1;
  test_idx();
  test_cifar();
  test_stl10();
  test_by_name();
  test_fashion_mnist();
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
  return nc_test_done();
}

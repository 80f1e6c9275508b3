// ctest-labels: unit
/* Own data: a folder of 28x28 gray PNGs trains without flags as Fashion-MNIST does (1 channel,
 * the fashion preset's 28-pixel views), the image size and channels can be forced, and the preset
 * follows the images' size. */
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ncssl/status.h"
#include "ncssl/train.h"
#include "testing.h"

static char root[64];

/* Two classes of 12 noisy gray 28x28 images. */
static void write_tree(void) {
  char path[256];
  uint8_t px[28 * 28];
  uint32_t s = 1;
  for (int k = 0; k < 2; k++) {
    snprintf(path, sizeof path, "%s/class%d", root, k);
    mkdir(path, 0755);
    for (int i = 0; i < 12; i++) {
      for (int p = 0; p < 28 * 28; p++) {
        s = s * 1664525u + 1013904223u;
        px[p] = (uint8_t)((s >> 24) / 2 + (k ? 128 * (p % 28 < 14) : 0));
      }
      png_image img;
      memset(&img, 0, sizeof img);
      img.version = PNG_IMAGE_VERSION;
      img.width = img.height = 28;
      img.format = PNG_FORMAT_GRAY;
      snprintf(path, sizeof path, "%s/class%d/%02d.png", root, k, i);
      CHECK(png_image_write_to_file(&img, path, 0, px, 0, NULL) != 0);
    }
  }
}

/* Trains two steps of a tiny network on the tree; the checkpoint's metadata says what it saw. */
static int run(const char *out, int image_size, int channels, nc_resnet_cfg *cfg, int *h) {
  char data[128];
  snprintf(data, sizeof data, "folder:%s", root);
  nc_train_opts o = nc_train_default();
  o.ssl.backbone.width = 4;
  o.ssl.proj_hidden = 16;
  o.ssl.proj_out = o.ssl.predictor.dim = 8;
  o.ssl.predictor.hidden = 16;
  o.ssl.batch = 8;
  o.data = data;
  o.max_steps = 2;
  o.loader_threads = 1;
  o.image_size = image_size;
  o.channels = channels;
  o.out = out;
  nc_train_result res;
  int rc = nc_train_run(&o, &res);
  if (rc) fprintf(stderr, "train: %s\n", nc_last_error());
  char path[256];
  snprintf(path, sizeof path, "%s/checkpoint.safetensors", out);
  int w;
  return rc ? rc : nc_train_read_arch(path, cfg, h, &w);
}

int main(void) {
  snprintf(root, sizeof root, "/tmp/ncssl-folder-XXXXXX");
  CHECK(mkdtemp(root) != NULL);
  write_tree();
  char out[128];
  nc_resnet_cfg cfg;
  int h = 0;

  /* No flags: 1 channel, and the fashion preset's 28-pixel views (not imagenet's 224). */
  snprintf(out, sizeof out, "%s-run1", root);
  CHECK(run(out, 0, 0, &cfg, &h) == NC_OK);
  CHECK(cfg.in_channels == 1 && h == 28);
  /* Forced: 32 pixels in RGB: the cifar preset's 32-pixel views, 3 input channels. */
  snprintf(out, sizeof out, "%s-run2", root);
  CHECK(run(out, 32, 3, &cfg, &h) == NC_OK);
  CHECK(cfg.in_channels == 3 && h == 32);

  const char *p;
  CHECK(strcmp(p = nc_train_preset_for("folder:x", 28), "fashion") == 0);
  CHECK(strcmp(p = nc_train_preset_for("folder:x", 32), "cifar") == 0);
  CHECK(strcmp(p = nc_train_preset_for("folder:x", 96), "stl10") == 0);
  CHECK(strcmp(p = nc_train_preset_for("folder:x", 256), "imagenet") == 0);
  CHECK(strcmp(p = nc_train_preset_for("cifar10", 28), "cifar") == 0);

  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s-run1' '%s-run2'", root, root, root);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", root);
  return nc_test_done();
}

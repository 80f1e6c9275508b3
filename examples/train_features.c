/* ncssl as a library: train BYOL with a DirectPred predictor for a few steps on Fashion-MNIST,
 * then read the trained backbone's features of some test images through the public API.
 *
 *   cc train_features.c $(pkg-config --cflags --libs ncssl) -o train_features
 *   ./train_features RUN_DIR [DATA_DIR]
 *
 * DATA_DIR holds Fashion-MNIST's IDX files (default: the dataset's default directory). Every
 * library call returns NC_OK or an error code, with the reason in nc_last_error(). */
#include <stdio.h>
#include <stdlib.h>

#include "ncssl/status.h"
#include "ncssl/train.h"

static int fail(const char *what) {
  fprintf(stderr, "train_features: %s: %s\n", what, nc_last_error());
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: train_features RUN_DIR [DATA_DIR]\n");
    return 2;
  }
  const char *run_dir = argv[1], *data_dir = argc > 2 ? argv[2] : "";

  /* A small network and a handful of steps: the point is the API, not the accuracy. */
  nc_train_opts o = nc_train_default();
  o.ssl.backbone.width = 4;
  o.ssl.proj_hidden = 32;
  o.ssl.proj_out = 16;
  o.ssl.predictor = nc_predictor_default(NC_PREDICTOR_DIRECTPRED);
  o.ssl.predictor.dim = 16;
  o.ssl.batch = 16;
  o.data = "fashion-mnist";
  o.data_dir = data_dir;
  o.subset = 64;
  o.max_steps = 3;
  o.loader_threads = 1;
  o.out = run_dir;
  nc_train_result res;
  if (nc_train_run(&o, &res)) return fail("train");
  printf("trained %ld steps, last loss %.4f\n", res.steps, res.last_loss);

  /* The backbone back from the run directory, as `ncssl eval` and `ncssl embed` read it. */
  char path[4096];
  snprintf(path, sizeof path, "%s/backbone.safetensors", run_dir);
  nc_resnet_cfg cfg;
  int h, w;
  if (nc_train_read_arch(path, &cfg, &h, &w)) return fail("arch");
  nc_net *net = NULL;
  if (nc_resnet_build(&net, &cfg, h, w, 32, 1, 0, NULL)) return fail("build");
  if (nc_train_load_backbone(net, path)) return fail("load");

  nc_data_opts dopts = {0};
  dopts.dir = data_dir;
  nc_dataset test = {0};
  if (nc_dataset_load("fashion-mnist", "test", &dopts, &test)) return fail("data");
  test.n = 8; /* the first eight test images */
  nc_aug_preset aug;
  if (nc_aug_preset_get(nc_train_default_preset("fashion-mnist"), 0, &aug)) return fail("preset");
  const int dim = nc_net_out_dim(net);
  float *features = malloc((size_t)test.n * dim * sizeof(float));
  if (!features || nc_train_features(net, &test, &aug.view[0], features)) return fail("features");
  printf("features: %d images x %d\n", test.n, dim);
  for (int i = 0; i < test.n; i++)
    printf("  image %d (label %d): %+.4f %+.4f %+.4f ...\n", i, test.labels[i],
           features[(size_t)i * dim], features[(size_t)i * dim + 1], features[(size_t)i * dim + 2]);
  free(features);
  nc_dataset_free(&test);
  nc_net_free(net);
  return 0;
}

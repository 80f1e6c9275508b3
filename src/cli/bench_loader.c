/* `ncssl bench loader`: how many two-view batches per second the threaded loader produces from a
 * real dataset with an augmentation preset (timed after the first batch, which includes the
 * workers' start). */
#include "bench_loader.h"

#include <stdio.h>

#include "cli.h"
#include "ncssl/clock.h"
#include "ncssl/data.h"
#include "ncssl/json.h"
#include "ncssl/loader.h"
#include "ncssl/status.h"

int cmd_bench_loader(int argc, char **argv) {
  const char *data = "fashion-mnist", *data_dir = "", *split = "train", *preset = "fashion";
  long batch = 128, threads = 2, batches = 100, size = 0, seed = 0, prefetch = 0;
  int json = 0, drop_last = 0;
  const nc_opt opts[] = {
      {"data", NC_OPT_STRING, &data,
       "dataset: fashion-mnist, mnist, cifar10, cifar100, stl10 or folder:PATH"},
      {"data-dir", NC_OPT_STRING, &data_dir, "dataset directory (empty: the dataset's default)"},
      {"split", NC_OPT_STRING, &split, "split: train, test (stl10: unlabeled, train+unlabeled)"},
      {"preset", NC_OPT_CHOICE, &preset, "augmentation preset",
       .choices = "fashion|cifar|stl10|imagenet"},
      {"size", NC_OPT_INT, &size, "view size in pixels (0: the preset's)", NC_RANGE(0, 4096)},
      {"batch", NC_OPT_INT, &batch, "images per batch", NC_RANGE(1, 1 << 20)},
      {"threads", NC_OPT_INT, &threads, "loader threads (0: one per CPU)", NC_RANGE(0, 256)},
      {"prefetch", NC_OPT_INT, &prefetch, "batches in the ring (0: 2 threads + 1)",
       NC_RANGE(0, 1024)},
      {"batches", NC_OPT_INT, &batches, "batches to time", NC_RANGE(1, 1000000)},
      {"drop-last", NC_OPT_FLAG, &drop_last, "drop each epoch's last partial batch"},
      {"seed", NC_OPT_INT, &seed, "random seed", NC_NONNEG},
      {"json", NC_OPT_FLAG, &json, "print JSON"},
  };
  const nc_cmd_spec spec = {
      "bench loader",
      "[--data NAME] [--preset P] [--batch B] [--threads T] [--batches N] [--json]",
      "Throughput of the threaded loader: batches of two augmented views per image, as the\n"
      "training step consumes them (batches/s and images/s, timed after the first batch).",
      opts,
      sizeof opts / sizeof opts[0],
      0};
  nc_args args;
  int rc = nc_cli_parse(&spec, argc, argv, &args);
  if (rc >= 0) return rc;

  nc_data_opts dopts = {.dir = data_dir, .image_size = size > 0 ? (int)size : 0};
  nc_dataset ds;
  if ((rc = nc_dataset_load(data, split, &dopts, &ds)))
    return nc_cli_error(nc_cli_exit_code(rc), NULL);
  nc_loader_opts lo = {.data = &ds,
                       .batch = (int)batch,
                       .threads = (int)threads,
                       .prefetch = (int)prefetch,
                       .drop_last = drop_last,
                       .seed = (uint64_t)seed};
  nc_loader *loader = NULL;
  if (!(rc = nc_aug_preset_get(preset, (int)size, &lo.aug))) rc = nc_loader_open(&loader, &lo);
  if (rc) {
    nc_dataset_free(&ds);
    return nc_cli_error(nc_cli_exit_code(rc), NULL);
  }
  const nc_batch *b;
  rc = nc_loader_next(loader, &b); /* warm-up: the workers start and fill the ring */
  double t0 = nc_now_seconds();
  long images = 0;
  for (long i = 0; i < batches && !rc; i++) {
    rc = nc_loader_next(loader, &b);
    if (!rc) images += b->n;
  }
  if (rc) {
    nc_loader_close(loader);
    nc_dataset_free(&ds);
    return nc_cli_error(nc_cli_exit_code(rc), NULL);
  }
  double dt = nc_now_seconds() - t0;
  int view = b->h;
  nc_loader_close(loader);
  double bps = batches / dt, ips = images / dt;
  if (json) {
    printf("{\"data\": ");
    nc_json_str(stdout, ds.name);
    printf(", \"preset\": ");
    nc_json_str(stdout, preset);
    printf(", \"view_size\": %d, \"batch\": %ld, \"threads\": %ld, \"batches\": %ld", view, batch,
           threads, batches);
    nc_json_field(stdout, "seconds", dt);
    nc_json_field(stdout, "batches_per_s", bps);
    nc_json_field(stdout, "images_per_s", ips);
    printf("}\n");
  } else {
    printf("loader: %s (%d images), preset %s (%dx%d views), batch %ld, %ld threads\n", ds.name,
           ds.n, preset, view, view, batch, threads);
    printf("%ld batches in %.3f s: %.1f batches/s, %.0f images/s (two views each)\n", batches, dt,
           bps, ips);
  }
  nc_dataset_free(&ds);
  return NC_EXIT_OK;
}

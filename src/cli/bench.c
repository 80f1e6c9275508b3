/* `ncssl bench <sub>`: benchmarks. `bench loader` lives in bench_loader.c. `bench step` times the
 * full SSL training step (two views through the online network forward and backward, plus the
 * target forward) on random images. */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench_eigh.h"
#include "bench_loader.h"
#include "cli.h"
#include "ncssl/backend.h"
#include "ncssl/clock.h"
#include "ncssl/json.h"
#include "ncssl/linalg.h"
#include "ncssl/rng.h"
#include "ncssl/ssl.h"
#include "ncssl/status.h"

/* This machine's SGEMM rate (GFLOP/s) with the current thread count: best of a few square
 * 2048-products through the SGEMM the convolutions use (nc_sgemm: oneDNN when built with it) and
 * through OpenBLAS, whichever is faster — the ceiling the step's effective rate is measured
 * against. */
static double sgemm_peak_gflops(void) {
  const int n = 2048;
  float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n),
        *c = malloc(sizeof(float) * n * n);
  if (!a || !b || !c) {
    free(a), free(b), free(c);
    return 0;
  }
  for (size_t i = 0; i < (size_t)n * n; i++) a[i] = b[i] = (float)(i % 7) * 0.1f;
  double best = 1e30;
  for (int r = 0; r < 8; r++) {
    double t = nc_now_seconds();
    if (r < 4)
      nc_mm_f(0, 0, n, n, n, 1.0f, a, b, 0.0f, c);
    else
      nc_sgemm(0, 0, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
    t = nc_now_seconds() - t;
    if (r % 4 > 0 && t < best) best = t; /* each library's first run warms its threads up */
  }
  free(a), free(b), free(c);
  return 2.0 * n * n * (double)n / best / 1e9;
}

static double peak_rss_mb(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0; /* kilobytes on Linux */
}

static int bench_step(int argc, char **argv) {
  const char *arch = "resnet18", *stem = "cifar", *predictor = "mlp", *method = "byol";
  const char *device = "cpu", *precision = "tf32";
  long batch = 128, steps = 3, warmup = 1, threads = 0, width = 64, image = 0, seed = 0;
  long in_channels = 3;
  int json = 0;
  const nc_opt opts[] = {
      {"arch", NC_OPT_CHOICE, &arch, "backbone", .choices = "resnet18|resnet34|resnet50"},
      {"stem", NC_OPT_CHOICE, &stem, "ResNet stem", .choices = "cifar|imagenet"},
      {"width", NC_OPT_INT, &width, "base channels (64 = the standard network)", NC_RANGE(1, 512)},
      {"image", NC_OPT_INT, &image, "image side in pixels (0: 32 for cifar, 96 for imagenet)",
       NC_RANGE(0, 1024)},
      {"in-channels", NC_OPT_INT, &in_channels, "image channels (1: grey, 3: colour)",
       NC_RANGE(1, 3)},
      {"batch", NC_OPT_INT, &batch, "images per view", NC_RANGE(2, 65536)},
      {"method", NC_OPT_CHOICE, &method, "SSL method", .choices = "byol|simsiam"},
      {"predictor", NC_OPT_CHOICE, &predictor, "predictor",
       .choices = "mlp|linear|directpred|directset|directcopy|identity"},
      {"steps", NC_OPT_INT, &steps, "timed steps", NC_RANGE(1, 100000)},
      {"warmup", NC_OPT_INT, &warmup, "untimed steps first", NC_RANGE(0, 100000)},
      {"threads", NC_OPT_INT, &threads, "OpenMP/OpenBLAS threads (0: the default)",
       NC_RANGE(0, 1024)},
      {"seed", NC_OPT_INT, &seed, "seed for weights and images", NC_NONNEG},
      {"json", NC_OPT_FLAG, &json, "print JSON"},
      {"device", NC_OPT_STRING, &device, "where to compute: cpu, cuda or cuda:N"},
      {"precision", NC_OPT_STRING, &precision,
       "tf32 (faster convolutions: TF32 on a GPU, Winograd on the CPU), fp32, or bf16 (bf16 "
       "convolution inputs: CPUs with AVX512-BF16 / AMX)"},
  };
  const nc_cmd_spec spec = {
      "bench step",
      "[--arch A] [--stem S] [--width W] [--image S] [--in-channels C] [--batch B] [--predictor "
      "P]\n"
      "  [--steps N] [--threads T] [--json]",
      "Times the SSL training step on random images: images/s (an image = two views through the\n"
      "online network forward and backward plus the target forward), effective GFLOP/s, their\n"
      "share of this machine's SGEMM peak (measured in the same run), peak RSS, and for\n"
      "directpred/directset the share of the step spent setting W_p (eigendecomposition).",
      opts,
      sizeof opts / sizeof opts[0],
      0};
  nc_args args;
  int rc = nc_cli_parse(&spec, argc, argv, &args);
  if (rc >= 0) return rc;
  if (threads > 0) {
    omp_set_num_threads((int)threads);
    openblas_set_num_threads((int)threads);
  }
  int nthreads = omp_get_max_threads();

  nc_ssl_config c = nc_ssl_default();
  c.method = strcmp(method, "simsiam") == 0 ? NC_SSL_SIMSIAM : NC_SSL_BYOL;
  c.loss = c.method == NC_SSL_SIMSIAM ? NC_LOSS_SIMSIAM : NC_LOSS_BYOL;
  c.backbone.depth = atoi(arch + strlen("resnet"));
  c.backbone.stem = strcmp(stem, "imagenet") == 0 ? NC_STEM_IMAGENET : NC_STEM_CIFAR;
  c.backbone.width = (int)width;
  c.backbone.in_channels = (int)in_channels;
  c.image_h = c.image_w = image ? (int)image : (c.backbone.stem == NC_STEM_CIFAR ? 32 : 96);
  c.batch = (int)batch;
  c.seed = (uint64_t)seed;
  if ((rc = nc_predictor_parse(predictor, &c.predictor))) return nc_cli_error(NC_EXIT_USAGE, NULL);
  nc_backend *be = NULL;
  if ((rc = nc_cli_open_backend(device, precision, &be)) >= 0) return rc;
  nc_ssl *s = NULL;
  if ((rc = nc_ssl_create_on(be, &s, &c))) {
    nc_backend_close(be);
    return nc_cli_error(nc_cli_exit_code(rc), NULL);
  }
  size_t per_view = (size_t)batch * in_channels * c.image_h * c.image_w;
  float *x = malloc(2 * per_view * sizeof(float));
  if (!x) {
    nc_ssl_free(s);
    nc_backend_close(be);
    return nc_cli_error(NC_EXIT_FAIL, "bench step: out of memory");
  }
  nc_rng r;
  nc_rng_seed(&r, (uint64_t)seed + 1000);
  for (size_t i = 0; i < 2 * per_view; i++) x[i] = (float)nc_rng_normal(&r);

  double loss = 0, t0 = 0;
  for (long i = 0; i < warmup + steps; i++) {
    if (i == warmup) {
      nc_ssl_reset_timings(s);
      t0 = nc_now_seconds();
    }
    if ((rc = nc_ssl_step(s, (int)batch, x, x + per_view, &loss))) {
      free(x);
      nc_ssl_free(s);
      nc_backend_close(be);
      return nc_cli_error(nc_cli_exit_code(rc), NULL);
    }
  }
  double step_s = (nc_now_seconds() - t0) / steps;
  nc_ssl_timing tm = nc_ssl_timings(s);
  double flops = nc_ssl_step_flops(s, (int)batch);
  double rss = peak_rss_mb(); /* before the SGEMM probe allocates its matrices */
  double peak = sgemm_peak_gflops();
  double ips = batch / step_s, gflops = flops / step_s / 1e9;
  double set_share = tm.predictor_set / steps / step_s;
  int sets_w =
      c.predictor.type == NC_PREDICTOR_DIRECTPRED || c.predictor.type == NC_PREDICTOR_DIRECTSET;
  /* how the backbone's convolutions run (the target's are made by the same rule) */
  const nc_net *bb = nc_ssl_backbone(s);
  int n_wino = nc_net_conv_count(bb, "winograd"), n_direct = nc_net_conv_count(bb, "onednn");
  int n_wino_gemm = nc_net_conv_count(bb, "winograd-gemm");
  int n_bf16 = nc_net_conv_count(bb, "onednn-bf16");
  int n_im2col = nc_net_conv_count(bb, "im2col"), n_device = nc_net_conv_count(bb, "device");
  int n_blocked, n_planar;
  nc_net_layout_count(bb, &n_blocked, &n_planar);
  if (json) {
    printf(
        "{\"arch\": \"%s\", \"stem\": \"%s\", \"width\": %ld, \"image\": %d, "
        "\"in_channels\": %ld, \"batch\": %ld, \"method\": \"%s\", \"predictor\": \"%s\", "
        "\"threads\": %d, \"steps\": %ld, \"ms_per_step\": ",
        arch, stem, width, c.image_h, in_channels, batch, method, predictor, nthreads, steps);
    nc_json_num(stdout, step_s * 1e3);
    nc_json_field(stdout, "images_per_s", ips);
    nc_json_field(stdout, "gflop_per_step", flops / 1e9);
    nc_json_field(stdout, "gflops", gflops);
    printf(", \"sgemm_backend\": \"%s\"", nc_sgemm_backend());
    nc_json_field(stdout, "sgemm_peak_gflops", peak);
    nc_json_field(stdout, "sgemm_peak_share", peak > 0 ? gflops / peak : 0);
    nc_json_field(stdout, "peak_rss_mb", rss);
    nc_json_field(stdout, "loss", loss);
    if (sets_w) {
      nc_json_field(stdout, "predictor_set_share", set_share);
    }
    printf(", \"device\": \"%s\", \"precision\": \"%s\"", device, precision);
    nc_json_field(stdout, "peak_device_mb", nc_backend_peak_bytes(be) / 1048576.0);
    printf(
        ", \"convolutions\": {\"winograd\": %d, \"winograd_gemm\": %d, \"onednn\": %d, "
        "\"onednn_bf16\": %d, \"im2col\": %d, \"device\": %d}",
        n_wino, n_wino_gemm, n_direct, n_bf16, n_im2col, n_device);
    printf(", \"feature_maps\": {\"blocked\": %d, \"planar\": %d}", n_blocked, n_planar);
    printf("}\n");
  } else {
    printf("%s (%s stem, width %ld, %dx%dx%ld), %s, predictor %s, batch %ld, %d threads\n", arch,
           stem, width, c.image_h, c.image_w, in_channels, method, predictor, batch, nthreads);
    printf("  %.1f ms/step, %.2f images/s, %.1f GFLOP/s effective (%.1f GFLOP/step)\n",
           step_s * 1e3, ips, gflops, flops / 1e9);
    printf("  SGEMM peak %.1f GFLOP/s here (%s): share %.1f%%; peak RSS %.0f MB\n", peak,
           nc_sgemm_backend(), peak > 0 ? 100 * gflops / peak : 0, rss);
    double tot = tm.online_forward + tm.target_forward + tm.loss + tm.backward + tm.optimizer +
                 tm.predictor_set + tm.ema;
    printf(
        "  phases: online forward %.0f%%, target forward %.0f%%, backward %.0f%%, optimizer "
        "%.0f%%, W_p set %.2f%%, EMA %.0f%%\n",
        100 * tm.online_forward / tot, 100 * tm.target_forward / tot, 100 * tm.backward / tot,
        100 * tm.optimizer / tot, 100 * tm.predictor_set / tot, 100 * tm.ema / tot);
    printf(
        "  convolutions: %d Winograd (oneDNN), %d Winograd (SGEMM), %d oneDNN direct, %d oneDNN "
        "bf16, %d im2col, %d device-chosen\n",
        n_wino, n_wino_gemm, n_direct, n_bf16, n_im2col, n_device);
    printf("  feature maps: %d channel-blocked, %d planar\n", n_blocked, n_planar);
    printf("  last loss %.6f\n", loss);
  }
  free(x);
  nc_ssl_free(s);
  nc_backend_close(be);
  return NC_EXIT_OK;
}

static const nc_subcommand subs[] = {
    {"step", bench_step, "time the SSL training step (images/s, GFLOP/s, peak RSS)"},
    {"loader", cmd_bench_loader, "throughput of the threaded two-view data loader"},
    {"eigh", cmd_bench_eigh,
     "DirectPred's eigendecomposition of F̂: LAPACKE, and cuSOLVER on a GPU"},
};

int cmd_bench(int argc, char **argv) {
  return nc_cli_dispatch("bench", subs, (int)(sizeof subs / sizeof subs[0]), argc, argv);
}

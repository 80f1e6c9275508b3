// ctest-labels: unit
/* safetensors checkpoints: round trip of every dtype and metadata, the exact bytes of a tiny file
 * (format spec), a ResNet-18 backbone under torchvision's bare names and under a prefix, and
 * loading refusals (missing tensor, shape mismatch, dtype) that leave the parameters untouched.
 *
 * By hand (not CI): NCSSL_TORCHVISION_EXPORT=DIR ./test_checkpoint writes DIR/resnet18.safetensors
 * (torchvision's ResNet-18: 7×7 stem, width 64, 3 channels, random init) and DIR/check.safetensors
 * (an input batch and our eval-mode features), which tests/golden/check_safetensors.py loads into
 * torchvision.models.resnet18. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ncssl/checkpoint.h"
#include "ncssl/net.h"
#include "ncssl/status.h"
#include "testing.h"

static char dir[64];

static char *path_in(const char *name) {
  static char buf[256];
  snprintf(buf, sizeof buf, "%s/%s", dir, name);
  return buf;
}

static unsigned char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *b = malloc((size_t)n + 1);
  *len = fread(b, 1, (size_t)n, f);
  fclose(f);
  return b;
}

/* The format spec by hand: length prefix, compact header in insertion order with __metadata__
 * first, space padding to 8 bytes, then the data with 8-byte types first. */
static void test_tiny_file_bytes(void) {
  nc_st_writer *w;
  CHECK(nc_st_writer_create(&w) == NC_OK);
  float a[2] = {1.0f, -2.5f};
  int64_t b = 7, shape_a[1] = {2};
  unsigned char c[3] = {1, 2, 255};
  int64_t shape_c[2] = {1, 3};
  CHECK(nc_st_add(w, "a", NC_ST_F32, 1, shape_a, a) == NC_OK);
  CHECK(nc_st_add(w, "b", NC_ST_I64, 0, NULL, &b) == NC_OK);
  CHECK(nc_st_add(w, "c", NC_ST_U8, 2, shape_c, c) == NC_OK);
  CHECK(nc_st_set_meta(w, "format", "pt") == NC_OK);
  CHECK(nc_st_set_meta(w, "note", "say \"hi\"\n") == NC_OK);
  CHECK(nc_st_add(w, "a", NC_ST_F32, 1, shape_a, a) == NC_EINVAL); /* duplicate */
  CHECK(strstr(nc_last_error(), "duplicate tensor 'a'") != NULL);
  CHECK(nc_st_add(w, "__metadata__", NC_ST_F32, 1, shape_a, a) == NC_EINVAL);
  const char *want =
      "{\"__metadata__\":{\"format\":\"pt\",\"note\":\"say \\\"hi\\\"\\n\"},"
      "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]},"
      "\"b\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]},"
      "\"c\":{\"dtype\":\"U8\",\"shape\":[1,3],\"data_offsets\":[16,19]}}";
  size_t wl = strlen(want), hl = 0;
  char *h = nc_st_header_json(w, &hl);
  CHECK(hl % 8 == 0 && hl >= wl && hl < wl + 8);
  CHECK(h && memcmp(h, want, wl) == 0);
  for (size_t i = wl; h && i < hl; i++) CHECK(h[i] == ' ');
  CHECK(nc_st_write(w, path_in("tiny.safetensors")) == NC_OK);
  size_t len;
  unsigned char *file = slurp(path_in("tiny.safetensors"), &len);
  CHECK(file && len == 8 + hl + 19);
  if (file && len == 8 + hl + 19) {
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | file[i];
    CHECK(n == hl);
    CHECK(memcmp(file + 8, h, hl) == 0);
    /* 7 first (8-byte types lead the data), then 1.0f, -2.5f, then the bytes. */
    const unsigned char data[19] = {7,    0,    0, 0, 0,    0,    0, 0, 0,  0,
                                    0x80, 0x3f, 0, 0, 0x20, 0xc0, 1, 2, 255};
    CHECK(memcmp(file + 8 + hl, data, 19) == 0);
  }
  free(file);
  free(h);
  nc_st_writer_free(w);

  nc_st_file *f;
  CHECK(nc_st_open(&f, path_in("tiny.safetensors")) == NC_OK);
  if (!f) return;
  CHECK(nc_st_count(f) == 3);
  CHECK(strcmp(nc_st_meta(f, "note"), "say \"hi\"\n") == 0);
  CHECK(nc_st_meta(f, "absent") == NULL);
  CHECK(nc_st_meta_count(f) == 2);
  const nc_st_entry *e = nc_st_find(f, "b");
  CHECK(e && e->ndim == 0 && e->count == 1 && e->dtype == NC_ST_I64);
  int64_t b2 = 0;
  CHECK(nc_st_read(f, "b", NC_ST_I64, &b2, 1) == NC_OK && b2 == 7);
  CHECK(nc_st_read(f, "b", NC_ST_F64, &b2, 1) == NC_EFORMAT);
  CHECK(strstr(nc_last_error(), "'b' is I64, expected F64") != NULL);
  CHECK(nc_st_read(f, "zz", NC_ST_I64, &b2, 1) == NC_EFORMAT);
  CHECK(strstr(nc_last_error(), "tiny.safetensors: tensor 'zz' is missing") != NULL);
  e = nc_st_at(f, 2);
  CHECK(e && strcmp(e->name, "c") == 0 && e->shape[0] == 1 && e->shape[1] == 3 &&
        e->data[2] == 255);
  nc_st_close(f);
}

/* Every dtype, empty tensors, many tensors (name lookup), data bit-exact after a round trip. */
static void test_round_trip(void) {
  nc_rng r;
  nc_rng_seed(&r, 11);
  enum { N = 300 };
  float *big = malloc(N * 37 * sizeof *big);
  for (int i = 0; i < N * 37; i++) big[i] = (float)nc_rng_normal(&r);
  double d[3] = {1e300, -0.0, 3.25};
  int32_t i32[4] = {-1, 2, INT32_MIN, INT32_MAX};
  int64_t i64[2] = {INT64_MIN, 1234567890123LL};
  nc_st_writer *w;
  nc_st_writer_create(&w);
  char name[32];
  for (int t = 0; t < N; t++) {
    snprintf(name, sizeof name, "t%03d.weight", (t * 7) % N); /* not in sorted order */
    int64_t shape[2] = {37, 1};
    CHECK(nc_st_add(w, name, NC_ST_F32, 2, shape, big + t * 37) == NC_OK);
  }
  int64_t s3 = 3, s4 = 4, s0[2] = {0, 5};
  CHECK(nc_st_add(w, "f64", NC_ST_F64, 1, &s3, d) == NC_OK);
  CHECK(nc_st_add(w, "i32", NC_ST_I32, 1, &s4, i32) == NC_OK);
  CHECK(nc_st_add_i64(w, "i64", 2, i64) == NC_OK);
  CHECK(nc_st_add(w, "empty", NC_ST_F32, 2, s0, NULL) == NC_OK);
  unsigned char odd[3] = {9, 8, 7};
  CHECK(nc_st_add(w, "odd", NC_ST_U8, 1, &s3, odd) == NC_OK);
  nc_rng saved = r, restored;
  nc_rng_u64(&r);
  CHECK(nc_st_add_rng(w, "rng", &saved) == NC_OK);
  CHECK(nc_st_write(w, path_in("rt.safetensors")) == NC_OK);
  /* Writing again gives the same bytes. */
  CHECK(nc_st_write(w, path_in("rt2.safetensors")) == NC_OK);
  size_t l1, l2;
  unsigned char *b1 = slurp(path_in("rt.safetensors"), &l1),
                *b2 = slurp(path_in("rt2.safetensors"), &l2);
  CHECK(b1 && b2 && l1 == l2 && memcmp(b1, b2, l1) == 0);
  free(b1);
  free(b2);
  nc_st_writer_free(w);

  nc_st_file *f;
  CHECK(nc_st_open(&f, path_in("rt.safetensors")) == NC_OK);
  if (!f) return;
  CHECK(nc_st_count(f) == N + 6);
  CHECK(nc_st_meta_count(f) == 0);
  int ok = 1;
  float got[37];
  for (int t = 0; t < N; t++) {
    snprintf(name, sizeof name, "t%03d.weight", (t * 7) % N);
    ok &= nc_st_read(f, name, NC_ST_F32, got, 37) == NC_OK;
    ok &= memcmp(got, big + t * 37, sizeof got) == 0;
  }
  CHECK(ok);
  double d2[3];
  int32_t i32b[4];
  int64_t i64b[2];
  CHECK(nc_st_read(f, "f64", NC_ST_F64, d2, 3) == NC_OK && memcmp(d, d2, sizeof d) == 0);
  CHECK(nc_st_read(f, "i32", NC_ST_I32, i32b, 4) == NC_OK && memcmp(i32, i32b, sizeof i32) == 0);
  CHECK(nc_st_read(f, "i64", NC_ST_I64, i64b, 2) == NC_OK && memcmp(i64, i64b, sizeof i64) == 0);
  CHECK(nc_st_read(f, "i64", NC_ST_I64, i64b, 3) == NC_EFORMAT);
  CHECK(strstr(nc_last_error(), "'i64' has 2 elements, expected 3") != NULL);
  const nc_st_entry *e = nc_st_find(f, "empty");
  CHECK(e && e->count == 0 && e->nbytes == 0 && e->ndim == 2 && e->shape[1] == 5);
  CHECK(nc_st_read_rng(f, "rng", &restored) == NC_OK);
  CHECK(memcmp(&restored, &saved, sizeof saved) == 0 &&
        nc_rng_u64(&restored) == nc_rng_u64(&saved));
  /* Entries come in data order; each starts at a multiple of its element size. */
  const unsigned char *base = nc_st_at(f, 0)->data;
  int aligned = 1;
  for (int i = 1; i < nc_st_count(f); i++) {
    CHECK(nc_st_at(f, i)->data >= nc_st_at(f, i - 1)->data);
    aligned &= (size_t)(nc_st_at(f, i)->data - base) % nc_st_dtype_size(nc_st_at(f, i)->dtype) == 0;
  }
  CHECK(aligned);
  nc_st_close(f);
  free(big);
}

static nc_net *tiny_resnet(uint64_t seed, int width) {
  nc_resnet_cfg cfg = {.depth = 18, .stem = NC_STEM_CIFAR, .in_channels = 1, .width = width};
  nc_net *net = NULL;
  CHECK(nc_resnet_build(&net, &cfg, 8, 8, 2, 1, 0, NULL) == NC_OK);
  nc_rng r;
  nc_rng_seed(&r, seed);
  if (net) nc_net_init(net, &r);
  /* Make the buffers differ from their init values so that a missed buffer shows. */
  nc_param_list *l = net ? nc_net_params(net) : NULL;
  for (int i = 0; l && i < l->n; i++)
    if (l->items[i].is_buffer)
      for (size_t k = 0; k < l->items[i].n; k++)
        l->items[i].w[k] = (float)nc_rng_uniform(&r) + 0.5f;
  return net;
}

static int same_params(nc_param_list *a, nc_param_list *b) {
  if (a->n != b->n) return 0;
  for (int i = 0; i < a->n; i++)
    if (a->items[i].n != b->items[i].n ||
        memcmp(a->items[i].w, b->items[i].w, a->items[i].n * sizeof(float)) != 0)
      return 0;
  return 1;
}

/* A ResNet-18 backbone: bare torchvision names, or prefixed beside other parts; reload. */
static void test_resnet_names_and_load(void) {
  nc_net *a = tiny_resnet(1, 4), *b = tiny_resnet(2, 4);
  if (!a || !b) return;
  nc_param_list *la = nc_net_params(a), *lb = nc_net_params(b);
  CHECK(!same_params(la, lb));
  nc_st_writer *w;
  nc_st_writer_create(&w);
  CHECK(nc_st_add_params(w, la, NULL, 1) == NC_OK);
  CHECK(nc_st_add_params(w, lb, "target.", 1) == NC_OK);
  CHECK(nc_st_add_params(w, lb, "target.", 1) == NC_EINVAL); /* names must stay unique */
  CHECK(nc_st_write(w, path_in("resnet.safetensors")) == NC_OK);
  nc_st_writer_free(w);

  nc_st_file *f;
  CHECK(nc_st_open(&f, path_in("resnet.safetensors")) == NC_OK);
  if (!f) return;
  const char *names[] = {"conv1.weight",
                         "bn1.running_mean",
                         "layer1.0.bn1.running_var",
                         "layer2.0.downsample.0.weight",
                         "layer4.1.conv2.weight",
                         "target.layer3.0.downsample.1.bias"};
  for (int i = 0; i < 6; i++) CHECK(nc_st_find(f, names[i]) != NULL);
  CHECK(nc_st_find(f, "fc.weight") == NULL);
  const nc_st_entry *e = nc_st_find(f, "conv1.weight");
  CHECK(e && e->ndim == 4 && e->shape[0] == 4 && e->shape[1] == 1 && e->shape[2] == 3);

  /* b ← the bare tensors (= a), then back ← target.*. */
  CHECK(nc_st_load_params(f, lb, NULL, 1) == NC_OK);
  CHECK(same_params(la, lb));
  nc_net *c = tiny_resnet(2, 4); /* the original b */
  CHECK(nc_st_load_params(f, la, "target.", 1) == NC_OK);
  CHECK(same_params(la, nc_net_params(c)));
  nc_net_free(c);

  /* Refusals name the tensor and change nothing. */
  nc_net *d = tiny_resnet(3, 4), *d0 = tiny_resnet(3, 4);
  CHECK(nc_st_load_params(f, nc_net_params(d), "online.", 1) == NC_EFORMAT);
  CHECK(strstr(nc_last_error(), "resnet.safetensors: tensor 'online.conv1.weight' is missing"));
  nc_net *wide = tiny_resnet(4, 8);
  CHECK(nc_st_load_params(f, nc_net_params(wide), NULL, 1) == NC_EFORMAT);
  CHECK(strstr(nc_last_error(),
               "tensor 'conv1.weight' has shape [4, 1, 3, 3], expected [8, 1, 3, 3]"));
  CHECK(same_params(nc_net_params(d), nc_net_params(d0)));
  /* Strict: under "target." the tensors are exactly the list's; with no prefix every tensor
   * counts, so the target's are extra; a list lacking one tensor finds it extra. */
  CHECK(nc_st_check_no_extra(f, la, NULL) == NC_EFORMAT);
  CHECK(strstr(nc_last_error(), "tensor 'target.conv1.weight' is not a parameter of this network"));
  CHECK(nc_st_check_no_extra(f, la, "target.") == NC_OK);
  nc_param_list fewer = *la;
  fewer.n--; /* drop the last tensor (layer4.1.bn2.running_var) from the list */
  CHECK(nc_st_check_no_extra(f, &fewer, "target.") == NC_EFORMAT);
  CHECK(strstr(nc_last_error(), "tensor 'target.layer4.1.bn2.running_var' is not a parameter"));
  nc_st_close(f);

  /* Without buffers: the file lacks running statistics, loading without them works, with fails. */
  nc_st_writer_create(&w);
  CHECK(nc_st_add_params(w, la, "online.", 0) == NC_OK);
  CHECK(nc_st_write(w, path_in("nobuf.safetensors")) == NC_OK);
  nc_st_writer_free(w);
  CHECK(nc_st_open(&f, path_in("nobuf.safetensors")) == NC_OK);
  if (f) {
    CHECK(nc_st_find(f, "online.bn1.running_mean") == NULL);
    CHECK(nc_st_load_params(f, nc_net_params(d), "online.", 1) == NC_EFORMAT);
    CHECK(strstr(nc_last_error(), "'online.bn1.running_mean' is missing"));
    CHECK(nc_st_load_params(f, nc_net_params(d), "online.", 0) == NC_OK);
    nc_st_close(f);
  }
  /* The one-call pair. */
  CHECK(nc_st_save_params(path_in("backbone.safetensors"), la, NULL) == NC_OK);
  CHECK(nc_st_load_params_file(path_in("backbone.safetensors"), nc_net_params(d), NULL) == NC_OK);
  CHECK(same_params(la, nc_net_params(d)));
  CHECK(nc_st_load_params_file(path_in("absent.safetensors"), nc_net_params(d), NULL) == NC_EIO);
  nc_net_free(a);
  nc_net_free(b);
  nc_net_free(d);
  nc_net_free(d0);
  nc_net_free(wide);
}

/* Manual check against torchvision (see the comment at the top). */
static void export_torchvision(const char *out) {
  nc_resnet_cfg cfg = {.depth = 18, .stem = NC_STEM_IMAGENET, .in_channels = 3, .width = 64};
  nc_net *net = NULL;
  if (nc_resnet_build(&net, &cfg, 64, 64, 2, 1, 0, NULL) != NC_OK) {
    fprintf(stderr, "%s\n", nc_last_error());
    return;
  }
  nc_rng r;
  nc_rng_seed(&r, 5);
  nc_net_init(net, &r);
  nc_param_list *l = nc_net_params(net);
  for (int i = 0; i < l->n; i++) /* generic BN values so that a transposed tensor shows */
    if (strstr(l->items[i].name, "bn") || strstr(l->items[i].name, "downsample.1"))
      for (size_t k = 0; k < l->items[i].n; k++)
        l->items[i].w[k] += (float)(0.2 * nc_rng_uniform(&r));
  nc_net_set_train(net, 0);
  float *x = malloc(2 * 3 * 64 * 64 * sizeof *x), y[2 * 512];
  for (int i = 0; i < 2 * 3 * 64 * 64; i++) x[i] = (float)nc_rng_normal(&r);
  nc_net_forward(net, 0, 2, x, y);
  char p[512];
  nc_st_writer *w;
  nc_st_writer_create(&w);
  nc_st_add_params(w, l, NULL, 1);
  nc_st_set_meta(w, "format", "pt");
  snprintf(p, sizeof p, "%s/resnet18.safetensors", out);
  int rc = nc_st_write(w, p);
  nc_st_writer_free(w);
  nc_st_writer_create(&w);
  int64_t sx[4] = {2, 3, 64, 64}, sy[2] = {2, 512};
  nc_st_add(w, "input", NC_ST_F32, 4, sx, x);
  nc_st_add(w, "features", NC_ST_F32, 2, sy, y);
  snprintf(p, sizeof p, "%s/check.safetensors", out);
  if (rc == NC_OK) rc = nc_st_write(w, p);
  printf("torchvision export to %s: %s\n", out, rc == NC_OK ? "written" : nc_last_error());
  nc_st_writer_free(w);
  free(x);
  nc_net_free(net);
}

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/nc_ckpt_XXXXXX");
  if (!mkdtemp(dir)) return 1;
  test_tiny_file_bytes();
  test_round_trip();
  test_resnet_names_and_load();
  const char *exp = getenv("NCSSL_TORCHVISION_EXPORT");
  if (exp) export_torchvision(exp);
  const char *files[] = {"tiny.safetensors",   "rt.safetensors",    "rt2.safetensors",
                         "resnet.safetensors", "nobuf.safetensors", "backbone.safetensors"};
  for (int i = 0; i < 6; i++) unlink(path_in(files[i]));
  CHECK(rmdir(dir) == 0); /* also proves no temporary file was left behind */
  return nc_test_done();
}

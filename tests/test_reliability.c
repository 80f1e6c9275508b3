// ctest-labels: unit
/* The library side of docs/reliability.md: inputs must be regular files (FIFO, device, directory
 * refused by name; symlinks refused inside a run directory), safetensors sizes checked before
 * allocating and per-tensor checksums verified, gzip IDX inflation bounded by its header, config
 * files without NUL bytes and with duplicate keys found fast, checkpoint counters range-checked,
 * stale temporaries removed (LAPACK at n = 4096: test_eigh_large). */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "ncssl/afile.h"
#include "ncssl/checkpoint.h"
#include "ncssl/data.h"
#include "ncssl/runlog.h"
#include "ncssl/status.h"
#include "ncssl/train.h"
#include "testing.h"

static char dir[64];

static const char *at(const char *name) {
  static char path[4][256];
  static int k;
  k = (k + 1) % 4;
  snprintf(path[k], sizeof path[k], "%s/%s", dir, name);
  return path[k];
}

static void write_text(const char *path, const char *text, size_t n) {
  FILE *f = fopen(path, "wb");
  fwrite(text, 1, n, f);
  fclose(f);
}

static int has(const char *s) { return strstr(nc_last_error(), s) != NULL; }

static void test_inputs(void) {
  int fd = -1;
  write_text(at("plain"), "x", 1);
  CHECK(nc_open_input(at("plain"), 1, &fd) == NC_OK && fd >= 0);
  if (fd >= 0) close(fd);
  mkfifo(at("fifo"), 0600);
  CHECK(nc_open_input(at("fifo"), 0, &fd) == NC_EIO && has("is a FIFO")); /* not blocked */
  CHECK(nc_open_input("/dev/zero", 0, &fd) == NC_EIO && has("is a character device"));
  CHECK(nc_open_input(dir, 0, &fd) == NC_EIO && has("is a directory"));
  symlink(at("plain"), at("link"));
  CHECK(nc_open_input(at("link"), 0, &fd) == NC_OK); /* an input elsewhere may be a link */
  if (fd >= 0) close(fd);
  CHECK(nc_open_input(at("link"), 1, &fd) == NC_EIO && has("is a symbolic link"));
  FILE *f = NULL;
  CHECK(nc_open_run_file(at("link"), 1, &f) == NC_EIO && has("is a symbolic link"));
  CHECK(nc_open_run_file(at("fifo"), 0, &f) == NC_EIO && has("is a FIFO"));
  nc_config c = {0};
  CHECK(nc_config_read(&c, at("fifo")) == NC_EIO && has("is a FIFO"));
  nc_metrics_log log;
  CHECK(nc_metrics_read(at("link"), &log) == NC_EIO && has("is a symbolic link"));
  /* A symlinked metrics.jsonl is neither truncated nor appended through. */
  nc_metrics *m = NULL;
  CHECK(nc_metrics_open(&m, at("link"), 0) == NC_EIO);
  CHECK(nc_metrics_open(&m, at("link"), 1) == NC_EIO);
  struct stat st;
  CHECK(stat(at("plain"), &st) == 0 && st.st_size == 1);
  /* A report's figure directory must not be a link. */
  mkdir(at("real"), 0755);
  symlink(at("real"), at("dirlink"));
  CHECK(nc_mkdir_nofollow(at("dirlink")) == NC_EIO && has("is a symbolic link"));
  CHECK(nc_mkdir_nofollow(at("real")) == NC_OK);
}

static void test_stale_tmp(void) {
  const char *names[] = {"checkpoint.safetensors", NULL};
  write_text(at("checkpoint.safetensors.tmp.AbC123"), "", 0);
  write_text(at("checkpoint.safetensors.tmp.short"), "", 0);
  write_text(at("checkpoint.safetensors"), "", 0);
  CHECK(nc_remove_stale_tmp(dir, names) == 1);
  CHECK(access(at("checkpoint.safetensors.tmp.AbC123"), F_OK) != 0);
  CHECK(access(at("checkpoint.safetensors.tmp.short"), F_OK) == 0);
  CHECK(access(at("checkpoint.safetensors"), F_OK) == 0);
}

static void test_safetensors(void) {
  /* A 1 GiB sparse file whose header claims more than the file: refused from its first 8 bytes
   * (the old reader read all of it first). */
  int fd = open(at("big.safetensors"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  unsigned char prefix[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0};
  CHECK(write(fd, prefix, 8) == 8 && ftruncate(fd, (off_t)1 << 30) == 0);
  close(fd);
  nc_st_file *f = NULL;
  clock_t t0 = clock();
  CHECK(nc_st_open(&f, at("big.safetensors")) == NC_EFORMAT && has("exceeds"));
  CHECK((double)(clock() - t0) / CLOCKS_PER_SEC < 0.5);
  CHECK(nc_st_open(&f, "/dev/zero") == NC_EIO && has("character device"));

  /* Checksums: a flipped bit is refused naming the tensor; without checksums it is not seen. */
  float a[64];
  for (int i = 0; i < 64; i++) a[i] = (float)i;
  int64_t shape[1] = {64};
  for (int with = 0; with < 2; with++) {
    nc_st_writer *w = NULL;
    nc_st_writer_create(&w);
    nc_st_add(w, "a", NC_ST_F32, 1, shape, a);
    if (with) CHECK(nc_st_add_checksums(w) == NC_OK);
    CHECK(nc_st_write(w, at("sum.safetensors")) == NC_OK);
    nc_st_writer_free(w);
    CHECK(nc_st_open(&f, at("sum.safetensors")) == NC_OK);
    nc_st_close(f);
    FILE *fp = fopen(at("sum.safetensors"), "r+b");
    fseek(fp, -5, SEEK_END);
    int c = fgetc(fp);
    fseek(fp, -5, SEEK_END);
    fputc(c ^ 0x10, fp);
    fclose(fp);
    int rc = nc_st_open(&f, at("sum.safetensors"));
    if (with)
      CHECK(rc == NC_EFORMAT && has("tensor 'a' is damaged"));
    else
      CHECK(rc == NC_OK);
    if (!rc) nc_st_close(f);
  }
  CHECK(nc_st_crc32("abcd", 4) == 0xed82cd11ul);
}

/* A gzip IDX whose header declares 10 images of 28x28 but which inflates to 64 MiB. */
static void test_gzip_bound(void) {
  size_t n = (size_t)64 << 20;
  unsigned char *raw = calloc(n, 1);
  const unsigned char head[16] = {0, 0, 8, 3, 0, 0, 0, 10, 0, 0, 0, 28, 0, 0, 0, 28};
  memcpy(raw, head, 16);
  gzFile gz = gzopen(at("bomb-idx3-ubyte.gz"), "wb1");
  gzwrite(gz, raw, (unsigned)n);
  gzclose(gz);
  free(raw);
  uint8_t *data = NULL;
  size_t len = 0;
  clock_t t0 = clock();
  CHECK(nc_read_file(at("bomb-idx3-ubyte.gz"), &data, &len) == NC_EFORMAT &&
        has("more than the 7856 bytes its IDX header declares"));
  CHECK((double)(clock() - t0) / CLOCKS_PER_SEC < 0.5); /* stopped early, not inflated */
  free(data);
  /* A well-formed one inflates whole. */
  unsigned char ok[16 + 7840] = {0};
  memcpy(ok, head, 16);
  gz = gzopen(at("ok-idx3-ubyte.gz"), "wb");
  gzwrite(gz, ok, sizeof ok);
  gzclose(gz);
  CHECK(nc_read_file(at("ok-idx3-ubyte.gz"), &data, &len) == NC_OK && len == sizeof ok);
  free(data);
}

static void test_config(void) {
  nc_config c = {0};
  write_text(at("nul.cfg"), "batch = 3\0 2\n", 13);
  CHECK(nc_config_read(&c, at("nul.cfg")) == NC_EFORMAT && has("nul.cfg:1: a NUL byte"));
  nc_config_free(&c);
  /* 100,000 distinct keys and one repeated at the end: found, named by its second line, fast. */
  FILE *f = fopen(at("many.cfg"), "w");
  for (int i = 0; i < 100000; i++) fprintf(f, "k%d = %d\n", i, i);
  fprintf(f, "k777 = again\n");
  fclose(f);
  clock_t t0 = clock();
  CHECK(nc_config_read(&c, at("many.cfg")) == NC_EFORMAT &&
        has("many.cfg:100001: 'k777' is set twice"));
  CHECK((double)(clock() - t0) / CLOCKS_PER_SEC < 1.0);
  nc_config_free(&c);
  write_text(at("two.cfg"), "b = 2\na = 1\nb = 3\na = 4\n", 24);
  CHECK(nc_config_read(&c, at("two.cfg")) == NC_EFORMAT && has("two.cfg:3: 'b' is set twice"));
  nc_config_free(&c);
  /* Without duplicates every key keeps the file's order and value. */
  write_text(at("ok.cfg"), "b = 2\n# x\na = 1\n", 16);
  CHECK(nc_config_read(&c, at("ok.cfg")) == NC_OK && c.n == 2 && !strcmp(c.items[0].key, "b") &&
        !strcmp(nc_config_get(&c, "a"), "1"));
  nc_config_free(&c);
}

/* A crafted checkpoint state (loader position 2^62) is refused before it is used. */
static void test_checkpoint_ranges(void) {
  nc_ssl_config cfg = nc_ssl_default();
  cfg.backbone.width = 2;
  cfg.backbone.in_channels = 1;
  cfg.image_h = cfg.image_w = 8;
  cfg.batch = 2;
  cfg.proj_hidden = 8;
  cfg.proj_out = 4;
  cfg.predictor.dim = 4;
  cfg.predictor.hidden = 8;
  nc_ssl *s = NULL;
  CHECK(nc_ssl_create(&s, &cfg) == NC_OK);
  if (!s) return;
  float corr[16] = {1, 2, 3};
  nc_train_state st = {3, 0, {(int64_t)1 << 62, 0}, 0, corr, 7, 1.5};
  CHECK(nc_train_save(s, at("ck.safetensors"), &st, "x = 1\n") == NC_OK);
  nc_train_state back = {0};
  float corr2[16];
  back.monitor_corr = corr2;
  CHECK(nc_train_load(s, at("ck.safetensors"), &back) == NC_EFORMAT && has("out of range"));
  st.pos.epoch = 1;
  CHECK(nc_train_save(s, at("ck.safetensors"), &st, "x = 1\n") == NC_OK);
  CHECK(nc_train_load(s, at("ck.safetensors"), &back) == NC_OK);
  /* The monitor accumulator comes back bit for bit. */
  CHECK(memcmp(corr, corr2, sizeof corr) == 0 && back.monitor_rows == 7 &&
        back.monitor_prev_rank == 1.5);
  long step = -1;
  CHECK(nc_train_file_step(at("ck.safetensors"), &step) == NC_OK && step == 3);
  CHECK(nc_train_save_backbone_at(nc_ssl_backbone(s), at("bb.safetensors"), NULL, 5) == NC_OK);
  CHECK(nc_train_file_step(at("bb.safetensors"), &step) == NC_OK && step == 5);
  /* A checkpoint reached through a symlink inside the run directory is refused. */
  symlink(at("ck.safetensors"), at("cklink"));
  CHECK(nc_train_load(s, at("cklink"), &back) == NC_EIO && has("is a symbolic link"));
  nc_ssl_free(s);
}

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/ncssl-test-rel.%d", (int)getpid());
  nc_mkdir_p(dir);
  test_inputs();
  test_stale_tmp();
  test_safetensors();
  test_gzip_bound();
  test_config();
  test_checkpoint_ranges();
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  return nc_test_done();
}

// ctest-labels: unit
/* safetensors damage: every kind of malformed header or data layout is refused with NC_EFORMAT
 * and a message naming the file and the problem; truncation at every length is refused; a write
 * that fails part-way (file size limit) or a writer killed at random moments leaves the previous
 * file whole. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ncssl/checkpoint.h"
#include "ncssl/status.h"
#include "testing.h"

/* A file made of an 8-byte length, header text and data_len bytes of data. */
static int open_made(const char *header, size_t data_len, nc_st_file **f) {
  size_t hl = strlen(header), len = 8 + hl + data_len;
  unsigned char *b = calloc(len, 1);
  for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
  memcpy(b + 8, header, hl);
  int rc = nc_st_open_memory(f, b, len, "bad.safetensors");
  free(b);
  return rc;
}

/* The header must be refused with NC_EFORMAT and a message containing `want`. */
static void refused(const char *header, size_t data_len, const char *want) {
  nc_st_file *f = NULL;
  nc_clear_error();
  int rc = open_made(header, data_len, &f);
  CHECK(rc == NC_EFORMAT && f == NULL);
  const char *msg = nc_last_error();
  int ok = strncmp(msg, "bad.safetensors: ", 17) == 0 && strstr(msg, want) != NULL;
  CHECK(ok);
  if (!ok) fprintf(stderr, "  header %s\n  message '%s', wanted '%s'\n", header, msg, want);
  nc_st_close(f);
}

#define T(name, body) "\"" name "\":{" body "}"

static void test_header_damage(void) {
  nc_st_file *f = NULL;
  /* The baseline is valid. */
  CHECK(open_made("{" T("a", "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]") "}", 8,
                  &f) == NC_OK);
  nc_st_close(f);
  CHECK(open_made("{}", 0, &f) == NC_OK && nc_st_count(f) == 0); /* no tensors is a valid file */
  nc_st_close(f);

  refused("{\"a\":", 0, "header is not valid JSON");
  refused("[1,2]", 0, "header is not a JSON object");
  refused("{\"a\":1} x", 0, "header is not valid JSON");
  refused("{" T("a", "\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]") "," T(
              "a", "\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]") "}",
          8, "duplicate");
  refused("{\"a\":[1]}", 0, "tensor 'a': entry is not a JSON object");
  refused("{" T("a", "\"shape\":[1],\"data_offsets\":[0,4]") "}", 4,
          "tensor 'a': missing \"dtype\"");
  refused("{" T("a", "\"dtype\":\"F32\",\"data_offsets\":[0,4]") "}", 4, "missing \"shape\"");
  refused("{" T("a", "\"dtype\":\"F32\",\"shape\":[1]") "}", 4, "missing \"data_offsets\"");
  refused("{" T("a", "\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[0,2]") "}", 2,
          "unsupported dtype 'BF16'");
  refused("{" T("a", "\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]") "}", 4,
          "dtype is not a string");
  refused("{" T("a", "\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]") "}", 4,
          "shape entry 0 is not a non-negative integer");
  refused("{" T("a", "\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]") "}", 4,
          "shape entry 0 is not");
  refused("{" T("a", "\"dtype\":\"F32\",\"shape\":{},\"data_offsets\":[0,4]") "}", 4,
          "shape is not an array");
  refused("{" T("a", "\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]") "}",
          4, "9 dimensions");
  refused("{" T("a", "\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]") "}", 4,
          "data_offsets is not [begin, end]");
  refused("{" T("a", "\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]") "}", 4,
          "data_offsets [4, 0] are not ordered");
  /* dtype × shape disagrees with the byte count. */
  refused("{" T("a", "\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]") "}", 8,
          "tensor 'a': F32 shape needs 12 bytes but data_offsets [0, 8] hold 8");
  refused("{" T("a", "\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,4]") "}", 4,
          "I64 shape needs 8 bytes");
  refused(
      "{" T("a", "\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,4]") "}",
      4, "needs");
  /* Offsets out of range, overlapping, leaving gaps or uncovered bytes. */
  refused("{" T("a", "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]") "}", 4,
          "tensor 'a': data_offsets [0, 8] reach past the data (4 bytes)");
  refused("{" T("a", "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]") "," T(
              "b", "\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]") "}",
          8, "tensors 'a' and 'b' overlap");
  refused("{" T("a", "\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]") "}", 8,
          "4 bytes before tensor 'a' belong to no tensor");
  refused("{" T("a", "\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]") "}", 12,
          "8 bytes after the last tensor belong to no tensor");
  refused("{}", 3, "3 bytes after the last tensor");
  /* Metadata must be a string map. */
  refused("{\"__metadata__\":[]}", 0, "__metadata__ is not a JSON object");
  refused("{\"__metadata__\":{\"k\":1}}", 0, "__metadata__ value of 'k' is not a string");
}

static void test_length_damage(void) {
  nc_st_file *f = NULL;
  unsigned char b[8] = {0};
  CHECK(nc_st_open_memory(&f, b, 5, "short.st") == NC_EFORMAT);
  CHECK(strstr(nc_last_error(), "short.st: 5 bytes, too short for a safetensors file"));
  /* Header length beyond the file. */
  unsigned char big[12] = {200, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' '};
  CHECK(nc_st_open_memory(&f, big, 12, "long.st") == NC_EFORMAT);
  CHECK(strstr(nc_last_error(), "long.st: header length 200 exceeds the file's 4 bytes after it"));
  unsigned char huge[12] = {0, 0, 0, 0, 0, 0, 0, 0x80, '{', '}', ' ', ' '};
  CHECK(nc_st_open_memory(&f, huge, 12, "huge.st") == NC_EFORMAT);
  CHECK(strstr(nc_last_error(), "exceeds the file"));
  /* A zero-length header is not JSON. */
  CHECK(nc_st_open_memory(&f, b, 8, "zero.st") == NC_EFORMAT);
  CHECK(strstr(nc_last_error(), "zero.st: header is not valid JSON"));
}

/* A real file cut at every length (and the missing file) is refused, never crashes. */
static void test_truncation(const char *dir) {
  char path[128];
  snprintf(path, sizeof path, "%s/t.safetensors", dir);
  float v[10] = {0};
  int64_t s = 10, k = 3;
  nc_st_writer *w;
  nc_st_writer_create(&w);
  nc_st_add(w, "v", NC_ST_F32, 1, &s, v);
  nc_st_add_i64(w, "step", 1, &k);
  nc_st_set_meta(w, "config", "lr = 0.03");
  CHECK(nc_st_write(w, path) == NC_OK);
  size_t hl;
  char *h = nc_st_header_json(w, &hl);
  free(h);
  nc_st_writer_free(w);
  FILE *fp = fopen(path, "rb");
  unsigned char buf[1024];
  size_t len = fread(buf, 1, sizeof buf, fp);
  fclose(fp);
  CHECK(len == 8 + hl + 48);
  nc_st_file *f;
  CHECK(nc_st_open_memory(&f, buf, len, "t") == NC_OK);
  nc_st_close(f);
  int refused_all = 1;
  for (size_t cut = 0; cut < len; cut++) {
    refused_all &= nc_st_open_memory(&f, buf, cut, "t") == NC_EFORMAT && f == NULL;
    if (cut == len - 1) CHECK(strstr(nc_last_error(), "reach past the data"));
    if (cut == 8 + hl - 1) CHECK(strstr(nc_last_error(), "exceeds the file"));
  }
  CHECK(refused_all);
  /* Flipping any single header byte either still parses to a valid layout or is refused. */
  int crashes = 0;
  for (size_t i = 8; i < 8 + hl; i++) {
    unsigned char save = buf[i];
    buf[i] ^= 0x5a;
    int rc = nc_st_open_memory(&f, buf, len, "t");
    crashes += !(rc == NC_OK || rc == NC_EFORMAT);
    nc_st_close(f);
    buf[i] = save;
  }
  CHECK(crashes == 0);
  /* The file itself cut short on disk. */
  CHECK(truncate(path, (off_t)(len - 3)) == 0);
  CHECK(nc_st_open(&f, path) == NC_EFORMAT);
  CHECK(strncmp(nc_last_error(), path, strlen(path)) == 0);
  unlink(path);
  CHECK(nc_st_open(&f, path) == NC_EIO);
  CHECK(strstr(nc_last_error(), "cannot open") && strstr(nc_last_error(), "t.safetensors"));
}

/* Writes a file whose n floats all equal v. */
static int write_filled(const char *path, size_t n, float v) {
  float *x = malloc(n * sizeof *x);
  for (size_t i = 0; i < n; i++) x[i] = v;
  nc_st_writer *w;
  nc_st_writer_create(&w);
  int64_t s = (int64_t)n;
  nc_st_add(w, "x", NC_ST_F32, 1, &s, x);
  int rc = nc_st_write(w, path);
  nc_st_writer_free(w);
  free(x);
  return rc;
}

/* The file holds n floats all equal to one of the allowed values: returns that value, or -1. */
static float read_filled(const char *path, size_t n) {
  nc_st_file *f;
  if (nc_st_open(&f, path) != NC_OK) return -1;
  float *x = malloc(n * sizeof *x), v = -1;
  if (nc_st_read(f, "x", NC_ST_F32, x, n) == NC_OK) {
    v = x[0];
    for (size_t i = 1; i < n; i++)
      if (x[i] != v) v = -1;
  }
  free(x);
  nc_st_close(f);
  return v;
}

static int count_temporaries(const char *dir) {
  char cmd[256];
  snprintf(cmd, sizeof cmd, "ls -a %s | grep -c '\\.tmp\\.'", dir);
  FILE *p = popen(cmd, "r");
  int n = -1;
  if (p && fscanf(p, "%d", &n) != 1) n = -1;
  if (p) pclose(p);
  return n;
}

static void test_atomic(const char *dir) {
  char path[128];
  snprintf(path, sizeof path, "%s/ckpt.safetensors", dir);
  CHECK(write_filled(path, 1000, 1.0f) == NC_OK);
  /* A write that fails part-way: the file-size limit makes write() fail with EFBIG. */
  struct rlimit old, lim;
  getrlimit(RLIMIT_FSIZE, &old);
  lim = old;
  lim.rlim_cur = 16384;
  signal(SIGXFSZ, SIG_IGN);
  CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
  int rc = write_filled(path, 100000, 2.0f);
  setrlimit(RLIMIT_FSIZE, &old);
  signal(SIGXFSZ, SIG_DFL);
  CHECK(rc == NC_EIO);
  CHECK(strstr(nc_last_error(), "cannot write") && strstr(nc_last_error(), "ckpt.safetensors"));
  CHECK(read_filled(path, 1000) == 1.0f);
  CHECK(count_temporaries(dir) == 0);
  /* A directory that does not exist. */
  char missing[160];
  snprintf(missing, sizeof missing, "%s/no/such/dir/c.safetensors", dir);
  CHECK(write_filled(missing, 4, 1.0f) == NC_EIO);
  CHECK(strstr(nc_last_error(), "no/such/dir/c.safetensors"));

  /* A writer killed at random moments: the file is always the old or the new one, whole. */
  const size_t n = 1 << 19; /* 2 MiB */
  CHECK(write_filled(path, n, 1.0f) == NC_OK);
  srand((unsigned)time(NULL));
  int whole = 0, trials = 12;
  for (int t = 0; t < trials; t++) {
    pid_t pid = fork();
    if (pid == 0) {
      for (int i = 0;; i++) write_filled(path, n, (float)(1 + (i + 1) % 2));
    }
    struct timespec ts = {0, 1000000L + (long)(rand() % 20) * 1000000L};
    nanosleep(&ts, NULL);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    float v = read_filled(path, n);
    whole += v == 1.0f || v == 2.0f;
  }
  CHECK(whole == trials);
  /* A kill can leave a temporary behind (never the target): remove them. */
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -f %s/*.tmp.*", dir);
  CHECK(system(cmd) == 0);
  unlink(path);
}

int main(void) {
  char dir[64] = "/tmp/nc_ckdmg_XXXXXX";
  if (!mkdtemp(dir)) return 1;
  test_header_damage();
  test_length_damage();
  test_truncation(dir);
  test_atomic(dir);
  CHECK(rmdir(dir) == 0);
  return nc_test_done();
}

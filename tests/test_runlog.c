// ctest-labels: unit
/* Run directories: mkdir -p, atomic config.txt (exact text, read back, every parse error with its
 * line), metrics.jsonl (records of every kind written and read back at full precision, flushed per
 * line, a half-written last line reported and cut off on append, a bad middle line refused). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ncssl/runlog.h"
#include "ncssl/status.h"
#include "testing.h"

static char dir[64], path[256];

static const char *in_dir(const char *name) {
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return path;
}

static char *slurp(const char *p) {
  FILE *f = fopen(p, "rb");
  if (!f) return NULL;
  char *b = calloc(1, 1 << 16);
  size_t n = fread(b, 1, (1 << 16) - 1, f);
  b[n] = '\0';
  fclose(f);
  return b;
}

static void put(const char *p, const char *text) {
  FILE *f = fopen(p, "wb");
  fputs(text, f);
  fclose(f);
}

static void test_mkdir(void) {
  char deep[256];
  snprintf(deep, sizeof deep, "%s/run/a/b/", dir);
  CHECK(nc_mkdir_p(deep) == NC_OK);
  CHECK(nc_mkdir_p(deep) == NC_OK); /* existing is fine */
  struct stat st;
  CHECK(stat(deep, &st) == 0 && S_ISDIR(st.st_mode));
  put(in_dir("file"), "x");
  snprintf(deep, sizeof deep, "%s/file/sub", dir);
  CHECK(nc_mkdir_p(deep) == NC_EIO);
  CHECK(strstr(nc_last_error(), "cannot create directory") && strstr(nc_last_error(), "/file"));
  CHECK(nc_mkdir_p(in_dir("file")) == NC_EIO);
  unlink(in_dir("file"));
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -r %s/run", dir);
  CHECK(system(cmd) == 0);
}

static void test_config(void) {
  nc_config c = {0};
  CHECK(nc_config_set(&c, "lr", "0.03") == NC_OK);
  CHECK(nc_config_setf(&c, "batch", "%d", 128) == NC_OK);
  CHECK(nc_config_set(&c, "data", "folder:/a b/c=d") == NC_OK);
  CHECK(nc_config_setf(&c, "lr", "%g", 0.05) == NC_OK); /* replaced in place */
  CHECK(nc_config_set(&c, "bad key", "1") == NC_EINVAL);
  CHECK(nc_config_set(&c, "a=b", "1") == NC_EINVAL);
  CHECK(nc_config_set(&c, "", "1") == NC_EINVAL);
  CHECK(nc_config_set(&c, "note", "two\nlines") == NC_EINVAL);
  CHECK(strstr(nc_last_error(), "'note' spans several lines"));
  CHECK(c.n == 3 && strcmp(nc_config_get(&c, "lr"), "0.05") == 0);
  CHECK(nc_config_get(&c, "absent") == NULL);
  CHECK(nc_config_write(&c, in_dir("config.txt")) == NC_OK);
  char *text = slurp(in_dir("config.txt"));
  CHECK(text && strcmp(text, "lr = 0.05\nbatch = 128\ndata = folder:/a b/c=d\n") == 0);
  free(text);
  nc_config back = {0};
  CHECK(nc_config_read(&back, in_dir("config.txt")) == NC_OK);
  CHECK(back.n == 3);
  for (int i = 0; i < c.n && i < back.n; i++)
    CHECK(strcmp(c.items[i].key, back.items[i].key) == 0 &&
          strcmp(c.items[i].value, back.items[i].value) == 0);
  nc_config_free(&back);
  nc_config_free(&c);
  CHECK(c.n == 0 && c.items == NULL);

  /* Comments, blank lines, spaces, an empty value; reading onto existing entries replaces. */
  put(in_dir("c2.txt"), "# a comment\n\n  seed=3  \nout =   \n\tlr = 1e-3\r\n");
  CHECK(nc_config_set(&c, "lr", "9") == NC_OK);
  CHECK(nc_config_read(&c, in_dir("c2.txt")) == NC_OK);
  CHECK(c.n == 3 && strcmp(nc_config_get(&c, "seed"), "3") == 0);
  CHECK(strcmp(nc_config_get(&c, "out"), "") == 0 && strcmp(nc_config_get(&c, "lr"), "1e-3") == 0);
  nc_config_free(&c);

  const char *bad[][2] = {{"a = 1\nno equals sign\n", "c3.txt:2: expected \"key = value\""},
                          {"a = 1\n = 2\n", "c3.txt:2: invalid key ''"},
                          {"my key = 2\n", "c3.txt:1: invalid key 'my key'"},
                          {"a = 1\n# x\na = 2\n", "c3.txt:3: 'a' is set twice"}};
  for (int i = 0; i < 4; i++) {
    put(in_dir("c3.txt"), bad[i][0]);
    CHECK(nc_config_read(&c, in_dir("c3.txt")) == NC_EFORMAT);
    CHECK(strstr(nc_last_error(), bad[i][1]) != NULL);
    nc_config_free(&c);
  }
  CHECK(nc_config_read(&c, in_dir("absent.txt")) == NC_EIO);
  unlink(in_dir("c2.txt"));
  unlink(in_dir("c3.txt"));
  unlink(in_dir("config.txt"));
}

static void test_metrics_round_trip(void) {
  nc_metrics *m;
  const char *p = in_dir("metrics.jsonl");
  CHECK(nc_metrics_open(&m, p, 0) == NC_OK);
  if (!m) return;
  CHECK(nc_metrics_end(m) == NC_EINVAL); /* nothing begun */
  CHECK(nc_metrics_step(m, 1, 0, 3.9123456789012345, 0.03, 812.5, 0.25) == NC_OK);
  /* Flushed per line: another reader sees it before close. */
  nc_metrics_log log;
  CHECK(nc_metrics_read(p, &log) == NC_OK && log.n == 1 && log.torn_line == 0);
  nc_metrics_log_free(&log);
  CHECK(nc_metrics_step(m, 2, 0, NAN, 0.03, 1e-300, 0) == NC_OK);
  double v[4] = {1.0 / 3, -2e10, NAN, 0};
  CHECK(nc_metrics_begin(m, "custom") == NC_OK);
  nc_metrics_int(m, "big", 1LL << 53);
  nc_metrics_num(m, "third", 1.0 / 3);
  nc_metrics_bool(m, "flag", 1);
  nc_metrics_str(m, "text", "quote \" and \\ and \n");
  nc_metrics_nums(m, "values", v, 4);
  nc_metrics_nums(m, "none", v, 0);
  CHECK(nc_metrics_end(m) == NC_OK);
  /* A monitor record from a real measurement: F = diag(3, 2, 1), W_p = diag(1, 1, 1). */
  nc_monitor mon;
  CHECK(nc_monitor_init(&mon, 3) == NC_OK);
  double F[9] = {3, 0, 0, 0, 2, 0, 0, 0, 1}, W[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  CHECK(nc_monitor_measure(&mon, F, W) == NC_OK);
  CHECK(nc_metrics_monitor(m, 100, 1, &mon, 1, 0.25, 0) == NC_OK);
  CHECK(nc_metrics_monitor(m, 101, 1, &mon, 0, 0.0, 1) == NC_OK);
  double acc[3] = {0.5, 0.75, 0.625}, loss[3] = {2, 1, 0.5};
  nc_probe_result pr = {.epochs = 3,
                        .final_top1 = 0.625,
                        .best_top1 = 0.75,
                        .best_epoch = 2,
                        .test_top1 = acc,
                        .train_loss = loss};
  CHECK(nc_metrics_eval(m, 100, 1, &pr, 0.7) == NC_OK);
  CHECK(nc_metrics_eval(m, 200, 2, NULL, NAN) == NC_OK);
  nc_metrics_close(m);

  CHECK(nc_metrics_read(p, &log) == NC_OK);
  CHECK(log.n == 7 && log.torn_line == 0);
  if (log.n != 7) return;
  const nc_metric_record *r = &log.records[0];
  double x;
  CHECK(strcmp(r->type, "step") == 0 && r->line == 1);
  CHECK(nc_metric_num(r, "loss", &x) && x == 3.9123456789012345);
  CHECK(nc_metric_num(r, "images_per_s", &x) && x == 812.5);
  CHECK(nc_metric_num(r, "input_wait_ms", &x) && x == 0.25);
  CHECK(nc_metric_num(&log.records[1], "loss", &x) && isnan(x)); /* NaN written as null */
  CHECK(nc_metric_get(&log.records[1], "loss")->kind == NC_MV_NULL);
  CHECK(nc_metric_num(&log.records[1], "images_per_s", &x) && x == 1e-300);
  r = &log.records[2];
  CHECK(strcmp(r->type, "custom") == 0);
  CHECK(nc_metric_num(r, "big", &x) && x == 9007199254740992.0);
  CHECK(nc_metric_num(r, "third", &x) && x == 1.0 / 3);
  CHECK(nc_metric_num(r, "flag", &x) && x == 1 && nc_metric_get(r, "flag")->kind == NC_MV_BOOL);
  CHECK(strcmp(nc_metric_get(r, "text")->str, "quote \" and \\ and \n") == 0);
  CHECK(!nc_metric_num(r, "text", &x) && !nc_metric_num(r, "absent", &x));
  const nc_metric_field *f = nc_metric_get(r, "values");
  CHECK(f->kind == NC_MV_NUMS && f->n == 4 && f->nums[0] == 1.0 / 3 && f->nums[1] == -2e10 &&
        isnan(f->nums[2]) && f->nums[3] == 0);
  CHECK(nc_metric_get(r, "none")->kind == NC_MV_NUMS && nc_metric_get(r, "none")->n == 0);
  r = &log.records[3];
  CHECK(strcmp(r->type, "monitor") == 0);
  f = nc_metric_get(r, "f_eigvals");
  CHECK(f && f->n == 3 && fabs(f->nums[0] - 3) < 1e-12 && fabs(f->nums[2] - 1) < 1e-12);
  f = nc_metric_get(r, "alignment");
  CHECK(f && f->n == 3 && fabs(f->nums[1] - 1) < 1e-12);
  CHECK(nc_metric_num(r, "effective_rank", &x) && fabs(x - mon.effective_rank) == 0);
  CHECK(nc_metric_num(r, "collapse", &x) && x == 0);
  CHECK(nc_metric_get(&log.records[4], "alignment") == NULL);
  CHECK(nc_metric_num(&log.records[4], "collapse", &x) && x == 1);
  r = &log.records[5];
  CHECK(nc_metric_num(r, "probe_best_top1", &x) && x == 0.75);
  CHECK(nc_metric_num(r, "probe_best_epoch", &x) && x == 2);
  f = nc_metric_get(r, "probe_test_top1");
  CHECK(f && f->n == 3 && f->nums[2] == 0.625);
  CHECK(nc_metric_num(r, "knn_top1", &x) && x == 0.7);
  CHECK(nc_metric_get(&log.records[6], "probe_top1") == NULL &&
        nc_metric_get(&log.records[6], "knn_top1") == NULL);
  double *sx, *sy;
  int n;
  CHECK(nc_metrics_series(&log, "step", "step", "lr", &sx, &sy, &n) == NC_OK);
  CHECK(n == 2 && sx[0] == 1 && sx[1] == 2 && sy[1] == 0.03);
  free(sx);
  free(sy);
  nc_metrics_log_free(&log);
  nc_monitor_free(&mon);
}

static void test_metrics_damage(void) {
  const char *p = in_dir("metrics.jsonl");
  nc_metrics_log log;
  /* A half-written last line: reported, the complete lines kept. */
  put(p, "{\"type\": \"step\", \"step\": 1}\n\n{\"type\": \"step\", \"step\": 2}\n{\"type\": \"st");
  CHECK(nc_metrics_read(p, &log) == NC_OK);
  CHECK(log.n == 2 && log.torn_line == 4 && log.records[1].line == 3);
  nc_metrics_log_free(&log);
  /* Appending cuts it off first. */
  nc_metrics *m;
  CHECK(nc_metrics_open(&m, p, 1) == NC_OK);
  CHECK(nc_metrics_step(m, 3, 0, 1.5, 0.1, 10, 0) == NC_OK);
  nc_metrics_close(m);
  CHECK(nc_metrics_read(p, &log) == NC_OK);
  CHECK(log.n == 3 && log.torn_line == 0);
  double x;
  CHECK(log.n == 3 && nc_metric_num(&log.records[2], "step", &x) && x == 3);
  nc_metrics_log_free(&log);
  /* A file that is one torn line: appending empties it first. */
  put(p, "{\"type\": ");
  CHECK(nc_metrics_open(&m, p, 1) == NC_OK);
  nc_metrics_close(m);
  char *text = slurp(p);
  CHECK(text && text[0] == '\0');
  free(text);
  /* Appending to a whole file, or to a missing one, changes nothing before the new line. */
  unlink(p);
  CHECK(nc_metrics_open(&m, p, 1) == NC_OK);
  nc_metrics_step(m, 1, 0, 1, 1, 1, 0);
  nc_metrics_close(m);
  CHECK(nc_metrics_open(&m, p, 1) == NC_OK);
  nc_metrics_step(m, 2, 0, 1, 1, 1, 0);
  nc_metrics_close(m);
  CHECK(nc_metrics_read(p, &log) == NC_OK && log.n == 2);
  nc_metrics_log_free(&log);

  /* A bad line that is not the last, a non-object line, a duplicate key: refused with the line. */
  const char *bad[][2] = {
      {"{\"type\": \"a\"}\n{\"type\": \n{\"type\": \"b\"}\n", "metrics.jsonl:2:"},
      {"[1, 2]\n", "metrics.jsonl:1: not a JSON object"},
      {"{\"a\": 1, \"a\": 2}\n", "metrics.jsonl:1: duplicate"},
      {"{\"type\": \"a\"}\n{\"type\": \"a\"} junk\n", "metrics.jsonl:2:"}};
  for (int i = 0; i < 4; i++) {
    put(p, bad[i][0]);
    CHECK(nc_metrics_read(p, &log) == NC_EFORMAT);
    CHECK(strstr(nc_last_error(), bad[i][1]) != NULL);
    CHECK(log.n == 0 && log.records == NULL);
  }
  /* A last line without newline that parses is a whole record. */
  put(p, "{\"type\": \"a\", \"k\": [1, \"x\", {\"y\": null}]}");
  CHECK(nc_metrics_read(p, &log) == NC_OK && log.n == 1 && log.torn_line == 0);
  if (log.n == 1) {
    const nc_metric_field *f = nc_metric_get(&log.records[0], "k");
    CHECK(f->kind == NC_MV_OTHER && strcmp(f->str, "[1,\"x\",{\"y\":null}]") == 0);
  }
  nc_metrics_log_free(&log);
  unlink(p);
  CHECK(nc_metrics_read(p, &log) == NC_EIO);
  CHECK(nc_metrics_open(&m, in_dir("no/dir/metrics.jsonl"), 0) == NC_EIO);
}

/* Resume: records after the checkpoint's step and a torn line go; others stay byte for byte. */
static void test_metrics_rewind(void) {
  const char *p = in_dir("metrics.jsonl");
  put(p,
      "{\"type\": \"step\", \"step\": 1, \"loss\": 2}\n"
      "{\"type\": \"note\", \"text\": \"no step\"}\n"
      "{\"type\": \"eval\", \"step\": 2, \"epoch\": 1}\n"
      "\n"
      "{\"type\": \"step\", \"step\": 3, \"loss\": 1}\n"
      "{\"type\": \"step\", \"st");
  CHECK(nc_metrics_rewind(p, 2) == NC_OK);
  char *text = slurp(p);
  CHECK(text && strcmp(text,
                       "{\"type\": \"step\", \"step\": 1, \"loss\": 2}\n"
                       "{\"type\": \"note\", \"text\": \"no step\"}\n"
                       "{\"type\": \"eval\", \"step\": 2, \"epoch\": 1}\n") == 0);
  free(text);
  /* A last whole line without newline gets one; everything kept at a later step. */
  put(p, "{\"step\": 1}\n{\"step\": 2}");
  CHECK(nc_metrics_rewind(p, 10) == NC_OK);
  text = slurp(p);
  CHECK(text && strcmp(text, "{\"step\": 1}\n{\"step\": 2}\n") == 0);
  free(text);
  CHECK(nc_metrics_rewind(p, 0) == NC_OK);
  text = slurp(p);
  CHECK(text && text[0] == '\0');
  free(text);
  put(p, "{\"step\": 1}\nnot json\n{\"step\": 2}\n");
  CHECK(nc_metrics_rewind(p, 5) == NC_EFORMAT);
  CHECK(strstr(nc_last_error(), "metrics.jsonl:2:"));
  unlink(p);
  CHECK(nc_metrics_rewind(p, 5) == NC_OK); /* nothing to rewind */
  CHECK(access(p, F_OK) != 0);
}

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/nc_runlog_XXXXXX");
  if (!mkdtemp(dir)) return 1;
  test_mkdir();
  test_config();
  test_metrics_round_trip();
  test_metrics_damage();
  test_metrics_rewind();
  CHECK(rmdir(dir) == 0); /* nothing left, temporaries included */
  return nc_test_done();
}

/* libFuzzer: the input as a config file (key = value lines) and as a metrics.jsonl, then the
 * metrics file rewound to a step (what --resume does to it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ncssl/runlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64], path[96];

static void remove_dir(void) { rmdir(dir); } /* the file is removed after every input */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!dir[0]) {
    snprintf(dir, sizeof dir, "/tmp/ncssl-fuzz-runlog.%d", (int)getpid());
    nc_mkdir_p(dir);
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    atexit(remove_dir);
  }
  FILE *f = fopen(path, "wb");
  if (!f) return 0;
  fwrite(data, 1, size, f);
  fclose(f);
  nc_config c = {0};
  if (nc_config_read(&c, path) == 0) {
    /* What was read writes back and reads again to the same entries. */
    char *text = nc_config_text(&c);
    if (text && memchr(data, '\0', size)) __builtin_trap(); /* NUL bytes are refused */
    free(text);
    for (int i = 0; i < c.n; i++)
      if (nc_config_get(&c, c.items[i].key) != c.items[i].value) __builtin_trap(); /* unique */
  }
  nc_config_free(&c);
  nc_metrics_log log;
  if (nc_metrics_read(path, &log) == 0) {
    for (int i = 0; i < log.n; i++) {
      double v;
      nc_metric_num(&log.records[i], "step", &v);
    }
    nc_metrics_log_free(&log);
  }
  long step = size ? data[0] : 0;
  if (nc_metrics_rewind(path, step) == 0 && nc_metrics_read(path, &log) == 0) {
    /* After a rewind no record has a step past it and no line is torn. */
    for (int i = 0; i < log.n; i++) {
      const nc_metric_field *s = nc_metric_get(&log.records[i], "step");
      if (s && s->kind == NC_MV_NUM && s->num > (double)step) __builtin_trap();
    }
    if (log.torn_line) __builtin_trap();
    nc_metrics_log_free(&log);
  }
  unlink(path);
  return 0;
}

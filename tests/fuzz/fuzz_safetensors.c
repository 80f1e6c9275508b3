/* libFuzzer: the input as a safetensors file, from memory and from disk (the reader that checks
 * the length prefix and the header before it allocates the data). A file that opens must hold
 * what it says: every tensor found by name, readable into a buffer of its size. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ncssl/checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void exercise(nc_st_file *f) {
  for (int i = 0; i < nc_st_count(f); i++) {
    const nc_st_entry *e = nc_st_at(f, i);
    if (nc_st_find(f, e->name) != e) __builtin_trap();
    void *buf = malloc(e->nbytes ? e->nbytes : 1);
    if (buf && nc_st_read(f, e->name, e->dtype, buf, e->count) != 0) __builtin_trap();
    free(buf);
  }
  for (int i = 0; i < nc_st_meta_count(f); i++) {
    const char *k, *v;
    nc_st_meta_at(f, i, &k, &v);
    if (!nc_st_meta(f, k)) __builtin_trap();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  nc_st_file *m = NULL, *d = NULL;
  int rm = nc_st_open_memory(&m, data, size, "fuzz");
  if (rm == 0) exercise(m);
  static char path[64];
  if (!path[0]) snprintf(path, sizeof path, "/tmp/ncssl-fuzz-st.%d", (int)getpid());
  FILE *f = fopen(path, "wb");
  if (f) {
    fwrite(data, 1, size, f);
    fclose(f);
    int rd = nc_st_open(&d, path);
    if ((rd == 0) != (rm == 0)) __builtin_trap(); /* both readers agree */
    if (rd == 0) exercise(d);
    unlink(path);
  }
  nc_st_close(m);
  nc_st_close(d);
  return 0;
}

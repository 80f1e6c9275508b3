/* CIFAR binary batches: records of 1 label byte (CIFAR-10) or 2 (CIFAR-100: coarse, fine),
 * then 3072 pixels: the 32x32 red plane, green, blue, rows top-down (already CHW). */
#include <stdlib.h>
#include <string.h>

#include "ncssl/data.h"
#include "ncssl/status.h"

enum { CIFAR_PIXELS = 3 * 32 * 32 };

int nc_cifar_decode_append(const uint8_t *buf, size_t len, const char *what, int cifar100,
                           int coarse, nc_dataset *out) {
  size_t head = cifar100 ? 2 : 1, rec = head + CIFAR_PIXELS;
  int classes = !cifar100 ? 10 : coarse ? 20 : 100;
  if (len == 0) return nc_fail(NC_EFORMAT, "%s: empty file", what);
  if (len % rec)
    return nc_fail(NC_EFORMAT,
                   "%s: size %zu is not a whole number of %zu-byte records (truncated?)", what, len,
                   rec);
  size_t n = len / rec;
  if (n + (size_t)out->n > 0x7fffffff) return nc_fail(NC_EFORMAT, "%s: too many records", what);
  for (size_t i = 0; i < n; i++) {
    const uint8_t *r = buf + i * rec;
    int label = cifar100 ? r[coarse ? 0 : 1] : r[0];
    if (label >= classes)
      return nc_fail(NC_EFORMAT, "%s: label %d of record %zu out of range (0..%d)", what, label, i,
                     classes - 1);
    if (cifar100 && r[coarse ? 1 : 0] >= (coarse ? 100 : 20))
      return nc_fail(NC_EFORMAT, "%s: %s label %d of record %zu out of range", what,
                     coarse ? "fine" : "coarse", r[coarse ? 1 : 0], i);
  }
  nc_dataset grown;
  int rc = nc_dataset_alloc(&grown, out->n + (int)n, 3, 32, 32, classes);
  if (rc) return rc;
  if (out->n) {
    memcpy(grown.pixels, out->pixels, (size_t)out->n * CIFAR_PIXELS);
    memcpy(grown.labels, out->labels, sizeof(int32_t) * out->n);
  }
  for (size_t i = 0; i < n; i++) {
    const uint8_t *r = buf + i * rec;
    memcpy(grown.pixels + (out->n + i) * CIFAR_PIXELS, r + head, CIFAR_PIXELS);
    grown.labels[out->n + i] = cifar100 ? r[coarse ? 0 : 1] : r[0];
  }
  nc_dataset_free(out);
  *out = grown;
  return NC_OK;
}

int nc_cifar_read(const char *const *paths, int npaths, int cifar100, int coarse, nc_dataset *out) {
  memset(out, 0, sizeof *out);
  for (int i = 0; i < npaths; i++) {
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = nc_read_file(paths[i], &buf, &len);
    if (!rc) rc = nc_cifar_decode_append(buf, len, paths[i], cifar100, coarse, out);
    free(buf);
    if (rc) {
      nc_dataset_free(out);
      return rc;
    }
  }
  return NC_OK;
}

/* IDX files (MNIST, Fashion-MNIST): big-endian magic 0x0000 08 NDIM, NDIM big-endian sizes,
 * then the uint8 data. Images have 3 dims (n, h, w), labels 1 (n). */
#include <stdlib.h>
#include <string.h>

#include "ncssl/data.h"
#include "ncssl/status.h"

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Checks the header of an IDX file of `ndim` uint8 dims and that the size matches exactly. */
static int idx_header(const uint8_t *buf, size_t len, const char *what, int ndim, uint32_t *dims) {
  if (len == 0) return nc_fail(NC_EFORMAT, "%s: empty file", what);
  size_t head = 4 + 4 * (size_t)ndim;
  if (len < 4) return nc_fail(NC_EFORMAT, "%s: truncated header (%zu bytes)", what, len);
  uint32_t magic = be32(buf), want = 0x0800u | (uint32_t)ndim;
  if (magic != want)
    return nc_fail(NC_EFORMAT,
                   "%s: wrong magic number 0x%08x (expected 0x%08x, uint8 with %d dims)", what,
                   magic, want, ndim);
  if (len < head) return nc_fail(NC_EFORMAT, "%s: truncated header (%zu bytes)", what, len);
  uint64_t count = 1;
  for (int i = 0; i < ndim; i++) {
    dims[i] = be32(buf + 4 + 4 * i);
    if (dims[i] > (1u << 30))
      return nc_fail(NC_EFORMAT, "%s: dimension %d too large (%u)", what, i, dims[i]);
    /* checked before the product, which could wrap around to the file's size (a fuzzer found
     * 2^29 × 768 × 2^28 ≡ 0 mod 2^64 for an empty payload) */
    if (dims[i] > 0 && count > (((uint64_t)1 << 40) / dims[i]))
      return nc_fail(NC_EFORMAT, "%s: sizes too large", what);
    count *= dims[i];
  }
  if (count != len - head)
    return nc_fail(
        NC_EFORMAT,
        "%s: size does not match the count: header says %llu bytes of data, file has %zu%s", what,
        (unsigned long long)count, len - head, count > len - head ? " (truncated?)" : "");
  return NC_OK;
}

int nc_idx_decode(const uint8_t *images, size_t images_len, const char *images_what,
                  const uint8_t *labels, size_t labels_len, const char *labels_what, int classes,
                  nc_dataset *out) {
  memset(out, 0, sizeof *out);
  uint32_t d[3] = {0}, ld[1] = {0};
  int rc = idx_header(images, images_len, images_what, 3, d);
  if (rc) return rc;
  if (d[0] > 0x7fffffffu || d[1] == 0 || d[2] == 0)
    return nc_fail(NC_EFORMAT, "%s: bad image size %ux%u", images_what, d[1], d[2]);
  if (d[0] == 0) return nc_fail(NC_EFORMAT, "%s: no images", images_what);
  if (labels) {
    if ((rc = idx_header(labels, labels_len, labels_what, 1, ld))) return rc;
    if (ld[0] != d[0])
      return nc_fail(NC_EFORMAT, "%s: %u labels for %u images in %s", labels_what, ld[0], d[0],
                     images_what);
    for (uint32_t i = 0; i < ld[0]; i++)
      if (labels[8 + i] >= classes)
        return nc_fail(NC_EFORMAT, "%s: label %d of image %u out of range (0..%d)", labels_what,
                       labels[8 + i], i, classes - 1);
  }
  if ((rc = nc_dataset_alloc(out, (int)d[0], 1, (int)d[1], (int)d[2], labels ? classes : 0)))
    return rc;
  memcpy(out->pixels, images + 16, (size_t)d[0] * d[1] * d[2]);
  if (labels)
    for (uint32_t i = 0; i < d[0]; i++) out->labels[i] = labels[8 + i];
  return NC_OK;
}

int nc_idx_read(const char *images_path, const char *labels_path, int classes, nc_dataset *out) {
  memset(out, 0, sizeof *out);
  uint8_t *img = NULL, *lab = NULL;
  size_t ni = 0, nl = 0;
  int rc = nc_read_file(images_path, &img, &ni);
  if (!rc && labels_path) rc = nc_read_file(labels_path, &lab, &nl);
  if (!rc) rc = nc_idx_decode(img, ni, images_path, lab, nl, labels_path, classes, out);
  free(img);
  free(lab);
  return rc;
}

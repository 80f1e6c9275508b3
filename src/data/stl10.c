/* STL-10 binary: images of 3 x 96 x 96 bytes, each channel stored column-major (x outer,
 * y inner); labels one byte each, 1..10. We transpose to row-major CHW and shift labels to 0..9. */
#include <stdlib.h>
#include <string.h>

#include "ncssl/data.h"
#include "ncssl/status.h"

enum { STL_SIDE = 96, STL_BYTES = 3 * STL_SIDE * STL_SIDE };

int nc_stl10_decode(const uint8_t *images, size_t images_len, const char *images_what,
                    const uint8_t *labels, size_t labels_len, const char *labels_what,
                    nc_dataset *out) {
  memset(out, 0, sizeof *out);
  if (images_len == 0) return nc_fail(NC_EFORMAT, "%s: empty file", images_what);
  if (images_len % STL_BYTES)
    return nc_fail(NC_EFORMAT,
                   "%s: size %zu is not a whole number of %d-byte 3x96x96 images (truncated?)",
                   images_what, images_len, STL_BYTES);
  size_t n = images_len / STL_BYTES;
  if (n > 0x7fffffff) return nc_fail(NC_EFORMAT, "%s: too many images", images_what);
  if (labels) {
    if (labels_len == 0) return nc_fail(NC_EFORMAT, "%s: empty file", labels_what);
    if (labels_len != n)
      return nc_fail(NC_EFORMAT, "%s: %zu labels for %zu images in %s", labels_what, labels_len, n,
                     images_what);
    for (size_t i = 0; i < n; i++)
      if (labels[i] < 1 || labels[i] > 10)
        return nc_fail(NC_EFORMAT, "%s: label %d of image %zu out of range (1..10)", labels_what,
                       labels[i], i);
  }
  int rc = nc_dataset_alloc(out, (int)n, 3, STL_SIDE, STL_SIDE, labels ? 10 : 0);
  if (rc) return rc;
  for (size_t i = 0; i < n; i++) {
    const uint8_t *src = images + i * STL_BYTES;
    uint8_t *dst = out->pixels + i * STL_BYTES;
    for (int c = 0; c < 3; c++)
      for (int x = 0; x < STL_SIDE; x++)
        for (int y = 0; y < STL_SIDE; y++)
          dst[(c * STL_SIDE + y) * STL_SIDE + x] = src[(c * STL_SIDE + x) * STL_SIDE + y];
    if (labels) out->labels[i] = labels[i] - 1;
  }
  return NC_OK;
}

int nc_stl10_read(const char *images_path, const char *labels_path, nc_dataset *out) {
  memset(out, 0, sizeof *out);
  uint8_t *img = NULL, *lab = NULL;
  size_t ni = 0, nl = 0;
  int rc = nc_read_file(images_path, &img, &ni);
  if (!rc && labels_path) rc = nc_read_file(labels_path, &lab, &nl);
  if (!rc) rc = nc_stl10_decode(img, ni, images_path, lab, nl, labels_path, out);
  free(img);
  free(lab);
  return rc;
}

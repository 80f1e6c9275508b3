/* libFuzzer: the first byte says how many trailing bytes are labels; the rest are images. */
#include "ncssl/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  size_t nlab = data[0] % 8;
  const uint8_t *body = data + 1;
  size_t len = size - 1;
  if (nlab > len) nlab = len;
  nc_dataset d;
  if (nc_stl10_decode(body, len - nlab, "images", nlab ? body + len - nlab : NULL, nlab, "labels",
                      &d) == 0)
    nc_dataset_free(&d);
  if (nc_stl10_decode(body, len, "images", NULL, 0, NULL, &d) == 0) nc_dataset_free(&d);
  return 0;
}

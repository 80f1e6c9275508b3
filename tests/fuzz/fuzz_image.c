/* libFuzzer: the input as a JPEG or PNG file, decoded to gray and RGB and resized to 16x16. */
#include <stdlib.h>

#include "ncssl/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t out[3 * 16 * 16];
  nc_image_decode(data, size, "fuzz", 1, 16, out);
  nc_image_decode(data, size, "fuzz", 3, 16, out);
  return 0;
}

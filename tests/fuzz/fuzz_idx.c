/* libFuzzer: the input is an IDX file (maybe gzip), decoded as images and as labels; when it
 * splits at a 0xff 0xff 0xff 0xff marker, the two halves are images and labels together. */
#include <stdlib.h>
#include <string.h>

#include "ncssl/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  nc_dataset d;
  if (nc_idx_decode(data, size, "fuzz", NULL, 0, NULL, 10, &d) == 0) nc_dataset_free(&d);
  static const uint8_t mark[4] = {0xff, 0xff, 0xff, 0xff};
  for (size_t i = 0; i + 4 <= size; i++)
    if (!memcmp(data + i, mark, 4)) {
      if (nc_idx_decode(data, i, "images", data + i + 4, size - i - 4, "labels", 10, &d) == 0)
        nc_dataset_free(&d);
      break;
    }
  return 0;
}

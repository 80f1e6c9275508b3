/* libFuzzer: the input as a CIFAR-10 batch, then as a CIFAR-100 batch (fine and coarse). */
#include "ncssl/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  for (int variant = 0; variant < 3; variant++) {
    nc_dataset d = {0};
    if (nc_cifar_decode_append(data, size, "fuzz", variant > 0, variant == 2, &d) == 0) {
      /* Appending a second copy must double the count. */
      int n = d.n;
      if (nc_cifar_decode_append(data, size, "fuzz", variant > 0, variant == 2, &d) == 0 &&
          d.n != 2 * n)
        __builtin_trap();
    }
    nc_dataset_free(&d);
  }
  return 0;
}

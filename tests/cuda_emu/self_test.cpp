/* Checks of the emulator itself (tests/test_cuda_kernels.c runs them first): what it refuses,
 * and that its barriers and shared memory behave as a GPU's. */
#include "cuda_emu.hpp"

static void k_tree_sum(const int *x, int *out) {
  __shared__ int sh[128];
  sh[threadIdx.x] = x[blockIdx.x * blockDim.x + threadIdx.x];
  __syncthreads();
  for (unsigned s = 64; s > 0; s >>= 1) {
    if (threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[blockIdx.x] = sh[0];
}

static void k_mark(int *x) { x[threadIdx.x] = 1; }

/* A barrier that thread `lone` alone reaches: undefined on a GPU. The emulator meets it after
 * the other threads (lone 0) or after thread 0 has run without one (lone 1). */
static void k_diverge(int lone, int *x) {
  if ((int)threadIdx.x == lone) __syncthreads();
  x[threadIdx.x] = 1;
}

extern "C" int nc_emu_self_test(void) {
  int failures = 0;
  static int x[3 * 128], sums[3], marks[1024];
  for (int i = 0; i < 3 * 128; i++) x[i] = i;
  NC_EMU_LAUNCH(3, 128, 0, 0, [=]() { k_tree_sum(x, sums); });
  failures += cudaGetLastError() != cudaSuccess;
  for (int b = 0; b < 3; b++) failures += sums[b] != 128 * 128 * b + 127 * 128 / 2;
  /* too many threads, and a grid too tall: refused, nothing run */
  NC_EMU_LAUNCH(1, 1025, 0, 0, [=]() { k_mark(marks); });
  failures += cudaGetLastError() != cudaErrorInvalidConfiguration;
  failures += cudaGetLastError() != cudaSuccess; /* reading clears it */
  NC_EMU_LAUNCH(dim3(1, 65536), 4, 0, 0, [=]() { k_mark(marks); });
  failures += cudaGetLastError() != cudaErrorInvalidConfiguration;
  NC_EMU_LAUNCH(0, 4, 0, 0, [=]() { k_mark(marks); });
  failures += cudaGetLastError() != cudaErrorInvalidConfiguration;
  for (int i = 0; i < 1024; i++) failures += marks[i] != 0;
  return failures;
}

extern "C" void nc_emu_diverge(int lone) {
  static int x[64];
  NC_EMU_LAUNCH(1, 64, 0, 0, [=]() { k_diverge(lone, x); });
}

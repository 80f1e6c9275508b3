/* The part of the CUDA runtime API that src/backend/cuda/cuda_kernels.h names, for the kernels
 * compiled for the host (cuda_emu.hpp). Found before the toolkit's header only in that build. */
#ifndef NCSSL_CUDA_EMU_RUNTIME_API_H
#define NCSSL_CUDA_EMU_RUNTIME_API_H

typedef struct nc_emu_stream *cudaStream_t; /* launches run at once: a stream orders nothing */

/* The runtime's own values for the errors the emulator reports. */
typedef enum {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorLaunchFailure = 719
} cudaError_t;

#ifdef __cplusplus
extern "C" {
#endif
/* The error of the last failed launch since the previous call, which clears it (as CUDA's). */
cudaError_t cudaGetLastError(void);
/* How many kernel launches ran (blocks of threads executed) since the program started. */
unsigned long nc_emu_launches(void);
/* 1: blocks, and the threads of a block, run from the last to the first (0: the first to the
 * last). A GPU promises no order: results that change with it are a race. */
void nc_emu_set_order(int reverse);
#ifdef __cplusplus
}
#endif
#endif

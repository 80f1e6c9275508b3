/* CUDA's kernel language on the host, so that src/backend/cuda/cuda_kernels.cu runs on a CPU
 * (tests/test_cuda_kernels.c). Included before the kernel source, which translate.cmake has
 * rewritten: each launch `k<<<grid, block, shared, stream>>>(args);` becomes
 * `NC_EMU_LAUNCH(grid, block, shared, stream, [=]() { k(args); });`.
 *
 * A launch runs its blocks one after another; the threads of a block are threads of the OS that
 * run the kernel together, so __syncthreads() is a real barrier and a __shared__ array (a static:
 * one block at a time uses it) is shared as on a GPU. The runtime (cuda_emu.cpp) checks what a
 * GPU would refuse or leave undefined: launch configurations outside CUDA's limits (reported by
 * cudaGetLastError, the kernel not run) and a __syncthreads() that not every thread of the block
 * reaches (the test aborts naming the kernel's launch). */
#ifndef NCSSL_CUDA_EMU_HPP
#define NCSSL_CUDA_EMU_HPP
#include <functional>

#include "cuda_runtime_api.h"

struct nc_emu_uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x, y, z;
  dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};

extern nc_emu_uint3 nc_emu_thread_idx, nc_emu_block_idx;
extern dim3 nc_emu_block_dim, nc_emu_grid_dim;
#define threadIdx nc_emu_thread_idx
#define blockIdx nc_emu_block_idx
#define blockDim nc_emu_block_dim
#define gridDim nc_emu_grid_dim

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static

void nc_emu_syncthreads(void);
#define __syncthreads() nc_emu_syncthreads()

template <class T>
T atomicAdd(T *p, T v) {
  return __atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}

/* Runs kernel on every thread of every block of the grid; returns when all have finished. */
void nc_emu_run(dim3 grid, dim3 block, const std::function<void()> &kernel);
#define NC_EMU_LAUNCH(grid, block, shared_bytes, stream, ...) \
  ((void)(shared_bytes), (void)(stream), nc_emu_run(dim3(grid), dim3(block), __VA_ARGS__))
#endif

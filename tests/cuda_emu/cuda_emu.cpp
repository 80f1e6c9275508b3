/* The runtime behind cuda_emu.hpp. A launch runs its blocks one after another; a block's threads
 * are fibers (ucontext) on the calling thread, each with its own stack, run in turn: a fiber runs
 * until its next __syncthreads() or its end, and a round ends when every fiber of the block has
 * done so. Every fiber must then be at the same barrier (or all at the end), as CUDA requires.
 * Being one thread of the OS, the emulation is deterministic and needs no locks. */
#include "cuda_emu.hpp"

#include <stdio.h>
#include <stdlib.h>
#include <ucontext.h>

#include <memory>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define NC_EMU_ASAN 1
#else
#define NC_EMU_ASAN 0
#endif

nc_emu_uint3 nc_emu_thread_idx, nc_emu_block_idx;
dim3 nc_emu_block_dim, nc_emu_grid_dim;

static cudaError_t last_error = cudaSuccess;
static unsigned long launches;
static bool reversed; /* run blocks and threads from the last to the first */

extern "C" cudaError_t cudaGetLastError(void) {
  cudaError_t e = last_error;
  last_error = cudaSuccess;
  return e;
}

extern "C" unsigned long nc_emu_launches(void) { return launches; }

extern "C" void nc_emu_set_order(int reverse) { reversed = reverse != 0; }

namespace {
const size_t stack_bytes = (NC_EMU_ASAN ? 256 : 64) << 10;
const long at_end = -1; /* a fiber's place once its kernel has returned */

struct fiber {
  ucontext_t ctx;
  std::unique_ptr<char[]> stack;
  long place = 0; /* the number of the __syncthreads() it waits at in this block, or at_end */
  void *fake_stack = nullptr;
};

std::vector<fiber> fibers;
ucontext_t scheduler;
const void *scheduler_bottom;
size_t scheduler_size;
unsigned running;                           /* the fiber on the CPU */
const std::function<void()> *kernel_to_run; /* the launch's kernel */

/* The sanitizer must know which stack is in use: before and after every switch. */
void leaving(void **fake, const void *bottom, size_t size) {
#if NC_EMU_ASAN
  __sanitizer_start_switch_fiber(fake, bottom, size);
#else
  (void)fake, (void)bottom, (void)size;
#endif
}
void arrived(void *fake, const void **bottom_old, size_t *size_old) {
#if NC_EMU_ASAN
  __sanitizer_finish_switch_fiber(fake, bottom_old, size_old);
#else
  (void)fake, (void)bottom_old, (void)size_old;
#endif
}

void fiber_main(void) {
  arrived(nullptr, &scheduler_bottom, &scheduler_size);
  (*kernel_to_run)();
  fibers[running].place = at_end;
  leaving(nullptr, scheduler_bottom, scheduler_size); /* this fiber's stack is done with */
  /* returning resumes uc_link: the scheduler */
}

bool direct; /* the block's threads run as plain calls (see run_block) */

void set_thread(unsigned t) {
  const dim3 b = nc_emu_block_dim;
  nc_emu_thread_idx = {t % b.x, t / b.x % b.y, t / (b.x * b.y)};
  running = t;
}

/* Runs fiber t until its next barrier or its end. */
void resume(unsigned t) {
  fiber &f = fibers[t];
  set_thread(t);
  void *fake = nullptr;
  leaving(&fake, f.stack.get(), stack_bytes);
  swapcontext(&scheduler, &f.ctx);
  arrived(fake, nullptr, nullptr);
}

/* The i-th thread (or block) to run: in index order, or the reverse (nc_emu_set_order). */
unsigned nth(unsigned i, unsigned count) { return reversed ? count - 1 - i : i; }

void run_block(unsigned threads) {
  for (unsigned t = 0; t < threads; t++) {
    fiber &f = fibers[t];
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = f.stack.get();
    f.ctx.uc_stack.ss_size = stack_bytes;
    f.ctx.uc_link = &scheduler;
    makecontext(&f.ctx, fiber_main, 0);
    f.place = 0;
  }
  /* The first thread first. Where it ends without a barrier, so must every thread: they then run
   * as plain calls, much faster than fibers, and a barrier one of them reaches is the error. */
  const unsigned probe = nth(0, threads);
  resume(probe);
  if (fibers[probe].place == at_end) {
    direct = true;
    for (unsigned i = 1; i < threads; i++) {
      set_thread(nth(i, threads));
      (*kernel_to_run)();
    }
    direct = false;
    return;
  }
  for (unsigned first = 1;; first = 0) {
    for (unsigned i = first; i < threads; i++) resume(nth(i, threads));
    const long place = fibers[probe].place;
    for (unsigned t = 0; t < threads; t++)
      if (fibers[t].place != place) {
        fprintf(stderr,
                "cuda emulation: in block (%u, %u, %u), thread %u is at %s and thread %u at %s: "
                "a __syncthreads() not every thread of the block reaches\n",
                nc_emu_block_idx.x, nc_emu_block_idx.y, nc_emu_block_idx.z, probe,
                place == at_end ? "the end" : "a barrier", t,
                fibers[t].place == at_end ? "the end" : "a barrier");
        abort();
      }
    if (place == at_end) return;
  }
}
}  // namespace

void nc_emu_syncthreads(void) {
  if (direct) {
    fprintf(stderr,
            "cuda emulation: in block (%u, %u, %u), thread %u is at the end and thread %u at a "
            "barrier: a __syncthreads() not every thread of the block reaches\n",
            nc_emu_block_idx.x, nc_emu_block_idx.y, nc_emu_block_idx.z,
            nth(0, nc_emu_block_dim.x * nc_emu_block_dim.y * nc_emu_block_dim.z), running);
    abort();
  }
  fiber &f = fibers[running];
  f.place++; /* the next barrier of this block: 1, 2, ... */
  leaving(&f.fake_stack, scheduler_bottom, scheduler_size);
  swapcontext(&f.ctx, &scheduler);
  arrived(f.fake_stack, &scheduler_bottom, &scheduler_size);
}

/* CUDA's limits on a launch configuration (compute capability 9.0). */
static bool valid(dim3 grid, dim3 block) {
  const unsigned long threads = (unsigned long)block.x * block.y * block.z;
  return grid.x >= 1 && grid.x <= 2147483647u && grid.y >= 1 && grid.y <= 65535 && grid.z >= 1 &&
         grid.z <= 65535 && block.x >= 1 && block.x <= 1024 && block.y >= 1 && block.y <= 1024 &&
         block.z >= 1 && block.z <= 64 && threads <= 1024;
}

void nc_emu_run(dim3 grid, dim3 block, const std::function<void()> &kernel) {
  if (!valid(grid, block)) {
    last_error = cudaErrorInvalidConfiguration;
    return;
  }
  const unsigned threads = block.x * block.y * block.z;
  while (fibers.size() < threads) {
    fibers.emplace_back();
    fibers.back().stack.reset(new char[stack_bytes]);
  }
  kernel_to_run = &kernel;
  nc_emu_grid_dim = grid, nc_emu_block_dim = block;
  for (unsigned z = 0; z < grid.z; z++)
    for (unsigned y = 0; y < grid.y; y++)
      for (unsigned x = 0; x < grid.x; x++) {
        nc_emu_block_idx = {nth(x, grid.x), nth(y, grid.y), nth(z, grid.z)};
        run_block(threads);
      }
  kernel_to_run = nullptr;
  launches++;
}

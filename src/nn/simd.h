/* Hot loops are compiled for AVX-512 and AVX2 as well as the baseline and picked at load time
 * (GCC target_clones, x86-64 glibc only): the portable build targets SSE2, which left batch norm
 * and im2col as scalar code. Defining NCSSL_NO_VECTOR_CLONES compiles them for the build's own
 * flags only (with -mavx2 -mfma: what an AVX2 machine runs, measurable on a newer CPU). */
#ifndef NCSSL_NN_SIMD_H
#define NCSSL_NN_SIMD_H

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__) && \
    !defined(NCSSL_NO_VECTOR_CLONES)
#define NC_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define NC_VECTOR_CLONES
#endif

/* 16 float lanes as GCC vector extensions (they vectorise on any target). Vectors cross function
 * boundaries only through memory: a clone built for AVX-512 and a helper built for the baseline
 * do not agree on how to pass one in registers, so helpers taking or returning one by value are
 * always inlined (also at -O0, where plain `inline` is not). */
#define NC_INLINE static inline __attribute__((always_inline))
#include <string.h>
#pragma GCC diagnostic ignored "-Wpsabi"
typedef float v16f __attribute__((vector_size(64)));
typedef int v16i __attribute__((vector_size(64)));

NC_INLINE v16f load16(const float *p) {
  v16f v;
  memcpy(&v, p, sizeof v);
  return v;
}

NC_INLINE void store16(float *p, v16f v) { memcpy(p, &v, sizeof v); }

#endif

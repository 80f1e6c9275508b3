/* Hot loops are compiled for AVX-512 and AVX2 as well as the baseline and picked at load time
 * (GCC target_clones, x86-64 glibc only): the portable build targets SSE2, which left batch norm
 * and im2col as scalar code. */
#ifndef NCSSL_NN_SIMD_H
#define NCSSL_NN_SIMD_H

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#define NC_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define NC_VECTOR_CLONES
#endif

#endif

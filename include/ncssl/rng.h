/* Seedable, splittable random numbers (xoshiro256** seeded through splitmix64). */
#ifndef NCSSL_RNG_H
#define NCSSL_RNG_H
#include <stdint.h>

typedef struct {
  uint64_t s[4];
} nc_rng;

/* Seeds a generator; the same seed always gives the same stream. */
void nc_rng_seed(nc_rng *r, uint64_t seed);
/* Derives an independent generator for sub-task `stream` without disturbing the parent. */
nc_rng nc_rng_split(const nc_rng *r, uint64_t stream);
/* Next 64 random bits. */
uint64_t nc_rng_u64(nc_rng *r);
/* Uniform double in [0, 1). */
double nc_rng_uniform(nc_rng *r);
/* Standard normal deviate (Box-Muller, no cached second value so the stream is simple to resume).
 */
double nc_rng_normal(nc_rng *r);
/* Uniform integer in [0, n). */
uint64_t nc_rng_below(nc_rng *r, uint64_t n);

#endif

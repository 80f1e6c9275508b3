#include "ncssl/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void nc_rng_seed(nc_rng *r, uint64_t seed) {
  uint64_t x = seed;
  for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

nc_rng nc_rng_split(const nc_rng *r, uint64_t stream) {
  nc_rng out;
  uint64_t x = r->s[0] ^ rotl(r->s[1], 17) ^ rotl(r->s[2], 31) ^ rotl(r->s[3], 47);
  x ^= splitmix64(&stream);
  nc_rng_seed(&out, x);
  return out;
}

uint64_t nc_rng_u64(nc_rng *r) {
  uint64_t *s = r->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

double nc_rng_uniform(nc_rng *r) { return (double)(nc_rng_u64(r) >> 11) * 0x1.0p-53; }

double nc_rng_normal(nc_rng *r) {
  double u1 = 1.0 - nc_rng_uniform(r); /* (0, 1]: log is finite */
  double u2 = nc_rng_uniform(r);
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

uint64_t nc_rng_below(nc_rng *r, uint64_t n) {
  /* Rejection keeps it unbiased. */
  uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do x = nc_rng_u64(r);
  while (x >= limit);
  return x % n;
}

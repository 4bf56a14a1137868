/* rng.h — seeded, platform-independent random numbers (xoshiro256** seeded by splitmix64).
 * Same seed, same sequence on every machine; no libc rand(). */
#ifndef KR_RNG_H
#define KR_RNG_H

#include <stdint.h>

typedef struct kr_rng { uint64_t s[4]; } kr_rng;

void kr_rng_seed(kr_rng *r, uint64_t seed);
uint64_t kr_rng_u64(kr_rng *r);
double kr_rng_uniform(kr_rng *r);             /* [0, 1), 53 bits */
double kr_rng_normal(kr_rng *r);              /* N(0, 1), Box-Muller (no cached second value) */

#endif

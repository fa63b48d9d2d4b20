/* common/rng.h - the library's random numbers (a state per handle, never global). */
#ifndef NC_RNG_H
#define NC_RNG_H

#include "common/common.h"

/* Pseudo-random numbers: xoshiro256**, seeded by splitmix64. */
typedef struct nc__rng {
    uint64_t s[4];
    int has_spare;
    double spare;
} nc__rng;
void nc__rng_seed(nc__rng *rng, uint64_t seed);
uint64_t nc__rng_next(nc__rng *rng);
double nc__rng_uniform(nc__rng *rng); /* in [0, 1) with 53 random bits */
double nc__rng_normal(nc__rng *rng);  /* N(0, 1), polar method */

#endif /* NC_RNG_H */

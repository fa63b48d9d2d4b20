/* rng.c - xoshiro256** (Blackman & Vigna) seeded by splitmix64; normals by
 * Marsaglia's polar method. State lives in the caller's struct: no globals. */
#include "common/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void nc__rng_seed(nc__rng *rng, uint64_t seed)
{
    int i;
    for (i = 0; i < 4; i++) rng->s[i] = splitmix64(&seed);
    rng->has_spare = 0;
    rng->spare = 0.0;
}

uint64_t nc__rng_next(nc__rng *rng)
{
    uint64_t *s = rng->s;
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double nc__rng_uniform(nc__rng *rng) { return (double)(nc__rng_next(rng) >> 11) * 0x1.0p-53; }

double nc__rng_normal(nc__rng *rng)
{
    double u, v, s;
    if (rng->has_spare) {
        rng->has_spare = 0;
        return rng->spare;
    }
    do {
        u = 2.0 * nc__rng_uniform(rng) - 1.0;
        v = 2.0 * nc__rng_uniform(rng) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    s = sqrt(-2.0 * log(s) / s);
    rng->spare = v * s;
    rng->has_spare = 1;
    return u * s;
}

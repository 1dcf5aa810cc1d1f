/*
 * prng.c — the core's only source of randomness: splitmix64, seeded by the host.
 *
 * Randomized election timeouts (§5.2) need random numbers; taking them from a PRNG that the
 * host seeds, instead of rand() or the clock, is what lets the simulator replay a run
 * exactly from its seed. splitmix64 is small, fast and passes BigCrush; its quality is far
 * beyond what spreading election timeouts needs.
 */
#include "raft/raft_internal.h"

void raft_prng_seed(struct raft_prng *prng, uint64_t seed)
{
    prng->state = seed;
}

static uint64_t prng_next(struct raft_prng *prng)
{
    prng->state += UINT64_C(0x9e3779b97f4a7c15);
    uint64_t z = prng->state;
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

uint64_t raft_prng_below(struct raft_prng *prng, uint64_t bound)
{
    assert(bound > 0);
    /* The modulo bias is below 2^-40 for the small bounds used here. */
    uint64_t value = prng_next(prng) % bound;
    assert(value < bound);
    return value;
}

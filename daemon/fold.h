/* fold.h - xor-fold a 64-bit jump into one byte. */
#ifndef PBD_FOLD_H
#define PBD_FOLD_H

#include <stdint.h>

/* Returns the XOR of the eight bytes of v. Every input bit reaches the
 * output, so a jump's low-order jitter is kept whatever its magnitude. */
static inline uint8_t xor_fold_u64(uint64_t v)
{
    v ^= v >> 32;
    v ^= v >> 16;
    v ^= v >> 8;
    return (uint8_t)v;
}

/* The byte of one event: the delta in units of the counter's grain
 * (counter_grain), xor-folded. A counter that only moves in multiples of
 * g makes the low bits of the delta a function of the rest; dividing
 * first puts real jitter in every bit (docs/entropy.md, "Extraction"). */
static inline uint8_t fold_delta(uint64_t delta, uint64_t grain)
{
    return xor_fold_u64(grain > 1 ? delta / grain : delta);
}

#endif

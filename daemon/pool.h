/*
 * pool.h - what the loop hands out, and from where. Pure: no libuv, no
 * logging; all calls on the event-loop thread.
 *
 * raw:         bytes taken from the ring (the ring wipes them as it goes).
 * conditioned: SHA-256 over block_in raw bytes, block_in = ceil(320 / H), so
 *              each 32-byte block rests on >= 256 + 64 credited bits. A
 *              partly used block's remainder is kept in a locked spare buffer
 *              and handed to the next conditioned read, never twice.
 * drbg:        ChaCha20 fast-key-erasure, seeded from the first conditioned
 *              block and reseeded from a fresh block every reseed_ms (or
 *              sooner, see drbg_reseed_due) while the source is healthy.
 *
 * Fail closed: pool_gate() says whether raw/conditioned may be served. On a
 * new health failure (epoch change) it wipes the ring and the spare, so no
 * byte drawn before a failure is served after it.
 */
#ifndef PBD_POOL_H
#define PBD_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conditioner.h"
#include "ring.h"

struct pool_secret {
    struct drbg drbg;
    uint8_t spare[COND_BLOCK_BYTES];
    uint8_t scratch[4096]; /* raw input of one block */
};

struct pool {
    struct ring *ring;
    double h_bits;
    size_t block_in;
    unsigned reseed_ms;
    struct pool_secret *sec; /* sodium_malloc: guarded and mlocked */
    size_t spare_len;
    uint64_t seen_epoch;
    uint64_t last_reseed_ms;
    uint64_t served[3];      /* bytes by pbd_mode */
    uint64_t blocks;         /* conditioned blocks made */
    uint64_t flushed;        /* bytes wiped after health failures */
};

/* Returns 0, or -1 when h_bits is outside [0.1, 8] or memory is short. */
int pool_init(struct pool *p, struct ring *ring, double h_bits,
              unsigned reseed_ms);
void pool_free(struct pool *p);

/* Health gate for raw and conditioned output, given the sampler's current
 * health state (enum health_state) and failure epoch. Returns 0 when they may
 * be served, PBD_EAGAIN during the first start-up test, PBD_EHEALTH after a
 * failure until a start-up test passes again. */
int pool_gate(struct pool *p, int health_state, uint64_t epoch);

/* Bytes that can be served now in mode without waiting. */
size_t pool_stock(const struct pool *p, int mode);

/* Moves up to n bytes of raw or conditioned output into dst; returns how
 * many. Call only after pool_gate() returned 0. */
size_t pool_take(struct pool *p, int mode, uint8_t *dst, size_t n);

/* Fills dst with n DRBG bytes. Returns 0, or PBD_ENOTSEEDED when the DRBG
 * has never been seeded and no conditioned block is in stock to seed it. */
int pool_drbg(struct pool *p, uint8_t *dst, size_t n);

/* Seeds or reseeds the DRBG when due and a block is in stock; healthy says
 * whether the source may be drawn on. Returns true when it (re)seeded. */
bool pool_maintain(struct pool *p, uint64_t now_ms, bool healthy);

bool pool_seeded(const struct pool *p);

/* Whether the DRBG needs a conditioned block it does not have in stock:
 * never seeded, or a reseed is due, and less than a block is made. The
 * sampler's demand (sampler_demand) follows it. */
bool pool_wants_block(const struct pool *p, uint64_t now_ms);

#endif

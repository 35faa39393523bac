/*
 * conditioner.h - full-entropy conditioning and the fast-key-erasure DRBG.
 *
 * Pure module: no I/O, no logging, no globals, no allocation. Caller owns
 * every struct. Not thread-safe; all callers are on the daemon's event loop
 * thread. Callers must have run sodium_init() once before use (it selects
 * the SIMD ChaCha20 implementation; the functions are correct without it,
 * just slower).
 */
#ifndef PREEMPTD_CONDITIONER_H
#define PREEMPTD_CONDITIONER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#define COND_BLOCK_BYTES 32u
#define COND_OUTPUT_BITS 256u
#define COND_MARGIN_BITS 64u      /* SP 800-90C: n_in >= n_out + 64 for full entropy */

/* Reseed limits; the daemon adds a 60 s timer on top. */
#define DRBG_RESEED_BYTES    ((uint64_t)1 << 30)   /* 1 GiB */
#define DRBG_RESEED_REQUESTS ((uint64_t)1 << 20)

#define COND_WUR __attribute__((warn_unused_result))

/*
 * Raw bytes needed per block at h_bits of credited min-entropy per byte:
 * ceil((COND_OUTPUT_BITS + COND_MARGIN_BITS) / h_bits).
 * Returns 0 if h_bits is not in (0, 8] (including NaN).
 */
size_t cond_input_bytes(double h_bits) COND_WUR;

struct cond {
    crypto_hash_sha256_state st;
    size_t fed;                 /* raw bytes fed since cond_begin (saturating) */
};

/* Starts a new block. c is caller-owned; any previous contents are discarded. */
void cond_begin(struct cond *c);

/*
 * Absorbs len bytes. May be called several times per block (ring wrap).
 * in may be NULL when len == 0. Does not retain in.
 */
void cond_update(struct cond *c, const uint8_t *in, size_t len);

/*
 * Writes SHA-256(all bytes fed since cond_begin) to out and wipes *c
 * (all bytes zero afterwards; call cond_begin before reuse). Plain SHA-256
 * (SP 800-90B 3.1.5.1.1 vetted conditioner) so it can be checked against any
 * SHA-256 implementation. Returns 0. It does not check c->fed against
 * cond_input_bytes(); that credit decision is the caller's.
 */
int cond_final(struct cond *c, uint8_t out[COND_BLOCK_BYTES]) COND_WUR;

struct drbg {
    uint8_t key[32];
    bool seeded;
    uint64_t reseeds;               /* lifetime reseed count */
    uint64_t bytes_since_reseed;
    uint64_t requests_since_reseed;
    uint64_t generated;             /* lifetime bytes generated */
};

/* Initialises *d (caller-owned) as unseeded with an all-zero key. */
void drbg_init(struct drbg *d);

/*
 * key <- SHA-256(key || in), len bytes of in; nothing else changes (not a
 * reseed: an unseeded DRBG stays unseeded). For fresh OS bytes mixed in as
 * defence in depth; chaining means bytes of any quality never weaken the
 * key. Wipes its temporaries; in is neither modified nor retained.
 */
void drbg_mix(struct drbg *d, const uint8_t *in, size_t len);

/*
 * key <- SHA-256(key || seed); seeded = true; per-reseed counters reset,
 * reseeds incremented. Wipes its temporaries; the caller's seed is neither
 * modified nor retained (the caller wipes it).
 */
void drbg_reseed(struct drbg *d, const uint8_t seed[COND_BLOCK_BYTES]);

/*
 * Fast-key-erasure (Bernstein 2017): out <- ChaCha20(key, nonce 0) keystream
 * of len bytes, then key <- first 32 bytes of ChaCha20(key, nonce 1); the old
 * key is wiped. Every call changes the key, so a later compromise of *d says
 * nothing about earlier output. len may be 0 (out may then be NULL; the key
 * still rotates) and at least 64 MiB per call. out must not overlap *d.
 * Returns 0, or -1 if not seeded (out untouched, *d unchanged).
 */
int drbg_generate(struct drbg *d, uint8_t *out, size_t len) COND_WUR;

/*
 * Returns true when a reseed is due: never seeded, or bytes_since_reseed >=
 * DRBG_RESEED_BYTES, or requests_since_reseed >= DRBG_RESEED_REQUESTS.
 * Advisory: drbg_generate does not enforce it.
 */
bool drbg_reseed_due(const struct drbg *d) COND_WUR;

/* sodium_memzero()s the whole struct; *d is then unseeded (drbg_init state). */
void drbg_wipe(struct drbg *d);

#endif /* PREEMPTD_CONDITIONER_H */

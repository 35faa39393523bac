/*
 * conditioner.c - SHA-256 full-entropy conditioner and ChaCha20
 * fast-key-erasure DRBG. See conditioner.h for the contracts.
 */
#include "conditioner.h"

#include <string.h>

/* Distinct nonces keep the output stream and the next key independent. */
static const uint8_t drbg_nonce_out[crypto_stream_chacha20_NONCEBYTES] = { 0 };
static const uint8_t drbg_nonce_key[crypto_stream_chacha20_NONCEBYTES] = { 1 };

size_t cond_input_bytes(double h_bits)
{
    /* Negated form so NaN is rejected too. */
    if (!(h_bits > 0.0 && h_bits <= 8.0))
        return 0;

    /* Open-coded ceil() to avoid a libm dependency; q <= 320 / DBL_MIN is
     * finite but may exceed SIZE_MAX for subnormal h, so clamp. */
    double q = (double)(COND_OUTPUT_BITS + COND_MARGIN_BITS) / h_bits;
    if (!(q < (double)SIZE_MAX))
        return SIZE_MAX;
    size_t n = (size_t)q;
    if ((double)n < q)
        n++;
    return n;
}

void cond_begin(struct cond *c)
{
    /* Cannot fail in libsodium; the return value carries no information. */
    (void)crypto_hash_sha256_init(&c->st);
    c->fed = 0;
}

void cond_update(struct cond *c, const uint8_t *in, size_t len)
{
    if (len == 0)
        return;
    (void)crypto_hash_sha256_update(&c->st, in, (unsigned long long)len);
    /* Saturate: fed only feeds a ">= needed" check, never wraps to small. */
    c->fed = (c->fed > SIZE_MAX - len) ? SIZE_MAX : c->fed + len;
}

int cond_final(struct cond *c, uint8_t out[COND_BLOCK_BYTES])
{
    (void)crypto_hash_sha256_final(&c->st, out);
    /* The state holds a partial block of raw noise; don't leave it around. */
    sodium_memzero(c, sizeof *c);
    return 0;
}

void drbg_init(struct drbg *d)
{
    sodium_memzero(d, sizeof *d);
}

void drbg_mix(struct drbg *d, const uint8_t *in, size_t len)
{
    crypto_hash_sha256_state st;
    uint8_t next[crypto_hash_sha256_BYTES];

    /* Chaining the old key means a bad input can never make things worse. */
    (void)crypto_hash_sha256_init(&st);
    (void)crypto_hash_sha256_update(&st, d->key, sizeof d->key);
    (void)crypto_hash_sha256_update(&st, in, (unsigned long long)len);
    (void)crypto_hash_sha256_final(&st, next);
    memcpy(d->key, next, sizeof d->key);

    sodium_memzero(next, sizeof next);
    sodium_memzero(&st, sizeof st);
}

void drbg_reseed(struct drbg *d, const uint8_t seed[COND_BLOCK_BYTES])
{
    drbg_mix(d, seed, COND_BLOCK_BYTES);
    d->seeded = true;
    d->reseeds++;
    d->bytes_since_reseed = 0;
    d->requests_since_reseed = 0;
}

int drbg_generate(struct drbg *d, uint8_t *out, size_t len)
{
    uint8_t next[32];

    if (!d->seeded)
        return -1;

    /* crypto_stream_chacha20 uses a 64-bit block counter with an 8-byte
     * nonce, so any size_t len is in range; its -1 path is unreachable but
     * checked so a library change can't silently yield zero output. */
    if (len > 0 &&
        crypto_stream_chacha20(out, (unsigned long long)len,
                               drbg_nonce_out, d->key) != 0) {
        sodium_memzero(out, len);
        return -1;
    }
    if (crypto_stream_chacha20(next, sizeof next, drbg_nonce_key, d->key) != 0) {
        /* Don't hand out output whose key we could not erase. */
        if (len > 0)
            sodium_memzero(out, len);
        sodium_memzero(next, sizeof next);
        return -1;
    }

    /* Rotate before returning so the key that produced out is gone. */
    memcpy(d->key, next, sizeof d->key);
    sodium_memzero(next, sizeof next);

    /* Saturating so a wrap can never make reseed_due false again. */
    d->bytes_since_reseed = (d->bytes_since_reseed > UINT64_MAX - len)
                            ? UINT64_MAX : d->bytes_since_reseed + len;
    if (d->requests_since_reseed < UINT64_MAX)
        d->requests_since_reseed++;
    d->generated = (d->generated > UINT64_MAX - len)
                   ? UINT64_MAX : d->generated + len;
    return 0;
}

bool drbg_reseed_due(const struct drbg *d)
{
    return !d->seeded ||
           d->bytes_since_reseed >= DRBG_RESEED_BYTES ||
           d->requests_since_reseed >= DRBG_RESEED_REQUESTS;
}

void drbg_wipe(struct drbg *d)
{
    sodium_memzero(d, sizeof *d);
}

/* seedmix.c - HKDF-SHA256 over the OS's and preemptd's bytes; see seedmix.h. */
#include "seedmix.h"

#include <sodium.h>
#include <string.h>

#define SEEDMIX_SALT "preemptd openssl seed v1"

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

int seedmix_hkdf(uint8_t *out, size_t outlen, const uint8_t *salt,
                 size_t saltlen, const uint8_t *ikm, size_t ikmlen,
                 const uint8_t *info, size_t infolen)
{
    if (outlen == 0 || outlen > SEEDMIX_MAX_OUT)
        return -1;
    uint8_t prk[crypto_auth_hmacsha256_BYTES];
    uint8_t t[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    /* libsodium declares its pointers non-null, even for 0 bytes. */
    static const uint8_t none[1];
    salt = salt ? salt : none;
    ikm = ikm ? ikm : none;
    info = info ? info : none;

    /* Extract: PRK = HMAC(salt, IKM). */
    crypto_auth_hmacsha256_init(&st, salt, saltlen);
    crypto_auth_hmacsha256_update(&st, ikm, ikmlen);
    crypto_auth_hmacsha256_final(&st, prk);

    /* Expand: T(i) = HMAC(PRK, T(i-1) | info | i). */
    size_t done = 0, tlen = 0;
    for (uint8_t i = 1; done < outlen; i++) {
        crypto_auth_hmacsha256_init(&st, prk, sizeof(prk));
        crypto_auth_hmacsha256_update(&st, t, tlen);
        crypto_auth_hmacsha256_update(&st, info, infolen);
        crypto_auth_hmacsha256_update(&st, &i, 1);
        crypto_auth_hmacsha256_final(&st, t);
        tlen = sizeof(t);
        size_t k = outlen - done < tlen ? outlen - done : tlen;
        memcpy(out + done, t, k);
        done += k;
    }
    sodium_memzero(prk, sizeof(prk));
    sodium_memzero(t, sizeof(t));
    sodium_memzero(&st, sizeof(st));
    return 0;
}

int seedmix_combine(uint8_t *out, size_t outlen, const uint8_t *os,
                    size_t oslen, const uint8_t *daemon, size_t dlen,
                    const uint8_t *adin, size_t adinlen)
{
    /* IKM = os | daemon, at most 2 x 128 bytes here; lengths go in info. */
    uint8_t ikm[512];
    uint8_t info[8 + 64];
    if (oslen > sizeof(ikm) / 2 || dlen > sizeof(ikm) / 2)
        return -1;
    if (adinlen > sizeof(info) - 8)
        adinlen = sizeof(info) - 8; /* adin only separates callers */
    memcpy(ikm, os, oslen);
    if (dlen)
        memcpy(ikm + oslen, daemon, dlen);
    put_u32(info, (uint32_t)oslen);
    put_u32(info + 4, (uint32_t)dlen);
    if (adinlen)
        memcpy(info + 8, adin, adinlen);
    int rc = seedmix_hkdf(out, outlen, (const uint8_t *)SEEDMIX_SALT,
                          sizeof(SEEDMIX_SALT) - 1, ikm, oslen + dlen, info,
                          8 + adinlen);
    sodium_memzero(ikm, sizeof(ikm));
    return rc;
}

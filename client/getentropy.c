/*
 * getentropy.c - pbd_getentropy(): the OS's bytes and the daemon's, mixed
 * by seedmix.c, so the result is never weaker than the OS alone. The same
 * draw makes the OpenSSL provider's seeds (openssl/preemptd-provider.c).
 */
#include <sodium.h>
#include <unistd.h>
#if defined(__APPLE__)
#include <sys/random.h> /* getentropy */
#endif

#include "pbd-int.h"
#include "seedmix.h"

#define MIX_MAX_BYTES 128u     /* bytes drawn from each source, at most */
#define GETENTROPY_BYTES 32u   /* HKDF-SHA256's strength: 256 bits */
#define GETENTROPY_ADIN "pbd_getentropy"

/* Reads n conditioned bytes over a connection of its own, by limit. One
 * connection per draw: no socket outlives the call to be shared by a
 * forked child or to hold a place in the daemon's client limit. */
static int daemon_read(const char *path, uint8_t *buf, size_t n,
                       uint32_t timeout_ms, uint64_t limit)
{
    pbd_t *p;
    int rc = pbd_open(&p, path);
    if (rc)
        return rc;
    rc = pbd_read_until(p, buf, n, PBD_MODE_CONDITIONED, 0, timeout_ms, limit);
    pbd_close(p);
    return rc;
}

int pbd_mix_draw(const char *path, uint8_t *out, size_t outlen, size_t n,
                 const uint8_t *adin, size_t adinlen, unsigned flags,
                 uint32_t timeout_ms, int *daemon_err)
{
    uint8_t os[MIX_MAX_BYTES], dm[MIX_MAX_BYTES];
    *daemon_err = 0;
    if (n == 0 || n > MIX_MAX_BYTES || outlen == 0 ||
        outlen > SEEDMIX_MAX_OUT || (flags & ~PBD_GETENTROPY_STRICT))
        return PBD_EINVAL;
    if (timeout_ms == 0)
        timeout_ms = PBD_GETENTROPY_TIMEOUT_MS;
    if (timeout_ms > PBD_WAIT_MAX_MS)
        timeout_ms = PBD_WAIT_MAX_MS;
    /* The whole draw, connecting included, ends by the caller's time: a
     * late reply is of no use to a connection closed right after. */
    uint64_t limit = pbd_now_ns() + (uint64_t)timeout_ms * 1000000u;
    if (getentropy(os, n) != 0)
        return PBD_EOSRANDOM;
    int err = daemon_read(path, dm, n, timeout_ms, limit);
    *daemon_err = err;
    int rc = err;
    if (err == 0 || !(flags & PBD_GETENTROPY_STRICT))
        rc = seedmix_combine(out, outlen, os, n, dm, err == 0 ? n : 0, adin,
                             adinlen) == 0 ? 0 : PBD_EINVAL;
    sodium_memzero(os, sizeof(os));
    sodium_memzero(dm, sizeof(dm));
    return rc;
}

int pbd_getentropy_ex(void *buf, size_t len, unsigned flags,
                      uint32_t timeout_ms)
{
    if (len > PBD_GETENTROPY_MAX)
        return PBD_ETOOBIG;
    if (!buf && len)
        return PBD_EINVAL;
    if (len == 0)
        return 0;
    size_t n = len < GETENTROPY_BYTES ? len : GETENTROPY_BYTES;
    int derr;
    int rc = pbd_mix_draw(NULL, buf, len, n, (const uint8_t *)GETENTROPY_ADIN,
                          sizeof(GETENTROPY_ADIN) - 1, flags, timeout_ms,
                          &derr);
    if (rc)
        sodium_memzero(buf, len);
    return rc;
}

/* Keeps no connection between calls, on purpose: there is no hidden handle
 * for a forked child to inherit, so it works in a child like anywhere. */
int pbd_getentropy(void *buf, size_t len)
{
    return pbd_getentropy_ex(buf, len, 0, 0);
}

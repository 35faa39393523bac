/*
 * pbd-int.h - libpbd's calls for its own files and the OpenSSL provider,
 * which links libpbd statically; none is exported from libpbd.so.
 */
#ifndef PBD_INT_H
#define PBD_INT_H

#include <stdint.h>

#include "pbd.h"

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t pbd_now_ns(void);

/* pbd_read_ex() that also ends by limit, a CLOCK_MONOTONIC time in ns
 * (UINT64_MAX: none), whatever its reply deadlines say. */
int pbd_read_until(pbd_t *p, void *buf, size_t len, pbd_mode mode,
                   unsigned flags, uint32_t timeout_ms, uint64_t limit);

/* The draw behind pbd_getentropy_ex() and the provider's seeds: writes
 * outlen (<= SEEDMIX_MAX_OUT) bytes of HKDF-SHA256 (seedmix_combine) over n
 * (1..128) bytes from the OS's getentropy() and, if the daemon at path
 * (NULL: the default) serves them by timeout_ms (connecting included),
 * n conditioned bytes, bound to adin. *daemon_err gets 0 when the daemon's
 * bytes are in, else its PBD_E* code. Returns 0 (out written), PBD_EOSRANDOM
 * or PBD_EINVAL (out untouched), or with PBD_GETENTROPY_STRICT the daemon's
 * error (out untouched). Thread-safe; keeps no connection. */
int pbd_mix_draw(const char *path, uint8_t *out, size_t outlen, size_t n,
                 const uint8_t *adin, size_t adinlen, unsigned flags,
                 uint32_t timeout_ms, int *daemon_err)
    __attribute__((warn_unused_result));

#endif

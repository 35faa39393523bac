/*
 * seedmix.h - one seed from the operating system's bytes and preemptd's,
 * through HKDF-SHA256 (RFC 5869). Pure: no I/O, no logging, no state.
 */
#ifndef PBD_SEEDMIX_H
#define PBD_SEEDMIX_H

#include <stddef.h>
#include <stdint.h>

/* HKDF-SHA256 can expand to 255 blocks of 32 bytes. */
#define SEEDMIX_MAX_OUT (255u * 32u)

/* HKDF-SHA256 extract-then-expand: writes outlen bytes of OKM to out.
 * salt, ikm and info may be NULL when their length is 0. Returns 0, or -1
 * when outlen is 0 or above SEEDMIX_MAX_OUT (out is then untouched). */
int seedmix_hkdf(uint8_t *out, size_t outlen, const uint8_t *salt,
                 size_t saltlen, const uint8_t *ikm, size_t ikmlen,
                 const uint8_t *info, size_t infolen)
    __attribute__((warn_unused_result));

/* Derives outlen seed bytes from the OS's bytes and the daemon's (dlen 0:
 * none), bound to adin (the caller's additional input, may be empty).
 * Both lengths go into HKDF's info, so "OS only" and "OS + daemon" can never
 * give the same input. If os holds full entropy the output does too, whatever
 * the daemon sent. Returns 0 or -1 as seedmix_hkdf(). Thread-safe. */
int seedmix_combine(uint8_t *out, size_t outlen, const uint8_t *os,
                    size_t oslen, const uint8_t *daemon, size_t dlen,
                    const uint8_t *adin, size_t adinlen)
    __attribute__((warn_unused_result));

#endif

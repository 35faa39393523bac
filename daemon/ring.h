/*
 * ring.h - lock-free single-producer single-consumer byte ring.
 *
 * The sampler thread is the only producer, the event loop the only consumer.
 * Indices run free (they are never reduced modulo the capacity), so
 * head - tail is the fill level even after the counters wrap, and full and
 * empty are told apart without a spare slot. The capacity is a power of two.
 *
 * Every byte the consumer takes is wiped in the ring as it is taken, so a
 * served byte exists only in the reply that carries it.
 */
#ifndef PBD_RING_H
#define PBD_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ring {
    uint8_t *buf;
    size_t cap, mask;
    size_t low, high; /* watermarks: producer sleeps at >= high, wakes < low */
    _Alignas(64) _Atomic size_t head; /* written by the producer only */
    _Alignas(64) _Atomic size_t tail; /* written by the consumer only */
};

/* Sets up r over buf (caller-owned, cap bytes; cap a power of two >= 2).
 * Watermarks must satisfy 0 < low <= high <= cap. Returns 0, or -1 on a
 * bad argument. Not thread-safe: call before either side starts. */
int ring_init(struct ring *r, uint8_t *buf, size_t cap, size_t low,
              size_t high);

/* Producer: appends one byte. Returns false (and drops it) when full. */
bool ring_put(struct ring *r, uint8_t b);

/* Either side: bytes currently stored. Exact for the caller's own side,
 * a lower (producer) or upper (consumer) bound otherwise. */
size_t ring_level(const struct ring *r);

/* Producer: true when the ring is at or above its high watermark. */
bool ring_above_high(const struct ring *r);

/* Consumer: true when the ring is below its low watermark. */
bool ring_below_low(const struct ring *r);

/* Consumer: moves up to n bytes into dst, wipes them in the ring and
 * returns how many were moved. */
size_t ring_take(struct ring *r, uint8_t *dst, size_t n);

/* Consumer: wipes and drops everything stored; returns how many bytes. */
size_t ring_flush(struct ring *r);

#endif

/* ring.c - SPSC byte ring; see ring.h for the contract. */
#include "ring.h"

#include <sodium.h>
#include <string.h>

int ring_init(struct ring *r, uint8_t *buf, size_t cap, size_t low,
              size_t high)
{
    if (!r || !buf || cap < 2 || (cap & (cap - 1)) != 0)
        return -1;
    if (low == 0 || low > high || high > cap)
        return -1;
    r->buf = buf;
    r->cap = cap;
    r->mask = cap - 1;
    r->low = low;
    r->high = high;
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    return 0;
}

bool ring_put(struct ring *r, uint8_t b)
{
    size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    size_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    if (head - tail >= r->cap)
        return false;
    r->buf[head & r->mask] = b;
    /* Release: the byte is visible before the consumer sees the new head. */
    atomic_store_explicit(&r->head, head + 1, memory_order_release);
    return true;
}

size_t ring_level(const struct ring *r)
{
    size_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    size_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    return head - tail;
}

bool ring_above_high(const struct ring *r)
{
    return ring_level(r) >= r->high;
}

bool ring_below_low(const struct ring *r)
{
    return ring_level(r) < r->low;
}

size_t ring_take(struct ring *r, uint8_t *dst, size_t n)
{
    size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    size_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    size_t avail = head - tail;
    if (n > avail)
        n = avail;
    size_t off = tail & r->mask;
    size_t first = r->cap - off < n ? r->cap - off : n;
    if (dst) {
        memcpy(dst, r->buf + off, first);
        memcpy(dst + first, r->buf, n - first);
    }
    sodium_memzero(r->buf + off, first);
    sodium_memzero(r->buf, n - first);
    /* Seq-cst so the sampler's sleep check and this store cannot both miss
     * each other (see sampler_kick). */
    atomic_store_explicit(&r->tail, tail + n, memory_order_seq_cst);
    return n;
}

size_t ring_flush(struct ring *r)
{
    return ring_take(r, NULL, (size_t)-1);
}

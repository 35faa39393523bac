/* pool.c - see pool.h. */
#include "pool.h"

#include <sodium.h>
#include <string.h>

#include "health.h"
#include "pbd.h"

int pool_init(struct pool *p, struct ring *ring, double h_bits,
              unsigned reseed_ms)
{
    memset(p, 0, sizeof(*p));
    if (!(h_bits >= 0.1 && h_bits <= 8.0))
        return -1;
    p->block_in = cond_input_bytes(h_bits);
    if (p->block_in == 0 || p->block_in > sizeof(p->sec->scratch))
        return -1;
    p->sec = sodium_malloc(sizeof(*p->sec));
    if (!p->sec)
        return -1;
    memset(p->sec, 0, sizeof(*p->sec));
    drbg_init(&p->sec->drbg);
    p->ring = ring;
    p->h_bits = h_bits;
    p->reseed_ms = reseed_ms;
    p->os_mix = POOL_MIX_REQUEST;
    p->last_why = -1;
    return 0;
}

void pool_free(struct pool *p)
{
    if (p->sec) {
        sodium_memzero(p->sec, sizeof(*p->sec));
        sodium_free(p->sec);
    }
    p->sec = NULL;
}

int pool_gate(struct pool *p, int health_state, uint64_t epoch)
{
    if (epoch != p->seen_epoch) {
        p->flushed += ring_flush(p->ring) + p->spare_len;
        sodium_memzero(p->sec->spare, sizeof(p->sec->spare));
        p->spare_len = 0;
        p->seen_epoch = epoch;
    }
    switch (health_state) {
    case HEALTH_OK:
        return 0;
    case HEALTH_STARTUP:
        return PBD_EAGAIN;
    default:
        return PBD_EHEALTH;
    }
}

size_t pool_stock(const struct pool *p, int mode)
{
    size_t level = ring_level(p->ring);
    if (mode == PBD_MODE_RAW)
        return level;
    if (mode == PBD_MODE_CONDITIONED)
        return p->spare_len + level / p->block_in * COND_BLOCK_BYTES;
    return pool_seeded(p) ? SIZE_MAX : 0;
}

/* Makes one conditioned block into out. Returns false if the ring is short. */
static bool make_block(struct pool *p, uint8_t out[COND_BLOCK_BYTES])
{
    if (ring_level(p->ring) < p->block_in)
        return false;
    ring_take(p->ring, p->sec->scratch, p->block_in);
    struct cond c;
    cond_begin(&c);
    cond_update(&c, p->sec->scratch, p->block_in);
    sodium_memzero(p->sec->scratch, p->block_in);
    if (cond_final(&c, out) != 0)
        return false;
    p->blocks++;
    return true;
}

static size_t take_conditioned(struct pool *p, uint8_t *dst, size_t n)
{
    size_t done = 0;
    while (done < n) {
        if (p->spare_len == 0) {
            if (!make_block(p, p->sec->spare))
                break;
            p->spare_len = COND_BLOCK_BYTES;
        }
        /* Serve from the end of the spare, then wipe what was served. */
        size_t k = n - done < p->spare_len ? n - done : p->spare_len;
        uint8_t *src = p->sec->spare + p->spare_len - k;
        memcpy(dst + done, src, k);
        sodium_memzero(src, k);
        p->spare_len -= k;
        done += k;
    }
    return done;
}

size_t pool_take(struct pool *p, int mode, uint8_t *dst, size_t n)
{
    size_t got;
    if (mode == PBD_MODE_RAW)
        got = ring_take(p->ring, dst, n);
    else if (mode == PBD_MODE_CONDITIONED)
        got = take_conditioned(p, dst, n);
    else
        return 0;
    p->served[mode] += got;
    return got;
}

bool pool_seeded(const struct pool *p)
{
    return p->sec->drbg.seeded;
}

/* 32 fresh bytes from the OS into the DRBG key. libsodium's randombytes is
 * the OS generator itself here (sysrandom: getrandom(2) on Linux,
 * getentropy(2) on macOS), which the kernel reseeds on a VM fork. */
static void os_mix(struct pool *p)
{
    uint8_t fresh[COND_BLOCK_BYTES];
    randombytes_buf(fresh, sizeof(fresh));
    drbg_mix(&p->sec->drbg, fresh, sizeof(fresh));
    sodium_memzero(fresh, sizeof(fresh));
    p->os_mixes++;
}

static bool reseed(struct pool *p, uint64_t now_ms)
{
    uint8_t seed[COND_BLOCK_BYTES];
    if (take_conditioned(p, seed, sizeof(seed)) != sizeof(seed)) {
        sodium_memzero(seed, sizeof(seed));
        return false;
    }
    drbg_reseed(&p->sec->drbg, seed);
    sodium_memzero(seed, sizeof(seed));
    os_mix(p);
    p->last_reseed_ms = now_ms;
    p->last_why = p->reseed_asap ? p->asap_why : -1;
    if (p->reseed_asap)
        p->event_reseeds[p->asap_why]++;
    p->reseed_asap = false;
    p->asap_strong = false;
    return true;
}

/* The reseed interval has passed since the last reseed. */
static bool interval_up(const struct pool *p, uint64_t now_ms)
{
    return now_ms - p->last_reseed_ms >= p->reseed_ms;
}

/* A reseed is due: an event asked for one, the DRBG's output limit, or the
 * interval. */
static bool reseed_due(const struct pool *p, uint64_t now_ms)
{
    return p->reseed_asap || drbg_reseed_due(&p->sec->drbg) ||
           interval_up(p, now_ms);
}

const char *pool_event_name(int why)
{
    static const char *const names[POOL_EV_COUNT] = {
        "vmgenid", "clock", "gap", "power", "signal", "request",
    };
    return why >= 0 && why < POOL_EV_COUNT ? names[why] : "schedule";
}

void pool_event(struct pool *p, int why, uint64_t now_ms)
{
    if (why < 0 || why >= POOL_EV_COUNT)
        return;
    p->events[why]++;
    os_mix(p);
    if (why == POOL_EV_GAP && pool_seeded(p) &&
        now_ms - p->last_reseed_ms < POOL_GAP_RESEED_MS)
        return;
    if (!p->reseed_asap)
        p->asap_why = why;
    p->reseed_asap = true;
    if (why != POOL_EV_GAP)
        p->asap_strong = true;
}

enum pool_need pool_block_need(const struct pool *p, uint64_t now_ms)
{
    const struct drbg *d = &p->sec->drbg;
    if (pool_stock(p, PBD_MODE_CONDITIONED) >= COND_BLOCK_BYTES)
        return POOL_NEED_NONE;
    if (drbg_reseed_due(d) || (p->reseed_asap && p->asap_strong))
        return POOL_NEED_NOW; /* drbg_reseed_due: unseeded, or the limit */
    if (interval_up(p, now_ms) && d->requests_since_reseed > 0)
        return POOL_NEED_NOW;
    return p->reseed_asap ? POOL_NEED_SPARE : POOL_NEED_NONE;
}

bool pool_below_reserve(const struct pool *p)
{
    /* A ring too small for the reserve is full before it: the sampler
     * sleeps then, and so does the demand. */
    return pool_stock(p, PBD_MODE_CONDITIONED) < POOL_RESERVE_BYTES &&
           !ring_above_high(p->ring);
}

int pool_drbg(struct pool *p, uint8_t *dst, size_t n)
{
    if (p->guard)
        p->guard(p->guard_arg);
    if (!pool_seeded(p))
        return PBD_ENOTSEEDED;
    if (p->os_mix == POOL_MIX_REQUEST)
        os_mix(p);
    if (drbg_generate(&p->sec->drbg, dst, n) != 0)
        return PBD_ENOTSEEDED;
    p->served[PBD_MODE_DRBG] += n;
    return 0;
}

bool pool_maintain(struct pool *p, uint64_t now_ms, bool healthy)
{
    if (!healthy)
        return false;
    if (!reseed_due(p, now_ms) ||
        pool_stock(p, PBD_MODE_CONDITIONED) < COND_BLOCK_BYTES)
        return false;
    return reseed(p, now_ms);
}

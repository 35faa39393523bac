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
 * Duplicated state (issue 25): a VM restored twice from one snapshot, or a
 * clone, starts each copy with the same DRBG key. pool_event() is told of
 * every sign of that (vmwatch.c finds them) and at once mixes 32 fresh
 * bytes from the OS (randombytes_buf: getrandom(2) / getentropy(2), which
 * the kernel reseeds on a VM fork) into the key, so the very next drbg byte
 * differs between copies and no client waits; it also makes a reseed from
 * the source due, done as soon as a conditioned block is in stock. With
 * POOL_MIX_REQUEST (the default) fresh OS bytes also go into the key before
 * every drbg reply chunk, and with either setting at every reseed. raw and
 * conditioned output never contain OS bytes.
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

/* Events that may have duplicated the DRBG's state, or asked for a reseed. */
enum pool_event {
    POOL_EV_VMGENID, /* the VM generation ID changed (Linux uevent) */
    POOL_EV_CLOCK,   /* time passed that CLOCK_MONOTONIC did not see: suspend */
    POOL_EV_GAP,     /* the sampler saw its counter leap over a second */
    POOL_EV_POWER,   /* the OS announced a sleep or wake (macOS) */
    POOL_EV_SIGNAL,  /* SIGHUP */
    POOL_EV_REQUEST, /* the reseed command */
    POOL_EV_COUNT,
};

/* When fresh OS bytes go into the DRBG key besides the events and reseeds. */
enum pool_os_mix {
    POOL_MIX_EVENTS = 0,  /* only then */
    POOL_MIX_REQUEST = 1, /* also before every drbg reply chunk */
};

#define POOL_GAP_RESEED_MS 10000u

/* Conditioned stock the sampler keeps ready under the demand policy: two
 * 32-byte seeds (an OpenSSL seed and a DRBG reseed, say), so the first
 * client after a quiet spell is answered from stock, not from events. */
#define POOL_RESERVE_BYTES (2u * COND_BLOCK_BYTES)

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
    int os_mix;              /* enum pool_os_mix */
    bool reseed_asap;        /* an event made a source reseed due */
    bool asap_strong;        /* ... and one of them was not a gap */
    int asap_why;            /* the first such event since the last reseed */
    int last_why;            /* why the last reseed: pool_event, or -1 */
    uint64_t events[POOL_EV_COUNT];  /* events seen, by kind */
    uint64_t event_reseeds[POOL_EV_COUNT]; /* source reseeds they caused */
    uint64_t os_mixes;       /* times fresh OS bytes went into the key */
    /* Called by pool_drbg() before any output, to look for events first
     * (vmwatch.c sets it); may call pool_event(). NULL: none. */
    void (*guard)(void *arg);
    void *guard_arg;
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

/* Fills dst with n DRBG bytes: runs the guard, mixes fresh OS bytes into
 * the key under POOL_MIX_REQUEST, then generates. Returns 0, or
 * PBD_ENOTSEEDED when the DRBG has never been seeded. */
int pool_drbg(struct pool *p, uint8_t *dst, size_t n);

/* Seeds or reseeds the DRBG when due and a block is in stock; healthy says
 * whether the source may be drawn on. Returns true when it (re)seeded. */
bool pool_maintain(struct pool *p, uint64_t now_ms, bool healthy);

bool pool_seeded(const struct pool *p);

/* Records an event (enum pool_event) at now_ms: mixes 32 fresh OS bytes
 * into the DRBG key now and makes a reseed from the source due
 * (pool_maintain does it as soon as a block is in stock and the source is
 * healthy). A gap within POOL_GAP_RESEED_MS of the last reseed makes none
 * due: a host that starves the sampler shows gaps every few seconds, and
 * each reseed costs a conditioned block. Cheap: one getrandom(2) and one
 * SHA-256. */
void pool_event(struct pool *p, int why, uint64_t now_ms);

/* The name of an event for stats and the log ("vmgenid", "clock", ...). */
const char *pool_event_name(int why);

/* How much the DRBG needs a conditioned block it does not have in stock
 * (less than a block made), for the sampler's demand (sampler_demand):
 *   POOL_NEED_NOW    never seeded; the output limit reached; an event other
 *                    than a gap made a reseed due; or the interval is up
 *                    and the DRBG served something since its last reseed;
 *   POOL_NEED_SPARE  only a gap made the reseed due: weak evidence (a
 *                    starved sampler makes gaps), and the fresh OS bytes
 *                    are already in the key, so it waits for spare CPU;
 *   POOL_NEED_NONE   nothing due, stock in hand, or only the interval is
 *                    up on a DRBG nobody used since (reseeding it would
 *                    cost the host for no one; the first request after
 *                    makes it NOW).
 * pool_maintain reseeds whenever a reseed is due and a block is in stock,
 * whatever this says. */
enum pool_need { POOL_NEED_NONE, POOL_NEED_SPARE, POOL_NEED_NOW };
enum pool_need pool_block_need(const struct pool *p, uint64_t now_ms);
/* Whether the conditioned stock is under POOL_RESERVE_BYTES. */
bool pool_below_reserve(const struct pool *p);

#endif

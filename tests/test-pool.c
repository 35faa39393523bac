/* test-pool.c - stock, conditioning, the spare block, fail-closed gating and
 * DRBG seeding, on a ring filled by the test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "health.h"
#include "pbd.h"
#include "pool.h"

struct fx {
    struct ring ring;
    uint8_t buf[4096];
    struct pool pool;
    uint8_t next;
};

static int setup(void **state)
{
    static struct fx f;
    memset(&f, 0, sizeof(f));
    if (ring_init(&f.ring, f.buf, sizeof(f.buf), 3072, 4096) != 0)
        return -1;
    if (pool_init(&f.pool, &f.ring, 2.0, 60000) != 0)
        return -1;
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    pool_free(&f->pool);
    return 0;
}

static void fill(struct fx *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        assert_true(ring_put(&f->ring, f->next++));
}

static void test_init_bounds(void **state)
{
    (void)state;
    struct ring r;
    uint8_t b[16];
    struct pool p;
    ring_init(&r, b, 16, 8, 16);
    assert_int_equal(pool_init(&p, &r, 0.05, 1000), -1);
    assert_int_equal(pool_init(&p, &r, 8.5, 1000), -1);
    assert_int_equal(pool_init(&p, &r, 8.0, 1000), 0);
    assert_int_equal(p.block_in, 40);
    pool_free(&p);
}

static void test_conditioned_is_sha256_of_raw(void **state)
{
    struct fx *f = *state;
    assert_int_equal(f->pool.block_in, 160); /* ceil(320 / 2) */
    fill(f, 320);
    uint8_t raw[320];
    for (int i = 0; i < 320; i++)
        raw[i] = (uint8_t)i;
    assert_int_equal(pool_gate(&f->pool, HEALTH_OK, 0), 0);
    assert_int_equal(pool_stock(&f->pool, PBD_MODE_RAW), 320);
    assert_int_equal(pool_stock(&f->pool, PBD_MODE_CONDITIONED), 64);
    uint8_t out[64], want[64];
    crypto_hash_sha256(want, raw, 160);
    crypto_hash_sha256(want + 32, raw + 160, 160);
    assert_int_equal(pool_take(&f->pool, PBD_MODE_CONDITIONED, out, 64), 64);
    assert_memory_equal(out, want, 64);
    assert_int_equal(pool_stock(&f->pool, PBD_MODE_CONDITIONED), 0);
    assert_int_equal(f->pool.served[PBD_MODE_CONDITIONED], 64);
}

/* A 10-byte read uses a block; its other 22 bytes serve the next read, and
 * no byte of the block is ever handed out twice. */
static void test_spare_served_once(void **state)
{
    struct fx *f = *state;
    fill(f, 160);
    uint8_t raw[160], block[32];
    for (int i = 0; i < 160; i++)
        raw[i] = (uint8_t)i;
    crypto_hash_sha256(block, raw, 160);
    pool_gate(&f->pool, HEALTH_OK, 0);
    uint8_t a[10], b[22], c[1];
    assert_int_equal(pool_take(&f->pool, PBD_MODE_CONDITIONED, a, 10), 10);
    assert_int_equal(pool_stock(&f->pool, PBD_MODE_CONDITIONED), 22);
    assert_int_equal(pool_take(&f->pool, PBD_MODE_CONDITIONED, b, 22), 22);
    assert_int_equal(pool_take(&f->pool, PBD_MODE_CONDITIONED, c, 1), 0);
    /* a came from the block's tail, b is the rest: together, the block. */
    assert_memory_equal(a, block + 22, 10);
    assert_memory_equal(b, block, 22);
    uint8_t zero[32] = {0};
    assert_memory_equal(f->pool.sec->spare, zero, 32);
}

static void test_raw_take(void **state)
{
    struct fx *f = *state;
    fill(f, 100);
    pool_gate(&f->pool, HEALTH_OK, 0);
    uint8_t out[100];
    assert_int_equal(pool_take(&f->pool, PBD_MODE_RAW, out, 100), 100);
    for (int i = 0; i < 100; i++)
        assert_int_equal(out[i], i);
    assert_int_equal(pool_take(&f->pool, PBD_MODE_RAW, out, 1), 0);
}

/* The demand policy's reserve: two blocks' worth, or a full ring when the
 * ring is too small for two. */
static void test_reserve(void **state)
{
    struct fx *f = *state;
    size_t in = f->pool.block_in;
    assert_true(pool_below_reserve(&f->pool));
    fill(f, 2 * in - 1);
    assert_true(pool_below_reserve(&f->pool));
    fill(f, 1);
    assert_false(pool_below_reserve(&f->pool));
    pool_gate(&f->pool, HEALTH_OK, 0);
    uint8_t out[COND_BLOCK_BYTES];
    assert_int_equal(pool_take(&f->pool, PBD_MODE_RAW, out, 1), 1);
    assert_true(pool_below_reserve(&f->pool));

    struct ring r;
    uint8_t b[256];
    struct pool p;
    ring_init(&r, b, sizeof(b), 128, 192); /* high: under two blocks */
    assert_int_equal(pool_init(&p, &r, 2.0, 60000), 0);
    assert_int_equal(p.block_in, 160);
    for (unsigned i = 0; i < 200; i++)
        assert_true(ring_put(&r, (uint8_t)i));
    assert_false(pool_below_reserve(&p)); /* above the high mark */
    pool_free(&p);
}

static void test_gate_fails_closed(void **state)
{
    struct fx *f = *state;
    fill(f, 400);
    assert_int_equal(pool_gate(&f->pool, HEALTH_STARTUP, 0), PBD_EAGAIN);
    assert_int_equal(pool_gate(&f->pool, HEALTH_OK, 0), 0);
    uint8_t out[16];
    assert_int_equal(pool_take(&f->pool, PBD_MODE_CONDITIONED, out, 16), 16);
    /* A failure (new epoch) wipes the ring and the spare... */
    assert_int_equal(pool_gate(&f->pool, HEALTH_RETEST, 1), PBD_EHEALTH);
    assert_int_equal(ring_level(&f->ring), 0);
    assert_int_equal(f->pool.spare_len, 0);
    assert_int_equal(f->pool.flushed, 400 - 160 + 16);
    assert_int_equal(pool_gate(&f->pool, HEALTH_PERMANENT, 1), PBD_EHEALTH);
    /* ...and bytes pushed after the re-test passes are served. */
    fill(f, 160);
    assert_int_equal(pool_gate(&f->pool, HEALTH_OK, 1), 0);
    assert_int_equal(pool_stock(&f->pool, PBD_MODE_CONDITIONED), 32);
}

static void test_drbg_seeding(void **state)
{
    struct fx *f = *state;
    uint8_t out[64], out2[64];
    assert_false(pool_seeded(&f->pool));
    assert_int_equal(pool_drbg(&f->pool, out, sizeof(out)), PBD_ENOTSEEDED);
    /* Not enough for a block: no seeding. */
    fill(f, 159);
    assert_false(pool_maintain(&f->pool, 1000, true));
    fill(f, 1);
    /* Unhealthy: no seeding either. */
    assert_false(pool_maintain(&f->pool, 1000, false));
    assert_true(pool_maintain(&f->pool, 1000, true));
    assert_true(pool_seeded(&f->pool));
    assert_int_equal(ring_level(&f->ring), 0);
    assert_int_equal(pool_drbg(&f->pool, out, sizeof(out)), 0);
    assert_int_equal(pool_drbg(&f->pool, out2, sizeof(out2)), 0);
    assert_memory_not_equal(out, out2, sizeof(out));
    assert_int_equal(f->pool.served[PBD_MODE_DRBG], 128);
    /* Reseed only when due (60 s) and in stock. */
    fill(f, 160);
    assert_false(pool_maintain(&f->pool, 30000, true));
    assert_true(pool_maintain(&f->pool, 61000, true));
    assert_int_equal(f->pool.sec->drbg.reseeds, 2);
}

/* Seeds the DRBG from a block at now_ms; events mode unless asked. */
static void seed(struct fx *f, uint64_t now_ms)
{
    fill(f, 160);
    assert_true(pool_maintain(&f->pool, now_ms, true));
}

/* Issue 25: a restored copy of the generator, told of the event, serves
 * none of the bytes the original served after the same point. */
static void test_event_changes_output_at_once(void **state)
{
    struct fx *f = *state;
    f->pool.os_mix = POOL_MIX_EVENTS;
    seed(f, 1000);
    struct drbg snap = f->pool.sec->drbg;
    uint8_t a[64], b[64], c[64];
    assert_int_equal(pool_drbg(&f->pool, a, sizeof(a)), 0);
    f->pool.sec->drbg = snap; /* the VM restore */
    assert_int_equal(pool_drbg(&f->pool, b, sizeof(b)), 0);
    assert_memory_equal(a, b, sizeof(a)); /* nothing told: it repeats */
    f->pool.sec->drbg = snap;
    pool_event(&f->pool, POOL_EV_VMGENID, 2000);
    assert_int_equal(pool_drbg(&f->pool, c, sizeof(c)), 0);
    for (size_t i = 0; i < sizeof(a); i += 32)
        assert_memory_not_equal(a + i, c + i, 32);
    assert_int_equal(f->pool.events[POOL_EV_VMGENID], 1);
    assert_int_equal(f->pool.os_mixes, 2); /* the first seed's, the event's */
    /* The reseed from the source is due at once, not in 60 s. */
    assert_true(f->pool.reseed_asap);
    assert_false(pool_maintain(&f->pool, 2000, true)); /* no block yet */
    fill(f, 160);
    assert_false(pool_maintain(&f->pool, 2000, false)); /* unhealthy */
    assert_true(pool_maintain(&f->pool, 2000, true));
    assert_false(f->pool.reseed_asap);
    assert_int_equal(f->pool.event_reseeds[POOL_EV_VMGENID], 1);
    assert_int_equal(f->pool.last_why, POOL_EV_VMGENID);
    assert_string_equal(pool_event_name(f->pool.last_why), "vmgenid");
    sodium_memzero(&snap, sizeof(snap));
}

/* The default mixes fresh OS bytes before every reply: a restore that
 * nothing announces still repeats nothing. */
static void test_request_mix_without_event(void **state)
{
    struct fx *f = *state;
    assert_int_equal(f->pool.os_mix, POOL_MIX_REQUEST);
    seed(f, 1000);
    struct drbg snap = f->pool.sec->drbg;
    uint8_t a[32], b[32];
    assert_int_equal(pool_drbg(&f->pool, a, sizeof(a)), 0);
    f->pool.sec->drbg = snap;
    assert_int_equal(pool_drbg(&f->pool, b, sizeof(b)), 0);
    assert_memory_not_equal(a, b, sizeof(a));
    assert_int_equal(f->pool.os_mixes, 3);
    sodium_memzero(&snap, sizeof(snap));
}

/* Gaps come every few seconds on a starved host: each mixes OS bytes, but
 * a reseed from the source is due only 10 s after the last one. */
static void test_gap_reseed_spacing(void **state)
{
    struct fx *f = *state;
    seed(f, 1000);
    pool_event(&f->pool, POOL_EV_GAP, 1000 + POOL_GAP_RESEED_MS - 1);
    assert_false(f->pool.reseed_asap);
    assert_int_equal(f->pool.events[POOL_EV_GAP], 1);
    pool_event(&f->pool, POOL_EV_GAP, 1000 + POOL_GAP_RESEED_MS);
    assert_true(f->pool.reseed_asap);
    /* Other kinds always make it due; the first kind is the one counted. */
    pool_event(&f->pool, POOL_EV_SIGNAL, 1000 + POOL_GAP_RESEED_MS);
    fill(f, 160);
    assert_true(pool_maintain(&f->pool, 1000 + POOL_GAP_RESEED_MS, true));
    assert_int_equal(f->pool.event_reseeds[POOL_EV_GAP], 1);
    assert_int_equal(f->pool.event_reseeds[POOL_EV_SIGNAL], 0);
    assert_int_equal(f->pool.events[POOL_EV_SIGNAL], 1);
    /* Out of range: ignored. */
    pool_event(&f->pool, POOL_EV_COUNT, 0);
    pool_event(&f->pool, -1, 0);
    assert_false(f->pool.reseed_asap);
}

/* Issue 21: how much the DRBG's missing block is worth to the sampler's
 * demand. A seed, a strong event and a used DRBG's interval are NOW; a
 * reseed only a gap made due waits for spare CPU; an interval nobody used
 * the DRBG in costs nothing; a block in stock answers all of them. */
static void test_block_need(void **state)
{
    struct fx *f = *state;
    uint8_t out[32];
    assert_int_equal(pool_block_need(&f->pool, 0), POOL_NEED_NOW); /* seed */
    fill(f, 160);
    assert_int_equal(pool_block_need(&f->pool, 0), POOL_NEED_NONE);
    assert_true(pool_maintain(&f->pool, 1000, true));
    assert_int_equal(pool_block_need(&f->pool, 2000), POOL_NEED_NONE);
    /* The interval up, nothing served since the seed: no demand. */
    assert_int_equal(pool_block_need(&f->pool, 1000 + 60000), POOL_NEED_NONE);
    assert_int_equal(pool_drbg(&f->pool, out, sizeof(out)), 0);
    assert_int_equal(pool_block_need(&f->pool, 1000 + 59999), POOL_NEED_NONE);
    assert_int_equal(pool_block_need(&f->pool, 1000 + 60000), POOL_NEED_NOW);
    /* A gap (10 s after the reseed): spare; a signal on top of it: now. */
    pool_event(&f->pool, POOL_EV_GAP, 1000 + POOL_GAP_RESEED_MS);
    assert_true(f->pool.reseed_asap);
    assert_int_equal(pool_block_need(&f->pool, 1000 + POOL_GAP_RESEED_MS),
                     POOL_NEED_SPARE);
    pool_event(&f->pool, POOL_EV_SIGNAL, 1000 + POOL_GAP_RESEED_MS);
    assert_int_equal(pool_block_need(&f->pool, 1000 + POOL_GAP_RESEED_MS),
                     POOL_NEED_NOW);
    /* The reseed clears both; the next gap alone is spare again. */
    fill(f, 160);
    assert_int_equal(pool_block_need(&f->pool, 20000), POOL_NEED_NONE);
    assert_true(pool_maintain(&f->pool, 20000, true));
    assert_false(f->pool.asap_strong);
    pool_event(&f->pool, POOL_EV_GAP, 20000 + POOL_GAP_RESEED_MS);
    assert_int_equal(pool_block_need(&f->pool, 20000 + POOL_GAP_RESEED_MS),
                     POOL_NEED_SPARE);
    /* The output limit is NOW whatever else. */
    f->pool.sec->drbg.requests_since_reseed = DRBG_RESEED_REQUESTS;
    assert_int_equal(pool_block_need(&f->pool, 20000 + POOL_GAP_RESEED_MS),
                     POOL_NEED_NOW);
}

/* The guard runs before any output, and may record an event first. */
static void guard_cb(void *arg)
{
    struct fx *f = arg;
    pool_event(&f->pool, POOL_EV_CLOCK, 5000);
}

static void test_guard_before_output(void **state)
{
    struct fx *f = *state;
    f->pool.os_mix = POOL_MIX_EVENTS;
    seed(f, 1000);
    struct drbg snap = f->pool.sec->drbg;
    uint8_t a[32], b[32];
    assert_int_equal(pool_drbg(&f->pool, a, sizeof(a)), 0);
    f->pool.sec->drbg = snap;
    f->pool.guard = guard_cb;
    f->pool.guard_arg = f;
    assert_int_equal(pool_drbg(&f->pool, b, sizeof(b)), 0);
    assert_memory_not_equal(a, b, sizeof(a));
    assert_int_equal(f->pool.events[POOL_EV_CLOCK], 1);
    sodium_memzero(&snap, sizeof(snap));
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_bounds),
        cmocka_unit_test_setup_teardown(test_conditioned_is_sha256_of_raw, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spare_served_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_raw_take, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reserve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gate_fails_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drbg_seeding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_event_changes_output_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_mix_without_event, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gap_reseed_spacing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_guard_before_output, setup, teardown),
        cmocka_unit_test_setup_teardown(test_block_need, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

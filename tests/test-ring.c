/* test-ring.c - SPSC ring: wrap-around, watermarks, full/empty, wiping, and
 * a two-thread producer/consumer run (also built under ThreadSanitizer). */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "ring.h"

static void test_init_rejects(void **state)
{
    (void)state;
    struct ring r;
    uint8_t buf[64];
    assert_int_equal(ring_init(&r, buf, 48, 8, 48), -1);  /* not a power of two */
    assert_int_equal(ring_init(&r, buf, 1, 1, 1), -1);
    assert_int_equal(ring_init(&r, buf, 64, 0, 64), -1);  /* low 0 */
    assert_int_equal(ring_init(&r, buf, 64, 40, 32), -1); /* low > high */
    assert_int_equal(ring_init(&r, buf, 64, 8, 65), -1);  /* high > cap */
    assert_int_equal(ring_init(&r, NULL, 64, 8, 64), -1);
    assert_int_equal(ring_init(&r, buf, 64, 48, 64), 0);
}

static void test_full_empty(void **state)
{
    (void)state;
    struct ring r;
    uint8_t buf[16], out[16];
    assert_int_equal(ring_init(&r, buf, 16, 12, 16), 0);
    assert_int_equal(ring_level(&r), 0);
    assert_int_equal(ring_take(&r, out, 4), 0); /* empty */
    for (int i = 0; i < 16; i++)
        assert_true(ring_put(&r, (uint8_t)i));
    assert_false(ring_put(&r, 99)); /* full: dropped */
    assert_int_equal(ring_level(&r), 16);
    assert_int_equal(ring_take(&r, out, 16), 16);
    for (int i = 0; i < 16; i++)
        assert_int_equal(out[i], i);
    assert_int_equal(ring_level(&r), 0);
}

static void test_wraparound_and_wipe(void **state)
{
    (void)state;
    struct ring r;
    uint8_t buf[8] = {0}, out[8];
    assert_int_equal(ring_init(&r, buf, 8, 6, 8), 0);
    uint8_t next_in = 1, next_out = 1;
    /* Many laps with uneven chunk sizes so spans straddle the end. */
    for (int lap = 0; lap < 1000; lap++) {
        int k = 1 + lap % 7;
        for (int i = 0; i < k; i++)
            assert_true(ring_put(&r, next_in++ | 1));
        size_t got = ring_take(&r, out, (size_t)(1 + (lap * 3) % 8));
        for (size_t i = 0; i < got; i++)
            assert_int_equal(out[i], next_out++ | 1);
        /* Drain the rest so the next lap has room. */
        got = ring_take(&r, out, 8);
        for (size_t i = 0; i < got; i++)
            assert_int_equal(out[i], next_out++ | 1);
        /* Every byte taken was wiped in the buffer (inputs are odd). */
        for (int i = 0; i < 8; i++)
            assert_int_equal(buf[i], 0);
    }
}

static void test_watermarks(void **state)
{
    (void)state;
    struct ring r;
    uint8_t buf[32], out[32];
    assert_int_equal(ring_init(&r, buf, 32, 24, 30), 0);
    for (int i = 0; i < 29; i++)
        ring_put(&r, 7);
    assert_false(ring_above_high(&r));
    ring_put(&r, 7);
    assert_true(ring_above_high(&r)); /* 30 >= high */
    assert_false(ring_below_low(&r));
    ring_take(&r, out, 6); /* 24: not below low */
    assert_false(ring_below_low(&r));
    ring_take(&r, out, 1); /* 23 */
    assert_true(ring_below_low(&r));
    assert_int_equal(ring_flush(&r), 23);
    assert_int_equal(ring_level(&r), 0);
    for (int i = 0; i < 32; i++)
        assert_int_equal(buf[i], 0);
}

#define N_BYTES 2000000u

struct spsc {
    struct ring r;
    uint8_t buf[1024];
};

static void *producer(void *arg)
{
    struct spsc *s = arg;
    for (uint32_t i = 0; i < N_BYTES;) {
        /* Values are a function of position, never 0 (0 = wiped). */
        if (ring_put(&s->r, (uint8_t)(i % 251 + 1)))
            i++;
        else
            sched_yield(); /* full: sharing a CPU, let the consumer run */
    }
    return NULL;
}

static void test_two_threads(void **state)
{
    (void)state;
    static struct spsc s;
    assert_int_equal(ring_init(&s.r, s.buf, sizeof(s.buf), 768, 1024), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, producer, &s), 0);
    uint8_t out[97];
    uint32_t seen = 0;
    while (seen < N_BYTES) {
        size_t got = ring_take(&s.r, out, sizeof(out));
        if (got == 0)
            sched_yield(); /* empty: let the producer run */
        for (size_t i = 0; i < got; i++, seen++)
            assert_int_equal(out[i], seen % 251 + 1);
    }
    pthread_join(t, NULL);
    assert_int_equal(ring_level(&s.r), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_rejects),
        cmocka_unit_test(test_full_empty),
        cmocka_unit_test(test_wraparound_and_wipe),
        cmocka_unit_test(test_watermarks),
        cmocka_unit_test(test_two_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test-counter.c - the counter backend chosen at build time (rdtsc,
 * cntvct_el0 or clock_gettime): monotonic, a plausible frequency that agrees
 * with CLOCK_MONOTONIC, small read-to-read deltas, and the event threshold's
 * known answers. Runs natively and, via .ci/steps/10-aarch64.sh, under
 * qemu-aarch64 so the ARM64 register reads really execute. */
#ifdef __linux__
#include <sched.h>
#endif
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "counter.h"

#define READS 200000u

/* Where the counter's frequency may plausibly lie for this backend. */
#if defined(COUNTER_CLOCK)
#define FREQ_MIN 1000000000u
#define FREQ_MAX 1000000000u
#elif defined(__aarch64__)
#define FREQ_MIN 1000000u /* the architecture allows any; real parts: 1 MHz+ */
#define FREQ_MAX 10000000000u
#else
#define FREQ_MIN 100000000u
#define FREQ_MAX 10000000000u
#endif

/* Keeps the test on one CPU, as the sampler is, so a TSC that differs
 * between sockets cannot make an honest counter look non-monotonic. */
static void pin_here(void)
{
#ifdef __linux__
    int cpu = sched_getcpu();
    if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        sched_setaffinity(0, sizeof(set), &set);
    }
#endif
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static void test_name(void **state)
{
    (void)state;
    /* Proves which branch of counter.h this binary was built with. */
#if defined(COUNTER_CLOCK)
    assert_string_equal(COUNTER_NAME, "clock_gettime");
#elif defined(__aarch64__)
    assert_string_equal(COUNTER_NAME, "cntvct_el0");
#elif defined(__x86_64__)
    assert_string_equal(COUNTER_NAME, "rdtsc");
#endif
    print_message("counter backend: %s\n", COUNTER_NAME);
}

static void test_monotonic(void **state)
{
    (void)state;
    pin_here();
    uint64_t first = counter_read(), prev = first;
    unsigned backwards = 0;
    for (unsigned i = 0; i < READS; i++) {
        uint64_t cur = counter_read();
        if (cur < prev)
            backwards++;
        prev = cur;
    }
    assert_int_equal(backwards, 0);
    assert_true(prev > first); /* it moves at all */
}

static void test_frequency_plausible(void **state)
{
    (void)state;
    uint64_t f = counter_frequency();
    print_message("counter frequency: %llu Hz\n", (unsigned long long)f);
    assert_true(f >= FREQ_MIN);
    assert_true(f <= FREQ_MAX);
    assert_true(counter_frequency() == f); /* cached, not recalibrated */
}

/* The counter's interval lies inside the CLOCK_MONOTONIC bracket, so a
 * preemption can only lower ticks/(ns x freq); the best of five tries is
 * close to 1 unless the reported frequency is wrong (as it would be if an
 * emulator's CNTVCT_EL0 ran at a rate other than its CNTFRQ_EL0). This is a
 * units check with a factor-of-two margin, not a timing assertion. */
static void test_frequency_agrees_with_clock(void **state)
{
    (void)state;
    pin_here();
    double f = (double)counter_frequency(), best = 0;
    for (int i = 0; i < 5; i++) {
        uint64_t n0 = mono_ns(), c0 = counter_read(), c1, n1;
        struct timespec ts = {0, 20000000}; /* 20 ms */
        nanosleep(&ts, NULL);
        c1 = counter_read();
        n1 = mono_ns();
        double r = (double)(c1 - c0) / ((double)(n1 - n0) * f / 1e9);
        if (r > best)
            best = r;
    }
    print_message("counter ticks / (elapsed x frequency): %.4f\n", best);
    assert_true(best > 0.5);
    assert_true(best < 1.5);
}

/* Ordinary back-to-back reads are close together; the sampler's scheme only
 * works if events (deltas at or above the threshold) are the exception. */
static void test_deltas_small(void **state)
{
    (void)state;
    pin_here();
    uint64_t *d = malloc(READS * sizeof(*d));
    assert_non_null(d);
    uint64_t prev = counter_read();
    for (unsigned i = 0; i < READS; i++) {
        uint64_t cur = counter_read();
        d[i] = cur - prev;
        prev = cur;
    }
    qsort(d, READS, sizeof(*d), cmp_u64);
    uint64_t f = counter_frequency();
    uint64_t median = d[READS / 2], p90 = d[READS / 10 * 9];
    uint64_t thr = counter_threshold_for(median, f);
    unsigned over = 0;
    uint64_t step = 0; /* smallest non-zero delta: the counter's granularity */
    for (unsigned i = 0; i < READS; i++) {
        over += d[i] >= thr;
        if (!step && d[i])
            step = d[i];
    }
    print_message("deltas: median %llu, p90 %llu, smallest non-zero %llu "
                  "ticks; threshold %llu; %u of %u at or over it\n",
                  (unsigned long long)median, (unsigned long long)p90,
                  (unsigned long long)step, (unsigned long long)thr, over,
                  READS);
    assert_true(p90 < f / 10000u); /* 90% of reads 100 us apart or less */
    assert_true(over < READS / 10);
    free(d);
}

/* max(2 ticks, 16 x median, 1 us worth of ticks). */
static void test_threshold_known_answers(void **state)
{
    (void)state;
    assert_true(counter_threshold_for(0, 0) == 2);
    assert_true(counter_threshold_for(0, 1000000) == 2);     /* 1 us = 1 tick */
    assert_true(counter_threshold_for(1, 0) == 16);
    assert_true(counter_threshold_for(0, 1000000000) == 1000);
    assert_true(counter_threshold_for(0, 62500000) == 62);   /* qemu's 62.5 MHz */
    assert_true(counter_threshold_for(0, 24000000) == 24);   /* Apple M1 */
    assert_true(counter_threshold_for(10, 3000000000u) == 3000); /* 1 us wins */
    assert_true(counter_threshold_for(500, 3000000000u) == 8000); /* 16x wins */
    assert_true(counter_threshold_for(187, 3000000000u) == 3000);
    assert_true(counter_threshold_for(188, 3000000000u) == 3008);
    assert_true(counter_threshold_for(UINT64_MAX / 16, 0) ==
                UINT64_MAX / 16 * 16); /* largest median without overflow */
}

/* The grain: a divisor of the step that (almost) every delta shares. */
static void test_grain_known_answers(void **state)
{
    enum { N = 10000 };
    static uint64_t d[N];

    (void)state;
    /* a VM's scaled TSC: every delta a multiple of 21, the smallest 21 */
    for (unsigned i = 0; i < N; i++)
        d[i] = 21u * (1 + i % 97);
    assert_true(counter_grain(d, N, 21) == 21);
    /* reads cost 32 ticks but the counter moves by 2: one odd delta in
     * 10000 (0.01%) does not hide the grain; 0.2% does */
    for (unsigned i = 0; i < N; i++)
        d[i] = 32u + 2u * (i % 13);
    d[17] = 33;
    assert_true(counter_grain(d, N, 32) == 2);
    for (unsigned i = 0; i < 20; i++)
        d[i * 100] = 35;
    assert_true(counter_grain(d, N, 32) == 1);
    /* zeros (the counter did not move) are not evidence */
    for (unsigned i = 0; i < N; i++)
        d[i] = i % 2 ? 0 : 24u * (1 + i % 5);
    assert_true(counter_grain(d, N, 24) == 24);
    /* no grain, or nothing to go on */
    for (unsigned i = 0; i < N; i++)
        d[i] = 36u + i % 7;
    assert_true(counter_grain(d, N, 36) == 1);
    assert_true(counter_grain(d, N, 1) == 1);
    assert_true(counter_grain(d, N, 0) == 1);
    assert_true(counter_grain(d, 0, 21) == 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name),
        cmocka_unit_test(test_monotonic),
        cmocka_unit_test(test_frequency_plausible),
        cmocka_unit_test(test_frequency_agrees_with_clock),
        cmocka_unit_test(test_deltas_small),
        cmocka_unit_test(test_threshold_known_answers),
        cmocka_unit_test(test_grain_known_answers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

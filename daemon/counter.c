/* counter.c - counter frequency: architectural register or calibration. */
#include "counter.h"

#ifndef CLOCK_MONOTONIC_RAW
#define CLOCK_MONOTONIC_RAW CLOCK_MONOTONIC
#endif

#if !defined(COUNTER_CLOCK) && defined(__x86_64__)
static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One reading of both clocks: the counter read just before and just after
 * the clock, the narrowest bracket of a few tries, so a preemption between
 * the two reads (milliseconds on a busy host) does not pass for time. */
static void both_clocks(uint64_t *ns, uint64_t *ticks)
{
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 8; i++) {
        uint64_t c0 = counter_read(), n = mono_ns(), c1 = counter_read();
        if (c1 - c0 < best) {
            best = c1 - c0;
            *ns = n;
            *ticks = c0 + (c1 - c0) / 2;
        }
    }
}

/* Counts TSC ticks across ~window_ns of CLOCK_MONOTONIC_RAW; each end is
 * bracketed (both_clocks), and of several rounds the median is taken. */
static uint64_t calibrate(int rounds, uint64_t window_ns)
{
    uint64_t hz[5];
    if (rounds > 5)
        rounds = 5;
    for (int i = 0; i < rounds; i++) {
        uint64_t n0, c0, n1, c1;
        both_clocks(&n0, &c0);
        do {
            n1 = mono_ns();
        } while (n1 - n0 < window_ns);
        both_clocks(&n1, &c1);
        uint64_t v = (uint64_t)((double)(c1 - c0) * 1e9 / (double)(n1 - n0));
        int j = i;
        for (; j > 0 && hz[j - 1] > v; j--)
            hz[j] = hz[j - 1];
        hz[j] = v;
    }
    return hz[rounds / 2];
}
#endif

static uint64_t cached;

void counter_set_frequency(uint64_t hz)
{
    cached = hz;
}

uint64_t counter_frequency_quick(void)
{
#if !defined(COUNTER_CLOCK) && defined(__x86_64__)
    return calibrate(1, 10000000u);
#else
    return counter_frequency();
#endif
}

uint64_t counter_frequency(void)
{
    if (cached)
        return cached;
#if defined(COUNTER_CLOCK)
    cached = 1000000000u;
#elif defined(__aarch64__)
    uint64_t f;
    __asm__ __volatile__("mrs %0, cntfrq_el0" : "=r"(f));
    cached = f ? f : 1;
#else
    cached = calibrate(3, 50000000u);
#endif
    return cached;
}

uint64_t counter_threshold_for(uint64_t median, uint64_t freq)
{
    uint64_t t = 2;
    if (median <= UINT64_MAX / 16 && 16 * median > t)
        t = 16 * median;
    if (freq / 1000000u > t)
        t = freq / 1000000u;
    return t;
}

uint64_t counter_grain(const uint64_t *d, size_t n, uint64_t step)
{
    size_t nonzero = 0;

    for (size_t i = 0; i < n; i++)
        nonzero += d[i] != 0;
    if (step < 2 || nonzero == 0)
        return 1;
    for (uint64_t g = step; g >= 2; g--) {
        size_t miss = 0;

        if (step % g != 0)
            continue;
        for (size_t i = 0; i < n && miss * 1000 <= nonzero; i++)
            miss += d[i] != 0 && d[i] % g != 0;
        if (miss * 1000 <= nonzero)
            return g;
    }
    return 1;
}

/*
 * counter.h - one inline read of a free-running hardware counter per
 * architecture, chosen at build time (meson option `counter`).
 *
 *   aarch64: CNTVCT_EL0 behind ISB, so the read is not speculated early;
 *            frequency from CNTFRQ_EL0.
 *   x86-64:  RDTSC behind LFENCE (LFENCE waits for earlier instructions, so
 *            the read is ordered after them); frequency calibrated against
 *            CLOCK_MONOTONIC_RAW.
 *   other, or -Dcounter=clock: clock_gettime(CLOCK_MONOTONIC_RAW) in ns.
 */
#ifndef PBD_COUNTER_H
#define PBD_COUNTER_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#if defined(PBD_COUNTER_CLOCK) || !(defined(__aarch64__) || defined(__x86_64__))
#define COUNTER_NAME "clock_gettime"
#define COUNTER_CLOCK 1
static inline uint64_t counter_read(void)
{
    struct timespec ts;
#ifdef CLOCK_MONOTONIC_RAW
    clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
#else
    clock_gettime(CLOCK_MONOTONIC, &ts);
#endif
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
#elif defined(__aarch64__)
#define COUNTER_NAME "cntvct_el0"
static inline uint64_t counter_read(void)
{
    uint64_t v;
    __asm__ __volatile__("isb\n\tmrs %0, cntvct_el0" : "=r"(v) : : "memory");
    return v;
}
#else
#define COUNTER_NAME "rdtsc"
static inline uint64_t counter_read(void)
{
    uint32_t lo, hi;
    __asm__ __volatile__("lfence\n\trdtsc" : "=a"(lo), "=d"(hi) : : "memory");
    return ((uint64_t)hi << 32) | lo;
}
#endif

/* Returns the counter's frequency in Hz. On x86-64 the first call calibrates
 * for about 150 ms (three 50 ms windows) against CLOCK_MONOTONIC_RAW, unless
 * counter_set_frequency() gave it a figure; later calls return the cached
 * value. Not thread-safe on the first call: call it once from main(). */
uint64_t counter_frequency(void);

/* A quick measure of the counter's frequency (x86-64: one 10 ms window,
 * for checking a cached figure; elsewhere the architectural or nominal
 * one, exact). */
uint64_t counter_frequency_quick(void);

/* Puts hz in effect as counter_frequency()'s answer: a cached figure that
 * counter_frequency_quick() confirmed. Before any counter_frequency(). */
void counter_set_frequency(uint64_t hz);

/* Returns the event threshold in ticks for a counter of freq Hz whose
 * ordinary read-to-read delta has median `median`: max(2 ticks, 16 x median,
 * 1 us). Pure arithmetic, here rather than in the sampler so unit tests (also
 * under qemu) can check it without starting a thread. */
uint64_t counter_threshold_for(uint64_t median, uint64_t freq);

/* Returns the counter's grain: the largest divisor g of step (its smallest
 * non-zero delta) that divides at least 99.9% of the n non-zero deltas in
 * d[], or 1 (also when step is 0 or 1, or n is 0). A TSC scaled by a
 * hypervisor moves in multiples of such a grain (21 ticks on one VM) while
 * the smallest delta is just the read's cost (32 ticks here, with a grain of
 * 2); the few per mille allowed keep one odd delta from hiding it. Pure. */
uint64_t counter_grain(const uint64_t *d, size_t n, uint64_t step);

#endif

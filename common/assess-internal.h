/*
 * assess-internal.h - helpers shared by the SP 800-90B estimator families
 * (assess-entropic.c, assess-tuple.c, assess-predict.c, assess.c).
 * Not installed; not part of assess.h's contract.
 *
 * Numerical conventions follow NIST's ea_non_iid so that results can be
 * compared with it: z_alpha = 2.5758293035489008 (long double for the
 * t-Tuple / LRS upper bounds), p_u = min(1, p + z sqrt(p(1-p)/(n-1))),
 * bitstring = each sample MSB first.
 */
#ifndef PREEMPTD_ASSESS_INTERNAL_H
#define PREEMPTD_ASSESS_INTERNAL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "assess.h"

#define ZALPHA   2.5758293035489008
#define ZALPHA_L 2.575829303548900384158L

static inline unsigned assess_bit_at(const uint8_t *s, size_t i)
{
    return (unsigned)(s[i >> 3] >> (7u - (unsigned)(i & 7u))) & 1u;
}

static inline int assess_n_ok(const uint8_t *s, size_t n)
{
    return s != NULL && n > 0 && n <= ASSESS_MAX_SAMPLES;
}

/* Upper bound of the 99% confidence interval on a proportion (6.3.1). */
static inline double assess_upper_bound(double p, double n)
{
    double pu = p + ZALPHA * sqrt(p * (1.0 - p) / (n - 1.0));
    return pu < 1.0 ? pu : 1.0;
}

static inline long double assess_upper_bound_l(long double p, long double n)
{
    long double pu = p + ZALPHA_L * sqrtl(p * (1.0L - p) / (n - 1.0L));
    return pu < 1.0L ? pu : 1.0L;
}

/* -log2(p) without returning -0.0 for p == 1. */
static inline double assess_neg_log2(double p)
{
    double h = -log2(p);
    return h > 0.0 ? h : 0.0;
}

static inline double assess_neg_log2l(long double p)
{
    long double h = -log2l(p);
    return h > 0.0L ? (double)h : 0.0;
}

/* 8n bit-symbols (0/1), MSB first; NULL when out of memory.  Caller frees. */
uint8_t *assess_expand_bits(const uint8_t *s, size_t n);

#endif /* PREEMPTD_ASSESS_INTERNAL_H */

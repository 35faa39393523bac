/*
 * assess-entropic.c - SP 800-90B 6.3.1-6.3.4: Most Common Value (literal and
 * bitstring), collision, Markov and compression (bitstring) estimates.
 * See assess.h for the scope and conventions.
 */
#include "assess-internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* 6.3.1 Most Common Value                                            */
/* ------------------------------------------------------------------ */

double assess_mcv(const uint8_t *s, size_t n)
{
    size_t counts[256] = { 0 };
    size_t mode = 0;

    if (!assess_n_ok(s, n) || n < 2)
        return -1.0;
    for (size_t i = 0; i < n; i++)
        counts[s[i]]++;
    for (size_t c = 0; c < 256; c++)
        if (counts[c] > mode)
            mode = counts[c];

    return assess_neg_log2(assess_upper_bound((double)mode / (double)n, (double)n));
}

static size_t count_ones(const uint8_t *s, size_t n)
{
    size_t ones = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned v = s[i];
        v = v - ((v >> 1) & 0x55u);
        v = (v & 0x33u) + ((v >> 2) & 0x33u);
        ones += (v + (v >> 4)) & 0x0fu;
    }
    return ones;
}

double assess_mcv_bits(const uint8_t *s, size_t n)
{
    size_t len, ones, mode;

    if (!assess_n_ok(s, n))
        return -1.0;
    len = 8 * n;
    ones = count_ones(s, n);
    mode = ones > len - ones ? ones : len - ones;

    return assess_neg_log2(assess_upper_bound((double)mode / (double)len, (double)len));
}

/* ------------------------------------------------------------------ */
/* 6.3.2 Collision (bitstring)                                        */
/* ------------------------------------------------------------------ */

/*
 * For binary data every collision happens after 2 or 3 symbols, and (as
 * shown in the 90B implementation comments by UL / Dinh and used by
 * ea_non_iid) the equation of step 7 reduces to X' = -2p^2 + 2p + 2, so p is
 * found in closed form instead of by a binary search.
 */
double assess_collision(const uint8_t *s, size_t n)
{
    size_t len, i = 0;
    uint64_t v = 0, sumsq = 0;
    double x, sd, p;

    if (!assess_n_ok(s, n))
        return -1.0;
    len = 8 * n;

    while (i + 1 < len) {
        unsigned t;

        if (assess_bit_at(s, i) == assess_bit_at(s, i + 1))
            t = 2;
        else if (i + 2 < len)
            t = 3;
        else
            break;
        v++;
        sumsq += (uint64_t)t * t;
        i += t;
    }
    if (v < 2)
        return -1.0;

    /* i is now the sum of the t_v */
    x = (double)i / (double)v;
    sd = ((double)sumsq - (double)i * x) / (double)(v - 1);
    sd = sd > 0.0 ? sqrt(sd) : 0.0;     /* rounding can give -0 */
    x -= ZALPHA * sd / sqrt((double)v);
    if (x < 2.0)
        x = 2.0;
    if (x >= 2.5)
        return 1.0;     /* no solution: p = 1/2 */
    p = 0.5 + sqrt(1.25 - 0.5 * x);
    return assess_neg_log2(p);
}

/* ------------------------------------------------------------------ */
/* 6.3.3 Markov (bitstring)                                           */
/* ------------------------------------------------------------------ */

double assess_markov(const uint8_t *s, size_t n)
{
    size_t len, c0 = 0, c00 = 0, c10 = 0, c1;
    double p0, p1, p00, p01, p10, p11, h, e;

    if (!assess_n_ok(s, n))
        return -1.0;
    len = 8 * n;        /* >= 8 */

    /* transition counts over (S_i, S_i+1), i = 0 .. len-2 */
    for (size_t i = 0; i + 1 < len; i++) {
        unsigned a = assess_bit_at(s, i), b = assess_bit_at(s, i + 1);

        if (a == 0) {
            c0++;
            if (b == 0)
                c00++;
        } else if (b == 0) {
            c10++;
        }
    }
    c1 = len - 1 - c0;
    p00 = c0 > 0 ? (double)c00 / (double)c0 : 0.0;
    p01 = c0 > 0 ? 1.0 - p00 : 0.0;
    p10 = c1 > 0 ? (double)c10 / (double)c1 : 0.0;
    p11 = c1 > 0 ? 1.0 - p10 : 0.0;

    if (assess_bit_at(s, len - 1) == 0)
        c0++;
    p0 = (double)c0 / (double)len;
    p1 = 1.0 - p0;

    /*
     * The most likely 128-bit sequence is one of six candidates
     * (90B 6.3.3 step 5 / ea_non_iid); h is -log2 of its probability.
     */
    h = 128.0;
    if (p00 > 0.0) {                    /* 00...0 */
        e = -log2(p0) - 127.0 * log2(p00);
        if (e < h)
            h = e;
    }
    if (p01 > 0.0 && p10 > 0.0) {               /* 0101...01 */
        e = -log2(p0) - 64.0 * log2(p01) - 63.0 * log2(p10);
        if (e < h)
            h = e;
    }
    if (p01 > 0.0 && p11 > 0.0) {               /* 011...1 */
        e = -log2(p0) - log2(p01) - 126.0 * log2(p11);
        if (e < h)
            h = e;
    }
    if (p10 > 0.0 && p00 > 0.0) {               /* 100...0 */
        e = -log2(p1) - log2(p10) - 126.0 * log2(p00);
        if (e < h)
            h = e;
    }
    if (p10 > 0.0 && p01 > 0.0) {               /* 1010...10 */
        e = -log2(p1) - 64.0 * log2(p10) - 63.0 * log2(p01);
        if (e < h)
            h = e;
    }
    if (p11 > 0.0) {                    /* 11...1 */
        e = -log2(p1) - 127.0 * log2(p11);
        if (e < h)
            h = e;
    }

    h /= 128.0;
    if (h > 1.0)
        h = 1.0;
    return h > 0.0 ? h : 0.0;
}

/* ------------------------------------------------------------------ */
/* 6.3.4 Compression (bitstring)                                      */
/* ------------------------------------------------------------------ */

#define COMP_B 6                /* bits per block */
#define COMP_D 1000             /* dictionary initialisation blocks */
#define COMP_K (1u << COMP_B)   /* block alphabet size */

/*
 * G(z) of 90B 6.3.4 step 7 for d = COMP_D and L = nb blocks, with
 * a_i = log2(i) (1-z)^(i-1) and A_t = sum_{i<t} a_i:
 *   G(z) = z/v * ( z * sum_{t=d+1}^{L} A_t + (A_{L+1} - A_{d+1}) )
 *   sum_{t=d+1}^{L} A_t = (L-d) A_{d+1} + sum_{i=d+1}^{L-1} (L-i) a_i.
 * lg[i] = log2(i).  The loop stops once the remaining (geometric) tail is
 * below 1e-21 of the partial result, far under double precision.
 */
static double comp_g(double z, long nb, const double *lg)
{
    const long d = COMP_D;
    long double bterm = 1.0L - (long double)z;
    long double b = bterm;              /* (1-z)^(i-1) for i = 2 */
    long double ad1 = 0.0L, ai, fs, ai_term, tailk;
    long v = nb - d;

    if (z <= 0.0)
        return 0.0;

    for (long i = 2; i <= d; i++) {
        ad1 += (long double)lg[i] * b;
        b *= bterm;
    }
    ai = ad1;
    fs = (long double)(nb - d) * ad1;
    /* bound of the tail factor: sum_k (1-z)^k <= 1/z; times (z L + 1) */
    tailk = (long double)lg[nb] * ((long double)z * (long double)nb + 1.0L) /
        (long double)z;

    for (long i = d + 1; i <= nb - 1; i++) {
        ai_term = (long double)lg[i] * b;
        ai += ai_term;
        fs += (long double)(nb - i) * ai_term;
        b *= bterm;
        if (b * tailk < 1e-21L * ((long double)z * fs + (ai - ad1)))
            goto done;
    }
    ai += (long double)lg[nb] * b;      /* a_L: A_{L+1} */
done:
    return (double)((long double)z *
                    ((long double)z * fs + (ai - ad1)) / (long double)v);
}

static double comp_expect(double p, long nb, const double *lg)
{
    double q = (1.0 - p) / (double)(COMP_K - 1);

    return comp_g(p, nb, lg) + (double)(COMP_K - 1) * comp_g(q, nb, lg);
}

static unsigned comp_block(const uint8_t *s, long i)
{
    unsigned blk = 0;
    size_t base = (size_t)i * COMP_B;

    for (unsigned j = 0; j < COMP_B; j++)
        blk = (blk << 1) | assess_bit_at(s, base + j);
    return blk;
}

double assess_compression(const uint8_t *s, size_t n)
{
    long nb, v, dict[COMP_K];
    long double sum = 0.0L, sumsq = 0.0L;
    double x, sd, lo, hi, p;
    double *lg;

    if (!assess_n_ok(s, n))
        return -1.0;
    nb = (long)((8 * n) / COMP_B);
    if (nb <= COMP_D)
        return -1.0;
    v = nb - COMP_D;

    for (unsigned k = 0; k < COMP_K; k++)
        dict[k] = 0;
    for (long i = 0; i < COMP_D; i++)
        dict[comp_block(s, i)] = i + 1;
    for (long i = COMP_D; i < nb; i++) {
        unsigned blk = comp_block(s, i);
        long double l = log2l((long double)(i + 1 - dict[blk]));

        sum += l;
        sumsq += l * l;
        dict[blk] = i + 1;
    }
    x = (double)(sum / (long double)v);
    sd = (double)(sumsq / ((long double)v - 1.0L)) - x * x;
    sd = sd > 0.0 ? 0.5907 * sqrt(sd) : 0.0;
    x -= ZALPHA * sd / sqrt((double)v);

    lg = malloc(((size_t)nb + 1) * sizeof(*lg));
    if (lg == NULL)
        return -1.0;
    lg[0] = 0.0;
    for (long i = 1; i <= nb; i++)
        lg[i] = log2((double)i);

    /*
     * Solve comp_expect(p) = x for p in [1/64, 1] by bisection
     * (comp_expect is decreasing in p).  If even the uniform
     * distribution does not exceed x there is no solution and the
     * estimate is full entropy (step 8).
     */
    lo = 1.0 / (double)COMP_K;
    hi = 1.0;
    if (!(comp_expect(lo, nb, lg) > x)) {
        free(lg);
        return 1.0;
    }
    for (int it = 0; it < 2000; it++) {
        double mid = 0.5 * (lo + hi), val;

        if (!(mid > lo && mid < hi))
            break;
        val = comp_expect(mid, nb, lg);
        if (val > x) {
            lo = mid;
        } else if (val < x) {
            hi = mid;
        } else {
            lo = hi = mid;
            break;
        }
    }
    free(lg);
    p = 0.5 * (lo + hi);
    if (!(p > 1.0 / (double)COMP_K))
        return 1.0;
    return assess_neg_log2(p) / (double)COMP_B;
}

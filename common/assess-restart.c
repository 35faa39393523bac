/*
 * assess-restart.c - SP 800-90B 3.1.4, the restart tests: the sanity check
 * on the row and column most-common-value counts of a 1000 x 1000 restart
 * matrix, and the restart assessment of its row and column datasets with
 * the non-IID suite.  See assess.h.
 */
#include "assess-internal.h"

#include <math.h>
#include <stdlib.h>

/* ln P[Binomial(n, p) = k] */
static double binom_logpmf(unsigned n, unsigned k, double p)
{
    return lgamma(n + 1.0) - lgamma(k + 1.0) - lgamma(n - k + 1.0) +
           k * log(p) + (n - k) * log1p(-p);
}

unsigned assess_restart_cutoff(double h_i)
{
    const unsigned n = ASSESS_RESTART_N;
    double p, keff, tail = 0.0;
    unsigned u;

    if (!(h_i > 0.0 && h_i <= 8.0))
        return n;
    p = pow(2.0, -h_i);
    keff = ceil(1.0 / p);
    /*
     * The smallest u with keff * P[Bin(n, p) > u] <= alpha: a union bound
     * over the (at most ceil(1/p)) values of probability p, the worst case
     * for a source of min-entropy h_i.  The tail is summed from the top,
     * in log space, so tiny terms are not lost.
     */
    for (u = n; u > 0; u--) {
        double next = tail + exp(binom_logpmf(n, u, p));

        if (keff * next > ASSESS_RESTART_ALPHA)
            break;      /* P[X > u-1] too large: u is the cutoff */
        tail = next;
    }
    return u;
}

/* Largest count of one value among len samples s[0], s[step], ... */
static unsigned mcv_count(const uint8_t *s, size_t len, size_t step)
{
    unsigned c[256] = { 0 }, max = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned v = s[i * step];

        if (++c[v] > max)
            max = c[v];
    }
    return max;
}

int assess_restart(const uint8_t *m, double h_i, struct assess_restart *out)
{
    const size_t n = ASSESS_RESTART_N;
    uint8_t *col;
    struct assess_result rr, rc;

    if (out == NULL)
        return -1;
    *out = (struct assess_restart){ h_i, n, 0, 0, 0, -1.0, -1.0, 0, -1.0 };
    if (m == NULL || !(h_i > 0.0 && h_i <= 8.0))
        return -1;
    out->cutoff = assess_restart_cutoff(h_i);
    for (size_t i = 0; i < n; i++) {
        unsigned r = mcv_count(m + i * n, n, 1), c = mcv_count(m + i, n, n);

        if (r > out->max_row)
            out->max_row = r;
        if (c > out->max_col)
            out->max_col = c;
    }
    out->sanity_ok = out->max_row <= out->cutoff && out->max_col <= out->cutoff;
    if (!out->sanity_ok)
        return 0;       /* 90B: a failed sanity check ends the test */

    col = malloc(n * n);
    if (col == NULL)
        return -1;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            col[j * n + i] = m[i * n + j];
    if (assess_run(m, n * n, &rr) != 0 || assess_run(col, n * n, &rc) != 0) {
        free(col);
        return -1;
    }
    free(col);
    out->h_r = rr.h_min;
    out->h_c = rc.h_min;
    out->validation_ok = fmin(out->h_r, out->h_c) >= h_i / 2.0;
    if (out->validation_ok)
        out->h_min = fmin(h_i, fmin(out->h_r, out->h_c));
    return 0;
}

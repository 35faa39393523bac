/*
 * assess-restart.c - SP 800-90B 3.1.4, the restart tests: the sanity check
 * on the row and column most-common-value counts of a 1000 x 1000 restart
 * matrix, and the restart assessment of its row and column datasets with
 * the non-IID suite.  See assess.h.
 */
#include "assess-internal.h"

#include <math.h>
#include <stdlib.h>

/*
 * ea_restart's cutoff: 5,000,000 simulated rows, the value at index
 * floor((1 - alpha) x rounds) - 1 of their sorted maxima, alpha = 1 -
 * 0.99^(1/2000).  It is at most v exactly when at most NIST_ABOVE of the
 * simulated maxima exceed v.
 */
#define NIST_ROUNDS 5000000.0
#define NIST_ABOVE 26u
/* U may be below NIST's cutoff, never above but with this chance. */
#define CUTOFF_EPS 1e-6

#define N ASSESS_RESTART_N

/*
 * f[m] for a group of symbols: P[every symbol of the group is seen at most
 * u times | m of the row's samples fall in the group].  Two groups of
 * masses a : (1 - a) combine by splitting m binomially between them.
 * top1, top2: the largest m with f[m] > 0 (the group's size times u).
 */
static void combine(const double *f1, unsigned top1, const double *f2,
                    unsigned top2, double a, const double *lf, double *out)
{
    double la = log(a), lb = log1p(-a);

    for (unsigned m = 0; m <= N; m++) {
        unsigned lo = m > top2 ? m - top2 : 0, hi = m < top1 ? m : top1;
        double s = 0.0;

        for (unsigned c = lo; c <= hi; c++)
            s += exp(lf[m] - lf[c] - lf[m - c] + c * la + (m - c) * lb) *
                 f1[c] * f2[m - c];
        out[m] = s;
    }
}

static unsigned top_of(unsigned g, unsigned u)
{
    return g * u < N ? g * u : N;
}

/* f for g symbols of equal probability, each seen at most u times, by
 * squaring: O(log g) convolutions. */
static void group_f(unsigned g, unsigned u, const double *lf, double *res)
{
    double base[N + 1], tmp[N + 1];
    unsigned have = 0, bsize = 1;

    for (unsigned m = 0; m <= N; m++)
        base[m] = m <= u ? 1.0 : 0.0;
    while (g) {
        if (g & 1u) {
            if (have == 0) {
                for (unsigned m = 0; m <= N; m++)
                    res[m] = base[m];
            } else {
                combine(res, top_of(have, u), base, top_of(bsize, u),
                        (double)have / (have + bsize), lf, tmp);
                for (unsigned m = 0; m <= N; m++)
                    res[m] = tmp[m];
            }
            have += bsize;
        }
        g >>= 1;
        if (g) {
            combine(base, top_of(bsize, u), base, top_of(bsize, u), 0.5, lf,
                    tmp);
            for (unsigned m = 0; m <= N; m++)
                base[m] = tmp[m];
            bsize *= 2;
        }
    }
}

double assess_restart_tail(double h_i, unsigned k, unsigned u)
{
    double lf[N + 1], fa[N + 1], fb[N + 1], f[N + 1];
    double p, rest;
    unsigned kmax;

    if (!(h_i > 0.0 && h_i <= 8.0) || k < 2 || k > 256)
        return -1.0;
    if (u >= N)
        return 0.0;
    lf[0] = 0.0;
    for (unsigned m = 1; m <= N; m++)
        lf[m] = lf[m - 1] + log((double)m);
    p = pow(2.0, -h_i);
    kmax = (unsigned)floor(1.0 / p);
    rest = 1.0 - kmax * p;
    /* ea_restart asserts k >= kmax; a matrix with fewer values than 2^h_i
     * cannot have that min-entropy anyway.  Give the rest one value. */
    if (k <= kmax)
        k = kmax + 1;
    group_f(kmax, u, lf, fa);
    if (rest <= 1e-12) {
        for (unsigned m = 0; m <= N; m++)
            f[m] = fa[m];
    } else {
        group_f(k - kmax, u, lf, fb);
        combine(fa, top_of(kmax, u), fb, top_of(k - kmax, u), kmax * p, lf,
                f);
    }
    double q = 1.0 - f[N];
    return q > 0.0 ? q : 0.0;
}

/* P[ea_restart's cutoff <= v] = P[at most NIST_ABOVE of its simulated
 * maxima exceed v], the count Poisson with mean rounds x tail(v). */
static double nist_at_most(double h_i, unsigned k, unsigned v)
{
    double lam = NIST_ROUNDS * assess_restart_tail(h_i, k, v);
    double term = exp(-lam), sum = term;

    for (unsigned i = 1; i <= NIST_ABOVE; i++) {
        term *= lam / i;
        sum += term;
    }
    return sum;
}

/* ln P[Binomial(n, p) = k] */
static double binom_logpmf(unsigned n, unsigned k, double p)
{
    return lgamma(n + 1.0) - lgamma(k + 1.0) - lgamma(n - k + 1.0) +
           k * log(p) + (n - k) * log1p(-p);
}

/* A first guess: the smallest u with ceil(2^h_i) x P[Bin(N, p) > u] <=
 * 5e-6, a union bound (what this file used alone before issue 24: up to
 * a count or two more lenient than ea_restart). */
static unsigned union_cutoff(double h_i)
{
    double p = pow(2.0, -h_i), keff = ceil(1.0 / p), tail = 0.0;
    unsigned u;

    for (u = N; u > 0; u--) {
        double next = tail + exp(binom_logpmf(N, u, p));

        if (keff * next > 0.000005)
            break;
        tail = next;
    }
    return u;
}

unsigned assess_restart_cutoff_k(double h_i, unsigned k)
{
    unsigned u;

    if (!(h_i > 0.0 && h_i <= 8.0) || k < 2 || k > 256)
        return N;
    /* The smallest v with P[NIST's cutoff <= v] >= CUTOFF_EPS; the chance
     * grows with v. */
    u = union_cutoff(h_i);
    while (u < N && nist_at_most(h_i, k, u) < CUTOFF_EPS)
        u++;
    while (u > 0 && nist_at_most(h_i, k, u - 1) >= CUTOFF_EPS)
        u--;
    return u;
}

unsigned assess_restart_cutoff(double h_i)
{
    return assess_restart_cutoff_k(h_i, 256);
}

/* Largest count of one value among len samples s[0], s[step], ...; *v
 * gets the value. */
static unsigned mcv_count(const uint8_t *s, size_t len, size_t step,
                          uint8_t *v)
{
    unsigned c[256] = { 0 }, max = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned x = s[i * step];

        if (++c[x] > max) {
            max = c[x];
            *v = (uint8_t)x;
        }
    }
    return max;
}

/* NIST's H for one dataset: min(8, the literal estimates). */
static double nist_h(const struct assess_result *r)
{
    return r->h_original >= 0.0 && r->h_original < 8.0 ? r->h_original
                                                       : 8.0;
}

int assess_restart_as(const uint8_t *m, double h_i,
                      enum assess_restart_def def, struct assess_restart *out)
{
    const size_t n = N;
    uint8_t *col;
    struct assess_result rr, rc;
    unsigned seen[256] = { 0 };

    if (out == NULL)
        return -1;
    *out = (struct assess_restart){
        .h_i = h_i, .cutoff = N, .h_r = -1.0, .h_c = -1.0, .h_min = -1.0,
        .def = def, .h_r_strict = -1.0, .h_c_strict = -1.0,
        .h_r_nist = -1.0, .h_c_nist = -1.0, .h_r_by = "none",
        .h_c_by = "none", .row_value_near = { -1, -1 },
    };
    if (m == NULL || !(h_i > 0.0 && h_i <= 8.0))
        return -1;
    for (size_t i = 0; i < n * n; i++)
        seen[m[i]] = 1;
    for (unsigned v = 0; v < 256; v++)
        out->k += seen[v];
    out->cutoff = assess_restart_cutoff_k(h_i, out->k < 2 ? 2 : out->k);
    for (size_t i = 0; i < n; i++) {
        uint8_t rv = 0, cv = 0;
        unsigned r = mcv_count(m + i * n, n, 1, &rv);
        unsigned c = mcv_count(m + i, n, n, &cv);

        out->rows_over += r > out->cutoff;
        out->cols_over += c > out->cutoff;
        if (r > out->max_row) {
            out->max_row = r;
            out->worst_row = (unsigned)i;
            out->row_value = rv;
        }
        if (c > out->max_col) {
            out->max_col = c;
            out->worst_col = (unsigned)i;
            out->col_value = cv;
        }
    }
    for (int k = 0; k < 2; k++) {
        if ((k == 0 && out->worst_row == 0) ||
            (k == 1 && out->worst_row + 1 >= n))
            continue;
        size_t row = k ? out->worst_row + 1u : out->worst_row - 1u;

        out->row_value_near[k] = 0;
        for (size_t j = 0; j < n; j++)
            out->row_value_near[k] += m[row * n + j] == out->row_value;
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
    out->h_r_strict = rr.h_min;
    out->h_c_strict = rc.h_min;
    out->h_r_nist = nist_h(&rr);
    out->h_c_nist = nist_h(&rc);
    if (def == ASSESS_RESTART_NIST) {
        out->h_r = out->h_r_nist;
        out->h_c = out->h_c_nist;
        out->h_r_by = assess_limiting(&rr, 1);
        out->h_c_by = assess_limiting(&rc, 1);
    } else {
        out->h_r = out->h_r_strict;
        out->h_c = out->h_c_strict;
        out->h_r_by = assess_limiting(&rr, 0);
        out->h_c_by = assess_limiting(&rc, 0);
    }
    out->validation_ok = fmin(out->h_r, out->h_c) >= h_i / 2.0;
    if (out->validation_ok)
        out->h_min = fmin(h_i, fmin(out->h_r, out->h_c));
    return 0;
}

int assess_restart(const uint8_t *m, double h_i, struct assess_restart *out)
{
    return assess_restart_as(m, h_i, ASSESS_RESTART_STRICT, out);
}

/*
 * assess-tuple.c - SP 800-90B 6.3.5 t-Tuple and 6.3.6 LRS, literal and
 * bitstring, from one suffix array (libdivsufsort, as NIST's ea_non_iid
 * builds it) and LCP array (Kasai).  See assess.h for the scope and
 * conventions.
 */
#include "assess-internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <divsufsort.h>

/* divsufsort.h is the 32-bit build (divsufsort64.h is the other): its
 * indices are ours, and ASSESS_MAX_SAMPLES keeps 8n below 2^31. */
_Static_assert(sizeof(saidx_t) == sizeof(int32_t), "32-bit libdivsufsort");

/*
 * Replace sa[] by the LCP array: lcp[r] = length of the longest common
 * prefix of the suffixes of rank r-1 and r, lcp[0] = 0 (Kasai et al. in
 * the permuted-LCP form, phi is n int32 of scratch).
 */
static void sa_to_lcp(const uint8_t *t, int32_t *sa, int32_t *phi, int32_t n)
{
    int32_t h = 0;

    phi[sa[0]] = -1;
    for (int32_t r = 1; r < n; r++)
        phi[sa[r]] = sa[r - 1];
    for (int32_t i = 0; i < n; i++) {
        int32_t j = phi[i];

        if (j < 0) {
            phi[i] = 0;
            h = 0;
            continue;
        }
        while (i + h < n && j + h < n && t[i + h] == t[j + h])
            h++;
        phi[i] = h;     /* permuted LCP of suffix i */
        if (h > 0)
            h--;
    }
    for (int32_t r = 0; r < n; r++)
        sa[r] = phi[sa[r]];
}

/* ------------------------------------------------------------------ */
/* 6.3.5 t-Tuple and 6.3.6 LRS from the LCP array                     */
/* ------------------------------------------------------------------ */

/*
 * Both estimates need, for a tuple length t, statistics over the classes
 * of equal t-tuples.  In suffix-array order the occurrences of one t-tuple
 * form a run of ranks whose inner LCP values are all >= t, i.e. an
 * lcp-interval.  A bottom-up walk over the lcp-intervals (Abouelhoda et
 * al.) visits each interval [lb, rb] once with its lcp value l and the
 * lcp value p of its parent: the interval is the occurrence set of the
 * t-tuples for every t in (p, l], each with count rb - lb + 1.
 *   t-Tuple: Q[t] = max count of a t-tuple = max size over intervals
 *            with l >= t (sizes only grow towards the root).
 *   LRS:     S[t] = sum over t-tuples of C(count, 2) = sum of
 *            C(size, 2) over intervals with p < t <= l (range update).
 */
/*
 * Running maximum of p_t^(1/t) over t (both estimates take such a maximum,
 * over up to n values of t for very repetitive data, where the maximum
 * typically moves at every step).  It is kept as max ln(p_t)/t: one logl()
 * per term instead of a powl(), equal to powl(p, 1/t) to within long
 * double rounding.
 */
struct root_max {
    long double lmax;   /* max ln(p_t)/t so far */
    int any;            /* a term with p_t > 0 was seen */
};

static void root_max_step(struct root_max *m, long double p, int32_t t)
{
    long double r;

    if (!(p > 0.0L))
        return;         /* p_t^(1/t) = 0 never raises a maximum >= 0 */
    r = logl(p) / (long double)t;
    if (!m->any || r > m->lmax) {
        m->lmax = r;
        m->any = 1;
    }
}

/* The maximum, or `none` if no positive term was seen. */
static long double root_max_value(const struct root_max *m, long double none)
{
    if (!m->any)
        return none;
    return m->lmax >= 0.0L ? 1.0L : expl(m->lmax);
}

struct lcp_node {
    int32_t lcp, lb;
};

typedef void (*interval_fn)(void *ctx, int32_t l, int32_t size, int32_t parent);

static void walk_intervals(const int32_t *lcp, int32_t n, struct lcp_node *st,
                           interval_fn fn, void *ctx)
{
    int32_t top = 0;

    st[0].lcp = 0;
    st[0].lb = 0;
    for (int32_t i = 1; i <= n; i++) {
        int32_t cur = i < n ? lcp[i] : 0, lb = i - 1;

        while (cur < st[top].lcp) {
            struct lcp_node e = st[top--];
            int32_t parent = st[top].lcp > cur ? st[top].lcp : cur;

            fn(ctx, e.lcp, i - e.lb, parent);
            lb = e.lb;
        }
        if (cur > st[top].lcp) {
            top++;
            st[top].lcp = cur;
            st[top].lb = lb;
        }
    }
}

struct tuple_ctx {
    int32_t *best;              /* best[l]: largest interval with lcp l */
};

static void tuple_fn(void *vctx, int32_t l, int32_t size, int32_t parent)
{
    struct tuple_ctx *c = vctx;

    (void)parent;
    if (size > c->best[l])
        c->best[l] = size;
}

struct lrs_ctx {
    uint64_t *diff;             /* difference array of S over [u, v] */
    int32_t u;
};

static void lrs_fn(void *vctx, int32_t l, int32_t size, int32_t parent)
{
    struct lrs_ctx *c = vctx;
    int32_t lo = parent + 1 > c->u ? parent + 1 : c->u;
    uint64_t pairs;

    if (l < lo)
        return;
    pairs = (uint64_t)size * (uint64_t)(size - 1) / 2;
    /* unsigned wrap-around is harmless: every prefix sum is exact */
    c->diff[lo - c->u] += pairs;
    c->diff[l + 1 - c->u] -= pairs;
}

static void tuple_lrs_from_lcp(const int32_t *lcp, int32_t n,
                               double *tuple, double *lrs, int *oom)
{
    int32_t v = 0, u;
    int32_t *best = NULL;
    struct lcp_node *st = NULL;
    uint64_t *diff = NULL;
    struct root_max rm;
    long double pmax, pu;

    *tuple = -1.0;
    *lrs = -1.0;
    for (int32_t i = 1; i < n; i++)
        if (lcp[i] > v)
            v = lcp[i];
    if (v == 0)
        return;         /* nothing repeats */

    best = calloc((size_t)v + 1, sizeof(*best));
    st = malloc(((size_t)v + 2) * sizeof(*st));
    if (best == NULL || st == NULL) {
        *oom = 1;
        goto out;
    }
    {
        struct tuple_ctx tc = { best };

        walk_intervals(lcp, n, st, tuple_fn, &tc);
    }
    /* Q[t] = max_{l >= t} best[l], kept in best[] */
    for (int32_t t = v - 1; t >= 1; t--)
        if (best[t + 1] > best[t])
            best[t] = best[t + 1];

    /* u: smallest t whose most common t-tuple occurs fewer than 35 times */
    for (u = 1; u <= v && best[u] >= 35; u++)
        ;

    /* t-Tuple: P_max = max_t (Q[t] / (n-t+1))^(1/t) for t < u */
    rm.any = 0;
    rm.lmax = 0.0L;
    for (int32_t t = 1; t < u; t++)
        root_max_step(&rm, (long double)best[t] / (long double)(n - t + 1), t);
    pmax = root_max_value(&rm, -1.0L);
    if (pmax > 0.0L) {
        pu = assess_upper_bound_l(pmax, (long double)n);
        *tuple = assess_neg_log2l(pu);
    }

    /* LRS: P_W = S[W] / C(n-W+1, 2) for u <= W <= v */
    if (v >= u) {
        struct lrs_ctx lc;
        uint64_t acc = 0;

        diff = calloc((size_t)(v - u) + 2, sizeof(*diff));
        if (diff == NULL) {
            *oom = 1;
            goto out;
        }
        lc.diff = diff;
        lc.u = u;
        walk_intervals(lcp, n, st, lrs_fn, &lc);
        rm.any = 0;
        rm.lmax = 0.0L;
        for (int32_t w = u; w <= v; w++) {
            uint64_t m = (uint64_t)(n - w + 1);
            long double choices = (long double)(m * (m - 1) / 2);

            acc += diff[w - u];
            root_max_step(&rm, (long double)acc / choices, w);
        }
        pmax = root_max_value(&rm, 0.0L);
        pu = assess_upper_bound_l(pmax, (long double)n);
        *lrs = assess_neg_log2l(pu);
    }
out:
    free(best);
    free(st);
    free(diff);
}

int assess_tuple_lrs(const uint8_t *s, size_t n, int bitstring,
                     double *tuple, double *lrs)
{
    double tu = -1.0, lr = -1.0;
    uint8_t *bits = NULL;
    const uint8_t *text = s;
    int32_t *sa = NULL, *phi = NULL;
    int32_t len;
    int oom = 0;

    if (!assess_n_ok(s, n))
        goto fail;
    len = (int32_t)(bitstring ? 8 * n : n);
    if (len < 2) {
        /* a single symbol: no tuple repeats, nothing to estimate */
        goto done;
    }
    if (bitstring) {
        bits = assess_expand_bits(s, n);
        if (bits == NULL)
            goto fail;
        text = bits;
    }

    sa = malloc((size_t)len * sizeof(*sa));
    if (sa == NULL)
        goto fail;
    if (divsufsort(text, sa, len) != 0) /* -2: out of memory */
        goto fail;
    phi = malloc((size_t)len * sizeof(*phi));
    if (phi == NULL)
        goto fail;
    sa_to_lcp(text, sa, phi, len);
    free(phi);
    phi = NULL;
    free(bits);
    bits = NULL;

    tuple_lrs_from_lcp(sa, len, &tu, &lr, &oom);
    if (oom)
        goto fail;
done:
    free(sa);
    if (tuple != NULL)
        *tuple = tu;
    if (lrs != NULL)
        *lrs = lr;
    return 0;
fail:
    free(bits);
    free(sa);
    free(phi);
    if (tuple != NULL)
        *tuple = -1.0;
    if (lrs != NULL)
        *lrs = -1.0;
    return -1;
}

double assess_tuple(const uint8_t *s, size_t n)
{
    double t;

    assess_tuple_lrs(s, n, 0, &t, NULL);
    return t;
}

double assess_lrs(const uint8_t *s, size_t n)
{
    double l;

    assess_tuple_lrs(s, n, 0, NULL, &l);
    return l;
}

double assess_tuple_bits(const uint8_t *s, size_t n)
{
    double t;

    assess_tuple_lrs(s, n, 1, &t, NULL);
    return t;
}

double assess_lrs_bits(const uint8_t *s, size_t n)
{
    double l;

    assess_tuple_lrs(s, n, 1, NULL, &l);
    return l;
}

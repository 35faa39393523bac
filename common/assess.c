/*
 * assess.c - NIST SP 800-90B section 6.3 (non-IID) min-entropy estimators
 * for 8-bit samples.  See assess.h for the scope and conventions.
 *
 * Numerical conventions follow NIST's ea_non_iid so that results can be
 * compared with it: z_alpha = 2.5758293035489008 (long double for the
 * t-Tuple / LRS upper bounds), p_u = min(1, p + z sqrt(p(1-p)/(n-1))),
 * bitstring = each sample MSB first.
 */
#include "assess.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ZALPHA   2.5758293035489008
#define ZALPHA_L 2.575829303548900384158L

/* ------------------------------------------------------------------ */
/* helpers                                                            */
/* ------------------------------------------------------------------ */

static inline unsigned bit_at(const uint8_t *s, size_t i)
{
    return (unsigned)(s[i >> 3] >> (7u - (unsigned)(i & 7u))) & 1u;
}

static int n_ok(const uint8_t *s, size_t n)
{
    return s != NULL && n > 0 && n <= ASSESS_MAX_SAMPLES;
}

/* Upper bound of the 99% confidence interval on a proportion (6.3.1). */
static double upper_bound(double p, double n)
{
    double pu = p + ZALPHA * sqrt(p * (1.0 - p) / (n - 1.0));
    return pu < 1.0 ? pu : 1.0;
}

static long double upper_bound_l(long double p, long double n)
{
    long double pu = p + ZALPHA_L * sqrtl(p * (1.0L - p) / (n - 1.0L));
    return pu < 1.0L ? pu : 1.0L;
}

/* -log2(p) without returning -0.0 for p == 1. */
static double neg_log2(double p)
{
    double h = -log2(p);
    return h > 0.0 ? h : 0.0;
}

static double neg_log2l(long double p)
{
    long double h = -log2l(p);
    return h > 0.0L ? (double)h : 0.0;
}

/* ------------------------------------------------------------------ */
/* 6.3.1 Most Common Value                                            */
/* ------------------------------------------------------------------ */

double assess_mcv(const uint8_t *s, size_t n)
{
    size_t counts[256] = { 0 };
    size_t mode = 0;

    if (!n_ok(s, n) || n < 2)
        return -1.0;
    for (size_t i = 0; i < n; i++)
        counts[s[i]]++;
    for (size_t c = 0; c < 256; c++)
        if (counts[c] > mode)
            mode = counts[c];

    return neg_log2(upper_bound((double)mode / (double)n, (double)n));
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

    if (!n_ok(s, n))
        return -1.0;
    len = 8 * n;
    ones = count_ones(s, n);
    mode = ones > len - ones ? ones : len - ones;

    return neg_log2(upper_bound((double)mode / (double)len, (double)len));
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

    if (!n_ok(s, n))
        return -1.0;
    len = 8 * n;

    while (i + 1 < len) {
        unsigned t;

        if (bit_at(s, i) == bit_at(s, i + 1))
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
    return neg_log2(p);
}

/* ------------------------------------------------------------------ */
/* 6.3.3 Markov (bitstring)                                           */
/* ------------------------------------------------------------------ */

double assess_markov(const uint8_t *s, size_t n)
{
    size_t len, c0 = 0, c00 = 0, c10 = 0, c1;
    double p0, p1, p00, p01, p10, p11, h, e;

    if (!n_ok(s, n))
        return -1.0;
    len = 8 * n;        /* >= 8 */

    /* transition counts over (S_i, S_i+1), i = 0 .. len-2 */
    for (size_t i = 0; i + 1 < len; i++) {
        unsigned a = bit_at(s, i), b = bit_at(s, i + 1);

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

    if (bit_at(s, len - 1) == 0)
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
        blk = (blk << 1) | bit_at(s, base + j);
    return blk;
}

double assess_compression(const uint8_t *s, size_t n)
{
    long nb, v, dict[COMP_K];
    long double sum = 0.0L, sumsq = 0.0L;
    double x, sd, lo, hi, p;
    double *lg;

    if (!n_ok(s, n))
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
    return neg_log2(p) / (double)COMP_B;
}

/* ------------------------------------------------------------------ */
/* Suffix array: SA-IS (Nong, Zhang & Chan 2009), 32-bit indices      */
/* ------------------------------------------------------------------ */

/*
 * The text is either bytes (top level) or int32 names (recursion).  There
 * is no explicit sentinel: a virtual unique smallest symbol follows
 * position n-1, so suffix n-1 is L-type and the LMS substring that runs
 * into the sentinel is unique.
 */
struct sa_text {
    const uint8_t *t8;
    const int32_t *t32;
};

static inline int32_t chr_at(const struct sa_text *t, int32_t i)
{
    return t->t8 != NULL ? (int32_t)t->t8[i] : t->t32[i];
}

static void sa_buckets(const struct sa_text *t, int32_t n, int32_t k,
                       int32_t *bkt, int end)
{
    int32_t sum = 0;

    memset(bkt, 0, (size_t)k * sizeof(*bkt));
    for (int32_t i = 0; i < n; i++)
        bkt[chr_at(t, i)]++;
    for (int32_t c = 0; c < k; c++) {
        sum += bkt[c];
        bkt[c] = end ? sum : sum - bkt[c];
    }
}

static void sa_induce(const struct sa_text *t, int32_t *sa,
                      const uint8_t *stype, int32_t *bkt, int32_t n, int32_t k)
{
    /* L-type suffixes, left to right; suffix n-1 follows the sentinel */
    sa_buckets(t, n, k, bkt, 0);
    sa[bkt[chr_at(t, n - 1)]++] = n - 1;
    for (int32_t i = 0; i < n; i++) {
        int32_t j = sa[i] - 1;

        if (sa[i] > 0 && !stype[j])
            sa[bkt[chr_at(t, j)]++] = j;
    }
    /* S-type suffixes, right to left */
    sa_buckets(t, n, k, bkt, 1);
    for (int32_t i = n - 1; i >= 0; i--) {
        int32_t j = sa[i] - 1;

        if (sa[i] > 0 && stype[j])
            sa[--bkt[chr_at(t, j)]] = j;
    }
}

#define IS_LMS(st, i) ((i) > 0 && (st)[i] && !(st)[(i) - 1])

/* Suffix array of t[0..n-1] over alphabet [0, k) into sa[0..n-1]. */
static int sa_build(const struct sa_text *t, int32_t *sa, int32_t n,
                    int32_t k)
{
    uint8_t *stype;
    int32_t *bkt;
    int32_t n1 = 0, names = 0, prev = -1, j;
    int32_t *s1;
    int rc = 0;

    if (n == 1) {
        sa[0] = 0;
        return 0;
    }
    stype = malloc((size_t)n);
    bkt = malloc((size_t)k * sizeof(*bkt));
    if (stype == NULL || bkt == NULL) {
        free(stype);
        free(bkt);
        return -1;
    }

    stype[n - 1] = 0;
    for (int32_t i = n - 2; i >= 0; i--) {
        int32_t c = chr_at(t, i), c1 = chr_at(t, i + 1);

        stype[i] = (uint8_t)(c < c1 || (c == c1 && stype[i + 1]));
    }

    /* stage 1: sort the LMS substrings by induction */
    for (int32_t i = 0; i < n; i++)
        sa[i] = -1;
    sa_buckets(t, n, k, bkt, 1);
    for (int32_t i = 1; i < n; i++)
        if (IS_LMS(stype, i))
            sa[--bkt[chr_at(t, i)]] = i;
    sa_induce(t, sa, stype, bkt, n, k);

    /* compact the sorted LMS positions into sa[0..n1-1] */
    for (int32_t i = 0; i < n; i++)
        if (IS_LMS(stype, sa[i]))
            sa[n1++] = sa[i];

    /* name the LMS substrings; name of position p at sa[n1 + p/2] */
    for (int32_t i = n1; i < n; i++)
        sa[i] = -1;
    for (int32_t i = 0; i < n1; i++) {
        int32_t pos = sa[i];
        int diff = 0;

        for (int32_t d = 0;; d++) {
            if (prev < 0 || pos + d == n || prev + d == n ||
                chr_at(t, pos + d) != chr_at(t, prev + d) ||
                stype[pos + d] != stype[prev + d]) {
                diff = 1;
                break;
            }
            if (d > 0 && (IS_LMS(stype, pos + d) ||
                          IS_LMS(stype, prev + d)))
                break;
        }
        if (diff) {
            names++;
            prev = pos;
        }
        sa[n1 + pos / 2] = names - 1;
    }
    j = n - 1;
    for (int32_t i = n - 1; i >= n1; i--)
        if (sa[i] >= 0)
            sa[j--] = sa[i];

    /* stage 2: sort the reduced string (in sa[n-n1..n-1]) */
    s1 = sa + n - n1;
    if (names < n1) {
        struct sa_text t1 = { NULL, s1 };

        rc = sa_build(&t1, sa, n1, names);
        if (rc != 0)
            goto out;
    } else {
        for (int32_t i = 0; i < n1; i++)
            sa[s1[i]] = i;
    }

    /* stage 3: induce the full order from the sorted LMS suffixes */
    j = 0;
    for (int32_t i = 1; i < n; i++)
        if (IS_LMS(stype, i))
            s1[j++] = i;
    for (int32_t i = 0; i < n1; i++)
        sa[i] = s1[sa[i]];
    for (int32_t i = n1; i < n; i++)
        sa[i] = -1;
    sa_buckets(t, n, k, bkt, 1);
    for (int32_t i = n1 - 1; i >= 0; i--) {
        j = sa[i];
        sa[i] = -1;
        sa[--bkt[chr_at(t, j)]] = j;
    }
    sa_induce(t, sa, stype, bkt, n, k);
out:
    free(stype);
    free(bkt);
    return rc;
}

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
        pu = upper_bound_l(pmax, (long double)n);
        *tuple = neg_log2l(pu);
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
        pu = upper_bound_l(pmax, (long double)n);
        *lrs = neg_log2l(pu);
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

    if (!n_ok(s, n))
        goto fail;
    len = (int32_t)(bitstring ? 8 * n : n);
    if (len < 2) {
        /* a single symbol: no tuple repeats, nothing to estimate */
        goto done;
    }
    if (bitstring) {
        bits = malloc((size_t)len);
        if (bits == NULL)
            goto fail;
        for (int32_t i = 0; i < len; i++)
            bits[i] = (uint8_t)bit_at(s, (size_t)i);
        text = bits;
    }

    sa = malloc((size_t)len * sizeof(*sa));
    if (sa == NULL)
        goto fail;
    {
        struct sa_text t = { text, NULL };

        if (sa_build(&t, sa, len, bitstring ? 2 : 256) != 0)
            goto fail;
    }
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

/* ------------------------------------------------------------------ */
/* combination                                                        */
/* ------------------------------------------------------------------ */

static double min_valid(const double *v, size_t k)
{
    double m = -1.0;

    for (size_t i = 0; i < k; i++)
        if (v[i] >= 0.0 && (m < 0.0 || v[i] < m))
            m = v[i];
    return m;
}

int assess_run(const uint8_t *s, size_t n, struct assess_result *out)
{
    double lit[3], bit[6];

    if (out == NULL)
        return -1;
    out->mcv = out->collision = out->markov = out->compression = -1.0;
    out->tuple = out->lrs = -1.0;
    out->mcv_bits = out->tuple_bits = out->lrs_bits = -1.0;
    out->h_original = out->h_bitstring = out->h_min = -1.0;
    if (!n_ok(s, n))
        return -1;

    out->mcv = assess_mcv(s, n);
    out->mcv_bits = assess_mcv_bits(s, n);
    out->collision = assess_collision(s, n);
    out->markov = assess_markov(s, n);
    out->compression = assess_compression(s, n);
    if (assess_tuple_lrs(s, n, 0, &out->tuple, &out->lrs) != 0 ||
        assess_tuple_lrs(s, n, 1, &out->tuple_bits, &out->lrs_bits) != 0) {
        out->mcv = out->collision = out->markov = -1.0;
        out->compression = out->tuple = out->lrs = -1.0;
        out->mcv_bits = out->tuple_bits = out->lrs_bits = -1.0;
        return -1;
    }

    lit[0] = out->mcv;
    lit[1] = out->tuple;
    lit[2] = out->lrs;
    bit[0] = out->mcv_bits;
    bit[1] = out->collision;
    bit[2] = out->markov;
    bit[3] = out->compression;
    bit[4] = out->tuple_bits;
    bit[5] = out->lrs_bits;
    out->h_original = min_valid(lit, 3);
    out->h_bitstring = min_valid(bit, 6);
    if (out->h_bitstring >= 0.0) {
        double hb8 = 8.0 * out->h_bitstring;

        out->h_min = out->h_original >= 0.0 && out->h_original < hb8
                 ? out->h_original : hb8;
    } else {
        out->h_min = out->h_original;
    }
    return 0;
}

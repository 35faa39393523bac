/*
 * assess-predict.c - SP 800-90B 6.3.7-6.3.10, the predictor estimates:
 * MultiMCW, Lag, MultiMMC and LZ78Y, and the prediction estimate that turns
 * a predictor's score (C correct of N, longest run) into min-entropy.
 * See assess.h for the scope and conventions.
 *
 * Written from the text of 90B.  Where the text leaves room, the choices
 * are those of NIST's ea_non_iid (v1.1.x) so that figures can be compared
 * with it: ties between subpredictors go to the later one in scoreboard
 * order; MultiMCW's window mode is the most recent of the tied values;
 * MultiMMC and LZ78Y predict the larger symbol when two postfixes tie;
 * MultiMMC keeps at most 100,000 (x, y) entries per order and LZ78Y at most
 * 65,536 prefixes; a MultiMMC winner that makes no prediction neither
 * scores nor ends the current run of correct predictions; the alphabet
 * size k of the 1/k floor is the number of distinct symbols present.
 */
#include "assess-internal.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* prediction estimate (6.3.7 steps 5-8 and the same in 6.3.8-6.3.10)  */
/* ------------------------------------------------------------------ */

/*
 * ln of the probability that N predictions, each correct with probability
 * p, have no run of r correct ones: ln((1-px) / ((r+1-rx) q) / x^(N+1)),
 * x the root in (1, 1/p) of 1 - x + q p^r x^(r+1) = 0, reached from x = 1
 * by fixed-point iteration (monotone upwards).
 */
static long double pred_log_norun(long double p, uint64_t r, uint64_t n)
{
    long double q = 1.0L - p, x = 1.0L, xl, c, rl = (long double)r;

    c = q * powl(p, rl);
    for (int it = 0; it < 2000; it++) {
        xl = x;
        x = 1.0L + c * powl(x, rl + 1.0L);
        if (!(x - xl > LDBL_EPSILON * x))
            break;
    }
    return logl(1.0L - p * x) - logl((rl + 1.0L - rl * x) * q) -
           ((long double)n + 1.0L) * logl(x);
}

static void pred_estimate(struct assess_pred *o, unsigned k)
{
    double pg = (double)o->c / (double)o->n, pmax;
    const long double target = logl(0.99L);

    if (o->c > 0) {
        o->p_global = pg + ZALPHA * sqrt(pg * (1.0 - pg) /
                                         ((double)o->n - 1.0));
        if (o->p_global > 1.0)
            o->p_global = 1.0;
    } else {
        o->p_global = 1.0 - pow(0.01, 1.0 / (double)o->n);
    }
    pmax = 1.0 / (double)k;
    if (o->p_global > pmax)
        pmax = o->p_global;
    o->p_local = -1.0;

    /* P_local matters only if a run of r at pmax is still unlikely */
    if (pmax < 1.0 && pred_log_norun(pmax, o->r, o->n) > target) {
        long double lo = pmax, hi = 1.0L;

        for (int it = 0; it < 200; it++) {
            long double mid = 0.5L * (lo + hi), v;

            if (!(mid > lo && mid < hi))
                break;
            v = pred_log_norun(mid, o->r, o->n);
            if (v > target)
                lo = mid;
            else
                hi = mid;   /* also where the formula breaks down near 1 */
        }
        o->p_local = (double)(0.5L * (lo + hi));
        if (o->p_local > pmax)
            pmax = o->p_local;
    }
    o->h = assess_neg_log2(pmax);
}

/* Score keeping shared by the four predictors. */
struct pred_score {
    uint64_t c, n, run, maxrun;
};

static void score_hit(struct pred_score *sc)
{
    sc->c++;
    if (++sc->run > sc->maxrun)
        sc->maxrun = sc->run;
}

static void pred_finish(struct assess_pred *o, const struct pred_score *sc,
                        unsigned k)
{
    o->c = sc->c;
    o->n = sc->n;
    o->r = sc->maxrun + 1;      /* 90B's r: one more than the longest run */
    pred_estimate(o, k);
}

/* ------------------------------------------------------------------ */
/* 6.3.7 MultiMCW                                                     */
/* ------------------------------------------------------------------ */

#define MCW_WINDOWS 4
static const uint32_t mcw_w[MCW_WINDOWS] = { 63, 255, 1023, 4095 };

struct mcw_window {
    uint32_t cnt[256];          /* occurrences in the window */
    uint32_t last[256];         /* latest position of each value */
    uint32_t maxc;              /* cnt[mode] */
    unsigned mode;              /* most common, latest among ties */
};

/* Slides window w over position i (value y in, s[i - size] out). */
static void mcw_slide(struct mcw_window *w, const uint8_t *s, uint32_t i,
                      uint32_t size, unsigned kmax)
{
    unsigned y = s[i];
    int out = i >= size;
    unsigned z = out ? s[i - size] : 256u;

    w->cnt[y]++;
    w->last[y] = i;
    if (out)
        w->cnt[z]--;
    if (!out || z != w->mode || z == y) {
        /* the mode lost nothing (or got its value straight back) */
        if (w->cnt[y] >= w->maxc) {
            w->maxc = w->cnt[y];
            w->mode = y;
        }
        return;
    }
    w->maxc = 0;
    for (unsigned v = 0; v < kmax; v++) {
        if (w->cnt[v] > w->maxc ||
            (w->cnt[v] == w->maxc && w->cnt[v] > 0 &&
             w->last[v] > w->last[w->mode])) {
            w->maxc = w->cnt[v];
            w->mode = v;
        }
    }
}

static int pred_multimcw(const uint8_t *s, uint32_t len, unsigned kmax,
                         struct pred_score *sc)
{
    struct mcw_window *w;
    uint64_t score[MCW_WINDOWS] = { 0 };
    unsigned winner = 0;

    if (len < mcw_w[MCW_WINDOWS - 1] + 1)
        return -1;
    w = calloc(MCW_WINDOWS, sizeof(*w));
    if (w == NULL)
        return -1;
    sc->n = len - mcw_w[0];
    for (uint32_t i = 0; i < len; i++) {
        if (i >= mcw_w[0]) {
            if (w[winner].mode == s[i])
                score_hit(sc);
            else
                sc->run = 0;
            for (unsigned j = 0; j < MCW_WINDOWS; j++) {
                if (i >= mcw_w[j] && w[j].mode == s[i] &&
                    ++score[j] >= score[winner])
                    winner = j;
            }
        }
        for (unsigned j = 0; j < MCW_WINDOWS; j++)
            mcw_slide(&w[j], s, i, mcw_w[j], kmax);
    }
    free(w);
    return 0;
}

/* ------------------------------------------------------------------ */
/* 6.3.8 Lag                                                          */
/* ------------------------------------------------------------------ */

#define LAG_D 128

static int pred_lag(const uint8_t *s, uint32_t len, struct pred_score *sc)
{
    uint64_t score[LAG_D + 1] = { 0 };
    uint32_t winner = 1;

    if (len < 3)
        return -1;
    sc->n = len - 1;
    for (uint32_t i = 1; i < len; i++) {
        uint32_t dmax = i < LAG_D ? i : LAG_D;
        uint8_t y = s[i];

        if (s[i - winner] == y)
            score_hit(sc);
        else
            sc->run = 0;
        for (uint32_t d = 1; d <= dmax; d++) {
            if (s[i - d] == y && ++score[d] >= score[winner])
                winner = d;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Counting dictionaries for MultiMMC and LZ78Y                       */
/* ------------------------------------------------------------------ */

/*
 * Binary symbols: the context of length m (at most 16) is an m-bit index,
 * the latest symbol in bit 0, so table m holds 2^m pairs of counts.
 * Other alphabets: one open-addressing hash table of records keyed by
 * (context, postfix symbol); the context is named by where it ends in the
 * sample buffer (end = one past its last symbol) and its length.  The
 * record with sym == DICT_PREFIX stands for the context itself and keeps
 * its prediction: the postfix seen most often, the larger one on a tie.
 */
#define DICT_MAXLEN 16
#define DICT_PREFIX 256u

struct dict_rec {
    uint32_t end;               /* 0: empty slot */
    uint32_t count;             /* pair: count; prefix: best count */
    uint16_t sym;               /* postfix symbol or DICT_PREFIX */
    uint8_t len;                /* context length, 1..DICT_MAXLEN */
    uint8_t pred;               /* prefix: the predicted postfix */
};

struct dict {
    const uint8_t *s;
    struct dict_rec *slot;
    size_t mask, used;
};

static uint64_t dict_mix(uint64_t h, uint8_t v)
{
    return (h ^ v) * 0x100000001b3ULL;
}

#define DICT_SEED 0xcbf29ce484222325ULL

/* Hash of the context of length len ending before end (latest first). */
static uint64_t dict_ctx_hash(const uint8_t *s, uint32_t end, unsigned len)
{
    uint64_t h = DICT_SEED;

    for (unsigned m = 1; m <= len; m++)
        h = dict_mix(h, s[end - m]);
    return h;
}

static size_t dict_slot_of(uint64_t hctx, unsigned len, unsigned sym)
{
    uint64_t z = hctx + 0x9e3779b97f4a7c15ULL * ((uint64_t)len << 9 | sym);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (size_t)(z ^ (z >> 31));
}

static int dict_init(struct dict *d, const uint8_t *s)
{
    d->s = s;
    d->mask = (1u << 16) - 1;
    d->used = 0;
    d->slot = calloc(d->mask + 1, sizeof(*d->slot));
    return d->slot != NULL ? 0 : -1;
}

static int dict_grow(struct dict *d)
{
    size_t ncap = 2 * (d->mask + 1);
    struct dict_rec *ns = calloc(ncap, sizeof(*ns));

    if (ns == NULL)
        return -1;
    for (size_t i = 0; i <= d->mask; i++) {
        struct dict_rec *r = &d->slot[i];
        size_t h;

        if (r->end == 0)
            continue;
        h = dict_slot_of(dict_ctx_hash(d->s, r->end, r->len), r->len, r->sym);
        while (ns[h & (ncap - 1)].end != 0)
            h++;
        ns[h & (ncap - 1)] = *r;
    }
    free(d->slot);
    d->slot = ns;
    d->mask = ncap - 1;
    return 0;
}

/*
 * The record of (context of length len ending before end, sym), hctx its
 * context hash.  Not found: NULL, or with create a new zeroed record
 * (NULL also when memory ran out: *oom is then set).  create == 2: the
 * caller knows the record is absent; it is added without a search.
 */
static struct dict_rec *dict_get(struct dict *d, uint32_t end, unsigned len,
                                 unsigned sym, uint64_t hctx, int create,
                                 int *oom)
{
    size_t h = dict_slot_of(hctx, len, sym);

    for (; create != 2; h++) {
        struct dict_rec *r = &d->slot[h & d->mask];

        if (r->end == 0)
            break;
        if (r->len == len && r->sym == sym &&
            memcmp(d->s + r->end - len, d->s + end - len, len) == 0)
            return r;
    }
    if (!create)
        return NULL;
    if (2 * (d->used + 1) > d->mask + 1) {
        if (dict_grow(d) != 0) {
            *oom = 1;
            return NULL;
        }
        return dict_get(d, end, len, sym, hctx, create, oom);
    }
    for (h = dict_slot_of(hctx, len, sym); d->slot[h & d->mask].end != 0; h++)
        ;
    d->used++;
    d->slot[h & d->mask] = (struct dict_rec){ end, 0, (uint16_t)sym,
                                              (uint8_t)len, 0 };
    return &d->slot[h & d->mask];
}

/* Counts postfix y after prefix record p; creates the pair if allowed
 * (known_new: p was just made, so the pair cannot exist yet).
 * Returns 1 if a new pair was made, 0 if not, -1 out of memory. */
static int dict_count(struct dict *d, struct dict_rec *p, uint8_t y,
                      uint32_t end, uint64_t hctx, int may_add, int known_new)
{
    int oom = 0, made = 0;
    unsigned len = p->len;
    struct dict_rec *q = NULL;

    if (!known_new)
        q = dict_get(d, end, len, y, hctx, 0, &oom);
    if (q == NULL) {
        size_t cap = d->mask;

        if (!may_add)
            return 0;
        q = dict_get(d, end, len, y, hctx, 2, &oom);
        if (q == NULL)
            return -1;
        made = 1;
        /* p moved if the table grew: find it again */
        if (d->mask != cap)
            p = dict_get(d, end, len, DICT_PREFIX, hctx, 0, &oom);
    }
    q->count++;
    if (q->count > p->count || (q->count == p->count && y > p->pred)) {
        p->count = q->count;
        p->pred = y;
    }
    return made;
}

/* Prefix record for the context, created (empty, *made = 1) if absent. */
static struct dict_rec *dict_prefix(struct dict *d, uint32_t end,
                                    unsigned len, uint64_t hctx, int *made,
                                    int *oom)
{
    struct dict_rec *p = dict_get(d, end, len, DICT_PREFIX, hctx, 0, oom);

    *made = p == NULL;
    return p != NULL ? p : dict_get(d, end, len, DICT_PREFIX, hctx, 2, oom);
}

/* Binary tables: tab[m] has 2 << m counts for contexts of length m. */
static uint32_t *bin_tables(uint32_t **tab)
{
    size_t total = 0, off = 0;
    uint32_t *all;

    for (unsigned m = 1; m <= DICT_MAXLEN; m++)
        total += (size_t)2 << m;
    all = calloc(total, sizeof(*all));
    if (all == NULL)
        return NULL;
    for (unsigned m = 1; m <= DICT_MAXLEN; m++) {
        tab[m] = all + off;
        off += (size_t)2 << m;
    }
    return all;
}

/* Context of length m ending before end, as an m-bit index. */
static uint32_t bin_ctx(const uint8_t *s, uint32_t end, unsigned m)
{
    uint32_t c = 0;

    for (unsigned j = 1; j <= m; j++)
        c |= (uint32_t)s[end - j] << (j - 1);
    return c;
}

/* ------------------------------------------------------------------ */
/* 6.3.9 MultiMMC                                                     */
/* ------------------------------------------------------------------ */

#define MMC_D 16
#define MMC_MAX_ENTRIES 100000

/* Scores subpredictor d's prediction (found: it made one). */
static void mmc_score(struct pred_score *sc, uint64_t *score, unsigned *winner,
                      unsigned cur_winner, unsigned d, int right)
{
    if (right) {
        if (++score[d] >= score[*winner])
            *winner = d;
        if (d == cur_winner)
            score_hit(sc);
    } else if (d == cur_winner) {
        sc->run = 0;
    }
}

static int mmc_binary(const uint8_t *s, uint32_t len, struct pred_score *sc)
{
    uint32_t *tab[DICT_MAXLEN + 1], *all = bin_tables(tab);
    uint64_t score[MMC_D] = { 0 }, entries[MMC_D] = { 0 };
    unsigned winner = 0;

    if (all == NULL)
        return -1;
    for (unsigned d = 0; d < MMC_D && d + 2 < len; d++) {
        tab[d + 1][2 * bin_ctx(s, d + 1, d + 1) + s[d + 1]] = 1;
        entries[d] = 1;
    }
    for (uint32_t i = 2; i < len; i++) {
        unsigned cur_winner = winner, y = s[i];
        uint32_t ctx = 0;
        int found = 0;

        for (unsigned d = 0; d < MMC_D && d + 2 <= i; d++) {
            uint32_t *e;

            ctx |= (uint32_t)s[i - d - 1] << d;
            e = tab[d + 1] + 2 * ctx;
            if (d == 0 || found)
                found = e[0] > 0 || e[1] > 0;
            if (found)
                mmc_score(sc, score, &winner, cur_winner, d,
                          (e[0] > e[1] ? 0u : 1u) == y);
            if (e[y] != 0) {
                e[y]++;
            } else if (entries[d] < MMC_MAX_ENTRIES) {
                e[y] = 1;
                entries[d]++;
            }
        }
    }
    free(all);
    return 0;
}

static int mmc_dict(const uint8_t *s, uint32_t len, struct pred_score *sc)
{
    struct dict dc;
    uint64_t score[MMC_D] = { 0 }, entries[MMC_D] = { 0 };
    unsigned winner = 0;
    int oom = 0, rc = -1;

    if (dict_init(&dc, s) != 0)
        return -1;
    for (unsigned d = 0; d < MMC_D && d + 2 < len; d++) {
        uint64_t h = dict_ctx_hash(s, d + 1, d + 1);
        int fresh;
        struct dict_rec *p = dict_prefix(&dc, d + 1, d + 1, h, &fresh, &oom);

        if (p == NULL || dict_count(&dc, p, s[d + 1], d + 1, h, 1, fresh) < 0)
            goto oom;
        entries[d] = 1;
    }
    for (uint32_t i = 2; i < len; i++) {
        unsigned cur_winner = winner;
        uint8_t y = s[i];
        uint64_t h = DICT_SEED;
        int found = 0;

        for (unsigned d = 0; d < MMC_D && d + 2 <= i; d++) {
            struct dict_rec *p = NULL;
            int made, fresh;

            h = dict_mix(h, s[i - d - 1]);
            if (d == 0 || found) {
                p = dict_get(&dc, i, d + 1, DICT_PREFIX, h, 0, &oom);
                found = p != NULL;
            }
            if (found) {
                mmc_score(sc, score, &winner, cur_winner, d, p->pred == y);
                made = dict_count(&dc, p, y, i, h,
                                  entries[d] < MMC_MAX_ENTRIES, 0);
            } else if (entries[d] < MMC_MAX_ENTRIES) {
                p = dict_prefix(&dc, i, d + 1, h, &fresh, &oom);
                made = p != NULL ? dict_count(&dc, p, y, i, h, 1, fresh) : -1;
                made = made < 0 ? -1 : 1;
            } else {
                continue;
            }
            if (made < 0)
                goto oom;
            entries[d] += (uint64_t)made;
        }
    }
    rc = 0;
oom:
    free(dc.slot);
    return rc;
}

static int pred_multimmc(const uint8_t *s, uint32_t len, unsigned kmax,
                         struct pred_score *sc)
{
    if (len < 3)
        return -1;
    sc->n = len - 2;
    return kmax <= 2 ? mmc_binary(s, len, sc) : mmc_dict(s, len, sc);
}

/* ------------------------------------------------------------------ */
/* 6.3.10 LZ78Y                                                       */
/* ------------------------------------------------------------------ */

#define LZ_B 16
#define LZ_MAX_DICT 65536

/* Keeps the prediction of the longest context with the highest count. */
static void lz_offer(uint32_t count, unsigned y, uint32_t *best,
                     unsigned *pred)
{
    if (count > *best) {
        *best = count;
        *pred = y;
    }
}

static void lz_check(struct pred_score *sc, uint32_t best, unsigned pred,
                     unsigned y)
{
    if (best > 0 && pred == y)
        score_hit(sc);
    else
        sc->run = 0;
}

static int lz_binary(const uint8_t *s, uint32_t len, struct pred_score *sc)
{
    uint32_t *tab[DICT_MAXLEN + 1], *all = bin_tables(tab);
    uint32_t dict = 0;

    if (all == NULL)
        return -1;
    for (unsigned m = 1; m <= LZ_B; m++, dict++)
        tab[m][2 * bin_ctx(s, LZ_B, m) + s[LZ_B]] = 1;
    for (uint32_t i = LZ_B + 1; i < len; i++) {
        uint32_t full = bin_ctx(s, i, LZ_B), best = 0;
        unsigned pred = 0, y = s[i];

        for (unsigned m = LZ_B; m >= 1; m--) {
            uint32_t *e = tab[m] + 2 * (full & ((1u << m) - 1));

            if (e[0] > 0 || e[1] > 0) {
                lz_offer(e[0] > e[1] ? e[0] : e[1], e[0] > e[1] ? 0 : 1,
                         &best, &pred);
                e[y]++;
            } else if (dict < LZ_MAX_DICT) {
                e[y] = 1;
                dict++;
            }
        }
        lz_check(sc, best, pred, y);
    }
    free(all);
    return 0;
}

static int lz_dict(const uint8_t *s, uint32_t len, struct pred_score *sc)
{
    struct dict dc;
    uint64_t hs[LZ_B + 1];
    uint32_t dict = 0;
    int oom = 0, rc = -1;

    if (dict_init(&dc, s) != 0)
        return -1;
    for (unsigned m = 1; m <= LZ_B; m++, dict++) {
        uint64_t h = dict_ctx_hash(s, LZ_B, m);
        int fresh;
        struct dict_rec *p = dict_prefix(&dc, LZ_B, m, h, &fresh, &oom);

        if (p == NULL || dict_count(&dc, p, s[LZ_B], LZ_B, h, 1, fresh) < 0)
            goto oom;
    }
    for (uint32_t i = LZ_B + 1; i < len; i++) {
        uint32_t best = 0;
        unsigned pred = 0;
        uint8_t y = s[i];

        hs[0] = DICT_SEED;
        for (unsigned m = 1; m <= LZ_B; m++)
            hs[m] = dict_mix(hs[m - 1], s[i - m]);
        for (unsigned m = LZ_B; m >= 1; m--) {
            struct dict_rec *p = dict_get(&dc, i, m, DICT_PREFIX, hs[m], 0,
                                          &oom);
            int fresh = 0;

            if (p != NULL) {
                lz_offer(p->count, p->pred, &best, &pred);
            } else if (dict < LZ_MAX_DICT) {
                p = dict_get(&dc, i, m, DICT_PREFIX, hs[m], 2, &oom);
                if (p == NULL)
                    goto oom;
                fresh = 1;
                dict++;
            } else {
                continue;
            }
            if (dict_count(&dc, p, y, i, hs[m], 1, fresh) < 0)
                goto oom;
        }
        lz_check(sc, best, pred, y);
    }
    rc = 0;
oom:
    free(dc.slot);
    return rc;
}

static int pred_lz78y(const uint8_t *s, uint32_t len, unsigned kmax,
                      struct pred_score *sc)
{
    if (len < LZ_B + 2)
        return -1;
    sc->n = len - LZ_B - 1;
    return kmax <= 2 ? lz_binary(s, len, sc) : lz_dict(s, len, sc);
}

/* ------------------------------------------------------------------ */
/* entry points                                                       */
/* ------------------------------------------------------------------ */

static void pred_clear(struct assess_pred *o)
{
    o->h = o->p_global = o->p_local = -1.0;
    o->c = o->n = o->r = 0;
}

int assess_predictors_sym(const uint8_t *sym, size_t len, unsigned k,
                          struct assess_pred out[ASSESS_NPRED])
{
    unsigned kmax = 0;
    int rc = 0;

    for (unsigned j = 0; j < ASSESS_NPRED; j++)
        pred_clear(&out[j]);
    if (sym == NULL || len > 8 * ASSESS_MAX_SAMPLES || k == 0)
        return -1;
    for (size_t i = 0; i < len; i++)
        if (sym[i] >= kmax)
            kmax = sym[i] + 1u;

    for (unsigned j = 0; j < ASSESS_NPRED; j++) {
        struct pred_score sc = { 0, 0, 0, 0 };
        uint32_t n32 = (uint32_t)len;
        int r;

        switch (j) {
        case ASSESS_MULTIMCW:
            r = pred_multimcw(sym, n32, kmax, &sc);
            break;
        case ASSESS_LAG:
            r = pred_lag(sym, n32, &sc);
            break;
        case ASSESS_MULTIMMC:
            r = pred_multimmc(sym, n32, kmax, &sc);
            break;
        default:
            r = pred_lz78y(sym, n32, kmax, &sc);
            break;
        }
        if (r == 0 && sc.n > 1)
            pred_finish(&out[j], &sc, k);
        else if (sc.n > 0)
            rc = -1;    /* enough samples, so it was memory */
    }
    return rc;
}

int assess_predictors(const uint8_t *s, size_t n, int bitstring,
                      struct assess_pred out[ASSESS_NPRED])
{
    uint8_t *bits;
    int rc;

    if (!assess_n_ok(s, n)) {
        for (unsigned j = 0; j < ASSESS_NPRED; j++)
            pred_clear(&out[j]);
        return -1;
    }
    if (!bitstring) {
        unsigned seen[256] = { 0 }, k = 0;

        for (size_t i = 0; i < n; i++)
            seen[s[i]] = 1;
        for (unsigned v = 0; v < 256; v++)
            k += seen[v];
        return assess_predictors_sym(s, n, k, out);
    }
    bits = assess_expand_bits(s, n);
    if (bits == NULL) {
        for (unsigned j = 0; j < ASSESS_NPRED; j++)
            pred_clear(&out[j]);
        return -1;
    }
    rc = assess_predictors_sym(bits, 8 * n, 2, out);
    free(bits);
    return rc;
}

/*
 * test-assess.c - cmocka tests for common/assess.c (SP 800-90B 6.3
 * non-IID estimators).
 *
 * Reference values: tests/data/<name>.ea_non_iid.txt are the verbose (-v)
 * outputs of NIST's ea_non_iid (SP800-90B_EntropyAssessment, 8 bits per
 * symbol) on the three sample files next to them.  The test parses the
 * per-estimator summary lines ("... Estimate (bit string) = x / 1 bit(s)")
 * and compares every estimator with them, the predictors' counts (N, C, r)
 * exactly, and the combined H_original, H_bitstring and minimum.
 *
 * Tolerance: NIST_TOL = 1e-5 bits.  The summary lines are rounded to 6
 * decimals (error <= 5e-7); against NIST's full-precision p_u / p values
 * our estimates agree to ~1e-14 on both files, so 1e-5 only absorbs the
 * printing and any libm / long double differences between platforms (on
 * targets where long double is just double the t-Tuple/LRS p_u lose a few
 * digits, still far below 1e-5).  This is much tighter than the 0.01 bit
 * that was asked for; no estimator needed a looser bound.
 *
 * The data directory comes from -DTEST_DATA_DIR="..." (default
 * "tests/data", i.e. run from the source root).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <cmocka.h>

#include "assess.h"

#ifndef TEST_DATA_DIR
#define TEST_DATA_DIR "tests/data"
#endif

#define NIST_TOL 1e-5

/* ---- helpers ---- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint8_t *load_file(const char *name, size_t *n)
{
    char path[1024];
    FILE *f;
    long len;
    uint8_t *buf;

    snprintf(path, sizeof(path), "%s/%s", TEST_DATA_DIR, name);
    f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s (set -DTEST_DATA_DIR)", path);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    len = ftell(f);
    assert_true(len > 0);
    rewind(f);
    buf = malloc((size_t)len + 1);  /* +1: text files get a NUL */
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    buf[len] = 0;
    *n = (size_t)len;
    return buf;
}

/* Bitstring of s, MSB first, one symbol (0/1) per byte. */
static uint8_t *to_bits(const uint8_t *s, size_t n)
{
    uint8_t *b = malloc(8 * n);
    assert_non_null(b);
    for (size_t i = 0; i < 8 * n; i++)
        b[i] = (uint8_t)((s[i / 8] >> (7 - i % 8)) & 1);
    return b;
}

/* ---- NIST ea_non_iid output parsing ---- */

struct nist_ref {
    double mcv, collision, markov, compression, tuple, lrs;
    double mcv_bits, tuple_bits, lrs_bits;
    double pred[ASSESS_NPRED], pred_bits[ASSESS_NPRED];
    /* N, C, r of "<view> <name> Prediction Estimate: N = .. (C = ..) (r = ..)" */
    uint64_t pn[2][ASSESS_NPRED], pc[2][ASSESS_NPRED], pr[2][ASSESS_NPRED];
    double h_original, h_bitstring, h_min;
};

static const char *const pred_summary[ASSESS_NPRED] = {
    "Multi Most Common in Window (MultiMCW) Prediction Test Estimate",
    "Lag Prediction Test Estimate",
    "Multi Markov Model with Counting (MultiMMC) Prediction Test Estimate",
    "LZ78Y Prediction Test Estimate",
};
static const char *const pred_name[ASSESS_NPRED] = {
    "MultiMCW", "Lag", "MultiMMC", "LZ78Y",
};

/* N, C and r from NIST's detail line for one predictor and view. */
static void nist_counts(const char *text, const char *view, const char *name,
                        uint64_t *n, uint64_t *c, uint64_t *r)
{
    char label[128];
    const char *p, *q;

    snprintf(label, sizeof(label), "%s %s Prediction Estimate: N = ", view,
             name);
    p = strstr(text, label);
    if (p == NULL)
        fail_msg("'%s' not found in NIST output", label);
    *n = strtoull(p + strlen(label), NULL, 10);
    q = strstr(p, "(C = ");
    assert_non_null(q);
    *c = strtoull(q + 5, NULL, 10);
    q = strstr(q, "(r = ");
    assert_non_null(q);
    *r = strtoull(q + 5, NULL, 10);
}

/* Value of the line that starts (after whitespace) with exactly `label`
 * followed by " = " or ": "; fails the test if absent. */
static double nist_value(const char *text, const char *label)
{
    const char *p = text;
    size_t ll = strlen(label);

    while (*p != '\0') {
        const char *line = p, *eol = strchr(p, '\n');

        while (*line == ' ' || *line == '\t')
            line++;
        if (strncmp(line, label, ll) == 0 &&
            (strncmp(line + ll, " = ", 3) == 0 ||
             strncmp(line + ll, ": ", 2) == 0))
            return strtod(line + ll + (line[ll] == ' ' ? 3 : 2), NULL);
        if (eol == NULL)
            break;
        p = eol + 1;
    }
    fail_msg("label '%s' not found in NIST output", label);
    return -1.0;
}

static void nist_load(const char *name, struct nist_ref *r)
{
    size_t len;
    char *t = (char *)load_file(name, &len);

    r->mcv = nist_value(t, "Most Common Value Estimate");
    r->mcv_bits = nist_value(t, "Most Common Value Estimate (bit string)");
    r->collision = nist_value(t, "Collision Test Estimate (bit string)");
    r->markov = nist_value(t, "Markov Test Estimate (bit string)");
    r->compression = nist_value(t, "Compression Test Estimate (bit string)");
    r->tuple = nist_value(t, "T-Tuple Test Estimate");
    r->tuple_bits = nist_value(t, "T-Tuple Test Estimate (bit string)");
    r->lrs = nist_value(t, "LRS Test Estimate");
    r->lrs_bits = nist_value(t, "LRS Test Estimate (bit string)");
    for (int j = 0; j < ASSESS_NPRED; j++) {
        char bl[160];

        r->pred[j] = nist_value(t, pred_summary[j]);
        snprintf(bl, sizeof(bl), "%s (bit string)", pred_summary[j]);
        r->pred_bits[j] = nist_value(t, bl);
        nist_counts(t, "Literal", pred_name[j], &r->pn[0][j], &r->pc[0][j],
                    &r->pr[0][j]);
        nist_counts(t, "Bitstring", pred_name[j], &r->pn[1][j], &r->pc[1][j],
                    &r->pr[1][j]);
    }
    r->h_original = nist_value(t, "H_original");
    r->h_bitstring = nist_value(t, "H_bitstring");
    r->h_min = nist_value(t, "min(H_original, 8 X H_bitstring)");
    free(t);
}

/* A row of the comparison; returns 1 when it is off by more than NIST_TOL. */
static int nist_row(const char *name, double ours, double nist)
{
    double d = ours - nist;
    int bad = !(fabs(d) <= NIST_TOL);

    print_message("  %-18s %12.6f %12.6f %10.1e%s\n", name, ours, nist, d,
                  bad ? "  <-- FAIL" : "");
    return bad;
}

/* Predictor counts must be NIST's exactly: 1 if not. */
static int nist_counts_row(const char *view, int j, const struct assess_pred *p,
                           const struct nist_ref *ref, int v)
{
    int bad = p->n != ref->pn[v][j] || p->c != ref->pc[v][j] ||
              p->r != ref->pr[v][j];

    print_message("  %-9s %-9s N %8llu C %8llu r %5llu%s\n", view,
                  pred_name[j], (unsigned long long)p->n,
                  (unsigned long long)p->c, (unsigned long long)p->r,
                  bad ? "  <-- FAIL (NIST differs)" : "  = NIST");
    return bad;
}

/* Compare every estimator, and the combination, with ea_non_iid. */
static void check_against_nist(const char *bin, const char *txt,
                               const char *limit)
{
    struct nist_ref ref;
    struct assess_result r;
    size_t n;
    uint8_t *s = load_file(bin, &n);
    int bad = 0;
    double lit, bit;

    nist_load(txt, &ref);
    assert_int_equal(assess_run(s, n, &r), 0);
    free(s);

    print_message("%s (n = %zu)\n", bin, n);
    print_message("  %-18s %12s %12s %10s\n", "estimator", "ours", "NIST",
                  "diff");
    bad += nist_row("MCV literal", r.mcv, ref.mcv);
    bad += nist_row("t-Tuple literal", r.tuple, ref.tuple);
    bad += nist_row("LRS literal", r.lrs, ref.lrs);
    for (int j = 0; j < ASSESS_NPRED; j++)
        bad += nist_row(pred_name[j], r.pred[j].h, ref.pred[j]);
    bad += nist_row("MCV bits", r.mcv_bits, ref.mcv_bits);
    bad += nist_row("Collision bits", r.collision, ref.collision);
    bad += nist_row("Markov bits", r.markov, ref.markov);
    bad += nist_row("Compression bits", r.compression, ref.compression);
    bad += nist_row("t-Tuple bits", r.tuple_bits, ref.tuple_bits);
    bad += nist_row("LRS bits", r.lrs_bits, ref.lrs_bits);
    for (int j = 0; j < ASSESS_NPRED; j++)
        bad += nist_row(pred_name[j], r.pred_bits[j].h, ref.pred_bits[j]);
    for (int j = 0; j < ASSESS_NPRED; j++) {
        bad += nist_counts_row("literal", j, &r.pred[j], &ref, 0);
        bad += nist_counts_row("bitstring", j, &r.pred_bits[j], &ref, 1);
    }
    bad += nist_row("H_original", r.h_original, ref.h_original);
    bad += nist_row("H_bitstring", r.h_bitstring, ref.h_bitstring);
    bad += nist_row("h_min", r.h_min, ref.h_min);
    assert_int_equal(bad, 0);

    /* and the combination rule itself */
    lit = fmin(r.mcv, fmin(r.tuple, r.lrs));
    bit = fmin(fmin(r.mcv_bits, r.collision),
               fmin(fmin(r.markov, r.compression),
                    fmin(r.tuple_bits, r.lrs_bits)));
    for (int j = 0; j < ASSESS_NPRED; j++) {
        lit = fmin(lit, r.pred[j].h);
        bit = fmin(bit, r.pred_bits[j].h);
    }
    assert_true(r.h_original == lit);
    assert_true(r.h_bitstring == bit);
    assert_true(r.h_min == fmin(r.h_original, 8.0 * r.h_bitstring));
    /* the estimator NIST's printout shows with the minimum's figure */
    assert_string_equal(assess_limiting(&r, 0), limit);
}

/* 1,000,000 samples, 57 distinct values (k = 57 for the predictors). */
static void test_nist_low8(void **state)
{
    (void)state;
    check_against_nist("tsc-all-deltas-low8.bin",
                       "tsc-all-deltas-low8.ea_non_iid.txt",
                       "t-Tuple (6.3.5), literal");
}

/* 149,013 samples, 256 values: H_original (5.949379) is MultiMCW's. */
static void test_nist_jumps(void **state)
{
    (void)state;
    check_against_nist("tsc-jumps-folded.bin",
                       "tsc-jumps-folded.ea_non_iid.txt",
                       "MultiMCW prediction (6.3.7), literal");
}

/* 400,000 samples of preemptd's raw output: 6.306919, MultiMCW again. */
static void test_nist_raw400k(void **state)
{
    (void)state;
    check_against_nist("preemptd-raw-400k.bin",
                       "preemptd-raw-400k.ea_non_iid.txt",
                       "MultiMCW prediction (6.3.7), literal");
}

/* ---- constant and uniform data ---- */

/* Every estimator must give (about) 0 on constant data.  For a byte whose
 * bits are not all equal only the literal view is constant. */
static void check_constant(uint8_t value, int bits_constant)
{
    const size_t n = 100000;
    uint8_t *s = malloc(n);
    struct assess_result r;

    assert_non_null(s);
    memset(s, value, n);
    assert_true(assess_mcv(s, n) == 0.0);
    assert_int_equal(assess_run(s, n, &r), 0);
    assert_true(r.mcv == 0.0);
    assert_true(r.tuple >= 0.0 && r.tuple < 1e-9);
    assert_true(r.lrs >= 0.0 && r.lrs < 1e-9);
    assert_true(r.h_original >= 0.0 && r.h_original < 1e-9);
    assert_true(r.h_min >= 0.0 && r.h_min < 1e-9);
    if (bits_constant) {
        assert_true(assess_mcv_bits(s, n) == 0.0);
        assert_true(r.mcv_bits == 0.0);
        assert_true(r.collision >= 0.0 && r.collision < 1e-9);
        assert_true(r.markov >= 0.0 && r.markov < 1e-9);
        assert_true(r.compression >= 0.0 && r.compression < 1e-9);
        assert_true(r.tuple_bits >= 0.0 && r.tuple_bits < 1e-9);
        assert_true(r.lrs_bits >= 0.0 && r.lrs_bits < 1e-9);
        assert_true(r.h_bitstring >= 0.0 && r.h_bitstring < 1e-9);
    }
    free(s);
}

static void test_constant(void **state)
{
    (void)state;
    check_constant(0x00, 1);
    check_constant(0xff, 1);
    check_constant(0x5c, 0);
}

/* Ideal bytes.  The six older estimators run on 10^6 samples as
 * assess_run would; the predictors on the first 200,000 only, to keep
 * the test quick under sanitizers (they are pinned to NIST below). */
static void test_uniform(void **state)
{
    const size_t n = 1000000, np = 200000;
    uint8_t *s = malloc(n);
    uint64_t seed = 0x0123456789abcdefULL;
    struct assess_result r;
    struct assess_pred p[ASSESS_NPRED], pb[ASSESS_NPRED];

    (void)state;
    assert_non_null(s);
    for (size_t i = 0; i < n; i += 8) {
        uint64_t x = splitmix64(&seed);
        for (size_t j = 0; j < 8 && i + j < n; j++)
            s[i + j] = (uint8_t)(x >> (8 * j));
    }
    r.mcv = assess_mcv(s, n);
    r.mcv_bits = assess_mcv_bits(s, n);
    r.collision = assess_collision(s, n);
    r.markov = assess_markov(s, n);
    r.compression = assess_compression(s, n);
    assert_int_equal(assess_tuple_lrs(s, n, 0, &r.tuple, &r.lrs), 0);
    assert_int_equal(assess_tuple_lrs(s, n, 1, &r.tuple_bits, &r.lrs_bits), 0);
    assert_int_equal(assess_predictors(s, np, 0, p), 0);
    assert_int_equal(assess_predictors(s, np, 1, pb), 0);
    print_message("uniform: mcv %.4f tuple %.4f lrs %.4f | bits: mcv %.4f "
                  "coll %.4f markov %.4f comp %.4f tuple %.4f lrs %.4f\n",
                  r.mcv, r.tuple, r.lrs, r.mcv_bits, r.collision, r.markov,
                  r.compression, r.tuple_bits, r.lrs_bits);
    assert_true(r.mcv > 7.8 && r.mcv <= 8.0);
    assert_true(r.tuple > 7.8 && r.tuple <= 8.0);
    assert_true(r.lrs > 7.5 && r.lrs <= 8.0);
    assert_true(r.mcv_bits > 0.99 && r.mcv_bits <= 1.0);
    assert_true(r.collision > 0.9 && r.collision <= 1.0);
    assert_true(r.markov > 0.99 && r.markov <= 1.0);
    assert_true(r.compression > 0.8 && r.compression <= 1.0);
    /* the bitstring t-Tuple estimate is ~0.93 even for ideal bits */
    assert_true(r.tuple_bits > 0.9 && r.tuple_bits <= 1.0);
    assert_true(r.lrs_bits > 0.95 && r.lrs_bits <= 1.0);
    for (int j = 0; j < ASSESS_NPRED; j++) {
        print_message("  %-9s literal %.4f bits %.4f\n", pred_name[j],
                      p[j].h, pb[j].h);
        /* a run of 4 right guesses in 2e5 makes P_local ~ 0.0126 */
        assert_true(p[j].h > 6.0 && p[j].h <= 8.0);
        assert_true(pb[j].h > 0.9 && pb[j].h <= 1.0);
    }
    free(s);
}

/* ---- predictors on data whose answer is known ---- */

static void test_predictor_patterns(void **state)
{
    const size_t n = 20000;
    uint8_t *s = malloc(n);
    uint64_t seed = 42;
    struct assess_pred p[ASSESS_NPRED];

    (void)state;
    assert_non_null(s);

    /* constant: every prediction after warm-up is right, h = 0 */
    memset(s, 0x33, n);
    assert_int_equal(assess_predictors(s, n, 0, p), 0);
    for (int j = 0; j < ASSESS_NPRED; j++) {
        assert_true(p[j].h == 0.0);
        assert_true(p[j].c == p[j].n);
    }

    /* period 7 of distinct values: Lag (lag 7) and MultiMMC learn it at
     * once, so h is near 0; MultiMCW (7 values tied) keeps failing. */
    for (size_t i = 0; i < n; i++)
        s[i] = (uint8_t)(i % 7 * 31);
    assert_int_equal(assess_predictors(s, n, 0, p), 0);
    assert_true(p[ASSESS_LAG].h < 0.01);
    assert_true(p[ASSESS_MULTIMMC].h < 0.01);
    assert_true(p[ASSESS_LZ78Y].h < 0.01);
    assert_true(p[ASSESS_MULTIMCW].h > 2.0);

    /* two values at random: the 1/k floor is 1/2, estimates near 1 bit */
    for (size_t i = 0; i < n; i++)
        s[i] = (splitmix64(&seed) & 1) ? 0xff : 0x00;
    assert_int_equal(assess_predictors(s, n, 0, p), 0);
    for (int j = 0; j < ASSESS_NPRED; j++)
        assert_true(p[j].h > 0.9 && p[j].h <= 1.0);

    /* never right: C = 0 gives P_global' = 1 - 0.01^(1/N) */
    for (size_t i = 0; i < 300; i++)
        s[i] = (uint8_t)i;
    assert_int_equal(assess_predictors(s, 256, 0, p), 0);
    assert_true(p[ASSESS_LAG].c == 0);
    assert_true(fabs(p[ASSESS_LAG].p_global -
                     (1.0 - pow(0.01, 1.0 / 255.0))) < 1e-15);
    free(s);
}

/* ---- 3.1.4 restart tests ---- */

static void test_restart_cutoff(void **state)
{
    (void)state;
    /* H_I = 1: two values of p = 1/2, mean 500, sd 15.8: ~4.6 sd */
    unsigned c1 = assess_restart_cutoff(1.0), c8 = assess_restart_cutoff(8.0);

    print_message("restart cutoffs: H_I 1 -> %u, 4 -> %u, 7.2 -> %u, 8 -> %u\n",
                  c1, assess_restart_cutoff(4.0), assess_restart_cutoff(7.2),
                  c8);
    assert_true(c1 > 560 && c1 < 590);
    assert_true(c8 > 10 && c8 < 25);
    for (double h = 0.5; h < 8.0; h += 0.5)
        assert_true(assess_restart_cutoff(h) >= assess_restart_cutoff(h + 0.5));
    assert_int_equal(assess_restart_cutoff(0.0), ASSESS_RESTART_N);
    assert_int_equal(assess_restart_cutoff(9.0), ASSESS_RESTART_N);
    assert_int_equal(assess_restart_cutoff_k(6.0, 1), ASSESS_RESTART_N);
    assert_true(assess_restart_tail(6.0, 300, 10) == -1.0);
}

/* ea_restart's worst case for (h, k), drawn as it draws it: floor(2^h)
 * values of probability 2^-h, the rest spread over the other values. */
static unsigned simulated_max(double h, unsigned k, uint64_t *seed)
{
    double p = pow(2.0, -h);
    unsigned kmax = (unsigned)floor(1.0 / p), c[256] = { 0 }, max = 0;
    double top = p * kmax, pmin = (1.0 - top) / (k - kmax);

    for (unsigned j = 0; j < ASSESS_RESTART_N; j++) {
        double u = (double)(splitmix64(seed) >> 11) * 0x1.0p-53;
        unsigned v = u < top ? (unsigned)floor(u / p)
                             : kmax + (unsigned)floor((u - top) / pmin);

        if (v >= k)
            v = k - 1;
        if (++c[v] > max)
            max = c[v];
    }
    return max;
}

/* The exact tail the cutoff rests on agrees with a simulation of
 * ea_restart's worst case, where a simulation can measure it. */
static void test_restart_tail_vs_simulation(void **state)
{
    static const struct { double h; unsigned k; } cases[] = {
        { 2.0, 256 }, { 4.416, 256 }, { 5.256, 256 }, { 7.35, 200 },
    };
    const unsigned rounds = 20000;
    uint64_t seed = 2024;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        double h = cases[i].h;
        unsigned k = cases[i].k, u = 1, over = 0;

        /* a u where the tail is large enough to measure: 0.02..0.5 */
        while (assess_restart_tail(h, k, u) > 0.2)
            u++;
        double q = assess_restart_tail(h, k, u);
        for (unsigned r = 0; r < rounds; r++)
            over += simulated_max(h, k, &seed) > u;
        double sim = (double)over / rounds, sd = sqrt(q * (1 - q) / rounds);
        print_message("H_I %.3f, k %u: P[max > %u] exact %.5f, simulated "
                      "%.5f (sd %.5f)\n", h, k, u, q, sim, sd);
        assert_true(q > 0.02 && q <= 0.2);
        assert_true(fabs(sim - q) < 5 * sd);
    }
}

/* Never more lenient than ea_restart (issue 24): its Monte-Carlo cutoff
 * returns below U with probability < 1e-6. ea_restart gave 55 at H_I
 * 5.256 and 84 at 4.416 on the data (8-bit, 256 values); the
 * union bound used before gave 56 and 84. */
static void test_restart_cutoff_vs_nist(void **state)
{
    (void)state;
    assert_true(assess_restart_cutoff_k(5.256, 256) <= 55);
    assert_true(assess_restart_cutoff_k(4.416, 256) <= 84);
    for (double h = 0.25; h <= 8.0; h += 0.25) {
        unsigned u = assess_restart_cutoff_k(h, 256);
        /* P[NIST's cutoff <= u - 1] = P[at most 26 of its 5,000,000
         * simulated rows exceed u - 1]: negligible. */
        double lam = 5e6 * assess_restart_tail(h, 256, u - 1);
        double term = exp(-lam), sum = term;

        for (unsigned i = 1; i <= 26; i++) {
            term *= lam / i;
            sum += term;
        }
        assert_true(sum < 1e-6);
        /* ... while U itself is a value it returns: the tail at U is
         * near ea_restart's alpha (5.03e-6), not far below it. */
        assert_true(assess_restart_tail(h, 256, u) > 1e-6);
        assert_true(assess_restart_tail(h, 256, u) < 5.03e-6 * 4);
    }
}

/* The estimator named is the one whose figure is the minimum: literal or
 * 8 x a bit-string one; the first in ea_non_iid's order on a tie. */
static void test_limiting_estimator(void **state)
{
    struct assess_result r;

    (void)state;
    memset(&r, 0, sizeof(r));
    r.mcv = 7.0; r.tuple = 6.5; r.lrs = 7.5;
    for (int j = 0; j < ASSESS_NPRED; j++) {
        r.pred[j].h = 6.9;
        r.pred_bits[j].h = 0.99;
    }
    r.mcv_bits = 0.99; r.collision = 0.9; r.markov = 0.99;
    r.compression = 0.8; r.tuple_bits = 0.95; r.lrs_bits = -1.0;
    r.h_original = 6.5;
    r.h_bitstring = 0.8;
    r.h_min = 8.0 * 0.8;
    assert_string_equal(assess_limiting(&r, 0),
                        "Compression (6.3.4), bit string");
    assert_string_equal(assess_limiting(&r, 1), "t-Tuple (6.3.5), literal");
    r.h_min = 6.5;
    assert_string_equal(assess_limiting(&r, 0), "t-Tuple (6.3.5), literal");
    r.mcv = 6.5;        /* a tie: MCV comes first */
    assert_string_equal(assess_limiting(&r, 0),
                        "Most Common Value (6.3.1), literal");
    r.h_min = r.h_original = -1.0;
    assert_string_equal(assess_limiting(&r, 0), "none");
    assert_string_equal(assess_limiting(NULL, 0), "none");
}

/* A source that restarts into the same state: every restart begins with
 * the same samples, so each column is constant and the sanity check
 * fails without the (slow) assessment running. */
static void test_restart_sanity_fails(void **state)
{
    const size_t n = ASSESS_RESTART_N;
    uint8_t *m = malloc(n * n);
    uint64_t seed = 99;
    struct assess_restart r;

    (void)state;
    assert_non_null(m);
    for (size_t j = 0; j < n; j++)
        m[j] = (uint8_t)splitmix64(&seed);
    for (size_t i = 1; i < n; i++)
        memcpy(m + i * n, m, n);
    assert_int_equal(assess_restart(m, 6.0, &r), 0);
    assert_int_equal(r.max_col, n);
    assert_true(r.max_row < 20);
    assert_false(r.sanity_ok);
    assert_true(r.h_r == -1.0 && r.h_c == -1.0 && r.h_min == -1.0);
    assert_int_equal(assess_restart(NULL, 6.0, &r), -1);
    assert_int_equal(assess_restart(m, 0.0, &r), -1);
    assert_int_equal(assess_restart(m, 6.0, NULL), -1);
    free(m);
}

/* ---- edge cases ---- */

static void test_too_few_samples(void **state)
{
    const uint8_t one[1] = { 0x42 };
    uint8_t small[100];
    struct assess_result r;
    double t, l;

    (void)state;
    /* NULL / empty */
    assert_true(assess_mcv(NULL, 10) == -1.0);
    assert_true(assess_mcv(one, 0) == -1.0);
    assert_true(assess_collision(NULL, 0) == -1.0);
    assert_int_equal(assess_run(NULL, 5, &r), -1);
    assert_true(r.mcv == -1.0 && r.h_min == -1.0);
    assert_int_equal(assess_run(one, 0, &r), -1);
    assert_int_equal(assess_run(one, 1, NULL), -1);

    /* one sample: MCV needs n >= 2 literal symbols */
    assert_true(assess_mcv(one, 1) == -1.0);
    assert_true(assess_tuple(one, 1) == -1.0);
    assert_true(assess_lrs(one, 1) == -1.0);

    /* 100 distinct symbols: no tuple repeats 35 times, no LRS */
    for (size_t i = 0; i < sizeof(small); i++)
        small[i] = (uint8_t)i;
    assert_int_equal(assess_tuple_lrs(small, sizeof(small), 0, &t, &l), 0);
    assert_true(t == -1.0 && l == -1.0);
    assert_true(assess_tuple(small, sizeof(small)) == -1.0);

    /* compression needs more than 1000 6-bit blocks: 751 samples */
    assert_true(assess_compression(small, sizeof(small)) == -1.0);
    {
        uint8_t *big = calloc(751, 1);
        assert_non_null(big);
        assert_true(assess_compression(big, 750) == -1.0);
        assert_true(assess_compression(big, 751) >= 0.0);
        free(big);
    }

    /* assess_run on too little data still works, skipping what can't run */
    assert_int_equal(assess_run(small, sizeof(small), &r), 0);
    assert_true(r.tuple == -1.0 && r.lrs == -1.0 && r.compression == -1.0);
    assert_true(r.pred[ASSESS_MULTIMCW].h == -1.0);  /* needs 4096 */
    assert_true(r.pred[ASSESS_LAG].h > 0.0);
    assert_true(r.h_original == fmin(r.mcv, fmin(
        fmin(r.pred[ASSESS_LAG].h, r.pred[ASSESS_MULTIMMC].h),
        r.pred[ASSESS_LZ78Y].h)));
    assert_true(r.h_min >= 0.0);
}

/* Markov and collision on hand-computable bit patterns. */
static void test_bit_patterns(void **state)
{
    uint8_t s[4096];

    (void)state;
    /* 1010... : every transition is deterministic, so the most likely
     * 128-bit sequence 0101..01 has probability P_0 = 1/2 -> 1/128;
     * all collision times are 3 -> X = 3 > 2.5 -> no solution -> 1.0 */
    memset(s, 0xaa, sizeof(s));
    assert_true(fabs(assess_markov(s, sizeof(s)) - 1.0 / 128.0) < 1e-12);
    assert_true(assess_collision(s, sizeof(s)) == 1.0);
    /* exactly half ones: p_u = 1/2 + z_alpha sqrt(1/4 / (N-1)), N = 8n */
    assert_true(fabs(assess_mcv_bits(s, sizeof(s)) +
                     log2(0.5 + 2.5758293035489008 *
                          sqrt(0.25 / (8.0 * sizeof(s) - 1.0)))) < 1e-12);
    /* the 8-bit literal view sees a constant */
    assert_true(assess_mcv(s, sizeof(s)) == 0.0);
}

/* ---- t-Tuple / LRS against a brute-force reference ---- */

static const uint8_t *cmp_text;
static size_t cmp_len;

static int cmp_suffix(const void *a, const void *b)
{
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    size_t li = cmp_len - i, lj = cmp_len - j;
    int c = memcmp(cmp_text + i, cmp_text + j, li < lj ? li : lj);

    if (c != 0)
        return c;
    return li < lj ? -1 : 1;
}

/*
 * Straightforward 90B 6.3.5 / 6.3.6 over an explicit symbol string: the
 * suffixes are sorted with qsort/memcmp, and for every t the runs of
 * suffixes sharing t symbols (the occurrences of one t-tuple) are counted
 * directly.
 */
static void brute_tuple_lrs(const uint8_t *text, size_t m, double *tuple,
                            double *lrs)
{
    size_t *idx = malloc(m * sizeof(*idx));
    size_t *lcp = malloc(m * sizeof(*lcp));
    size_t *q = calloc(m + 2, sizeof(*q));
    uint64_t *sum = calloc(m + 2, sizeof(*sum));
    size_t v = 0, u;
    long double pmax;

    assert_true(idx && lcp && q && sum);
    for (size_t i = 0; i < m; i++)
        idx[i] = i;
    cmp_text = text;
    cmp_len = m;
    qsort(idx, m, sizeof(*idx), cmp_suffix);
    lcp[0] = 0;
    for (size_t r = 1; r < m; r++) {
        size_t a = idx[r - 1], b = idx[r], h = 0;
        while (a + h < m && b + h < m && text[a + h] == text[b + h])
            h++;
        lcp[r] = h;
        if (h > v)
            v = h;
    }
    for (size_t t = 1; t <= v; t++) {
        size_t run = 1;
        for (size_t r = 1; r <= m; r++) {
            if (r < m && lcp[r] >= t) {
                run++;
                continue;
            }
            if (run > q[t])
                q[t] = run;
            sum[t] += (uint64_t)run * (run - 1) / 2;
            run = 1;
        }
    }
    for (u = 1; u <= v && q[u] >= 35; u++)
        ;
    *tuple = -1.0;
    pmax = -1.0L;
    for (size_t t = 1; t < u; t++) {
        long double p = powl((long double)q[t] / (long double)(m - t + 1),
                             1.0L / (long double)t);
        if (p > pmax)
            pmax = p;
    }
    if (pmax > 0.0L) {
        long double pu = pmax + 2.575829303548900384158L *
                         sqrtl(pmax * (1.0L - pmax) / (long double)(m - 1));
        *tuple = (double)-log2l(pu < 1.0L ? pu : 1.0L);
    }
    *lrs = -1.0;
    if (v >= u) {
        long double pu;
        pmax = 0.0L;
        for (size_t w = u; w <= v; w++) {
            long double pairs = (long double)(m - w + 1) *
                                (long double)(m - w) / 2.0L;
            long double p = powl((long double)sum[w] / pairs,
                                 1.0L / (long double)w);
            if (p > pmax)
                pmax = p;
        }
        pu = pmax + 2.575829303548900384158L *
             sqrtl(pmax * (1.0L - pmax) / (long double)(m - 1));
        *lrs = (double)-log2l(pu < 1.0L ? pu : 1.0L);
    }
    if (*tuple == 0.0)
        *tuple = 0.0;   /* no -0.0 */
    if (*lrs == 0.0)
        *lrs = 0.0;
    free(idx);
    free(lcp);
    free(q);
    free(sum);
}

static void check_brute(const char *what, const uint8_t *s, size_t n)
{
    double t, l, bt, bl;
    uint8_t *bits = to_bits(s, n);

    assert_int_equal(assess_tuple_lrs(s, n, 0, &t, &l), 0);
    brute_tuple_lrs(s, n, &bt, &bl);
    if (fabs(t - bt) > 1e-12 || fabs(l - bl) > 1e-12)
        fail_msg("%s literal: tuple %.15g vs %.15g, lrs %.15g vs %.15g",
                 what, t, bt, l, bl);
    assert_true(assess_tuple(s, n) == t);
    assert_true(assess_lrs(s, n) == l);

    assert_int_equal(assess_tuple_lrs(s, n, 1, &t, &l), 0);
    brute_tuple_lrs(bits, 8 * n, &bt, &bl);
    if (fabs(t - bt) > 1e-12 || fabs(l - bl) > 1e-12)
        fail_msg("%s bits: tuple %.15g vs %.15g, lrs %.15g vs %.15g",
                 what, t, bt, l, bl);
    assert_true(assess_tuple_bits(s, n) == t);
    assert_true(assess_lrs_bits(s, n) == l);
    free(bits);
}

static void test_tuple_lrs_brute(void **state)
{
    const size_t n = 2500;
    uint8_t *s = malloc(n);
    uint64_t seed = 42;
    size_t flen, fib_a = 1, fib_b = 1;
    uint8_t *file;

    (void)state;
    assert_non_null(s);

    /* skewed bytes: geometric-like, low bits biased */
    for (size_t i = 0; i < n; i++) {
        uint64_t x = splitmix64(&seed);
        unsigned k = 0;
        while (k < 20 && (x & 3) == 0) {
            k++;
            x >>= 2;
        }
        s[i] = (uint8_t)(k * 16 + (x >> 60));
    }
    check_brute("skewed", s, n);

    /* three-symbol alphabet */
    for (size_t i = 0; i < n; i++)
        s[i] = (uint8_t)(splitmix64(&seed) % 3);
    check_brute("ternary", s, n);

    /* periodic text with 1% corruption (long repeats, t >> 1) */
    for (size_t i = 0; i < n; i++) {
        uint64_t x = splitmix64(&seed);
        s[i] = (x % 100 == 0) ? (uint8_t)(x >> 32) :
               (uint8_t)"preemptd entropy"[i % 16];
    }
    check_brute("periodic", s, n);

    /* Fibonacci word (maximally repetitive: the suffix sorter's worst
     * case) */
    s[0] = 'a';
    for (size_t len = 1; len < n;) {
        /* f_{k+1} = f_k f_{k-1}: append the first fib_a symbols */
        size_t add = fib_a;
        for (size_t i = 0; i < add && len < n; i++)
            s[len++] = s[i];
        fib_a = fib_b;
        fib_b = len;
    }
    check_brute("fibonacci", s, n);

    /* a run of zeros then random bytes, and vice versa */
    for (size_t i = 0; i < n; i++)
        s[i] = i < n / 3 ? 0 : (uint8_t)splitmix64(&seed);
    check_brute("zeros+random", s, n);
    for (size_t i = 0; i < n; i++)
        s[i] = i >= n / 2 ? 0x81 : (uint8_t)(splitmix64(&seed) & 0x0f);
    check_brute("random+run", s, n);

    /* short constant string (LRS spans nearly everything) */
    memset(s, 7, 200);
    check_brute("constant", s, 200);

    /* slices of the real data */
    file = load_file("tsc-jumps-folded.bin", &flen);
    check_brute("jumps[0:2500]", file, flen < n ? flen : n);
    free(file);
    file = load_file("tsc-all-deltas-low8.bin", &flen);
    check_brute("low8[5000:7500]", file + 5000, n);
    free(file);
    free(s);
}

/* Two groups, each a meson test: "portable" (small inputs, every
 * architecture, also under qemu-user in the ARM64 step) and "reference"
 * (the simulations and the comparisons with NIST's figures on the large
 * data files: minutes under qemu, and the ARM64 step checks the same
 * figures through preemptctl's pinned output instead). No argument: both. */
int main(int argc, char **argv)
{
    const struct CMUnitTest portable[] = {
        cmocka_unit_test(test_too_few_samples),
        cmocka_unit_test(test_bit_patterns),
        cmocka_unit_test(test_constant),
        cmocka_unit_test(test_predictor_patterns),
        cmocka_unit_test(test_limiting_estimator),
        cmocka_unit_test(test_restart_sanity_fails),
    };
    const struct CMUnitTest reference[] = {
        cmocka_unit_test(test_restart_cutoff),
        cmocka_unit_test(test_restart_tail_vs_simulation),
        cmocka_unit_test(test_restart_cutoff_vs_nist),
        cmocka_unit_test(test_tuple_lrs_brute),
        cmocka_unit_test(test_uniform),
        cmocka_unit_test(test_nist_jumps),
        cmocka_unit_test(test_nist_low8),
        cmocka_unit_test(test_nist_raw400k),
    };
    const char *group = argc > 1 ? argv[1] : "";
    int failed = 0;
    if (strcmp(group, "reference") != 0)
        failed += cmocka_run_group_tests_name("portable", portable, NULL, NULL);
    if (strcmp(group, "portable") != 0)
        failed += cmocka_run_group_tests_name("reference", reference, NULL, NULL);
    return failed;
}

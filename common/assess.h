/*
 * assess.h - offline min-entropy assessment of 8-bit noise samples
 * (NIST SP 800-90B section 6.3, non-IID track), used by `preemptctl assess`.
 *
 * Pure module: no I/O, no global state, no threads.  Every function takes a
 * buffer of n samples, each one byte wide (all 8 bits are significant), and
 * returns a min-entropy estimate, or -1.0 when the estimator cannot run on
 * that input (too few samples, allocation failure, no t-tuple repeated 35
 * times, LRS v < u ...).
 *
 * The computations follow SP 800-90B section 6.3 as implemented by NIST's
 * reference tool ea_non_iid (github.com/usnistgov/SP800-90B_EntropyAssessment,
 * v1.1.x), including its choices where the text leaves room: the closed-form
 * collision estimate, ZALPHA = 2.5758293035489008 (long double for the
 * t-Tuple/LRS p_u), d = 1000 / b = 6 for the compression estimate, the
 * "no string repeated 35 times" cut-off for t-Tuple and the u..v range for LRS.
 *
 * Two views of the data are assessed, as ea_non_iid does with a word size of
 * 8 bits:
 *   - literal:   the n samples as 8-bit symbols; result in bits per SAMPLE
 *                (0..8).
 *   - bitstring: each sample expanded MSB-first into 8 binary symbols
 *                (8n symbols); result in bits per BIT (0..1), exactly what
 *                ea_non_iid prints as "... (bit string) = x / 1 bit(s)".
 *                Multiply by 8 to compare with a literal estimate.
 *                (ea_non_iid run without an explicit bit width would
 *                derive the width from the highest bit set in the data;
 *                here it is always 8, i.e. "ea_non_iid file 8".)
 * 90B asks for at least 1,000,000 samples; smaller inputs are accepted
 * (ea_non_iid only warns) but the estimates are then less meaningful.
 *
 * Implemented estimators (SP 800-90B section), each on both views:
 *   6.3.1  Most Common Value     literal (assess_mcv) and bitstring
 *                                (assess_mcv_bits)
 *   6.3.2  Collision             bitstring only (as in 90B / ea_non_iid)
 *   6.3.3  Markov                bitstring only
 *   6.3.4  Compression           bitstring only
 *   6.3.5  t-Tuple               literal and bitstring
 *   6.3.6  Longest Repeated Substring (LRS)  literal and bitstring
 *   6.3.7  MultiMCW prediction   literal and bitstring (assess_predictors)
 *   6.3.8  Lag prediction        literal and bitstring
 *   6.3.9  MultiMMC prediction   literal and bitstring
 *   6.3.10 LZ78Y prediction      literal and bitstring
 * That is every estimator of ea_non_iid, so h_original, h_bitstring and
 * h_min are what it reports (to the rounding of its printout).  The
 * restart tests (section 3.1.4) are assess_restart(); the IID permutation
 * tests are not implemented.
 *
 * Files: assess-entropic.c (6.3.1-6.3.4), assess-tuple.c (6.3.5-6.3.6),
 * assess-predict.c (6.3.7-6.3.10), assess.c (assess_run),
 * assess-restart.c (3.1.4).
 *
 * Cost: the t-Tuple / LRS estimates build a suffix array (libdivsufsort's
 * divsufsort(), as NIST's ea_non_iid does) and LCP array (Kasai) of the
 * symbol string: ~9 bytes per symbol at peak (the symbols, the suffix array
 * and Kasai's scratch; up to ~16 for degenerate, e.g. constant, input),
 * i.e. ~75 MB and well under a second (-O2, x86-64) for the
 * 8,000,000-symbol bitstring of 1,000,000 samples.  The other estimators
 * are O(n) time and O(1) space, except compression (8 bytes per 6-bit
 * block).  The predictors are O(n) (Lag: 128 comparisons per symbol); on
 * literal data MultiMMC and LZ78Y keep hashed dictionaries, bounded by
 * 16 x 100,000 and 65,536 entries (12 bytes each, about 100 MB at worst).
 * Inputs must have n <= ASSESS_MAX_SAMPLES so that 8n bit-symbols fit
 * 32-bit indices (saidx_t of libdivsufsort's 32-bit build).
 * All functions are reentrant (no static state); they only read s.
 */
#ifndef PREEMPTD_ASSESS_H
#define PREEMPTD_ASSESS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Largest n accepted by every estimator (8n must stay below 2^31). */
#define ASSESS_MAX_SAMPLES ((size_t)0x0FFFFFFF)

/* 6.3.1 Most Common Value, literal: bits per 8-bit sample, or -1.0. */
double assess_mcv(const uint8_t *s, size_t n);

/* 6.3.1 Most Common Value on the bitstring: bits per bit, or -1.0. */
double assess_mcv_bits(const uint8_t *s, size_t n);

/* 6.3.2 Collision estimate on the bitstring: bits per bit, or -1.0. */
double assess_collision(const uint8_t *s, size_t n);

/* 6.3.3 Markov estimate on the bitstring: bits per bit, or -1.0. */
double assess_markov(const uint8_t *s, size_t n);

/* 6.3.4 Compression estimate on the bitstring (b = 6, d = 1000): bits per
 * bit, or -1.0 when 8n/6 <= 1000 blocks. */
double assess_compression(const uint8_t *s, size_t n);

/* 6.3.5 t-Tuple and 6.3.6 LRS, literal: bits per 8-bit sample, or -1.0. */
double assess_tuple(const uint8_t *s, size_t n);
double assess_lrs(const uint8_t *s, size_t n);

/* 6.3.5 t-Tuple and 6.3.6 LRS on the bitstring: bits per bit, or -1.0. */
double assess_tuple_bits(const uint8_t *s, size_t n);
double assess_lrs_bits(const uint8_t *s, size_t n);

/*
 * t-Tuple and LRS together from one suffix array (what the four functions
 * above call; use it to avoid building the suffix array twice).
 * bitstring = 0: literal 8-bit symbols, results in bits per sample;
 * bitstring = 1: MSB-first bitstring, results in bits per bit.
 * Either output pointer may be NULL.  Returns 0, or -1 if n is out of range
 * or memory could not be allocated (both outputs are then -1.0).
 */
int assess_tuple_lrs(const uint8_t *s, size_t n, int bitstring,
                     double *tuple, double *lrs);

/* The predictor estimates (6.3.7-6.3.10), in the order ea_non_iid runs them. */
enum assess_predictor {
    ASSESS_MULTIMCW,
    ASSESS_LAG,
    ASSESS_MULTIMMC,
    ASSESS_LZ78Y,
    ASSESS_NPRED
};

/* One predictor's score and estimate, named as in 90B and ea_non_iid -v. */
struct assess_pred {
    double h;           /* min-entropy per symbol, or -1.0: could not run */
    double p_global;    /* P_global': 99% upper bound of C / N */
    double p_local;     /* P_local, or -1.0 when it cannot change h */
    uint64_t c;         /* correct predictions */
    uint64_t n;         /* predictions made */
    uint64_t r;         /* one more than the longest run of correct ones */
};

/*
 * The four predictor estimates on n 8-bit samples: literal (bitstring = 0,
 * alphabet = the distinct values present, h in bits per sample) or the
 * MSB-first bitstring (bitstring = 1, h in bits per bit).  MultiMCW needs
 * 4096 symbols, LZ78Y 18, the others 3; an estimator with too few is left
 * at -1.0.  Returns 0, or -1 if s is NULL, n is out of range or memory ran
 * out (out[] is then all -1.0 or partly filled).  Reentrant; reads s only.
 */
int assess_predictors(const uint8_t *s, size_t n, int bitstring,
                      struct assess_pred out[ASSESS_NPRED]);

/*
 * The same on len symbols already one per byte, values below 256, with
 * alphabet size k for the 1/k floor of 90B (k = 2 for a bitstring).
 */
int assess_predictors_sym(const uint8_t *sym, size_t len, unsigned k,
                          struct assess_pred out[ASSESS_NPRED]);

struct assess_result {
    /* Field order as specified for preemptctl.
     * mcv, tuple, lrs:           literal, bits per 8-bit sample;
     * collision, markov, compression, mcv_bits, tuple_bits, lrs_bits:
     *                            bitstring, bits per bit;
     * -1.0: the estimator could not run on this input. */
    double mcv, collision, markov, compression, tuple, lrs,
           mcv_bits, tuple_bits, lrs_bits;
    /* 6.3.7-6.3.10: pred[] literal (bits per sample), pred_bits[]
     * bitstring (bits per bit), indexed by enum assess_predictor. */
    struct assess_pred pred[ASSESS_NPRED], pred_bits[ASSESS_NPRED];
    /* h_original  = min of the literal estimates that ran (bits/sample);
     * h_bitstring = min of the bitstring estimates that ran (bits/bit);
     * h_min       = min(h_original, 8 * h_bitstring) (bits/sample).
     * -1.0 if no estimator of that group could run.  As ea_non_iid. */
    double h_original, h_bitstring, h_min;
};

/*
 * Run every implemented estimator on n 8-bit samples and combine them as
 * ea_non_iid does (estimators that could not run are left out of the
 * minimum).  Returns 0 on success, -1 if s is NULL, n is 0 or larger than
 * ASSESS_MAX_SAMPLES, or memory ran out (out is then filled with -1.0).
 */
int assess_run(const uint8_t *s, size_t n, struct assess_result *out);

/*
 * The estimator that set r->h_min (literal_only = 0) or r->h_original
 * (literal_only = 1), as "MultiMCW prediction (6.3.7), literal" or
 * "Collision (6.3.2), bit string"; "none" when no estimator ran.  A static
 * string.
 */
const char *assess_limiting(const struct assess_result *r, int literal_only);

/* ---- 3.1.4 restart tests ---------------------------------------------- */

#define ASSESS_RESTART_N 1000u          /* restarts, and samples per restart */

/*
 * How H_r and H_c are taken from the row and column datasets:
 *   STRICT (preemptd's default): min(H_original, 8 x H_bitstring), the
 *          minimum ea_non_iid reports, bit-string estimates included;
 *   NIST:  what ea_restart does for 8-bit samples: min(8, the literal
 *          estimates only), no bit-string estimate.
 * STRICT is never above NIST on the same matrix.
 */
enum assess_restart_def {
    ASSESS_RESTART_STRICT = 0,
    ASSESS_RESTART_NIST = 1,
};

struct assess_restart {
    double h_i;             /* the initial estimate tested (bits/sample) */
    unsigned cutoff;        /* U: largest MCV count a row or column may have */
    unsigned max_row;       /* largest MCV count over the 1000 rows */
    unsigned max_col;       /* ... and over the 1000 columns */
    int sanity_ok;          /* both at or below the cutoff (3.1.4.3) */
    double h_r, h_c;        /* min-entropy of the row and column datasets
                             * (bits/sample) by def; -1.0: not run */
    int validation_ok;      /* min(h_r, h_c) >= h_i / 2 (3.1.4.2) */
    double h_min;           /* min(h_i, h_r, h_c) if both passed, else -1.0 */
    /* Where the sanity check looked hardest: the first row (restart) and
     * column (sample position) with the largest count, and the value that
     * repeated there. */
    unsigned worst_row, worst_col;
    uint8_t row_value, col_value;
    /* How many rows and columns are over the cutoff, and how often the
     * worst row's value occurs in the restarts just before and after it
     * (-1: there is none): a run of neighbours says the host did one thing
     * for a while, not that one restart began badly. */
    unsigned rows_over, cols_over;
    int row_value_near[2];
    unsigned k;             /* distinct values in the matrix (ea_restart's
                             * alphabet size, which its cutoff uses) */
    enum assess_restart_def def;
    /* Both definitions, whichever def is: -1.0 when not run. */
    double h_r_strict, h_c_strict, h_r_nist, h_c_nist;
    const char *h_r_by, *h_c_by;    /* the estimator that set h_r, h_c */
};

/*
 * P[the largest count of one value in a row of ASSESS_RESTART_N samples
 * exceeds u] for ea_restart's worst case at min-entropy h_i over k values:
 * floor(2^h_i) values of probability 2^-h_i, the rest spread evenly over
 * the other k - floor(2^h_i).  Exact (a convolution over the multinomial),
 * not simulated.  -1.0 for h_i outside (0, 8] or k outside 2..256.
 */
double assess_restart_tail(double h_i, unsigned k, unsigned u);

/*
 * Sanity-check cutoff U for initial min-entropy h_i (0, 8] and k values
 * (2..256; ea_restart takes the matrix's).  ea_restart simulates the worst
 * case above 5,000,000 times and takes the (1 - alpha) quantile,
 * alpha = 1 - 0.99^(1/2000), so its cutoff varies from run to run: it is
 * at most v exactly when at most 26 of the 5,000,000 simulated maxima
 * exceed v.  U is the smallest v that ea_restart returns with probability
 * at least 1e-6 (from assess_restart_tail), so it is never more lenient
 * than NIST's cutoff but with probability below 1e-6.  Returns
 * ASSESS_RESTART_N for arguments out of range.
 */
unsigned assess_restart_cutoff_k(double h_i, unsigned k);
/* The same for k = 256. */
unsigned assess_restart_cutoff(double h_i);

/*
 * The restart tests on m, a ASSESS_RESTART_N x ASSESS_RESTART_N matrix in
 * row order (row i: the first 1000 samples after restart i), for the
 * initial estimate h_i.  Runs the sanity check and, if it passes, the full
 * non-IID suite on the row dataset (m as is) and the column dataset (m
 * transposed): about twice assess_run on 10^6 samples.  Returns 0 with
 * *out filled (pass or fail is in it), or -1 if m or out is NULL, h_i is
 * not in (0, 8], or memory ran out.  Reentrant; reads m only.
 * assess_restart() is assess_restart_as() with ASSESS_RESTART_STRICT.
 */
int assess_restart_as(const uint8_t *m, double h_i,
                      enum assess_restart_def def, struct assess_restart *out);
int assess_restart(const uint8_t *m, double h_i, struct assess_restart *out);

#ifdef __cplusplus
}
#endif

#endif /* PREEMPTD_ASSESS_H */

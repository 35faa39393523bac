/*
 * assess.c - runs every SP 800-90B section 6.3 (non-IID) estimator and
 * combines them as ea_non_iid does.  The estimators live by family in
 * assess-entropic.c (6.3.1-6.3.4), assess-tuple.c (6.3.5-6.3.6) and
 * assess-predict.c (6.3.7-6.3.10).  See assess.h.
 */
#include "assess-internal.h"

#include <stddef.h>
#include <stdlib.h>

uint8_t *assess_expand_bits(const uint8_t *s, size_t n)
{
    uint8_t *bits;

    if (n > SIZE_MAX / 8)
        return NULL;
    bits = malloc(8 * n);
    if (bits == NULL)
        return NULL;
    for (size_t i = 0; i < 8 * n; i++)
        bits[i] = (uint8_t)assess_bit_at(s, i);
    return bits;
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

static void result_clear(struct assess_result *out)
{
    out->mcv = out->collision = out->markov = out->compression = -1.0;
    out->tuple = out->lrs = -1.0;
    out->mcv_bits = out->tuple_bits = out->lrs_bits = -1.0;
    out->h_original = out->h_bitstring = out->h_min = -1.0;
    for (unsigned j = 0; j < ASSESS_NPRED; j++) {
        out->pred[j] = (struct assess_pred){ -1.0, -1.0, -1.0, 0, 0, 0 };
        out->pred_bits[j] = out->pred[j];
    }
}

int assess_run(const uint8_t *s, size_t n, struct assess_result *out)
{
    double lit[3 + ASSESS_NPRED], bit[6 + ASSESS_NPRED];

    if (out == NULL)
        return -1;
    result_clear(out);
    if (!assess_n_ok(s, n))
        return -1;

    out->mcv = assess_mcv(s, n);
    out->mcv_bits = assess_mcv_bits(s, n);
    out->collision = assess_collision(s, n);
    out->markov = assess_markov(s, n);
    out->compression = assess_compression(s, n);
    if (assess_tuple_lrs(s, n, 0, &out->tuple, &out->lrs) != 0 ||
        assess_tuple_lrs(s, n, 1, &out->tuple_bits, &out->lrs_bits) != 0 ||
        assess_predictors(s, n, 0, out->pred) != 0 ||
        assess_predictors(s, n, 1, out->pred_bits) != 0) {
        result_clear(out);
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
    for (unsigned j = 0; j < ASSESS_NPRED; j++) {
        lit[3 + j] = out->pred[j].h;
        bit[6 + j] = out->pred_bits[j].h;
    }
    out->h_original = min_valid(lit, 3 + ASSESS_NPRED);
    out->h_bitstring = min_valid(bit, 6 + ASSESS_NPRED);
    if (out->h_bitstring >= 0.0) {
        double hb8 = 8.0 * out->h_bitstring;

        out->h_min = out->h_original >= 0.0 && out->h_original < hb8
                 ? out->h_original : hb8;
    } else {
        out->h_min = out->h_original;
    }
    return 0;
}

/* The estimators in the order ea_non_iid prints them, with where each
 * one's figure sits in struct assess_result. */
static const struct {
    const char *name;
    int bits;                   /* bit-string estimate (bits per bit) */
    size_t off;                 /* offset of a double, or of a pred's h */
} limiting_rows[] = {
#define EST(name, bits, field) { name, bits, offsetof(struct assess_result, field) }
    EST("Most Common Value (6.3.1), literal", 0, mcv),
    EST("t-Tuple (6.3.5), literal", 0, tuple),
    EST("LRS (6.3.6), literal", 0, lrs),
    EST("MultiMCW prediction (6.3.7), literal", 0, pred[ASSESS_MULTIMCW].h),
    EST("Lag prediction (6.3.8), literal", 0, pred[ASSESS_LAG].h),
    EST("MultiMMC prediction (6.3.9), literal", 0, pred[ASSESS_MULTIMMC].h),
    EST("LZ78Y prediction (6.3.10), literal", 0, pred[ASSESS_LZ78Y].h),
    EST("Most Common Value (6.3.1), bit string", 1, mcv_bits),
    EST("Collision (6.3.2), bit string", 1, collision),
    EST("Markov (6.3.3), bit string", 1, markov),
    EST("Compression (6.3.4), bit string", 1, compression),
    EST("t-Tuple (6.3.5), bit string", 1, tuple_bits),
    EST("LRS (6.3.6), bit string", 1, lrs_bits),
    EST("MultiMCW prediction (6.3.7), bit string", 1,
        pred_bits[ASSESS_MULTIMCW].h),
    EST("Lag prediction (6.3.8), bit string", 1, pred_bits[ASSESS_LAG].h),
    EST("MultiMMC prediction (6.3.9), bit string", 1,
        pred_bits[ASSESS_MULTIMMC].h),
    EST("LZ78Y prediction (6.3.10), bit string", 1,
        pred_bits[ASSESS_LZ78Y].h),
#undef EST
};

const char *assess_limiting(const struct assess_result *r, int literal_only)
{
    double target;

    if (r == NULL)
        return "none";
    target = literal_only ? r->h_original : r->h_min;
    if (target < 0.0)
        return "none";
    /* h_min is one of the estimates itself (or 8 times one), so the first
     * equal one is the one that set it, as ea_non_iid would name it. */
    for (size_t i = 0; i < sizeof(limiting_rows) / sizeof(limiting_rows[0]);
         i++) {
        double v = *(const double *)((const char *)r + limiting_rows[i].off);

        if (literal_only && limiting_rows[i].bits)
            break;
        if (v < 0.0)
            continue;
        if (limiting_rows[i].bits)
            v *= 8.0;
        if (v == target)
            return limiting_rows[i].name;
    }
    return "none";
}

/*
 * health.c - SP 800-90B 4.4 continuous health tests.  See health.h.
 */
#include "health.h"

#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

unsigned health_rct_cutoff(double h_bits, double alpha_log2)
{
    double x;

    if (!(h_bits > 0.0) || !(alpha_log2 < 0.0))
        return 0;
    x = -alpha_log2 / h_bits;
    /* h is usually a decimal like 0.6 that is not exact in binary; a
     * quotient that is mathematically integral may land an ulp above and
     * ceil() would then add a spurious 1. */
    x = ceil(x - 1e-9 * (x > 1.0 ? x : 1.0));
    if (x >= (double)UINT_MAX - 1.0)
        return UINT_MAX;
    return 1u + (unsigned)x;
}

/* log of the Binomial(n, p) pmf at k; log1mp = log(1 - p). */
static double health_log_pmf(unsigned n, unsigned k, double logp,
                             double log1mp)
{
    double lc = lgamma((double)n + 1.0) - lgamma((double)k + 1.0)
                - lgamma((double)(n - k) + 1.0);
    double t = lc;

    /* Avoid 0 * -inf when p == 1 (h tiny) or p underflows. */
    if (k > 0)
        t += (double)k * logp;
    if (n - k > 0)
        t += (double)(n - k) * log1mp;
    return t;
}

unsigned health_apt_cutoff(double h_bits, double alpha_log2, unsigned window)
{
    double p, logp, log1mp, alpha, tail = 0.0;
    unsigned k;

    if (!(h_bits > 0.0) || !(alpha_log2 < 0.0) || window == 0)
        return 0;
    p = exp2(-h_bits);
    logp = log(p);
    log1mp = log1p(-p);
    alpha = exp2(alpha_log2);

    /* Sum P[X > k] from the top down, smallest terms first, so the tail is
     * accurate even when alpha is ~2^-60 (1 - alpha would round to 1).
     * tail holds P[X > k]; stop at the smallest k with tail <= alpha. */
    for (k = window; k > 0; k--) {
        double next = tail + exp(health_log_pmf(window, k, logp, log1mp));

        if (next > alpha)
            break;      /* P[X > k-1] > alpha, so k is the smallest */
        tail = next;
    }
    return 1u + k;
}

/* Restart both tests on fresh samples (after any failure). */
static void health_reset_tests(struct health *h)
{
    h->rct_run = 0;
    h->apt_pos = 0;
    h->apt_count = 0;
    h->startup_count = 0;
    memset(h->startup_counts, 0, sizeof(h->startup_counts));
    h->credit_fed = 0;
    h->credit_low = 0;
}

/* Apply one failure of kind ev to the state machine; returns the event. */
static enum health_event health_fail(struct health *h, enum health_event ev)
{
    h->last_event = ev;
    health_reset_tests(h);
    switch (h->state) {
    case HEALTH_PERMANENT:
        return HEALTH_EV_NONE;
    case HEALTH_OK:
        h->state = HEALTH_RETEST;
        break;
    case HEALTH_STARTUP:
    case HEALTH_RETEST:
    default:
        h->startup_failures++;
        if (h->startup_failures >= h->permanent_after)
            h->state = HEALTH_PERMANENT;
        break;
    }
    return ev;
}

int health_init(struct health *h, double h_bits, double alpha_log2,
                unsigned permanent_after)
{
    if (h == NULL || !(h_bits > 0.0 && h_bits <= 8.0)
        || !(alpha_log2 >= -60.0 && alpha_log2 <= -1.0)
        || permanent_after == 0)
        return -1;
    memset(h, 0, sizeof(*h));
    h->h_bits = h_bits;
    h->alpha_log2 = alpha_log2;
    h->permanent_after = permanent_after;
    h->rct_cutoff = health_rct_cutoff(h_bits, alpha_log2);
    h->apt_cutoff = health_apt_cutoff(h_bits, alpha_log2, HEALTH_APT_WINDOW);
    h->state = HEALTH_STARTUP;
    h->last_event = HEALTH_EV_NONE;
    return 0;
}

/* Slide the MCV window by one sample. */
static void health_mcv_push(struct health *h, uint8_t sample)
{
    if (h->mcv_n == HEALTH_MCV_WINDOW)
        h->mcv_counts[h->mcv_ring[h->mcv_head]]--;
    else
        h->mcv_n++;
    h->mcv_ring[h->mcv_head] = sample;
    h->mcv_counts[sample]++;
    h->mcv_head = (h->mcv_head + 1) % HEALTH_MCV_WINDOW;
}

/* MCV estimate (bits per sample) of n samples whose mode occurred max
 * times: -log2 of the 99% upper bound of max / n, as in 90B 6.3.1. */
static double health_mcv_bits(unsigned max, unsigned n)
{
    double p = (double)max / (double)n;
    double pu = p + 2.576 * sqrt(p * (1.0 - p) / ((double)n - 1.0));

    return pu >= 1.0 ? 0.0 : -log2(pu);
}

/* The credit test of a completed start-up test; returns true on failure. */
static bool health_credit_startup(struct health *h)
{
    unsigned max = 0;

    for (unsigned i = 0; i < 256; i++)
        if (h->startup_counts[i] > max)
            max = h->startup_counts[i];
    h->credit_evidence = health_mcv_bits(max, HEALTH_STARTUP_SAMPLES);
    return h->credit_evidence < h->h_bits;
}

/* The run-time credit test, once per full MCV window in HEALTH_OK;
 * returns true when the estimate stayed below the credit too long. */
static bool health_credit_online(struct health *h)
{
    double est;

    if (++h->credit_fed < HEALTH_MCV_WINDOW || h->mcv_n < HEALTH_MCV_WINDOW)
        return false;
    h->credit_fed = 0;
    est = health_mcv_estimate(h);
    if (!(est < h->h_bits)) {
        h->credit_low = 0;
        return false;
    }
    h->credit_evidence = est;
    return ++h->credit_low >= HEALTH_CREDIT_LOW_WINDOWS;
}

/* RCT step; returns true on failure. */
static bool health_rct_step(struct health *h, uint8_t sample)
{
    if (h->rct_run > 0 && sample == h->rct_value) {
        h->rct_run++;
    } else {
        h->rct_value = sample;
        h->rct_run = 1;
    }
    return h->rct_run >= h->rct_cutoff;
}

/* APT step; returns true on failure. */
static bool health_apt_step(struct health *h, uint8_t sample)
{
    if (h->apt_pos == 0) {
        h->apt_ref = sample;
        h->apt_count = 1;
    } else if (sample == h->apt_ref) {
        h->apt_count++;
    }
    if (++h->apt_pos == HEALTH_APT_WINDOW)
        h->apt_pos = 0;
    return h->apt_count >= h->apt_cutoff;
}

enum health_event health_update(struct health *h, uint8_t sample)
{
    bool rct_bad, apt_bad;

    h->samples++;
    health_mcv_push(h, sample);

    rct_bad = health_rct_step(h, sample);
    apt_bad = health_apt_step(h, sample);
    if (rct_bad)
        h->rct_failures++;
    if (apt_bad)
        h->apt_failures++;
    if (rct_bad || apt_bad)
        return health_fail(h, rct_bad ? HEALTH_EV_RCT_FAIL
                                      : HEALTH_EV_APT_FAIL);

    if (h->state == HEALTH_OK && health_credit_online(h)) {
        h->credit_failures++;
        return health_fail(h, HEALTH_EV_CREDIT_FAIL);
    }
    if (h->state == HEALTH_STARTUP || h->state == HEALTH_RETEST) {
        h->startup_counts[sample]++;
        if (++h->startup_count >= HEALTH_STARTUP_SAMPLES) {
            if (health_credit_startup(h)) {
                h->credit_failures++;
                return health_fail(h, HEALTH_EV_CREDIT_FAIL);
            }
            h->state = HEALTH_OK;
            h->startup_count = 0;
            memset(h->startup_counts, 0, sizeof(h->startup_counts));
            h->credit_fed = 0;
            h->credit_low = 0;
            h->startup_failures = 0;
            h->passes++;
            return HEALTH_EV_PASSED;
        }
    }
    return HEALTH_EV_NONE;
}

enum health_event health_fail_stall(struct health *h)
{
    h->stall_failures++;
    return health_fail(h, HEALTH_EV_STALL_FAIL);
}

enum health_state health_get_state(const struct health *h)
{
    return h->state;
}

const char *health_state_name(enum health_state s)
{
    switch (s) {
    case HEALTH_STARTUP:   return "startup";
    case HEALTH_OK:        return "ok";
    case HEALTH_RETEST:    return "retest";
    case HEALTH_PERMANENT: return "permanent";
    }
    return "unknown";
}

const char *health_event_name(enum health_event e)
{
    switch (e) {
    case HEALTH_EV_NONE:       return "none";
    case HEALTH_EV_PASSED:     return "passed";
    case HEALTH_EV_RCT_FAIL:   return "rct";
    case HEALTH_EV_APT_FAIL:   return "apt";
    case HEALTH_EV_STALL_FAIL: return "stall";
    case HEALTH_EV_CREDIT_FAIL: return "credit";
    }
    return "unknown";
}

double health_mcv_estimate(const struct health *h)
{
    unsigned max = 0;

    if (h->mcv_n < 2)
        return -1.0;
    for (unsigned i = 0; i < 256; i++)
        if (h->mcv_counts[i] > max)
            max = h->mcv_counts[i];
    return health_mcv_bits(max, h->mcv_n);
}

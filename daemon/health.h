/*
 * health.h - continuous health tests for raw noise samples
 * (NIST SP 800-90B section 4.4).
 *
 * The sampler thread feeds every folded sample (one uint8_t) to
 * health_update() before it is used for anything.  Two approved tests run
 * on every sample:
 *
 *  - Repetition Count Test (RCT, 4.4.1): counts the run of identical
 *    consecutive samples and fails when the run length reaches rct_cutoff,
 *    C = 1 + ceil(-alpha_log2 / H).
 *
 *  - Adaptive Proportion Test (APT, 4.4.2): the first sample of each
 *    HEALTH_APT_WINDOW-sample window is the reference; occurrences of it in
 *    the window (counting the reference itself) are counted and the test
 *    fails as soon as the count reaches apt_cutoff, the critical value of
 *    Binomial(W, 2^-H) at false-positive rate alpha.  The next sample after
 *    a failure or a full window starts a new window.
 *
 * A third test keeps the credit honest (no credit above the evidence):
 *
 *  - Credit test: when a start-up (re)test has seen its
 *    HEALTH_STARTUP_SAMPLES good samples, the MCV estimate of exactly those
 *    samples (6.3.1: -log2 of the 99% upper bound of the mode's share) must
 *    be at least h_bits, or the start-up test fails with
 *    HEALTH_EV_CREDIT_FAIL.  A credit the source cannot show even on its
 *    start-up samples is never served; with permanent_after tries it
 *    becomes permanent.  At run time (HEALTH_OK) the online MCV estimate
 *    is checked at the end of every HEALTH_MCV_WINDOW samples; when it is
 *    below h_bits for HEALTH_CREDIT_LOW_WINDOWS windows in a row the
 *    source fails (intermittently) in the same way.  1024 samples bound
 *    the start-up estimate at about 5.7 bits even for ideal bytes, so
 *    credits above that need more evidence than a start-up test holds.
 *
 * Any failure (RCT, APT, credit, or a stall from health_fail_stall) resets
 * both the RCT run and the APT window, so the tests restart on fresh
 * samples.  If RCT and APT fail on the same sample both failure counters
 * are incremented but it is one failure for the state machine and the call
 * returns HEALTH_EV_RCT_FAIL.
 *
 * State machine:
 *
 *  STARTUP/RETEST --HEALTH_STARTUP_SAMPLES consecutive good samples--> OK
 *      (the completing call returns HEALTH_EV_PASSED, passes++,
 *       startup_failures = 0)
 *  STARTUP/RETEST --failure--> same state, start-up count restarts,
 *      startup_failures++; when it reaches permanent_after -> PERMANENT
 *  OK --failure--> RETEST (intermittent failure; start-up count restarts;
 *      startup_failures is not incremented since no start-up test failed)
 *  PERMANENT: the tests and all counters (including MCV) keep running for
 *      statistics, but the state never changes and every call returns
 *      HEALTH_EV_NONE.  Only health_init() leaves it.
 *
 * Output may be served only in HEALTH_OK; STARTUP and RETEST fail closed.
 *
 * The module is pure: no allocation, no globals, no I/O.  The caller owns
 * struct health and must serialise access to it (including stats reads
 * from other threads).
 */
#ifndef PREEMPTD_HEALTH_H
#define PREEMPTD_HEALTH_H

#include <stdint.h>
#include <stdbool.h>

#define HEALTH_APT_WINDOW 512u
#define HEALTH_STARTUP_SAMPLES 1024u
#define HEALTH_MCV_WINDOW 4096u
#define HEALTH_CREDIT_LOW_WINDOWS 4u

enum health_state {
    HEALTH_STARTUP = 0, /* initial start-up test running; nothing served yet */
    HEALTH_OK,
    HEALTH_RETEST,      /* failed; re-running start-up test; fail closed */
    HEALTH_PERMANENT    /* too many failures; stays until health_init again */
};

enum health_event {
    HEALTH_EV_NONE = 0,
    HEALTH_EV_PASSED,   /* start-up test just passed */
    HEALTH_EV_RCT_FAIL,
    HEALTH_EV_APT_FAIL,
    HEALTH_EV_STALL_FAIL,
    HEALTH_EV_CREDIT_FAIL   /* the samples' MCV estimate is below h_bits */
};

struct health {
    /* Configuration, fixed by health_init(). */
    double h_bits;              /* claimed min-entropy per sample */
    double alpha_log2;          /* log2 of the per-test false-positive rate */
    unsigned permanent_after;   /* failed start-up tests before PERMANENT */
    unsigned rct_cutoff;
    unsigned apt_cutoff;

    /* State machine and statistics. */
    enum health_state state;
    enum health_event last_event;   /* kind of the most recent failure */
    unsigned startup_count;         /* good samples in current start-up test */
    unsigned startup_failures;      /* consecutive failed start-up tests */
    uint64_t passes;                /* start-up tests passed */
    uint64_t samples;               /* total samples fed */
    uint64_t rct_failures;
    uint64_t apt_failures;
    uint64_t stall_failures;
    uint64_t credit_failures;
    double credit_evidence;         /* estimate that failed the credit test */

    /* Credit test: value counts of the current start-up test's samples,
     * and the run of online MCV windows below h_bits. */
    uint16_t startup_counts[256];
    unsigned credit_fed;            /* samples into the current window */
    unsigned credit_low;            /* consecutive windows below h_bits */

    /* RCT: current run; rct_run == 0 means no run yet. */
    uint8_t rct_value;
    unsigned rct_run;

    /* APT: apt_pos samples of the current window seen; 0 = new window. */
    uint8_t apt_ref;
    unsigned apt_pos;
    unsigned apt_count;

    /* MCV: last HEALTH_MCV_WINDOW samples and their value counts. */
    uint8_t mcv_ring[HEALTH_MCV_WINDOW];
    uint16_t mcv_counts[256];
    unsigned mcv_head;              /* next ring slot to write */
    unsigned mcv_n;                 /* samples in the ring */
};

/*
 * RCT cutoff C = 1 + ceil(-alpha_log2 / h_bits), saturating at UINT_MAX.
 * alpha_log2 is log2 of the false-positive rate, e.g. -20.
 * Returns the cutoff (>= 2), or 0 if h_bits <= 0 or alpha_log2 >= 0 (or NaN).
 */
unsigned health_rct_cutoff(double h_bits, double alpha_log2);

/*
 * APT cutoff: 1 + the smallest k with P[Binomial(window, 2^-h_bits) <= k]
 * >= 1 - 2^alpha_log2, found by summing the upper tail P[X > k] in log space
 * so tiny alphas are not lost to rounding.
 * Returns the cutoff (1 .. window + 1; window + 1 means the test cannot
 * fail), or 0 if h_bits <= 0, alpha_log2 >= 0 (or NaN) or window == 0.
 * Not reentrant on glibc: lgamma() writes the global signgam.
 */
unsigned health_apt_cutoff(double h_bits, double alpha_log2, unsigned window);

/*
 * Initialise *h for a source claiming h_bits of min-entropy per sample,
 * with per-test false-positive rate 2^alpha_log2.  permanent_after is the
 * number of consecutive failed start-up (re)tests that make a failure
 * permanent (default 3).  The state starts in HEALTH_STARTUP.
 * Returns 0, or -1 (leaving *h untouched) if h is NULL, h_bits is not in
 * (0,8], alpha_log2 is not in [-60,-1] or permanent_after == 0.
 */
int health_init(struct health *h, double h_bits, double alpha_log2,
                unsigned permanent_after);

/*
 * Feed one sample through RCT, APT and the MCV window.
 * Returns the event it caused: HEALTH_EV_NONE usually, HEALTH_EV_PASSED when
 * it completes a start-up test, HEALTH_EV_RCT_FAIL / HEALTH_EV_APT_FAIL on a
 * failure, and always HEALTH_EV_NONE in HEALTH_PERMANENT.
 */
enum health_event health_update(struct health *h, uint8_t sample);

/*
 * Report an external failure (the sampler saw no event for too long).
 * Drives the same state machine as a test failure.
 * Returns HEALTH_EV_STALL_FAIL, or HEALTH_EV_NONE in HEALTH_PERMANENT
 * (the stall is still counted).
 */
enum health_event health_fail_stall(struct health *h);

/* Returns the current state. */
enum health_state health_get_state(const struct health *h);

/* Returns "startup", "ok", "retest", "permanent", or "unknown". */
const char *health_state_name(enum health_state s);

/* Returns "none", "passed", "rct", "apt", "stall", "credit", or "unknown". */
const char *health_event_name(enum health_event e);

/*
 * Online Most Common Value estimate (SP 800-90B 6.3.1) over the last
 * HEALTH_MCV_WINDOW samples fed to health_update():
 * p = max count / n, p_u = min(1, p + 2.576 * sqrt(p(1-p)/(n-1))).
 * Returns -log2(p_u) in bits per sample (0 for a constant source), or -1.0
 * if fewer than 2 samples have been seen.
 */
double health_mcv_estimate(const struct health *h);

#endif /* PREEMPTD_HEALTH_H */

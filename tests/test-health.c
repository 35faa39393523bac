/*
 * test-health.c - unit tests for the SP 800-90B health tests.
 */
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "health.h"

/* Feed n copies of v; returns the first non-NONE event and its 1-based
 * position in *at (0 and HEALTH_EV_NONE if none occurred). */
static enum health_event feed_const(struct health *h, uint8_t v, unsigned n,
                                    unsigned *at)
{
    unsigned i;

    *at = 0;
    for (i = 0; i < n; i++) {
        enum health_event ev = health_update(h, v);

        if (ev != HEALTH_EV_NONE) {
            *at = i + 1;
            return ev;
        }
    }
    return HEALTH_EV_NONE;
}

/* Feed n copies of v, ignoring events (for filling the MCV window). */
static void feed_n(struct health *h, uint8_t v, unsigned n)
{
    unsigned i;

    for (i = 0; i < n; i++)
        health_update(h, v);
}

/* Feed n samples cycling 0..255 (never fails RCT or APT at sane h). */
static unsigned feed_cycle(struct health *h, unsigned n, unsigned *passed)
{
    unsigned i, bad = 0;

    *passed = 0;
    for (i = 0; i < n; i++) {
        enum health_event ev = health_update(h, (uint8_t)i);

        if (ev == HEALTH_EV_PASSED)
            (*passed)++;
        else if (ev != HEALTH_EV_NONE)
            bad++;
    }
    return bad;
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void test_cutoff_known_answers(void **state)
{
    (void)state;
    assert_int_equal(health_rct_cutoff(1.0, -20.0), 21);
    assert_int_equal(health_rct_cutoff(0.5, -20.0), 41);
    assert_int_equal(health_rct_cutoff(8.0, -20.0), 4);
    assert_int_equal(health_apt_cutoff(1.0, -20.0, 512), 311);
    assert_int_equal(health_apt_cutoff(0.5, -20.0, 512), 410);
    /* Remaining SP 800-90B table 2 entries for W = 512. */
    assert_int_equal(health_apt_cutoff(2.0, -20.0, 512), 177);
    assert_int_equal(health_apt_cutoff(4.0, -20.0, 512), 62);
    assert_int_equal(health_apt_cutoff(8.0, -20.0, 512), 13);
    /* Tiny alpha must not be lost to rounding of 1 - alpha. */
    assert_int_equal(health_apt_cutoff(1.0, -60.0, 512), 355);
    /* A quotient that is integral in decimal must not gain 1 from ceil:
     * 1.0 - 0.9 is 0.09999999999999998, so 20 / h is 200.00000000000003. */
    assert_int_equal(health_rct_cutoff(0.6, -30.0), 51);
    assert_int_equal(health_rct_cutoff(1.0 - 0.9, -20.0), 201);
}

static void test_cutoff_bad_args(void **state)
{
    (void)state;
    assert_int_equal(health_rct_cutoff(0.0, -20.0), 0);
    assert_int_equal(health_rct_cutoff(NAN, -20.0), 0);
    assert_int_equal(health_rct_cutoff(1.0, 0.0), 0);
    assert_int_equal(health_apt_cutoff(0.0, -20.0, 512), 0);
    assert_int_equal(health_apt_cutoff(1.0, NAN, 512), 0);
    assert_int_equal(health_apt_cutoff(1.0, -20.0, 0), 0);
    /* Near-zero entropy: the APT can never fire (cutoff = window + 1),
     * and the RCT cutoff saturates instead of overflowing. */
    assert_int_equal(health_apt_cutoff(1e-6, -20.0, 512), 513);
    assert_int_equal(health_rct_cutoff(1e-300, -60.0), UINT_MAX);
}

static void test_cutoff_monotone(void **state)
{
    double alphas[] = { -10.0, -20.0, -30.0, -40.0, -60.0 };
    unsigned a;

    (void)state;
    for (a = 0; a < sizeof(alphas) / sizeof(alphas[0]); a++) {
        unsigned prev_rct = health_rct_cutoff(0.05, alphas[a]);
        unsigned prev_apt = health_apt_cutoff(0.05, alphas[a], 512);
        double hb;

        for (hb = 0.1; hb <= 8.0 + 1e-9; hb += 0.05) {
            unsigned rct = health_rct_cutoff(hb, alphas[a]);
            unsigned apt = health_apt_cutoff(hb, alphas[a], 512);

            assert_true(rct <= prev_rct);
            assert_true(apt <= prev_apt);
            assert_true(rct >= 2);
            assert_true(apt >= 2 && apt <= 513);
            prev_rct = rct;
            prev_apt = apt;
        }
        /* Stricter alpha never lowers a cutoff. */
        if (a > 0) {
            assert_true(health_rct_cutoff(1.0, alphas[a])
                        >= health_rct_cutoff(1.0, alphas[a - 1]));
            assert_true(health_apt_cutoff(1.0, alphas[a], 512)
                        >= health_apt_cutoff(1.0, alphas[a - 1], 512));
        }
    }
}

static void test_init_rejects_bad_args(void **state)
{
    struct health h;

    (void)state;
    assert_int_equal(health_init(NULL, 1.0, -20.0, 3), -1);
    assert_int_equal(health_init(&h, 0.0, -20.0, 3), -1);
    assert_int_equal(health_init(&h, -1.0, -20.0, 3), -1);
    assert_int_equal(health_init(&h, 8.01, -20.0, 3), -1);
    assert_int_equal(health_init(&h, NAN, -20.0, 3), -1);
    assert_int_equal(health_init(&h, 1.0, -0.5, 3), -1);
    assert_int_equal(health_init(&h, 1.0, -61.0, 3), -1);
    assert_int_equal(health_init(&h, 1.0, NAN, 3), -1);
    assert_int_equal(health_init(&h, 1.0, -20.0, 0), -1);
    /* Boundaries are inclusive. */
    assert_int_equal(health_init(&h, 8.0, -1.0, 1), 0);
    assert_int_equal(health_init(&h, 1e-3, -60.0, 1), 0);
    assert_int_equal(health_init(&h, 1.0, -20.0, 3), 0);
    assert_int_equal(health_get_state(&h), HEALTH_STARTUP);
    assert_int_equal(h.rct_cutoff, 21);
    assert_int_equal(h.apt_cutoff, 311);
    assert_int_equal(h.samples, 0);
    assert_int_equal(h.last_event, HEALTH_EV_NONE);
}

static void test_rct_trips_on_constant(void **state)
{
    struct health h;
    unsigned at;

    (void)state;
    assert_int_equal(health_init(&h, 1.0, -20.0, 3), 0);
    /* Run length reaches 21 on the 21st identical sample. */
    assert_int_equal(feed_const(&h, 0xAA, 100, &at), HEALTH_EV_RCT_FAIL);
    assert_int_equal(at, 21);
    assert_int_equal(h.rct_failures, 1);
    assert_int_equal(h.apt_failures, 0);
    assert_int_equal(h.last_event, HEALTH_EV_RCT_FAIL);
    /* Run was reset: another full cutoff is needed to fail again. */
    assert_int_equal(feed_const(&h, 0xAA, 100, &at), HEALTH_EV_RCT_FAIL);
    assert_int_equal(at, 21);
    assert_int_equal(h.samples, 42);
}

static void test_cycle_passes(void **state)
{
    struct health h;
    unsigned passed;

    (void)state;
    assert_int_equal(health_init(&h, 2.0, -30.0, 3), 0);
    assert_int_equal(feed_cycle(&h, 100000, &passed), 0);
    assert_int_equal(passed, 1);
    assert_int_equal(health_get_state(&h), HEALTH_OK);
    assert_int_equal(h.rct_failures, 0);
    assert_int_equal(h.apt_failures, 0);
    assert_int_equal(h.samples, 100000);
}

static void test_apt_trips_without_rct(void **state)
{
    struct health h;
    unsigned i, at = 0;
    enum health_event ev = HEALTH_EV_NONE;

    (void)state;
    assert_int_equal(health_init(&h, 2.0, -20.0, 3), 0);
    assert_int_equal(h.apt_cutoff, 177);
    /* Reference 0x55 at every even position, so it appears 256 times in
     * the window but never twice in a row. */
    for (i = 0; i < 512; i++) {
        uint8_t v = (i % 2 == 0) ? 0x55 : (uint8_t)(0x80 + (i / 2) % 64);

        ev = health_update(&h, v);
        if (ev != HEALTH_EV_NONE) {
            at = i + 1;
            break;
        }
    }
    assert_int_equal(ev, HEALTH_EV_APT_FAIL);
    /* The 177th occurrence is at position 2 * 176 + 1. */
    assert_int_equal(at, 2 * (177 - 1) + 1);
    assert_int_equal(h.apt_failures, 1);
    assert_int_equal(h.rct_failures, 0);
    assert_int_equal(h.last_event, HEALTH_EV_APT_FAIL);
}

static void test_apt_window_restarts(void **state)
{
    struct health h;
    unsigned i;

    (void)state;
    assert_int_equal(health_init(&h, 2.0, -20.0, 3), 0);
    /* 176 occurrences of the reference per window is just under the
     * cutoff; spread over many windows it must never fire, showing the
     * count restarts with each window. */
    for (i = 0; i < 512 * 20; i++) {
        unsigned pos = i % 512;
        uint8_t v = (pos % 2 == 0 && pos < 2 * 176)
                        ? 0x55 : (uint8_t)(0x80 + (pos / 2) % 64);

        assert_true(health_update(&h, v) != HEALTH_EV_APT_FAIL);
    }
    assert_int_equal(h.apt_failures, 0);
}

static void test_startup_exact(void **state)
{
    struct health h;
    unsigned i;

    (void)state;
    assert_int_equal(health_init(&h, 1.0, -20.0, 3), 0);
    for (i = 0; i < HEALTH_STARTUP_SAMPLES - 1; i++)
        assert_int_equal(health_update(&h, (uint8_t)i), HEALTH_EV_NONE);
    assert_int_equal(health_get_state(&h), HEALTH_STARTUP);
    assert_int_equal(h.passes, 0);
    assert_int_equal(health_update(&h, (uint8_t)i), HEALTH_EV_PASSED);
    assert_int_equal(health_get_state(&h), HEALTH_OK);
    assert_int_equal(h.passes, 1);
    assert_int_equal(h.startup_failures, 0);
    /* No further PASSED while OK. */
    assert_int_equal(health_update(&h, 1), HEALTH_EV_NONE);
}

static void test_startup_failure_restarts_count(void **state)
{
    struct health h;
    unsigned i, at, passed;

    (void)state;
    assert_int_equal(health_init(&h, 1.0, -20.0, 3), 0);
    assert_int_equal(feed_cycle(&h, 1000, &passed), 0);
    assert_int_equal(feed_const(&h, 9, 100, &at), HEALTH_EV_RCT_FAIL);
    assert_int_equal(health_get_state(&h), HEALTH_STARTUP);
    assert_int_equal(h.startup_failures, 1);
    /* A full fresh start-up run is needed after the failure. */
    for (i = 0; i < HEALTH_STARTUP_SAMPLES - 1; i++)
        assert_int_equal(health_update(&h, (uint8_t)i), HEALTH_EV_NONE);
    assert_int_equal(health_update(&h, (uint8_t)i), HEALTH_EV_PASSED);
    assert_int_equal(h.startup_failures, 0);
}

static void test_failure_in_ok_retests(void **state)
{
    struct health h;
    unsigned at, passed;

    (void)state;
    assert_int_equal(health_init(&h, 1.0, -20.0, 3), 0);
    assert_int_equal(feed_cycle(&h, HEALTH_STARTUP_SAMPLES, &passed), 0);
    assert_int_equal(health_get_state(&h), HEALTH_OK);
    assert_int_equal(feed_const(&h, 3, 100, &at), HEALTH_EV_RCT_FAIL);
    assert_int_equal(health_get_state(&h), HEALTH_RETEST);
    /* An intermittent failure is not a failed start-up test. */
    assert_int_equal(h.startup_failures, 0);
    assert_int_equal(feed_cycle(&h, HEALTH_STARTUP_SAMPLES, &passed), 0);
    assert_int_equal(passed, 1);
    assert_int_equal(health_get_state(&h), HEALTH_OK);
    assert_int_equal(h.passes, 2);
}

static void test_permanent_after_three(void **state)
{
    struct health h;
    unsigned at, passed;
    uint64_t rct;

    (void)state;
    assert_int_equal(health_init(&h, 1.0, -20.0, 3), 0);
    assert_int_equal(feed_const(&h, 0, 100, &at), HEALTH_EV_RCT_FAIL);
    assert_int_equal(health_get_state(&h), HEALTH_STARTUP);
    assert_int_equal(h.startup_failures, 1);
    assert_int_equal(feed_const(&h, 0, 100, &at), HEALTH_EV_RCT_FAIL);
    assert_int_equal(health_get_state(&h), HEALTH_STARTUP);
    assert_int_equal(h.startup_failures, 2);
    assert_int_equal(feed_const(&h, 0, 100, &at), HEALTH_EV_RCT_FAIL);
    assert_int_equal(health_get_state(&h), HEALTH_PERMANENT);
    assert_int_equal(h.startup_failures, 3);
    assert_int_equal(h.rct_failures, 3);

    /* Permanent: tests still count, but nothing is reported and good
     * samples do not recover. */
    rct = h.rct_failures;
    assert_int_equal(feed_const(&h, 0, 100, &at), HEALTH_EV_NONE);
    assert_true(h.rct_failures > rct);
    assert_int_equal(feed_cycle(&h, 5000, &passed), 0);
    assert_int_equal(passed, 0);
    assert_int_equal(health_get_state(&h), HEALTH_PERMANENT);
    assert_int_equal(h.samples, 63 + 100 + 5000);
    assert_true(health_mcv_estimate(&h) > 0.0);

    /* Only health_init leaves it. */
    assert_int_equal(health_init(&h, 1.0, -20.0, 3), 0);
    assert_int_equal(health_get_state(&h), HEALTH_STARTUP);
}

static void test_permanent_from_retest(void **state)
{
    struct health h;
    unsigned at, passed;

    (void)state;
    assert_int_equal(health_init(&h, 1.0, -20.0, 2), 0);
    assert_int_equal(feed_cycle(&h, HEALTH_STARTUP_SAMPLES, &passed), 0);
    assert_int_equal(feed_const(&h, 0, 100, &at), HEALTH_EV_RCT_FAIL);
    assert_int_equal(health_get_state(&h), HEALTH_RETEST);
    assert_int_equal(feed_const(&h, 0, 100, &at), HEALTH_EV_RCT_FAIL);
    assert_int_equal(health_get_state(&h), HEALTH_RETEST);
    assert_int_equal(h.startup_failures, 1);
    assert_int_equal(feed_const(&h, 0, 100, &at), HEALTH_EV_RCT_FAIL);
    assert_int_equal(health_get_state(&h), HEALTH_PERMANENT);
}

static void test_stall(void **state)
{
    struct health h;
    unsigned i, passed;

    (void)state;
    assert_int_equal(health_init(&h, 1.0, -20.0, 3), 0);

    /* Stall during start-up counts as a failed start-up test and
     * restarts the count. */
    assert_int_equal(feed_cycle(&h, 1000, &passed), 0);
    assert_int_equal(health_fail_stall(&h), HEALTH_EV_STALL_FAIL);
    assert_int_equal(health_get_state(&h), HEALTH_STARTUP);
    assert_int_equal(h.startup_failures, 1);
    assert_int_equal(h.stall_failures, 1);
    assert_int_equal(h.last_event, HEALTH_EV_STALL_FAIL);
    for (i = 0; i < HEALTH_STARTUP_SAMPLES - 1; i++)
        assert_int_equal(health_update(&h, (uint8_t)i), HEALTH_EV_NONE);
    assert_int_equal(health_update(&h, (uint8_t)i), HEALTH_EV_PASSED);

    /* Stall in OK -> RETEST. */
    assert_int_equal(health_fail_stall(&h), HEALTH_EV_STALL_FAIL);
    assert_int_equal(health_get_state(&h), HEALTH_RETEST);

    /* Repeated stalls during retest -> PERMANENT, then silent. */
    assert_int_equal(health_fail_stall(&h), HEALTH_EV_STALL_FAIL);
    assert_int_equal(health_fail_stall(&h), HEALTH_EV_STALL_FAIL);
    assert_int_equal(health_get_state(&h), HEALTH_RETEST);
    assert_int_equal(health_fail_stall(&h), HEALTH_EV_STALL_FAIL);
    assert_int_equal(health_get_state(&h), HEALTH_PERMANENT);
    assert_int_equal(health_fail_stall(&h), HEALTH_EV_NONE);
    assert_int_equal(h.stall_failures, 6);
    assert_int_equal(h.rct_failures, 0);
    assert_int_equal(h.apt_failures, 0);
}

static double mcv_expected(double maxc, double n)
{
    double p = maxc / n;
    double pu = p + 2.576 * sqrt(p * (1.0 - p) / (n - 1.0));

    return pu >= 1.0 ? 0.0 : -log2(pu);
}

/* 4096 samples: value 7 at every 4th position (1024 times), the rest
 * spread over 8..207 (at most 16 each), no long runs. */
static void feed_mcv_pattern(struct health *h)
{
    unsigned i;

    for (i = 0; i < HEALTH_MCV_WINDOW; i++)
        health_update(h, (i % 4 == 0) ? 7 : (uint8_t)(8 + i % 200));
}

/* cmocka 1.1.5's assert_float_equal works in float; compare doubles. */
static void assert_near(double got, double want, double eps)
{
    if (!(fabs(got - want) <= eps))
        fail_msg("got %.17g, want %.17g (eps %g)", got, want, eps);
}

static void test_mcv(void **state)
{
    struct health h;

    (void)state;
    assert_int_equal(health_init(&h, 1.0, -20.0, 3), 0);
    assert_true(health_mcv_estimate(&h) == -1.0);
    health_update(&h, 1);
    assert_true(health_mcv_estimate(&h) == -1.0);
    health_update(&h, 2);
    /* p = 0.5 with n = 2: p_u clamps to 1. */
    assert_true(health_mcv_estimate(&h) == 0.0);

    assert_int_equal(health_init(&h, 1.0, -20.0, 3), 0);
    feed_mcv_pattern(&h);
    assert_near(health_mcv_estimate(&h), mcv_expected(1024, 4096), 1e-9);

    /* Constant source -> 0 bits (not -0). */
    assert_int_equal(health_init(&h, 1.0, -20.0, 3), 0);
    feed_n(&h, 5, HEALTH_MCV_WINDOW);
    assert_true(health_mcv_estimate(&h) == 0.0);
    assert_false(signbit(health_mcv_estimate(&h)));

    /* Sliding: the constant block is fully evicted by the next 4096. */
    feed_mcv_pattern(&h);
    assert_near(health_mcv_estimate(&h), mcv_expected(1024, 4096), 1e-9);
    /* Partially slid: 1000 more samples of value 7 push the count of 7 to
     * 1024 - 250 (evicted) + 1000. */
    feed_n(&h, 7, 1000);
    assert_near(health_mcv_estimate(&h),
                       mcv_expected(1024 - 250 + 1000, 4096), 1e-9);
}

/* Ideal random bytes cannot show 8 bits on 1024 start-up samples: a
 * credit of 8 fails every start-up test and ends permanent. */
static void test_credit_startup_refuses(void **state)
{
    struct health h;
    uint64_t seed = 7;
    unsigned fails = 0, passes = 0;

    (void)state;
    assert_int_equal(health_init(&h, 8.0, -20.0, 3), 0);
    for (unsigned i = 0; i < 4 * HEALTH_STARTUP_SAMPLES; i++) {
        enum health_event ev = health_update(&h, (uint8_t)splitmix64(&seed));

        if (ev == HEALTH_EV_CREDIT_FAIL) {
            fails++;
            assert_int_equal((i + 1) % HEALTH_STARTUP_SAMPLES, 0);
        }
        passes += ev == HEALTH_EV_PASSED;
    }
    assert_int_equal(fails, 3);
    assert_int_equal(passes, 0);
    assert_int_equal(h.credit_failures, 3);
    assert_int_equal(health_get_state(&h), HEALTH_PERMANENT);
    assert_int_equal(h.last_event, HEALTH_EV_CREDIT_FAIL);
    /* about 5.7 bits: what 1024 ideal samples can show */
    assert_true(h.credit_evidence > 5.0 && h.credit_evidence < 6.5);

    /* the same bytes at the default credit pass */
    seed = 7;
    assert_int_equal(health_init(&h, 2.0, -20.0, 3), 0);
    for (unsigned i = 0; i < HEALTH_STARTUP_SAMPLES; i++)
        health_update(&h, (uint8_t)splitmix64(&seed));
    assert_int_equal(health_get_state(&h), HEALTH_OK);
    assert_int_equal(h.credit_failures, 0);
}

/* At run time: an online estimate below the credit for
 * HEALTH_CREDIT_LOW_WINDOWS windows in a row is a failure; the re-test
 * then passes again on good samples. */
static void test_credit_online(void **state)
{
    struct health h;
    unsigned passed, at = 0;

    (void)state;
    assert_int_equal(health_init(&h, 4.0, -20.0, 3), 0);
    assert_int_equal(feed_cycle(&h, HEALTH_STARTUP_SAMPLES, &passed), 0);
    assert_int_equal(passed, 1);
    /* 12 values in turn: no runs, APT far from its cutoff, ~3.4 bits */
    for (unsigned i = 0; i < 8 * HEALTH_MCV_WINDOW && at == 0; i++) {
        enum health_event ev = health_update(&h, (uint8_t)(i % 12));

        if (ev != HEALTH_EV_NONE) {
            assert_int_equal(ev, HEALTH_EV_CREDIT_FAIL);
            at = i + 1;
        }
    }
    assert_true(at >= HEALTH_CREDIT_LOW_WINDOWS * HEALTH_MCV_WINDOW &&
                at <= (HEALTH_CREDIT_LOW_WINDOWS + 2) * HEALTH_MCV_WINDOW);
    assert_int_equal(health_get_state(&h), HEALTH_RETEST);
    assert_int_equal(h.credit_failures, 1);
    assert_true(h.credit_evidence < 4.0 && h.credit_evidence > 3.0);
    assert_int_equal(h.rct_failures + h.apt_failures, 0);
    /* good samples again: the re-test passes */
    assert_int_equal(feed_cycle(&h, HEALTH_STARTUP_SAMPLES, &passed), 0);
    assert_int_equal(passed, 1);
    assert_int_equal(health_get_state(&h), HEALTH_OK);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(health_state_name(HEALTH_STARTUP), "startup");
    assert_string_equal(health_state_name(HEALTH_OK), "ok");
    assert_string_equal(health_state_name(HEALTH_RETEST), "retest");
    assert_string_equal(health_state_name(HEALTH_PERMANENT), "permanent");
    assert_string_equal(health_event_name(HEALTH_EV_NONE), "none");
    assert_string_equal(health_event_name(HEALTH_EV_PASSED), "passed");
    assert_string_equal(health_event_name(HEALTH_EV_RCT_FAIL), "rct");
    assert_string_equal(health_event_name(HEALTH_EV_APT_FAIL), "apt");
    assert_string_equal(health_event_name(HEALTH_EV_STALL_FAIL), "stall");
    assert_string_equal(health_event_name(HEALTH_EV_CREDIT_FAIL), "credit");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cutoff_known_answers),
        cmocka_unit_test(test_cutoff_bad_args),
        cmocka_unit_test(test_cutoff_monotone),
        cmocka_unit_test(test_init_rejects_bad_args),
        cmocka_unit_test(test_rct_trips_on_constant),
        cmocka_unit_test(test_cycle_passes),
        cmocka_unit_test(test_apt_trips_without_rct),
        cmocka_unit_test(test_apt_window_restarts),
        cmocka_unit_test(test_startup_exact),
        cmocka_unit_test(test_startup_failure_restarts_count),
        cmocka_unit_test(test_failure_in_ok_retests),
        cmocka_unit_test(test_permanent_after_three),
        cmocka_unit_test(test_permanent_from_retest),
        cmocka_unit_test(test_stall),
        cmocka_unit_test(test_mcv),
        cmocka_unit_test(test_credit_startup_refuses),
        cmocka_unit_test(test_credit_online),
        cmocka_unit_test(test_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test-sampler.c - the real sampler thread against a consumer thread: the
 * start-up test passes, bytes flow only after it, the sampler sleeps when
 * the ring is full and wakes when drained, and stops promptly; the capture
 * tap.
 *
 * Built twice. As test-sampler, the production sampler.c on the real
 * counter: the hand-off test is one of the few tests that wait on the
 * host's own events (docs/reliability.md, "Real-source tests"). As
 * test-sampler-fault, sampler.c compiled with PBD_FAULT_INJECTION: the
 * same tests, the capture tap's among them, on the real counter plus an
 * injected 50,000 events a second (--fault rate=R), so they take the same
 * short time on any host; and the tests of that rate itself. The fault
 * build also runs under ThreadSanitizer. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <sodium.h>

#include "counter.h"
#include "osdep.h"
#include "sampler.h"

/* The source of a test: R injected events a second in the fault build. */
#ifdef PBD_FAULT_INJECTION
#define SOURCE(r) .fault = SAMPLER_FAULT_RATE, .fault_rate = (r)
#else
#define SOURCE(r) .fault = SAMPLER_FAULT_NONE
#endif

static _Atomic unsigned wakes;

static void on_wake(void *arg)
{
    (void)arg;
    atomic_fetch_add(&wakes, 1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Waits up to limit seconds for cond(s); returns whether it held. */
static bool wait_for(bool (*cond)(struct sampler *), struct sampler *s,
                     double limit)
{
    double end = now_s() + limit;
    while (now_s() < end) {
        if (cond(s))
            return true;
        usleep(2000);
    }
    return cond(s);
}

static bool is_ok(struct sampler *s)
{
    return atomic_load(&s->shared.st.health_state) == HEALTH_OK;
}

static bool is_sleeping(struct sampler *s)
{
    return atomic_load(&s->shared.st.sleeping);
}

static bool is_awake(struct sampler *s)
{
    return !atomic_load(&s->shared.st.sleeping);
}

static void test_handoff(void **state)
{
    (void)state;
    static struct sampler s;
    static struct ring r;
    static uint8_t buf[512];
    assert_int_equal(ring_init(&r, buf, sizeof(buf), 384, 512), 0);
    struct sampler_config cfg = {
        .cpu = -1, .h_bits = 2.0, .alpha_log2 = -30, .permanent_after = 3,
        .stall_ms = 20000, .wake = on_wake, SOURCE(50000),
    };
    assert_int_equal(sampler_init(&s, &cfg, &r), 0);
    assert_true(s.setup.threshold >= 2);
    assert_true(s.setup.freq > 0);
    /* Ask to be woken at 64 bytes. Before the start: a fast source fills
     * the ring moments after the start-up test, and a want set on a full
     * ring is never met (no byte goes in to meet it). */
    sampler_want(&s, 64);
    assert_int_equal(sampler_start(&s), 0);

    /* The start-up test needs 1024 events; nothing enters the ring first. */
    assert_true(wait_for(is_ok, &s, 60));
    assert_true(atomic_load(&s.shared.st.discarded) >= HEALTH_STARTUP_SAMPLES);
    assert_true(atomic_load(&wakes) >= 1); /* the pass woke the loop */

    /* Let the ring fill: it sleeps. */
    assert_true(wait_for(is_sleeping, &s, 60));
    assert_int_equal(ring_level(&r), 512);
    /* The want was honoured. */
    assert_int_equal(atomic_load(&s.shared.want), 0);
    uint64_t ev = atomic_load(&s.shared.st.events);
    usleep(300000);
    /* Asleep: a full ring costs no reads. */
    assert_int_equal(atomic_load(&s.shared.st.events), ev);

    /* Draining to just above the low watermark does not wake it... */
    uint8_t out[512];
    assert_int_equal(ring_take(&r, out, 128), 128);
    sampler_kick(&s);
    usleep(100000);
    assert_true(is_sleeping(&s));
    /* ...below it does, and it refills. */
    assert_int_equal(ring_take(&r, out, 1), 1);
    sampler_kick(&s);
    assert_true(wait_for(is_awake, &s, 5) || ring_level(&r) == 512);
    assert_true(wait_for(is_sleeping, &s, 60));
    assert_int_equal(ring_level(&r), 512);

    double t0 = now_s();
    sampler_stop(&s);
    assert_true(now_s() - t0 < 3.0); /* a sleeping sampler stops promptly */
    sampler_stop(&s);                /* idempotent */
    sampler_destroy(&s);
    assert_false(atomic_load(&s.shared.st.running));
}

#ifdef PBD_FAULT_INJECTION
static struct sampler *tap_s;
static struct ring *tap_r;

static bool tap_has_one(struct sampler *s)
{
    (void)s;
    return ring_level(tap_r) > 0;
}

static bool tap_overran(struct sampler *s)
{
    return atomic_load(&s->shared.tap.broken) == TAP_OVERRUN;
}

static bool tap_is_quiet(struct sampler *s)
{
    return sampler_tap_quiet(s);
}

static uint64_t pushed0;
static bool pushed_more(struct sampler *s)
{
    return atomic_load(&s->shared.st.pushed) > pushed0;
}

static bool tap_hundred(struct sampler *s)
{
    return ring_level(tap_r) == 100 &&
           atomic_load_explicit(&s->shared.tap.left, memory_order_relaxed) == 0;
}

/* The capture tap: while armed, every sample goes to it and none to the
 * main ring, even one full enough to put the sampler to sleep; a tap
 * nobody drains is reported as overrun (never skipped silently) and the
 * samples go back to the main ring; a disarmed tap goes quiet; a counted
 * arm takes exactly that many. Built under TSan too: this is the second
 * sampler -> loop hand-off. */
static void test_tap(void **state)
{
    (void)state;
    static struct sampler s;
    static struct ring r, t;
    /* The tap holds 16 KiB: at the injected 5,000 a second plus up to
     * 8,500 of the host's own, a consumer that polls every millisecond
     * may be kept off the CPU for 1.2 s (TSan, a loaded CI host) before
     * it overruns; 2 KiB (0.15-0.4 s) did overrun once under TSan. */
    static uint8_t buf[512], tbuf[16384], sink[512];
    assert_int_equal(ring_init(&r, buf, sizeof(buf), 384, 512), 0);
    assert_int_equal(ring_init(&t, tbuf, sizeof(tbuf), sizeof(tbuf),
                               sizeof(tbuf)), 0);
    tap_s = &s;
    tap_r = &t;
    struct sampler_config cfg = {
        .cpu = -1, .h_bits = 2.0, .alpha_log2 = -30, .permanent_after = 3,
        /* A rate the consumer's 1 ms polls drain with room to spare,
         * and which fills the undrained tap in at most 3.3 s. */
        .stall_ms = 20000, .wake = on_wake, SOURCE(5000),
    };
    assert_int_equal(sampler_init(&s, &cfg, &r), 0);
    assert_true(sampler_tap_quiet(&s));
    assert_int_equal(sampler_start(&s), 0);
    assert_true(wait_for(is_ok, &s, 60));
    /* Let the main ring fill: the sampler sleeps. Arming wakes it. */
    assert_true(wait_for(is_sleeping, &s, 60));
    sampler_tap_arm(&s, &t, UINT64_MAX);
    assert_true(wait_for(tap_has_one, &s, 60));
    /* It has seen the tap armed: from now on nothing reaches the ring. */
    pushed0 = atomic_load(&s.shared.st.pushed);
    uint8_t out[256];
    uint64_t taken = 0;
    double end = now_s() + 60, last = now_s(), longest = 0;
    while (taken < 2000 && now_s() < end) {
        size_t n;
        while ((n = ring_take(&t, out, sizeof(out))) > 0)
            taken += n;
        double now = now_s();
        if (now - last > longest)
            longest = now - last;
        last = now;
        usleep(1000);
    }
    assert_true(taken >= 2000);
    if (atomic_load(&s.shared.tap.broken) != TAP_OK)
        fail_msg("the drained tap broke (%d); longest gap between polls "
                 "%.3f s", (int)atomic_load(&s.shared.tap.broken), longest);
    assert_int_equal(atomic_load(&s.shared.st.pushed), pushed0);
    assert_int_equal(ring_level(&r), 512);
    /* Undrained, the tap fills and says so; samples go to the ring again
     * (drain it so they can). */
    assert_true(wait_for(tap_overran, &s, 60));
    assert_int_equal(atomic_load(&s.shared.tap.diverted),
                     taken + ring_level(&t));
    ring_take(&r, sink, sizeof(sink));
    sampler_kick(&s);
    assert_true(wait_for(pushed_more, &s, 60));
    sampler_tap_disarm(&s);
    assert_true(wait_for(tap_is_quiet, &s, 5));
    /* A counted arm: exactly 100 samples, then the ring again. */
    ring_take(&r, sink, sizeof(sink));
    sampler_kick(&s);
    /* Arming empties the tap: it was full from the overrun, and after the
     * arm it holds only this arm's samples (at most 100). Not "0": the
     * running sampler may divert one before we look. */
    assert_true(ring_level(&t) > 100);
    sampler_tap_arm(&s, &t, 100);
    assert_true(ring_level(&t) <= 100);
    assert_true(wait_for(tap_hundred, &s, 60));
    pushed0 = atomic_load(&s.shared.st.pushed);
    ring_take(&r, sink, sizeof(sink));
    sampler_kick(&s);
    assert_true(wait_for(pushed_more, &s, 60));
    assert_int_equal(ring_level(&t), 100);
    assert_int_equal(atomic_load(&s.shared.tap.broken), TAP_OK);
    sampler_tap_disarm(&s);
    assert_true(wait_for(tap_is_quiet, &s, 5));
    sampler_stop(&s);
    sampler_destroy(&s);
}

#endif

#ifndef PBD_FAULT_INJECTION
static bool is_boosted(struct sampler *s)
{
    return atomic_load(&s->shared.st.boosted);
}

static bool is_rested(struct sampler *s)
{
    return !atomic_load(&s->shared.st.boosted);
}

/* The demand policy: boosted for the start-up test at once, never charged
 * more CPU than its bucket plus the refill, back at rest once nothing
 * needs entropy (and charged nothing more there), boosted again on a new
 * demand once the bucket has refilled. */
static void test_demand_budget(void **state)
{
    (void)state;
    static struct sampler s;
    static struct ring r;
    static uint8_t buf[1u << 20]; /* never fills: the sampler keeps busy */
    assert_int_equal(ring_init(&r, buf, sizeof(buf), sizeof(buf) / 2,
                               sizeof(buf)), 0);
    struct sampler_config cfg = {
        .cpu = -1, .h_bits = 2.0, .alpha_log2 = -30, .permanent_after = 3,
        .stall_ms = 20000, .wake = on_wake, .priority = OSDEP_PRIO_DEMAND,
        .max_cpu_pct = 1.0, /* a bucket of 0.3 CPU-s, 10 ms a second */
    };
    assert_int_equal(sampler_init(&s, &cfg, &r), 0);
    assert_int_equal(atomic_load(&s.shared.demand), SAMPLER_NEED_NOW);
    double t0 = now_s();
    assert_int_equal(sampler_start(&s), 0);
    assert_true(wait_for(is_boosted, &s, 5));
    usleep(2000000);
    double cap_s = 0.01 * SAMPLER_BUDGET_WINDOW_S;
    double charged = atomic_load(&s.shared.st.boost_cpu_us) / 1e6;
    /* Bucket + refill + one batch's overdraw (a batch is ~1 ms). */
    assert_true(charged <= cap_s + 0.01 * (now_s() - t0) + 0.02);
    assert_true(atomic_load(&s.shared.st.budget_us) <= (int64_t)(cap_s * 1e6));

    sampler_demand(&s, SAMPLER_NEED_NONE);
    assert_true(wait_for(is_rested, &s, 5));
    uint64_t rested = atomic_load(&s.shared.st.boost_cpu_us);
    usleep(300000);
    /* At rest, nothing more is charged (one batch in flight at most). */
    assert_true(atomic_load(&s.shared.st.boost_cpu_us) - rested <= 20000);

    sampler_demand(&s, SAMPLER_NEED_NOW);
    /* Once a second's refill is in the bucket, a demand boosts again. */
    assert_true(wait_for(is_boosted, &s, 5));
    assert_true(atomic_load(&s.shared.st.boosts) >= 2);
    sampler_stop(&s);
    sampler_destroy(&s);
}
#endif

/* What the loop reads of the sampler's private state it reads from the
 * stats: the health tests' cutoffs, published by sampler_init, equal what
 * the health module computes for the credit (two credits: no constant),
 * and so does the boost nice value init found. No thread runs. */
static void test_published(void **state)
{
    (void)state;
    static struct sampler s;
    static struct ring r;
    static uint8_t buf[256];
    assert_int_equal(ring_init(&r, buf, sizeof(buf), 192, 256), 0);
    const struct sampler_cal cal = {
        .median_delta = 30, .step = 1, .grain = 1, .threshold = 1000,
    };
    static const double credits[] = {1.0, 6.0};
    for (unsigned i = 0; i < 2; i++) {
        struct sampler_config cfg = {
            .cpu = -1, .h_bits = credits[i], .alpha_log2 = -30,
            .permanent_after = 3, .priority = OSDEP_PRIO_DEMAND,
            .max_cpu_pct = 1.0, .cal = &cal,
        };
        assert_int_equal(sampler_init(&s, &cfg, &r), 0);
        unsigned rct = health_rct_cutoff(credits[i], -30);
        unsigned apt = health_apt_cutoff(credits[i], -30, HEALTH_APT_WINDOW);
        assert_true(rct >= 2 && apt >= 2);
        assert_int_equal(atomic_load(&s.shared.st.rct_cutoff), rct);
        assert_int_equal(atomic_load(&s.shared.st.apt_cutoff), apt);
        assert_int_equal(s.own.health.rct_cutoff, rct);
        assert_int_equal(s.own.health.apt_cutoff, apt);
        assert_int_equal(atomic_load(&s.shared.st.boost_nice),
                         s.own.boost_nice);
        assert_int_equal(s.setup.threshold, cal.threshold);
        sampler_destroy(&s);
    }
}

/* --fault parsing: every form, decimal only, cfg untouched on error. */
static void test_fault_parse(void **state)
{
    (void)state;
    struct sampler_config cfg = {.fault = SAMPLER_FAULT_NONE};
    assert_int_equal(sampler_fault_parse("stuck", &cfg), 0);
    assert_int_equal(cfg.fault, SAMPLER_FAULT_STUCK);
    assert_int_equal(sampler_fault_parse("periodic", &cfg), 0);
    assert_int_equal(cfg.fault, SAMPLER_FAULT_PERIODIC);
    assert_int_equal(sampler_fault_parse("sequence", &cfg), 0);
    assert_int_equal(cfg.fault, SAMPLER_FAULT_SEQUENCE);
    assert_int_equal(cfg.fault_rate, 0);
    assert_string_equal(sampler_fault_name(cfg.fault), "sequence");
    assert_int_equal(sampler_fault_parse("toggle", &cfg), 0);
    assert_int_equal(cfg.fault, SAMPLER_FAULT_TOGGLE);
    assert_string_equal(sampler_fault_name(cfg.fault), "toggle");
    assert_int_equal(sampler_fault_parse("periodic-after=2000", &cfg), 0);
    assert_int_equal(cfg.fault, SAMPLER_FAULT_PERIODIC_AFTER);
    assert_int_equal(cfg.fault_after, 2000);
    static const char *const bad[] = {
        "", "Stuck", "toggle ", "periodic-after=", "periodic-after=0",
        "periodic-after=-1", "periodic-after=0x10", "periodic-after=12x",
        "periodic-after=99999999999999999999", "periodic-after= 5",
        /* rate=R: 1..SAMPLER_FAULT_RATE_MAX, alone or after a fault that
         * reads the real counter, once, last */
        "rate", "rate=", "rate=0", "rate=-5", "rate=1000001", "rate=1e5",
        "rate=5,sequence", "rate=5,rate=6", "stuck,rate=5",
        "periodic,rate=5", "sequence,", "sequence,rate=", "sequence,rate=0",
        "sequence,rate=5,rate=6", "sequence,rate=5,", "sequence;rate=5",
        "toggle,rate=5x", "sequence,after=5", "periodic-after=0,rate=5",
        "averyveryveryverylongfaultnamethatgoesonandon,rate=5",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(sampler_fault_parse(bad[i], &cfg), -1);
        assert_int_equal(cfg.fault, SAMPLER_FAULT_PERIODIC_AFTER);
        assert_int_equal(cfg.fault_after, 2000);
        assert_int_equal(cfg.fault_rate, 0);
    }
    assert_int_equal(sampler_fault_parse("rate=1000000", &cfg), 0);
    assert_int_equal(cfg.fault, SAMPLER_FAULT_RATE);
    assert_int_equal(cfg.fault_rate, SAMPLER_FAULT_RATE_MAX);
    assert_string_equal(sampler_fault_name(cfg.fault), "rate");
    assert_int_equal(sampler_fault_parse("sequence,rate=25", &cfg), 0);
    assert_int_equal(cfg.fault, SAMPLER_FAULT_SEQUENCE);
    assert_int_equal(cfg.fault_rate, 25);
    assert_int_equal(sampler_fault_parse("toggle,rate=7", &cfg), 0);
    assert_int_equal(cfg.fault, SAMPLER_FAULT_TOGGLE);
    assert_int_equal(cfg.fault_rate, 7);
    assert_int_equal(sampler_fault_parse("periodic-after=30,rate=8", &cfg), 0);
    assert_int_equal(cfg.fault, SAMPLER_FAULT_PERIODIC_AFTER);
    assert_int_equal(cfg.fault_after, 30);
    assert_int_equal(cfg.fault_rate, 8);
    /* A fault without a rate clears an earlier one. */
    assert_int_equal(sampler_fault_parse("sequence", &cfg), 0);
    assert_int_equal(cfg.fault_rate, 0);
}

#ifdef PBD_FAULT_INJECTION
/* Real counter ticks as seconds, the sampler's own clock. */
static double counter_s(const struct sampler *s)
{
    return (double)counter_read() / (double)s->setup.freq;
}

static bool is_running(struct sampler *s)
{
    return atomic_load(&s->shared.st.running);
}

static bool is_ok_or_failed(struct sampler *s)
{
    return is_ok(s) || atomic_load(&s->shared.st.fail_epoch) > 0;
}

static uint64_t seq_events;
static bool has_seq_events(struct sampler *s)
{
    return atomic_load(&s->shared.st.events) >= seq_events;
}

/* --fault sequence,rate=R against the real thread: with a threshold no
 * real preemption under half a second reaches, every event is an injected
 * one, yet the start-up test passes and what reaches the ring counts up by
 * one (the sequence semantics hold); events never outrun the schedule (R a
 * second of the real counter, plus the one the schedule starts with); and
 * after a stop and start (the noise-source restart of a capture) the count
 * goes on where it stopped and the schedule starts afresh. */
static void test_rate(void **state)
{
    (void)state;
    static struct sampler s;
    static struct ring r;
    static uint8_t buf[8192], out[8192];
    assert_int_equal(ring_init(&r, buf, sizeof(buf), 6144, 8192), 0);
    struct sampler_config cfg = {
        .cpu = -1, .h_bits = 2.0, .alpha_log2 = -30, .permanent_after = 3,
        .stall_ms = 20000, .wake = on_wake,
        .fault = SAMPLER_FAULT_SEQUENCE, .fault_rate = 20000,
    };
    cfg.threshold = counter_frequency() / 2;
    assert_int_equal(sampler_init(&s, &cfg, &r), 0);
    assert_true(s.setup.threshold == cfg.threshold);

    for (int run = 0; run < 2; run++) {
        double t0 = counter_s(&s);
        uint64_t ev0 = atomic_load(&s.shared.st.events);
        uint64_t gaps0 = atomic_load(&s.shared.st.gaps);
        assert_int_equal(sampler_start(&s), 0);
        /* Twice the start-up test's events, or a full ring. */
        seq_events = ev0 + 2 * HEALTH_STARTUP_SAMPLES;
        assert_true(wait_for(has_seq_events, &s, 120));
        assert_true(wait_for(is_ok, &s, 120));
        uint64_t ev = atomic_load(&s.shared.st.events) - ev0;
        double t1 = counter_s(&s);
        /* One injected event per period of the counter at most, however
         * the sampler was scheduled: catching up never overtakes. (And
         * at most two real ones a second: only a jump of over half a
         * second reaches this threshold.) */
        assert_true((double)ev <=
                    (t1 - t0) * (double)(cfg.fault_rate + 2) + 1.0);
        assert_int_equal(atomic_load(&s.shared.st.backwards), 0);
        /* A jump of a threshold and up to 255 grains is no gap (a gap
         * could only be the thread away for over a second). */
        uint64_t gaps = atomic_load(&s.shared.st.gaps) - gaps0;
        assert_true(gaps * 1000 <= ev);
        sampler_stop(&s);
        if (run == 0) {
            assert_int_equal(atomic_load(&s.shared.st.health_state), HEALTH_OK);
            assert_true(atomic_load(&s.shared.st.pushed) > 0);
        }
        /* A restart: recalibrated (same threshold: it is given), then
         * started again on the same struct. */
        struct sampler_cal cal;
        sampler_calibrate(&cfg, &cal);
        sampler_apply_cal(&s, &cal);
    }
    /* Whatever reached the ring counts up by one, across the restart. */
    size_t n = ring_take(&r, out, sizeof(out));
    assert_true(n > 1);
    for (size_t i = 1; i < n; i++)
        assert_int_equal((uint8_t)(out[i - 1] + 1), out[i]);
    assert_false(is_running(&s));
    sampler_destroy(&s);
}

/* rate=R alone: the real counter and its own bytes, plus R injected
 * events a second whose folded bytes vary: a healthy source, at a rate
 * that does not depend on the host. Two samplers that differ only in R
 * over the same stretch of time: the faster one makes more events. */
static void test_rate_alone(void **state)
{
    (void)state;
    static struct sampler s[2];
    static struct ring r[2];
    static uint8_t buf[2][1024];
    const uint64_t rates[2] = {2000, 200000};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(ring_init(&r[i], buf[i], sizeof(buf[i]), 768,
                                   1024), 0);
        struct sampler_config cfg = {
            .cpu = -1, .h_bits = 2.0, .alpha_log2 = -30,
            .permanent_after = 3, .stall_ms = 20000, .wake = on_wake,
            .fault = SAMPLER_FAULT_RATE, .fault_rate = rates[i],
            .threshold = counter_frequency() / 2,
        };
        assert_int_equal(sampler_init(&s[i], &cfg, &r[i]), 0);
    }
    double t0 = counter_s(&s[0]);
    for (int i = 0; i < 2; i++)
        assert_int_equal(sampler_start(&s[i]), 0);
    /* The fast one passes the start-up test with varied bytes... */
    assert_true(wait_for(is_ok_or_failed, &s[1], 120));
    assert_true(is_ok(&s[1]));
    uint64_t slow = atomic_load(&s[0].shared.st.events);
    uint64_t fast = atomic_load(&s[1].shared.st.events);
    double t1 = counter_s(&s[0]);
    for (int i = 0; i < 2; i++)
        sampler_stop(&s[i]);
    /* ...and had more events than the slow one over the same time, which
     * the schedule bounds. */
    assert_true(fast > slow);
    assert_true((double)slow <= (t1 - t0) * (double)(rates[0] + 2) + 1.0);
    assert_true(atomic_load(&s[1].shared.st.apt_failures) == 0);
    assert_true(atomic_load(&s[1].shared.st.rct_failures) == 0);
    for (int i = 0; i < 2; i++)
        sampler_destroy(&s[i]);
}
#endif

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fault_parse),
        cmocka_unit_test(test_published),
        cmocka_unit_test(test_handoff),
#ifdef PBD_FAULT_INJECTION
        cmocka_unit_test(test_tap),
        cmocka_unit_test(test_rate),
        cmocka_unit_test(test_rate_alone),
#else
        /* The priority policy, on the real counter: the production build's. */
        cmocka_unit_test(test_demand_budget),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

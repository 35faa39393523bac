/* sampler.c - the pinned sampling thread; see sampler.h. */
#include "sampler.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "counter.h"
#include "fold.h"
#include "osdep.h"

#define BATCH 65536u          /* reads between looks at the clock and flags */
#define CALIBRATE_READS 65536u

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t mono_ms(void)
{
    return mono_us() / 1000u;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Median of ordinary read-to-read deltas, the counter's step (its
 * smallest non-zero delta) and grain. Runs on the calling thread before
 * sampling starts, so its allocation is outside the hot loop. */
static uint64_t calibrate_median(unsigned reads, uint64_t *step,
                                 uint64_t *grain)
{
    *step = 1;
    *grain = 1;
    uint64_t *d = malloc(reads * sizeof(*d));
    if (!d)
        return 1;
    uint64_t prev = counter_read();
    for (unsigned i = 0; i < reads; i++) {
        uint64_t cur = counter_read();
        d[i] = cur - prev;
        prev = cur;
    }
    qsort(d, reads, sizeof(*d), cmp_u64);
    uint64_t m = d[reads / 2];
    for (unsigned i = 0; i < reads; i++) {
        if (d[i] != 0) {
            *step = d[i];
            break;
        }
    }
    *grain = counter_grain(d, reads, *step);
    free(d);
    return m;
}

void sampler_cal_threshold(const struct sampler_config *cfg,
                           struct sampler_cal *cal, uint64_t hz)
{
    cal->threshold = cfg->threshold
                         ? cfg->threshold
                         : counter_threshold_for(cal->median_delta, hz);
    /* A coarse counter (qemu's moves in 1 us steps) would make every step
     * an event: the threshold must also clear 16 of its steps. */
    if (!cfg->threshold && cal->step <= UINT64_MAX / 16 &&
        16 * cal->step > cal->threshold)
        cal->threshold = 16 * cal->step;
}

static void calibrate_n(const struct sampler_config *cfg,
                        struct sampler_cal *cal, unsigned reads, uint64_t hz)
{
    cal->median_delta = calibrate_median(reads, &cal->step, &cal->grain);
    sampler_cal_threshold(cfg, cal, hz);
}

void sampler_calibrate(const struct sampler_config *cfg,
                       struct sampler_cal *cal)
{
    calibrate_n(cfg, cal, CALIBRATE_READS, counter_frequency());
}

void sampler_calibrate_quick(const struct sampler_config *cfg, uint64_t hz,
                             struct sampler_cal *cal)
{
    calibrate_n(cfg, cal, 4096, hz);
}

void sampler_apply_cal(struct sampler *s, const struct sampler_cal *cal)
{
    s->setup.median_delta = cal->median_delta;
    s->setup.step = cal->step;
    s->setup.grain = cal->grain;
    s->setup.threshold = cal->threshold;
    /* The new thread writes its pin note afresh: unpublish the old one. */
    atomic_store(&s->shared.st.pin_known, false);
}

/* A decimal count 1..max, digits only; returns 0, or -1. */
static int parse_count(const char *n, uint64_t max, uint64_t *out)
{
    char *end;
    if (*n < '0' || *n > '9')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(n, &end, 10);
    if (errno || *end || v < 1 || v > max)
        return -1;
    *out = v;
    return 0;
}

int sampler_fault_parse(const char *arg, struct sampler_config *cfg)
{
    static const char after[] = "periodic-after=", rate[] = "rate=";
    enum sampler_fault f;
    uint64_t n_after = cfg->fault_after, n_rate = 0;
    char mode[32];
    const char *comma = strchr(arg, ',');
    size_t len = comma ? (size_t)(comma - arg) : strlen(arg);
    if (len >= sizeof(mode))
        return -1;
    memcpy(mode, arg, len);
    mode[len] = '\0';

    if (strcmp(mode, "stuck") == 0) {
        f = SAMPLER_FAULT_STUCK;
    } else if (strcmp(mode, "periodic") == 0) {
        f = SAMPLER_FAULT_PERIODIC;
    } else if (strcmp(mode, "toggle") == 0) {
        f = SAMPLER_FAULT_TOGGLE;
    } else if (strcmp(mode, "sequence") == 0) {
        f = SAMPLER_FAULT_SEQUENCE;
    } else if (strncmp(mode, rate, sizeof(rate) - 1) == 0) {
        /* rate=R alone: the real counter, R more events a second. */
        if (comma || parse_count(mode + sizeof(rate) - 1,
                                 SAMPLER_FAULT_RATE_MAX, &n_rate) != 0)
            return -1;
        f = SAMPLER_FAULT_RATE;
    } else if (strncmp(mode, after, sizeof(after) - 1) == 0) {
        if (parse_count(mode + sizeof(after) - 1, UINT64_MAX / 2,
                        &n_after) != 0)
            return -1;
        f = SAMPLER_FAULT_PERIODIC_AFTER;
    } else {
        return -1;
    }
    if (comma) {
        /* ",rate=R" only where the fault reads the real counter: stuck
         * and periodic never do. */
        if (f == SAMPLER_FAULT_STUCK || f == SAMPLER_FAULT_PERIODIC ||
            strncmp(comma + 1, rate, sizeof(rate) - 1) != 0 ||
            parse_count(comma + sizeof(rate), SAMPLER_FAULT_RATE_MAX,
                        &n_rate) != 0)
            return -1;
    }
    cfg->fault = f;
    cfg->fault_after = n_after;
    cfg->fault_rate = n_rate;
    return 0;
}

const char *sampler_fault_name(enum sampler_fault f)
{
    switch (f) {
    case SAMPLER_FAULT_NONE:           return "none";
    case SAMPLER_FAULT_STUCK:          return "stuck";
    case SAMPLER_FAULT_PERIODIC:       return "periodic";
    case SAMPLER_FAULT_PERIODIC_AFTER: return "periodic-after";
    case SAMPLER_FAULT_TOGGLE:         return "toggle";
    case SAMPLER_FAULT_SEQUENCE:       return "sequence";
    case SAMPLER_FAULT_RATE:           return "rate";
    }
    return "unknown";
}

int sampler_init(struct sampler *s, const struct sampler_config *cfg,
                 struct ring *ring)
{
    memset(s, 0, sizeof(*s));
    s->setup.cfg = *cfg;
    s->setup.ring = ring;
    unsigned permanent_after = cfg->permanent_after;
#ifdef PBD_FAULT_INJECTION
    /* A toggled source must be able to recover when the real counter is
     * back, however many re-tests failed while it was off. */
    if (cfg->fault == SAMPLER_FAULT_TOGGLE)
        permanent_after = UINT_MAX;
#endif
    if (health_init(&s->own.health, cfg->h_bits, cfg->alpha_log2,
                    permanent_after) != 0)
        return -1;
    /* The tests' own state is the thread's; the loop reads their cutoffs
     * (fixed from here on, a restart keeps the tests) from the stats. */
    atomic_store(&s->shared.st.rct_cutoff, s->own.health.rct_cutoff);
    atomic_store(&s->shared.st.apt_cutoff, s->own.health.apt_cutoff);
    if (s->setup.cfg.stall_ms == 0)
        s->setup.cfg.stall_ms = 5000;
    s->setup.freq = counter_frequency();
    struct sampler_cal cal;
    if (cfg->cal)
        cal = *cfg->cal;
    else
        sampler_calibrate(cfg, &cal);
    s->setup.cfg.cal = NULL; /* the caller's; a restart measures afresh */
    sampler_apply_cal(s, &cal);
    s->setup.cpu = cfg->cpu >= 0 ? cfg->cpu : osdep_last_cpu();
    atomic_store(&s->shared.st.health_state, HEALTH_STARTUP);
    atomic_store(&s->shared.st.mcv_millibits, -1);
    if (cfg->priority == OSDEP_PRIO_DEMAND) {
        double pct = cfg->max_cpu_pct > 0 ? cfg->max_cpu_pct : 100.0;
        s->setup.budget_cap_us =
            (int64_t)(pct / 100.0 * SAMPLER_BUDGET_WINDOW_S * 1e6);
        s->setup.budget_min_us = (int64_t)(pct / 100.0 * 1e6); /* 1 s */
        s->own.budget_us = s->setup.budget_cap_us;
        atomic_store(&s->shared.st.budget_us, s->own.budget_us);
        s->setup.rest_asleep = !osdep_priority_reversible(&s->own.boost_nice);
        atomic_store(&s->shared.st.boost_nice, s->own.boost_nice);
        /* A fresh source runs its start-up test: that is a demand. */
        atomic_store(&s->shared.demand, SAMPLER_NEED_NOW);
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    return 0;
}

static void wake_loop(struct sampler *s)
{
    if (s->setup.cfg.wake)
        s->setup.cfg.wake(s->setup.cfg.wake_arg);
}

/* Ends an armed capture, telling the loop why: a capture has no holes, so
 * a sample it cannot have ends it instead. */
static void tap_break(struct sampler *s, enum sampler_tap_break why)
{
    struct sampler_tap *t = &s->shared.tap;
    if (!atomic_load_explicit(&t->armed, memory_order_relaxed))
        return;
    int ok = TAP_OK;
    if (atomic_compare_exchange_strong(&t->broken, &ok, (int)why))
        wake_loop(s);
}

/* Diverts byte to an armed capture tap. Returns true when the tap took it
 * (it must then go nowhere else). */
static bool tap_divert(struct sampler *s, uint8_t byte)
{
    struct sampler_tap *t = &s->shared.tap;
    /* Unarmed, the common case, costs one relaxed load: a stale "armed"
     * only leads into the bracket below, which re-checks. */
    if (!atomic_load_explicit(&t->armed, memory_order_relaxed))
        return false;
    uint64_t c = atomic_load_explicit(&t->claimed, memory_order_relaxed);
    atomic_store(&t->claimed, c + 1);
    bool took = false;
    if (atomic_load(&t->armed) && atomic_load(&t->broken) == TAP_OK) {
        uint64_t left = atomic_load_explicit(&t->left, memory_order_relaxed);
        if (left > 0) {
            if (ring_put(t->ring, byte)) {
                took = true;
                atomic_fetch_add_explicit(&t->diverted, 1,
                                          memory_order_relaxed);
                if (left != UINT64_MAX)
                    atomic_store_explicit(&t->left, left - 1,
                                          memory_order_relaxed);
                size_t w = atomic_load_explicit(&t->want,
                                                memory_order_relaxed);
                if (w && (ring_level(t->ring) >= w || left == 1) &&
                    atomic_exchange(&t->want, 0) != 0)
                    wake_loop(s);
            } else {
                /* Full: the consumer fell behind. The sample goes on to
                 * the main ring, and the capture ends rather than skip. */
                tap_break(s, TAP_OVERRUN);
            }
        }
    }
    atomic_store(&t->landed, c + 1);
    return took;
}

/* True while an armed tap still wants samples: the main ring's fullness
 * must not put the sampler to sleep then. */
static bool tap_wants(struct sampler *s)
{
    struct sampler_tap *t = &s->shared.tap;
    return atomic_load(&t->armed) && atomic_load(&t->broken) == TAP_OK &&
           atomic_load_explicit(&t->left, memory_order_relaxed) > 0;
}

static void publish_health(struct sampler *s, enum health_event ev)
{
    struct sampler_stats *st = &s->shared.st;
    const struct health *h = &s->own.health;
    atomic_store(&st->rct_failures, h->rct_failures);
    atomic_store(&st->apt_failures, h->apt_failures);
    atomic_store(&st->stall_failures, h->stall_failures);
    atomic_store(&st->credit_failures, h->credit_failures);
    atomic_store(&st->credit_millibits,
                 (int32_t)(h->credit_evidence * 1000));
    atomic_store(&st->passes, h->passes);
    if (ev != HEALTH_EV_PASSED) {
        tap_break(s, TAP_HEALTH);
        atomic_store(&st->last_failure, ev);
        atomic_store(&st->last_failure_time, (int64_t)time(NULL));
        atomic_fetch_add(&st->fail_epoch, 1);
    }
    atomic_store(&st->health_state, health_get_state(h));
    wake_loop(s);
}

/* One event: fold, test, and push once the source has passed start-up. */
static void on_event(struct sampler *s, uint64_t delta)
{
    struct sampler_stats *st = &s->shared.st;
    struct health *h = &s->own.health;
    unsigned b = 63u - (unsigned)__builtin_clzll(delta | 1);
    if (b >= SAMPLER_JUMP_BUCKETS)
        b = SAMPLER_JUMP_BUCKETS - 1;
    atomic_fetch_add_explicit(&st->jumps[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&st->events, 1, memory_order_relaxed);

    uint8_t byte = fold_delta(delta, s->setup.grain);
#ifdef PBD_FAULT_INJECTION
    if (s->setup.cfg.fault == SAMPLER_FAULT_SEQUENCE)
        byte = (uint8_t)s->own.fake_seq++;
#endif
    enum health_state before = health_get_state(h);
    enum health_event ev = health_update(h, byte);
    if ((h->samples & 255u) == 0)
        atomic_store_explicit(&st->mcv_millibits,
                              (int32_t)(health_mcv_estimate(h) * 1000),
                              memory_order_relaxed);

    /* A sample that completed or sat inside a start-up test is not served:
     * only bytes drawn after a pass, from a source still passing, are. */
    bool discard = before != HEALTH_OK || ev != HEALTH_EV_NONE;
    if (discard) {
        atomic_store_explicit(&st->startup_seen,
                              (uint32_t)h->startup_count,
                              memory_order_relaxed);
        atomic_fetch_add_explicit(&st->discarded, 1, memory_order_relaxed);
    }
    /* Published once the sample is counted: whoever sees "ok" sees every
     * start-up sample among the discarded. */
    if (ev != HEALTH_EV_NONE)
        publish_health(s, ev);
    if (discard) {
        /* A capture armed just as the source failed must not wait across
         * the re-test (a gap). The sample that passes a re-test is no
         * failure: a capture armed on its news is fine. */
        if (ev != HEALTH_EV_PASSED)
            tap_break(s, TAP_HEALTH);
        return;
    }
    if (tap_divert(s, byte))
        return;
    /* Release: a reader that loads pushed (acquire) and then events sees
     * this event counted too, so a stats snapshot never has more pushed
     * than events (status.c). */
    if (ring_put(s->setup.ring, byte))
        atomic_fetch_add_explicit(&st->pushed, 1, memory_order_release);
    size_t want = atomic_load_explicit(&s->shared.want, memory_order_relaxed);
    if (want && ring_level(s->setup.ring) >= want &&
        atomic_exchange(&s->shared.want, 0) != 0)
        wake_loop(s);
}

/* Sleeps while the ring is at or above its low watermark. Wakes once a
 * second anyway so a lost wake-up could cost at most that. */
static void sleep_while_full(struct sampler *s)
{
    atomic_fetch_add_explicit(&s->shared.st.sleeps, 1, memory_order_relaxed);
    pthread_mutex_lock(&s->mu);
    atomic_store(&s->shared.st.sleeping, true);
    while (!atomic_load(&s->shared.stop) && !ring_below_low(s->setup.ring) &&
           !tap_wants(s)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    }
    atomic_store(&s->shared.st.sleeping, false);
    pthread_mutex_unlock(&s->mu);
}

/* ---- demand-driven sampling ------------------------------------------- */

static uint64_t thread_cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Raises (on) or lowers the thread's priority, under mu so the loop's
 * raise and the thread's lowering never cross. self: called by the
 * sampler thread. Returns true when the thread is boosted afterwards. */
static bool set_boost(struct sampler *s, bool on, bool self)
{
    pthread_mutex_lock(&s->mu);
    bool was = atomic_load(&s->shared.st.boosted);
    /* The loop must not name a thread being joined (a capture restart
     * stops it on the thread pool). */
    if (was != on && (self || s->live)) {
        int rc = 0;
        if (!s->setup.rest_asleep)
            rc = osdep_thread_priority(self ? pthread_self() : s->thread,
                                       on ? OSDEP_PRIO_NORMAL
                                          : OSDEP_PRIO_IDLE);
        else if (on)
            pthread_cond_signal(&s->cv); /* it rests asleep: wake it */
        if (rc == 0) {
            atomic_store(&s->shared.st.boosted, on);
            if (on)
                atomic_fetch_add(&s->shared.st.boosts, 1);
        }
    }
    bool now = atomic_load(&s->shared.st.boosted);
    pthread_mutex_unlock(&s->mu);
    return now;
}

/* The budget a need must find in the bucket to boost (start), and below
 * which a boost for it ends (keep): NOW from a second's refill down to
 * empty; SPARE only while resting asleep (at idle priority the spare
 * stock is made from CPU time nobody wants, for free) and only in the
 * upper half, with a second's refill between the two so it does not flap;
 * NONE never. */
static int64_t need_start(const struct sampler *s, int need)
{
    if (need == SAMPLER_NEED_NOW)
        return s->setup.budget_min_us;
    if (need == SAMPLER_NEED_SPARE && s->setup.rest_asleep)
        return s->setup.budget_cap_us / 2 + s->setup.budget_min_us;
    return INT64_MAX;
}

static int64_t need_keep(const struct sampler *s, int need)
{
    if (need == SAMPLER_NEED_NOW)
        return 0;
    if (need == SAMPLER_NEED_SPARE && s->setup.rest_asleep)
        return s->setup.budget_cap_us / 2;
    return INT64_MAX;
}

/* Between batches, demand policy only: refills the bucket with the wall
 * time passed, charges the CPU time used while boosted, and goes to rest
 * or to work as demand and budget say. One clock_gettime of the thread's
 * CPU time per batch (a system call on Linux: ~1 us per ~1 ms batch). */
static void demand_account(struct sampler *s, uint64_t now_us)
{
    struct sampler_stats *st = &s->shared.st;
    struct sampler_own *own = &s->own;
    uint64_t cpu = thread_cpu_us();
    const double pct = (double)s->setup.budget_min_us / 1e4; /* percent */
    int64_t b = own->budget_us +
                (int64_t)((double)(now_us - own->acct_wall_us) * pct / 100.0);
    bool boosted = atomic_load(&st->boosted);
    if (boosted) {
        b -= (int64_t)(cpu - own->acct_cpu_us);
        atomic_fetch_add_explicit(&st->boosted_us, now_us - own->acct_wall_us,
                                  memory_order_relaxed);
        atomic_fetch_add_explicit(&st->boost_cpu_us, cpu - own->acct_cpu_us,
                                  memory_order_relaxed);
    }
    if (b > s->setup.budget_cap_us)
        b = s->setup.budget_cap_us;
    own->budget_us = b;
    own->acct_wall_us = now_us;
    own->acct_cpu_us = cpu;
    atomic_store_explicit(&st->budget_us, b, memory_order_relaxed);
    int need = atomic_load_explicit(&s->shared.demand, memory_order_relaxed);
    if (boosted && b <= need_keep(s, need)) {
        if (need == SAMPLER_NEED_NOW)
            atomic_fetch_add_explicit(&st->budget_outs, 1,
                                      memory_order_relaxed);
        set_boost(s, false, true);
    } else if (!boosted && b >= need_start(s, need)) {
        set_boost(s, true, true);
    }
}

/* Demand policy, resting asleep (idle priority could not be left): sleeps
 * until demand and budget allow a boost, or stop. Returns true when it
 * slept, so the caller starts a fresh delta. */
static bool rest_asleep(struct sampler *s)
{
    if (!s->setup.rest_asleep || atomic_load(&s->shared.st.boosted))
        return false;
    atomic_fetch_add_explicit(&s->shared.st.sleeps, 1, memory_order_relaxed);
    pthread_mutex_lock(&s->mu);
    atomic_store(&s->shared.st.sleeping, true);
    while (!atomic_load(&s->shared.stop) && !tap_wants(s)) {
        /* Wait for the loop's signal, or for the refill a boost needs. */
        int need = atomic_load(&s->shared.demand);
        int64_t short_us = need_start(s, need) - s->own.budget_us;
        uint64_t wait_us = 1000000;
        if (need != SAMPLER_NEED_NONE && short_us > 0)
            wait_us = (uint64_t)short_us * 1000000u /
                          (uint64_t)s->setup.budget_min_us + 1000;
        else if (need != SAMPLER_NEED_NONE)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t ns = (uint64_t)ts.tv_nsec + (wait_us > 1000000 ? 1000000
                                                                : wait_us) *
                                                   1000u;
        ts.tv_sec += (time_t)(ns / 1000000000u);
        ts.tv_nsec = (long)(ns % 1000000000u);
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
        pthread_mutex_unlock(&s->mu);
        demand_account(s, mono_us()); /* refills; boosts when it may */
        pthread_mutex_lock(&s->mu);
        if (atomic_load(&s->shared.st.boosted))
            break;
    }
    atomic_store(&s->shared.st.sleeping, false);
    pthread_mutex_unlock(&s->mu);
    return true;
}

void sampler_demand(struct sampler *s, enum sampler_need need)
{
    if (s->setup.cfg.priority != OSDEP_PRIO_DEMAND ||
        atomic_load_explicit(&s->shared.demand, memory_order_relaxed) ==
            (int)need)
        return;
    atomic_store(&s->shared.demand, (int)need);
    /* Raise it now: at SCHED_IDLE on a busy CPU it may not run for a
     * while. Only a running thread, and only with budget; on macOS
     * (ENOTSUP) the thread does it after its batch. */
    if (need != SAMPLER_NEED_NONE && atomic_load(&s->shared.st.running) &&
        atomic_load(&s->shared.st.budget_us) >= need_start(s, need))
        set_boost(s, true, false);
}

const char *sampler_policy_name(const struct sampler *s)
{
    switch (s->setup.cfg.priority) {
    case OSDEP_PRIO_DEMAND:
        return s->setup.rest_asleep ? "demand (rests asleep)" : "demand";
    case OSDEP_PRIO_IDLE:
        return "idle";
    default:
        return "normal";
    }
}

#ifdef PBD_FAULT_INJECTION
/* --fault toggle: each SIGUSR2 adds one; odd means the failing counter. A
 * signal handler takes no argument, hence this one file-scope variable. */
static _Atomic unsigned fault_flips;

static void fault_flip_handler(int sig)
{
    (void)sig;
    atomic_fetch_add(&fault_flips, 1);
}

/* The real counter, plus with rate=R one injected jump every 1/R s of it:
 * R events a second on top of the host's own, however loaded the host.
 * A jump is the threshold plus a pseudo-random 0..255 grains, so its folded
 * byte varies like a real one's and the health tests pass. A sampler that
 * was away catches up one jump a read, for at most a tenth of a second's
 * worth; further behind (stopped, or a restart) the schedule starts afresh,
 * so no flood follows a pause. */
static inline uint64_t real_read(struct sampler *s)
{
    uint64_t now = counter_read();
    if (!s->setup.cfg.fault_rate || (int64_t)(now - s->own.fake_next) < 0)
        return now + s->own.fake_offset;
    if (now - s->own.fake_next > s->setup.freq / 10)
        s->own.fake_next = now;
    s->own.fake_next += s->own.fake_period;
    uint64_t x = s->own.fake_prng; /* xorshift64 */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    s->own.fake_prng = x;
    s->own.fake_offset += s->setup.threshold + (x >> 56) * s->setup.grain;
    return now + s->own.fake_offset;
}

static inline uint64_t fake_read(struct sampler *s)
{
    if (s->setup.cfg.fault == SAMPLER_FAULT_SEQUENCE ||
        s->setup.cfg.fault == SAMPLER_FAULT_RATE)
        return real_read(s); /* real events (sequence: on_event numbers
                              * them) */
    if (s->setup.cfg.fault == SAMPLER_FAULT_STUCK)
        return 12345;
    if (s->setup.cfg.fault == SAMPLER_FAULT_TOGGLE) {
        if (!(atomic_load_explicit(&fault_flips, memory_order_relaxed) & 1u))
            return real_read(s);
        /* Failing: periodic until the tests trip (at once, like a real
         * broken source), then stuck, so a long failed spell is one stall
         * failure per stall_ms rather than a storm of RCT failures. The
         * jumps between the real and the fake counter are skipped as a gap
         * or as going backwards. */
        if (health_get_state(&s->own.health) != HEALTH_OK)
            return s->own.fake;
    }
    /* The jump from the real counter to the fake one is skipped as a gap. */
    if (s->setup.cfg.fault == SAMPLER_FAULT_PERIODIC_AFTER &&
        atomic_load_explicit(&s->shared.st.events, memory_order_relaxed) <
            s->setup.cfg.fault_after)
        return real_read(s);
    /* Periodic: 20 ticks a read, and every 1000th read a jump of 5000. */
    s->own.fake += 20;
    if (s->own.fake % 20000 == 0)
        s->own.fake += 5000;
    return s->own.fake;
}
#define READ_COUNTER(s) ((s)->setup.cfg.fault ? fake_read(s) : counter_read())
#else
#define READ_COUNTER(s) counter_read()
#endif

static void *sampler_main(void *arg)
{
    struct sampler *s = arg;
    struct sampler_stats *st = &s->shared.st;
    const uint64_t thr = s->setup.threshold;
    /* Jumps over a second are a suspend or a stopped VM, not a preemption. */
    const uint64_t max_jump = s->setup.freq;
    uint64_t last_event_ms = mono_ms();
    uint64_t events_before = 0;

    const bool demand = s->setup.cfg.priority == OSDEP_PRIO_DEMAND;
    /* Under demand the thread starts at rest; demand_account() below
     * boosts it at once for the start-up test. */
    int prio = !demand                ? s->setup.cfg.priority
               : s->setup.rest_asleep ? OSDEP_PRIO_NORMAL
                                      : OSDEP_PRIO_IDLE;
    bool pinned = osdep_sampler_thread_setup(s->setup.cpu, prio,
                                             s->shared.pin_note,
                                             sizeof(s->shared.pin_note)) == 1;
    if (demand && !s->setup.rest_asleep && s->own.boost_nice != 0 &&
        osdep_thread_nice(s->own.boost_nice) != 0) {
        s->own.boost_nice = 0;
        atomic_store(&st->boost_nice, 0);
    }
    atomic_store(&st->boosted, false);
    atomic_store(&st->pin_known, true);
    uint64_t batch_us = mono_us();
    if (demand) {
        s->own.acct_wall_us = batch_us;
        s->own.acct_cpu_us = thread_cpu_us();
        demand_account(s, batch_us);
    }
    atomic_store(&st->running, true);

    uint64_t prev = READ_COUNTER(s);
    while (!atomic_load_explicit(&s->shared.stop, memory_order_relaxed)) {
        uint64_t gap = 0; /* the batch's longest gap, in ticks */
        for (unsigned i = 0; i < BATCH; i++) {
            uint64_t cur = READ_COUNTER(s);
            uint64_t d = cur - prev;
            prev = cur;
            if (__builtin_expect(d >= thr, 0)) {
                if (d > max_jump) {
                    if (d > UINT64_MAX / 2)
                        atomic_fetch_add_explicit(&st->backwards, 1,
                                                  memory_order_relaxed);
                    else {
                        atomic_fetch_add_explicit(&st->gaps, 1,
                                                  memory_order_relaxed);
                        gap = d > gap ? d : gap;
                    }
                    continue;
                }
                on_event(s, d);
            }
        }
        atomic_fetch_add_explicit(&st->loops, BATCH, memory_order_relaxed);

        /* Between batches: vDSO clock and CPU look-ups, no system calls. */
        uint64_t now_us = mono_us();
        atomic_fetch_add_explicit(&st->sampling_us, now_us - batch_us,
                                  memory_order_relaxed);
        /* A gap the wall clock saw too is time this thread was away (a
         * stopped process, or starved on a busy host), not a silent source:
         * like a sleep, it does not count towards the stall test. A
         * counter that leaps while the batch took no time still does. */
        bool away = gap && (double)(now_us - batch_us) * 1e-6 >=
                               (double)gap / (double)s->setup.freq / 2;
        batch_us = now_us;
        uint64_t now = now_us / 1000u;
        uint64_t ev = atomic_load_explicit(&st->events, memory_order_relaxed);
        if (away || ev != events_before) {
            events_before = ev;
            last_event_ms = now;
        } else if (now - last_event_ms >= s->setup.cfg.stall_ms) {
            /* Once permanent, a stall is no news: publishing it would move
             * the failure time and epoch every stall_ms. */
            enum health_event hev = health_fail_stall(&s->own.health);
            if (hev != HEALTH_EV_NONE)
                publish_health(s, hev);
            last_event_ms = now;
        }
        if (pinned && osdep_current_cpu() != s->setup.cpu)
            atomic_fetch_add_explicit(&st->migrations, 1, memory_order_relaxed);
        if (demand)
            demand_account(s, now_us);

        bool slept = false;
        if (ring_above_high(s->setup.ring) && !tap_wants(s)) {
            sleep_while_full(s);
            slept = true;
        }
        if (demand && rest_asleep(s))
            slept = true;
        if (slept) {
            /* The time asleep is not a preemption: start a fresh delta. */
            prev = READ_COUNTER(s);
            batch_us = mono_us();
            last_event_ms = batch_us / 1000u;
        }
    }
    atomic_store(&st->running, false);
    return NULL;
}

int sampler_start(struct sampler *s)
{
#ifdef PBD_FAULT_INJECTION
    if (s->setup.cfg.fault_rate) {
        /* The injected schedule starts with the thread: a restart of the
         * noise source starts it afresh too. */
        s->own.fake_period = s->setup.freq / s->setup.cfg.fault_rate;
        if (s->own.fake_period == 0)
            s->own.fake_period = 1;
        s->own.fake_next = counter_read();
        s->own.fake_prng = s->own.fake_next | 1;
    }
    if (s->setup.cfg.fault == SAMPLER_FAULT_TOGGLE) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = fault_flip_handler;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESTART;
        if (sigaction(SIGUSR2, &sa, NULL) != 0)
            return errno;
    }
#endif
    atomic_store(&s->shared.stop, false);
    pthread_mutex_lock(&s->mu);
    int rc = pthread_create(&s->thread, NULL, sampler_main, s);
    s->started = rc == 0;
    s->live = rc == 0;
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void sampler_stop(struct sampler *s)
{
    if (atomic_exchange(&s->shared.stop, true) || !s->started)
        return;
    pthread_mutex_lock(&s->mu);
    s->live = false;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
}

void sampler_destroy(struct sampler *s)
{
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
}

void sampler_kick(struct sampler *s)
{
    /* Pairs with the seq-cst tail store in ring_take(): either we see the
     * sampler asleep, or it sees the new tail before it waits. */
    if (atomic_load(&s->shared.st.sleeping) && ring_below_low(s->setup.ring)) {
        pthread_mutex_lock(&s->mu);
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
    }
}

const char *sampler_pin_note(const struct sampler *s)
{
    return atomic_load(&s->shared.st.pin_known) ? s->shared.pin_note
                                                : "starting";
}

void sampler_want(struct sampler *s, size_t level)
{
    atomic_store(&s->shared.want, level);
}

/* ---- the capture tap --------------------------------------------------- */

void sampler_tap_arm(struct sampler *s, struct ring *ring, uint64_t count)
{
    struct sampler_tap *t = &s->shared.tap;
    t->ring = ring;
    ring_flush(ring);
    atomic_store(&t->broken, TAP_OK);
    atomic_store(&t->left, count);
    atomic_store(&t->armed, true);
    /* A sampler asleep over a full main ring has samples to make now. */
    pthread_mutex_lock(&s->mu);
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void sampler_tap_disarm(struct sampler *s)
{
    atomic_store(&s->shared.tap.want, 0);
    atomic_store(&s->shared.tap.armed, false);
}

bool sampler_tap_quiet(struct sampler *s)
{
    struct sampler_tap *t = &s->shared.tap;
    return !atomic_load(&t->armed) &&
           atomic_load(&t->landed) == atomic_load(&t->claimed);
}

void sampler_tap_want(struct sampler *s, size_t level)
{
    atomic_store(&s->shared.tap.want, level);
}

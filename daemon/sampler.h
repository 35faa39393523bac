/*
 * sampler.h - the pinned thread that turns counter jumps into bytes.
 *
 * The thread reads the counter in a tight loop. A read-to-read delta at or
 * above the threshold is an event: the CPU was taken away between two reads
 * (an interrupt, or the scheduler). Each event's delta is xor-folded into a
 * byte, health-tested (health.h), and, once the start-up test has passed,
 * pushed into the ring. The hot loop makes no system call and allocates
 * nothing; the only calls out of it are the wake callback, made when the
 * loop asked for data or health changed.
 *
 * It talks to the rest of the daemon only through the ring (or, while a
 * capture is armed, the tap that takes the ring's place: see struct
 * sampler_tap), the wake callback and the atomics in struct sampler_stats.
 * When the ring reaches its high watermark the thread sleeps until
 * sampler_kick() finds the ring below the low watermark, so a full ring
 * costs no CPU.
 *
 * Demand-driven sampling (cfg.priority OSDEP_PRIO_DEMAND, the default): the
 * thread rests at idle priority (SCHED_IDLE: it samples only what CPU
 * nobody else wants) until the loop says something needs entropy
 * (sampler_demand). Then it samples at normal priority, but only within a
 * CPU budget: a bucket of cfg.max_cpu_pct percent of one CPU over
 * SAMPLER_BUDGET_WINDOW_S seconds, filled at max_cpu_pct percent of the
 * wall-clock time and drained by the thread's own CPU time while boosted
 * (CLOCK_THREAD_CPUTIME_ID, read between batches). An empty bucket, or no
 * demand, puts it back at rest. Where idle priority cannot be left again
 * (Linux without CAP_SYS_NICE or an RLIMIT_NICE of 20), it rests asleep
 * instead. Boosted, it runs at the lowest nice value down to -10 that it
 * may leave SCHED_IDLE at: the budget, not the nice value, bounds what it
 * takes, and a low nice value spends the budget before a host's many
 * busy threads have taken their turns. The loop raises the priority itself (a thread at SCHED_IDLE on
 * a busy CPU may not run for a while); the thread lowers it, and is the
 * only one that accounts.
 */
#ifndef PBD_SAMPLER_H
#define PBD_SAMPLER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "health.h"
#include "ring.h"

enum sampler_fault {
    SAMPLER_FAULT_NONE = 0,
    SAMPLER_FAULT_STUCK,    /* counter never moves: no events, a stall */
    SAMPLER_FAULT_PERIODIC, /* every jump the same size: the RCT trips */
    SAMPLER_FAULT_PERIODIC_AFTER, /* real counter for fault_after events,
                                   * then periodic: a failure mid-run */
    SAMPLER_FAULT_TOGGLE, /* real counter, flipped by each SIGUSR2 to a
                           * failing one (periodic until the tests trip,
                           * then stuck) and back; never permanent */
    SAMPLER_FAULT_SEQUENCE, /* real events, but event k's byte is k mod 256:
                             * passes the health tests, and a gap in what
                             * a consumer got shows as a break in the count */
    SAMPLER_FAULT_RATE, /* the real counter, plus fault_rate injected
                         * events a second (below): a healthy source as
                         * fast on a loaded host as on an idle one */
};

#define SAMPLER_JUMP_BUCKETS 40 /* log2 buckets of the jump size in ticks */
#define SAMPLER_BUDGET_WINDOW_S 30 /* the demand budget's window */

struct sampler_config {
    int cpu;              /* CPU to pin to; -1: the last CPU we may use */
    int priority;         /* enum osdep_priority of the sampler thread */
    double max_cpu_pct;   /* OSDEP_PRIO_DEMAND: the budget, % of one CPU */
    uint64_t threshold;   /* event threshold in ticks; 0: calibrate */
    double h_bits;        /* credited min-entropy per folded byte */
    double alpha_log2;    /* health-test false-positive rate, log2 */
    unsigned permanent_after; /* failed start-up tests before permanent */
    unsigned stall_ms;    /* no event for this long is a health failure */
    enum sampler_fault fault; /* honoured only in fault-injection builds */
    uint64_t fault_after;     /* events before PERIODIC_AFTER turns on */
    uint64_t fault_rate;      /* ",rate=N": injected events a second on
                               * top of the real counter's, wherever a
                               * fault reads the real counter; 0: none */
    const struct sampler_cal *cal; /* calibration to use; NULL: measure */
    void (*wake)(void *arg);  /* called from the sampler thread */
    void *wake_arg;
};

/* Written by the sampler thread, read by anyone; what sampler_init
 * publishes before the thread exists is marked "init". */
struct sampler_stats {
    _Atomic uint64_t loops;      /* counter reads */
    _Atomic uint64_t events;     /* deltas at or above the threshold */
    _Atomic uint64_t pushed;     /* bytes that went into the ring */
    _Atomic uint64_t discarded;  /* bytes tested during start-up, not served */
    _Atomic uint64_t gaps;       /* jumps over a second (suspend), skipped */
    _Atomic uint64_t backwards;  /* counter went backwards, skipped */
    _Atomic uint64_t migrations; /* batches seen running off the pinned CPU */
    _Atomic uint64_t sleeps;     /* times the ring filled and we slept */
    _Atomic uint64_t sampling_us; /* time spent sampling (not asleep) */
    _Atomic int health_state;    /* enum health_state */
    _Atomic int last_failure;    /* enum health_event of the last failure */
    _Atomic int64_t last_failure_time; /* unix seconds, 0: never */
    _Atomic uint64_t fail_epoch; /* incremented on every health failure */
    _Atomic uint64_t rct_failures, apt_failures, stall_failures, passes;
    _Atomic uint64_t credit_failures;
    _Atomic int32_t credit_millibits; /* estimate that failed the credit */
    _Atomic uint32_t startup_seen;  /* samples into the current start-up test */
    _Atomic int32_t mcv_millibits;  /* online MCV estimate x1000; -1: none */
    _Atomic unsigned rct_cutoff;    /* init: the health tests' cutoffs, */
    _Atomic unsigned apt_cutoff;    /* fixed for the sampler's life */
    _Atomic bool running;        /* thread started and calibrated */
    _Atomic bool pin_known;      /* pin_note is final (release) */
    _Atomic bool sleeping;
    /* Demand-driven sampling (see the top of this file). */
    _Atomic bool boosted;         /* at normal priority for a demand */
    _Atomic uint64_t boosts;      /* times boosted */
    _Atomic uint64_t boosted_us;  /* wall-clock time spent boosted */
    _Atomic uint64_t boost_cpu_us; /* CPU time charged to the budget */
    _Atomic int64_t budget_us;    /* CPU time left in the bucket */
    _Atomic uint64_t budget_outs; /* times the bucket ran dry while wanted */
    _Atomic int boost_nice;       /* init, and the thread once it knows */
    _Atomic uint64_t jumps[SAMPLER_JUMP_BUCKETS];
};

/* What calibration finds; sampler_calibrate() measures it. */
struct sampler_cal {
    uint64_t median_delta;  /* ordinary read-to-read delta */
    uint64_t step;          /* smallest non-zero delta (the read's cost) */
    uint64_t grain;         /* counter_grain(): deltas are folded in it */
    uint64_t threshold;     /* event threshold in ticks */
};

/*
 * The capture tap, for assessment (SP 800-90B wants consecutive samples):
 * while armed, the samples the sampler makes go to the tap's own ring
 * instead of the main ring, so nothing else (raw, conditioned, the DRBG's
 * reseeds) can take one out of the sequence, and no sample that went to the
 * tap is ever served as output. The loop arms and disarms it; the sampler
 * breaks it (a sample it could not store, or a health failure), and never
 * skips one silently. Disarming is two-step, so the loop never empties the
 * tap under a sampler still writing: the sampler brackets each use of the
 * tap with claimed++ ... landed++ (its own counters) and checks armed in
 * between; after the loop clears armed, the tap is quiet once
 * landed == claimed (sampler_tap_quiet).
 */
enum sampler_tap_break {
    TAP_OK = 0,
    TAP_OVERRUN, /* the tap was full: the consumer fell behind */
    TAP_HEALTH,  /* a health failure (or a sample outside a pass) */
};

struct sampler_tap {
    struct ring *ring;       /* set by the loop while the tap is quiet */
    _Atomic bool armed;      /* loop */
    _Atomic uint64_t left;   /* samples still to divert; the sampler counts
                              * down, the loop sets while quiet */
    _Atomic int broken;      /* enum sampler_tap_break; sampler sets */
    _Atomic size_t want;     /* wake the loop at this tap level; 0: don't */
    _Atomic uint64_t claimed, landed; /* sampler only */
    _Atomic uint64_t diverted;       /* samples that went to a tap, ever */
};

/*
 * struct sampler, in three parts by the thread that may touch each (every
 * access names its part, so a reader sees which rule it follows):
 *
 *  - setup: written by the loop thread only while the sampler thread is
 *    stopped (sampler_init, sampler_apply_cal); read by both. The thread
 *    never writes it.
 *  - shared: what both threads touch while the thread runs: atomics only,
 *    plus the tap's ring and the pin note, each handed over by an atomic
 *    (see struct sampler_tap and sampler_pin_note).
 *  - own: the sampler thread's while it runs. The loop may initialise it
 *    while the thread is stopped (pthread_create and pthread_join order
 *    that), and never reads it: what the loop needs from it, the health
 *    tests' cutoffs among them, is published in shared.st.
 *
 * mu and cv stand apart: cv is how the thread sleeps (a full ring, resting
 * asleep) and is woken; mu guards live and the priority changes of
 * set_boost, so the loop never names a thread being joined.
 */
struct sampler_setup {
    struct sampler_config cfg;
    struct ring *ring;      /* the main ring */
    uint64_t threshold;     /* in effect, after calibration */
    uint64_t freq;          /* counter Hz */
    uint64_t median_delta;  /* calibrated ordinary read-to-read delta */
    uint64_t step;          /* smallest non-zero delta (the read's cost) */
    uint64_t grain;         /* counter_grain(): deltas are folded in it */
    int cpu;                /* pinned CPU, or -1 when pinning failed */
    /* Demand-driven sampling (see the top of this file). */
    bool rest_asleep;       /* idle priority cannot be left: rest asleep */
    int64_t budget_cap_us;  /* the bucket's size */
    int64_t budget_min_us;  /* what a boost needs in it: 1 s of refill */
};

struct sampler_shared {
    struct sampler_stats st; /* the thread writes, anyone reads */
    struct sampler_tap tap;
    _Atomic size_t want;    /* wake the loop when level >= want; 0: don't */
    _Atomic bool stop;      /* loop sets, thread obeys */
    _Atomic int demand;     /* loop sets: enum sampler_need */
    char pin_note[96];      /* how pinning went: the thread writes it, then
                             * sets st.pin_known; read via sampler_pin_note */
};

struct sampler_own {
    struct health health;   /* the tests' state; cutoffs published in st */
    int boost_nice;         /* nice value while boosted (Linux); published
                             * in st.boost_nice */
    /* The demand budget: it outlives a restart, so a restart does not
     * refill it; published in st.budget_us. */
    int64_t budget_us;
    uint64_t acct_wall_us, acct_cpu_us; /* last accounting point */
    /* Fault injection: the fake counter's state. */
    uint64_t fake;          /* stuck, periodic: the fake counter */
    uint64_t fake_seq;      /* --fault sequence: the next event's number */
    uint64_t fake_offset;   /* rate=N: the injected jumps so far, in ticks */
    uint64_t fake_next;     /* rate=N: real counter value of the next one */
    uint64_t fake_period;   /* rate=N: real ticks between injected jumps */
    uint64_t fake_prng;     /* rate=N: xorshift state, varies the jumps */
};

struct sampler {
    struct sampler_setup setup;
    struct sampler_shared shared;
    struct sampler_own own;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool live;              /* under mu: thread may be named (not joined) */
    bool started;           /* loop: sampler_start made a thread to join */
    pthread_t thread;       /* set under mu by sampler_start */
};

/* Parses a --fault argument into cfg->fault, cfg->fault_after and
 * cfg->fault_rate: stuck, periodic, periodic-after=N, toggle, sequence or
 * rate=R; those that read the real counter (periodic-after, toggle,
 * sequence) may end in ",rate=R" (1..SAMPLER_FAULT_RATE_MAX events a
 * second injected on top of it). Returns 0, or -1 leaving cfg untouched.
 * Pure; the fault itself is honoured only in fault-injection builds. */
#define SAMPLER_FAULT_RATE_MAX 1000000u
int sampler_fault_parse(const char *arg, struct sampler_config *cfg);

/* The name of a fault for the log: "none", "stuck", "periodic", ... */
const char *sampler_fault_name(enum sampler_fault f);

/* Prepares s (health tests, threshold calibration, CPU choice) without
 * starting the thread. Returns 0, or -1 with errno-free failure (bad health
 * parameters). */
int sampler_init(struct sampler *s, const struct sampler_config *cfg,
                 struct ring *ring);

/* Starts the thread. Returns 0 or an errno value from pthread_create. */
int sampler_start(struct sampler *s);

/* Asks the thread to stop, wakes it, and joins it. Idempotent. */
void sampler_stop(struct sampler *s);

/* Releases what sampler_init set up; call after sampler_stop. */
void sampler_destroy(struct sampler *s);

/* Consumer side, after taking bytes: wakes the thread if it sleeps and the
 * ring is now below its low watermark. Cheap when it has nothing to do. */
void sampler_kick(struct sampler *s);

/* What needs entropy, for the demand policy. NOW (a waiting client, the
 * DRBG's seed, the start-up test...) boosts and may spend the whole
 * budget. SPARE (the stock reserve, made ahead of any client) boosts only
 * where the thread rests asleep, since at idle priority it makes the stock
 * from CPU time nobody else wants, and then only from the upper half of
 * the budget, so a refill never spends what a waiting client will need. */
enum sampler_need {
    SAMPLER_NEED_NONE = 0,
    SAMPLER_NEED_SPARE = 1,
    SAMPLER_NEED_NOW = 2,
};

/* Loop thread: what needs entropy now. Under the demand policy a rising
 * demand boosts the thread at once when the budget allows (on macOS the
 * thread boosts itself after its batch); a no-op otherwise. */
void sampler_demand(struct sampler *s, enum sampler_need need);

/* The policy in force: "demand", "idle" or "normal", and under demand
 * whether it rests at idle priority or asleep. Any thread. */
const char *sampler_policy_name(const struct sampler *s);

/* How pinning went, once the thread has said (and "starting" before):
 * the thread writes the note once, then publishes it with st.pin_known, so
 * a reader never sees it half-written. Any thread. */
const char *sampler_pin_note(const struct sampler *s);

/* Asks for a wake callback once the ring holds at least level bytes (or on
 * any health change). 0 cancels. */
void sampler_want(struct sampler *s, size_t level);

/* Measures the counter's ordinary delta, step and grain, and the event
 * threshold from them (cfg->threshold if set). Any thread: it touches
 * nothing shared. */
void sampler_calibrate(const struct sampler_config *cfg,
                       struct sampler_cal *cal);

/* The same on 4096 reads, for a counter of hz: quick, for checking a
 * cached calibration (it does not ask counter_frequency()). */
void sampler_calibrate_quick(const struct sampler_config *cfg, uint64_t hz,
                             struct sampler_cal *cal);

/* Sets cal->threshold from cal's median delta and step for a counter of
 * hz (cfg->threshold if set): the rule sampler_calibrate() applies. */
void sampler_cal_threshold(const struct sampler_config *cfg,
                           struct sampler_cal *cal, uint64_t hz);

/* Loop thread, with the sampler thread stopped: puts cal in effect for the
 * next sampler_start() (a restart of the noise source). */
void sampler_apply_cal(struct sampler *s, const struct sampler_cal *cal);

/* ---- the capture tap (loop thread) ---- */
/* Arms the tap over ring (emptied first) for count samples (UINT64_MAX:
 * until disarmed). Only while sampler_tap_quiet(); wakes a sampler asleep
 * over a full main ring, since the tap now takes its samples. */
void sampler_tap_arm(struct sampler *s, struct ring *ring, uint64_t count);
/* Stops diverting; the tap is the loop's again once quiet. */
void sampler_tap_disarm(struct sampler *s);
/* True when the tap is disarmed and the sampler is not inside it. */
bool sampler_tap_quiet(struct sampler *s);
/* Wake the loop once the tap holds level samples (or breaks); 0 cancels. */
void sampler_tap_want(struct sampler *s, size_t level);

#endif

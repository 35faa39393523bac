/*
 * bench-host.c - what the host pays for preemptd (issue 13); see bench.h.
 *
 * A CPU-bound job (one process per CPU of the set, each pinned to its CPU)
 * counts work units into shared memory. Per CPU set (CPU 0 alone, then every
 * CPU) and per sampler priority, one trial is:
 *   1. the job running, a daemon started beside it (confined to the same
 *      CPUs, 16 MiB ring so it keeps sampling): time to first conditioned
 *      byte under load;
 *   2. paired phases of PHASE_S, the daemon running / SIGSTOPped, for about
 *      window seconds each: job units/s with and without, and the events/s
 *      the sampler still gets;
 *   3. one client reading 32 conditioned bytes at a time without end:
 *      once the demand policy's budget bucket is spent (its burst; at most
 *      30 s), a window of the job with the client, then one without it
 *      (in turn which first): the steady cost of a client that never stops.
 *      Sequential windows, not paired phases: a stopped phase would refill
 *      the budget and its burst would land on the running phases;
 *   4. the job stopped, a fresh daemon on the idle set: time to first
 *      conditioned byte, then a window of its events/s.
 * Trials alternate policies so drift on a shared machine hits all alike.
 *
 * bench_first_byte() is the time-to-first-byte mode alone: the default
 * policy, from the daemon's fork to its first 32 conditioned bytes, on
 * the idle host and with the job on every CPU, each a first start (no
 * calibration cache) and a restart (the cache the first start left).
 */
#include "bench.h"

#include <errno.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pbd.h"

#define HOST_RING (16u << 20) /* never fills: the "ring filling" case */
#define MAX_JOBS 64
#define STATS_CAP 8192
/* Over a second, so the jump a stopped sampler sees on SIGCONT is skipped
 * as a gap rather than counted as an event. */
#define PHASE_S 1.2
#define NPOL 3 /* normal, idle, demand */
#define NCOL 8

struct job {
    pid_t pid[MAX_JOBS];
    unsigned n;
    _Atomic uint64_t *units; /* shared, one counter per job process */
};

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static double now_s(void)
{
    return (double)bench_now_ns() / 1e9;
}

/* A unit is 2^16 rounds of xorshift64*: registers only, no memory traffic,
 * so the figure is CPU time and nothing else. */
static void job_main(_Atomic uint64_t *units)
{
    uint64_t x = 88172645463325252ull;
    for (;;) {
        for (unsigned i = 0; i < 65536u; i++) {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            x *= 2685821657736338717ull;
        }
        __asm__ volatile("" : : "r"(x)); /* keep the loop */
        atomic_fetch_add_explicit(units, 1, memory_order_relaxed);
    }
}

static int pin_to(pid_t pid, int cpu)
{
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(cpu, &s);
    return sched_setaffinity(pid, sizeof(s), &s);
}

static void job_stop(struct job *j)
{
    for (unsigned i = 0; i < j->n; i++) {
        kill(j->pid[i], SIGKILL);
        waitpid(j->pid[i], NULL, 0);
    }
    j->n = 0;
}

/* Starts one job process pinned to each CPU in cpus[0..n). */
static int job_start(struct job *j, const int *cpus, unsigned n)
{
    j->n = 0;
    for (unsigned i = 0; i < n; i++) {
        atomic_store(&j->units[i], 0);
        pid_t pid = fork();
        if (pid < 0) {
            job_stop(j);
            return -1;
        }
        if (pid == 0) {
            pin_to(0, cpus[i]);
            job_main(&j->units[i]);
            _exit(0);
        }
        j->pid[j->n++] = pid;
    }
    return 0;
}

static uint64_t job_units(const struct job *j, unsigned n)
{
    uint64_t sum = 0;
    for (unsigned i = 0; i < n; i++)
        sum += atomic_load(&j->units[i]);
    return sum;
}

static double events_now(const struct bench_daemon *d)
{
    char buf[STATS_CAP];
    if (bench_stats(d, buf, sizeof(buf)) != 0)
        return NAN;
    return bench_json_num(buf, "sampler", "events");
}

/* Seconds from t0 until a 32-byte conditioned read succeeds; NAN past the
 * cap. Connects again while the daemon has not bound its socket yet. */
static double ttfb(const struct bench_daemon *d, double t0, double cap)
{
    uint8_t b[32];
    while (now_s() - t0 < cap) {
        pbd_t *p;
        if (pbd_open(&p, d->sock) == 0) {
            uint32_t left = (uint32_t)((cap - (now_s() - t0)) * 1000);
            int rc = pbd_read_ex(p, b, sizeof(b), PBD_MODE_CONDITIONED, 0,
                                 left > 0 ? left : 1);
            pbd_close(p);
            if (rc == 0)
                return now_s() - t0;
            if (rc == PBD_ETIMEDOUT)
                break;
        }
        sleep_s(0.02);
    }
    return NAN;
}

/* Events/s over a window of w seconds. */
static double event_rate(const struct bench_daemon *d, double w)
{
    double e0 = events_now(d), t0 = now_s();
    sleep_s(w);
    return (events_now(d) - e0) / (now_s() - t0);
}

struct trial {
    double base, loaded, ratio, ev_loaded, ev_idle, ttfb_loaded, ttfb_idle,
        credit, client_ratio, client_cpu;
};

/* A client reading conditioned bytes without end, in its own process. */
static pid_t client_start(const struct bench_daemon *d)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    uint8_t b[32];
    for (;;) {
        pbd_t *p;
        if (pbd_open(&p, d->sock) != 0) {
            sleep_s(0.05);
            continue;
        }
        int rc;
        do
            rc = pbd_read_ex(p, b, sizeof(b), PBD_MODE_CONDITIONED, 0, 60000);
        while (rc == 0 || rc == PBD_ETIMEDOUT || rc == PBD_EAGAIN);
        pbd_close(p);
    }
}

/* Waits (at most 30 s) until the demand budget's bucket is spent, so what
 * follows is the steady state; other policies have no bucket. */
static void wait_budget_spent(const struct bench_daemon *d)
{
    char buf[STATS_CAP];
    for (double t0 = now_s(); now_s() - t0 < 30; sleep_s(0.2))
        if (bench_stats(d, buf, sizeof(buf)) != 0 ||
            bench_json_num(buf, "policy", "max_cpu_pct") <= 0 ||
            bench_json_num(buf, "policy", "budget_used_pct") >= 95)
            return;
}

/* Job units/s over w seconds. */
static double job_rate(const struct job *j, unsigned n, double w)
{
    uint64_t u0 = job_units(j, n);
    double t0 = now_s();
    sleep_s(w);
    return (double)(job_units(j, n) - u0) / (now_s() - t0);
}

/* One phase of the paired measurement: job units/s over PHASE_S with the
 * daemon running (events too, when ev is not NULL) or stopped. */
static double phase(const struct job *j, unsigned n,
                    const struct bench_daemon *d, bool run, double *ev)
{
    kill(d->pid, run ? SIGCONT : SIGSTOP);
    sleep_s(0.1);
    double e0 = run ? events_now(d) : NAN;
    uint64_t u0 = job_units(j, n);
    double t0 = now_s();
    sleep_s(PHASE_S);
    double dt = now_s() - t0;
    uint64_t u1 = job_units(j, n);
    if (run)
        *ev += events_now(d) - e0;
    return (double)(u1 - u0) / dt;
}

static int one_trial(const struct bench_host *h, const int *cpus, unsigned n,
                     const char *prio, struct job *j, struct trial *t)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    for (unsigned i = 0; i < n; i++)
        CPU_SET(cpus[i], &set);
    struct bench_daemon d;

    if (job_start(j, cpus, n) != 0)
        return -1;
    double t0 = now_s();
    if (bench_daemon_spawn(&d, h->preemptd, HOST_RING, prio, &set, NULL) != 0) {
        job_stop(j);
        return -1;
    }
    t->ttfb_loaded = ttfb(&d, t0, h->ttfb_cap_s);
    /* Paired phases, the daemon running and stopped (SIGSTOP: it takes no
     * CPU at all), alternating which comes first, so load from others on
     * a shared machine lands on both sides alike. */
    unsigned cycles = (unsigned)ceil(h->window_s / PHASE_S);
    double with = 0, without = 0, ev = 0;
    for (unsigned c = 0; c < cycles; c++) {
        bool run_first = c % 2 == 0;
        double a = phase(j, n, &d, run_first, &ev);
        double b = phase(j, n, &d, !run_first, &ev);
        with += run_first ? a : b;
        without += run_first ? b : a;
    }
    kill(d.pid, SIGCONT);
    t->loaded = with / cycles;
    t->base = without / cycles;
    t->ev_loaded = ev / (cycles * PHASE_S);
    /* The client: steady state, then with and without it in turn. */
    pid_t cl = client_start(&d);
    wait_budget_spent(&d);
    bool client_first = (int)(now_s() * 10) % 2 == 0;
    double cw = 0, cwo = 0, c0 = 0, c1 = 0, w0 = 0, w1 = 0;
    if (client_first) {
        c0 = bench_cpu_seconds(d.pid, -1), w0 = now_s();
        cw = job_rate(j, n, h->window_s);
        c1 = bench_cpu_seconds(d.pid, -1), w1 = now_s();
    }
    kill(cl, SIGKILL);
    waitpid(cl, NULL, 0);
    sleep_s(0.3); /* the waiter is gone; the sampler back at rest */
    cwo = job_rate(j, n, h->window_s);
    if (!client_first) {
        cl = client_start(&d);
        wait_budget_spent(&d);
        c0 = bench_cpu_seconds(d.pid, -1), w0 = now_s();
        cw = job_rate(j, n, h->window_s);
        c1 = bench_cpu_seconds(d.pid, -1), w1 = now_s();
        kill(cl, SIGKILL);
        waitpid(cl, NULL, 0);
    }
    t->client_ratio = cwo > 0 ? cw / cwo : NAN;
    /* What the daemon took meanwhile, all its threads: the direct figure,
     * less exposed to other load than the job's speed. */
    t->client_cpu = w1 > w0 ? (c1 - c0) / (w1 - w0) : NAN;
    char buf[STATS_CAP];
    t->credit = bench_stats(&d, buf, sizeof(buf)) == 0
                    ? bench_json_num(buf, "entropy", "credited_bits_per_byte")
                    : NAN;
    job_stop(j);
    bench_daemon_stop(&d);

    t0 = now_s();
    if (bench_daemon_spawn(&d, h->preemptd, HOST_RING, prio, &set, NULL) != 0)
        return -1;
    t->ttfb_idle = ttfb(&d, t0, h->ttfb_cap_s);
    t->ev_idle = event_rate(&d, h->window_s);
    bench_daemon_stop(&d);
    t->ratio = t->base > 0 ? t->loaded / t->base : NAN;
    return 0;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    /* NAN (a capped start-up) sorts last, as the worst. */
    if (isnan(x) || isnan(y))
        return (isnan(x) != 0) - (isnan(y) != 0);
    return (x > y) - (x < y);
}

/* Median, min and max of v[0..n). */
static void spread(double *v, unsigned n, double out[3])
{
    qsort(v, n, sizeof(*v), cmp_d);
    out[0] = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    out[1] = v[0];
    out[2] = v[n - 1];
}

static void cell(char *s, size_t cap, const double m[3], int prec,
                 double scale, double ttfb_cap)
{
    char hi[24];
    if (isnan(m[0])) {
        snprintf(s, cap, ">%.0f", ttfb_cap);
        return;
    }
    if (isnan(m[2]))
        snprintf(hi, sizeof(hi), ">%.0f", ttfb_cap);
    else
        snprintf(hi, sizeof(hi), "%.*f", prec, m[2] * scale);
    snprintf(s, cap, "%.*f [%.*f-%s]", prec, m[0] * scale, prec, m[1] * scale,
             hi);
}

/* The CPU that other entropy daemons, where they run here, take over the
 * same window: the cost a host already pays for one. */
static void other_daemons(const struct bench_host *h)
{
    /* comm is cut to 15 characters. */
    static const char *const names[2] = {"haveged", "jitterentropy-r"};
    for (int i = 0; i < 2; i++) {
        pid_t pid = bench_find_comm("/proc", names[i]);
        char key[64];
        snprintf(key, sizeof(key), "host.%s_cpu_pct",
                 i ? "jitterentropy_rngd" : "haveged");
        if (pid < 0) {
            printf("  %s: not running here, n/a\n", names[i]);
            h->put(key, NAN);
            continue;
        }
        double c0 = bench_cpu_seconds(pid, -1), t0 = now_s();
        sleep_s(h->window_s);
        double pct = 100 * (bench_cpu_seconds(pid, -1) - c0) / (now_s() - t0);
        printf("  %s (pid %ld): %.2f%% of a core over %.1f s\n", names[i],
               (long)pid, pct, h->window_s);
        h->put(key, pct);
    }
}

/* The online CPUs (at most MAX_JOBS) into all[], and the job's shared
 * counters. Returns how many CPUs, or -1 after saying why. */
static long job_setup(struct job *j, int all[MAX_JOBS])
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (ncpu < 1)
        ncpu = 1;
    if (ncpu > MAX_JOBS)
        ncpu = MAX_JOBS;
    for (int i = 0; i < ncpu; i++)
        all[i] = i;
    j->units = mmap(NULL, MAX_JOBS * sizeof(*j->units),
                    PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (j->units == MAP_FAILED) {
        perror("pbd-bench: mmap");
        return -1;
    }
    return ncpu;
}

int bench_host_cost(const struct bench_host *h)
{
    static const char *const prios[NPOL] = {"normal", "idle", "demand"};
    int all[MAX_JOBS];
    struct job j = {0};
    long ncpu = job_setup(&j, all);
    if (ncpu < 0)
        return -1;
    printf("\nHost cost: a CPU-bound job (one pinned process per CPU) with "
           "and without preemptd\n  (16 MiB ring, so it samples throughout); "
           "%u trials, window %.1f s; median [min-max]\n",
           h->repeat, h->window_s);
    printf("  %-6s %-7s %-18s %-18s %-18s %-16s %-16s %-16s %-14s %-14s\n",
           "CPUs", "policy", "job, no client %", "job, 1 client %",
           "daemon CPU %, 1 cl", "events/s loaded", "events/s idle",
           "bits/s loaded", "1st byte loaded", "1st byte idle");
    int rc = 0;
    for (int set = 0; set < 2; set++) {
        unsigned n = set == 0 ? 1 : (unsigned)ncpu;
        struct trial t[NPOL][BENCH_HOST_MAX_REPEAT];
        for (unsigned r = 0; r < h->repeat; r++)
            for (int p = 0; p < NPOL; p++) {
                /* Rotate which policy goes first in each round. */
                int pi = (p + (int)r) % NPOL;
                if (one_trial(h, all, n, prios[pi], &j, &t[pi][r]) != 0) {
                    fprintf(stderr, "pbd-bench: host-cost trial failed\n");
                    rc = -1;
                    goto out;
                }
            }
        for (int p = 0; p < NPOL; p++) {
            double v[NCOL][BENCH_HOST_MAX_REPEAT], m[NCOL][3];
            for (unsigned r = 0; r < h->repeat; r++) {
                const struct trial *x = &t[p][r];
                v[0][r] = x->ratio;
                v[1][r] = x->client_ratio;
                v[2][r] = x->client_cpu;
                v[3][r] = x->ev_loaded;
                v[4][r] = x->ev_idle;
                v[5][r] = x->ev_loaded * x->credit;
                v[6][r] = x->ttfb_loaded;
                v[7][r] = x->ttfb_idle;
            }
            for (int k = 0; k < NCOL; k++)
                spread(v[k], h->repeat, m[k]);
            static const char *const keys[NCOL] = {
                "job_ratio", "job_ratio_client", "daemon_cpu_client",
                "events_per_s_loaded",
                "events_per_s_idle", "credited_bits_per_s_loaded",
                "first_byte_loaded_s", "first_byte_idle_s"};
            static const char *const q[3] = {"median", "min", "max"};
            for (int k = 0; k < NCOL; k++)
                for (int qi = 0; qi < 3; qi++) {
                    char key[96];
                    snprintf(key, sizeof(key), "host.%s_%s_%s_%s",
                             set == 0 ? "cpu1" : "all", prios[p], keys[k],
                             q[qi]);
                    h->put(key, m[k][qi]);
                }
            char c[NCOL][40];
            for (int k = 0; k < 3; k++)
                cell(c[k], sizeof(c[k]), m[k], 1, 100, h->ttfb_cap_s);
            for (int k = 3; k < 6; k++)
                cell(c[k], sizeof(c[k]), m[k], 0, 1, h->ttfb_cap_s);
            for (int k = 6; k < NCOL; k++)
                cell(c[k], sizeof(c[k]), m[k], 1, 1, h->ttfb_cap_s);
            char cpus[16];
            snprintf(cpus, sizeof(cpus), set == 0 ? "1" : "all %u", n);
            printf("  %-6s %-7s %-18s %-18s %-18s %-16s %-16s %-16s %-14s "
                   "%-14s\n", cpus, prios[p], c[0], c[1], c[2], c[3], c[4],
                   c[5], c[6], c[7]);
        }
    }
    other_daemons(h);
    printf("  job: its speed with/without the daemon (no client), and with/"
           "without one client reading\n  conditioned bytes without end "
           "(after the demand budget's burst), and the daemon's CPU meanwhile\n"
           "  in %% of one CPU; bits/s = events/s x credit; first bytes in s;\n"
           "  a start-up past %.0f s shows as >%.0f\n", h->ttfb_cap_s,
           h->ttfb_cap_s);
out:
    job_stop(&j);
    munmap((void *)j.units, MAX_JOBS * sizeof(*j.units));
    return rc;
}

/* Whether the daemon's log says it took its calibration from the cache. */
static bool log_says_cached(const struct bench_daemon *d)
{
    char buf[8192];
    FILE *f = fopen(d->log, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, "calibration: from the cache") != NULL;
}

/* One daemon from fork to its first 32 conditioned bytes, its calibration
 * cache in state: *t is the time (NAN when none came in time), *cached
 * whether it calibrated from the cache. Returns -1 if it could not start. */
static int first_byte_once(const struct bench_host *h, const char *state,
                           double *t, bool *cached)
{
    struct bench_daemon d;
    double t0 = now_s();
    *t = NAN;
    *cached = false;
    if (bench_daemon_spawn(&d, h->preemptd, 1u << 16, NULL, NULL, state) != 0)
        return -1;
    *t = ttfb(&d, t0, h->ttfb_cap_s);
    *cached = log_says_cached(&d);
    bench_daemon_stop(&d);
    return 0;
}

int bench_first_byte(const struct bench_host *h)
{
    int all[MAX_JOBS];
    struct job j = {0};
    long ncpu = job_setup(&j, all);
    if (ncpu < 0)
        return -1;
    printf("\nTime to first byte: daemon fork to its first 32 conditioned "
           "bytes, default policy;\n  a first start (calibration measured) "
           "and a restart (from its cache),\n  %u trials each; median "
           "[min-max] s\n", h->repeat);
    /* [loaded][restart][trial] */
    double v[2][2][BENCH_HOST_MAX_REPEAT];
    unsigned misses[2] = {0, 0}; /* restarts that measured afresh */
    int rc = 0;
    for (unsigned r = 0; r < h->repeat && rc == 0; r++)
        for (int loaded = 0; loaded < 2; loaded++) {
            char state[] = "/tmp/pbd-bench-state-XXXXXX";
            if (!mkdtemp(state)) {
                perror("pbd-bench: mkdtemp");
                rc = -1;
                break;
            }
            if (loaded && job_start(&j, all, (unsigned)ncpu) != 0) {
                rmdir(state);
                rc = -1;
                break;
            }
            if (loaded)
                sleep_s(0.5); /* the job's processes are running */
            /* The same state directory twice: the first start measures
             * and caches the calibration, the second uses the cache (unless
             * its quick check disagreed: counted, and said). */
            for (int restart = 0; restart < 2 && rc == 0; restart++) {
                bool cached;
                rc = first_byte_once(h, state, &v[loaded][restart][r],
                                     &cached);
                if (restart && !cached)
                    misses[loaded]++;
            }
            job_stop(&j);
            bench_state_remove(state);
            rmdir(state);
        }
    for (int loaded = 0; loaded < 2 && rc == 0; loaded++)
        for (int restart = 0; restart < 2; restart++) {
            double m[3];
            char c[48], label[64];
            spread(v[loaded][restart], h->repeat, m);
            cell(c, sizeof(c), m, 2, 1, h->ttfb_cap_s);
            snprintf(label, sizeof(label), "%s, %s",
                     loaded ? "every CPU busy (a job per CPU)" : "idle host",
                     restart ? "restart" : "first start");
            printf("  %-45s %s", label, c);
            if (restart && misses[loaded])
                printf("  (%u of %u measured afresh: the cache's quick "
                       "check disagreed)", misses[loaded], h->repeat);
            printf("\n");
            static const char *const q[3] = {"median", "min", "max"};
            for (int qi = 0; qi < 3; qi++) {
                char key[64];
                snprintf(key, sizeof(key), "first_byte.%s%s_s_%s",
                         loaded ? "loaded" : "idle",
                         restart ? "_restart" : "", q[qi]);
                h->put(key, m[qi]);
            }
            if (restart) {
                char key[64];
                snprintf(key, sizeof(key), "first_byte.%s_restart_uncached",
                         loaded ? "loaded" : "idle");
                h->put(key, misses[loaded]);
            }
        }
    munmap((void *)j.units, MAX_JOBS * sizeof(*j.units));
    return rc;
}

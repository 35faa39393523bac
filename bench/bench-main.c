/*
 * bench-main.c - pbd-bench: options, the order of the phases, the table
 * and the JSON file. The README's "Benchmarks" section says what each figure means.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "pbd.h"

#ifndef PBD_BENCH_PREEMPTD
#define PBD_BENCH_PREEMPTD "preemptd"
#endif

#define MIB (1u << 20)
#define BIG_RING (16u << 20) /* never fills during the run: keeps sampling */
#define SMALL_RING 4096u     /* fills in seconds: the idle measurement */
#define STATS_CAP 8192
#define PINGPONG_ITERS 20000u
#define LAT_SAMPLES 20000u   /* per concurrency level, drbg and getrandom */

struct opts {
    const char *json, *sock, *preemptd;
    double harvest_s, idle_s, bulk_s, host_window_s, host_ttfb_cap_s;
    unsigned max_clients, host_repeat;
    bool quick, bulk_only, host_cost, first_byte;
};

/* ---- results: one flat list, printed as a table and as JSON ------------- */

#define MAX_RESULTS 256

struct result {
    char key[96];   /* "section.name" */
    double v;
};

static struct result results[MAX_RESULTS];
static size_t nresults;

static double put(const char *key, double v)
{
    if (nresults < MAX_RESULTS) {
        snprintf(results[nresults].key, sizeof(results[0].key), "%s", key);
        results[nresults++].v = v;
    }
    return v;
}

static double ratio(double a, double b)
{
    return b > 0 && isfinite(a) && isfinite(b) ? a / b : NAN;
}

/* One table row: metric, value and baseline (NAN: none) with prec
 * decimals, their ratio, and a note on the target. */
static void row(const char *metric, int prec, double v, double base,
                const char *target)
{
    char vs[32], bs[32] = "", rs[16] = "";
    if (isfinite(v))
        snprintf(vs, sizeof(vs), "%.*f", prec, v);
    else
        snprintf(vs, sizeof(vs), "n/a");
    if (isfinite(base)) {
        snprintf(bs, sizeof(bs), "%.*f", prec, base);
        double r = ratio(v, base);
        if (isfinite(r))
            snprintf(rs, sizeof(rs), "%.2fx", r);
    }
    printf("  %-44s %14s %14s %8s  %s\n", metric, vs, bs, rs,
           target ? target : "");
}

static void section(const char *title)
{
    printf("\n%s\n  %-44s %14s %14s %8s  %s\n", title, "metric", "value",
           "baseline", "ratio", "target / note");
}

static const char *met(bool ok)
{
    return ok ? "met" : "NOT met";
}

static int write_json(const char *path, const char *machine)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "pbd-bench: %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(f, "{\n  \"machine\": \"%s\"", machine);
    /* Sections in order of first appearance, each printed once with all
     * its keys, wherever in the run they were recorded. */
    for (size_t i = 0; i < nresults; i++) {
        const char *dot = strchr(results[i].key, '.');
        int sl = (int)(dot - results[i].key);
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strncmp(results[j].key, results[i].key, (size_t)sl + 1) == 0;
        if (seen)
            continue;
        fprintf(f, ",\n  \"%.*s\": {", sl, results[i].key);
        const char *sep = "";
        for (size_t j = i; j < nresults; j++) {
            if (strncmp(results[j].key, results[i].key, (size_t)sl + 1) != 0)
                continue;
            /* JSON has no NaN: a figure that could not be measured is null. */
            if (isfinite(results[j].v))
                fprintf(f, "%s\n    \"%s\": %.6g", sep, results[j].key + sl + 1,
                        results[j].v);
            else
                fprintf(f, "%s\n    \"%s\": null", sep, results[j].key + sl + 1);
            sep = ",";
        }
        fprintf(f, "\n  }");
    }
    fprintf(f, "\n}\n");
    return fclose(f) == 0 ? 0 : -1;
}

/* ---- helpers ------------------------------------------------------------ */

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

static double stat_num(const struct bench_daemon *d, const char *sec,
                       const char *key)
{
    char buf[STATS_CAP];
    if (bench_stats(d, buf, sizeof(buf)) != 0)
        return NAN;
    return bench_json_num(buf, sec, key);
}

/* Total CPU time in ns of all of pid's threads from schedstat: finer than
 * the 10 ms ticks of /proc/PID/stat, which matters at 0.1% of a core. */
static double sched_cpu_ns(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%ld/task", (long)pid);
    double sum = 0;
    FILE *ls;
    char cmd[96];
    snprintf(cmd, sizeof(cmd), "ls %s", path);
    if (!(ls = popen(cmd, "r")))
        return NAN;
    char tid[32];
    while (fgets(tid, sizeof(tid), ls)) {
        tid[strcspn(tid, "\n")] = '\0';
        char sp[128];
        snprintf(sp, sizeof(sp), "%s/%s/schedstat", path, tid);
        FILE *f = fopen(sp, "r");
        unsigned long long ns;
        if (f && fscanf(f, "%llu", &ns) == 1)
            sum += (double)ns;
        if (f)
            fclose(f);
    }
    pclose(ls);
    return sum;
}

static void raise_nofile(unsigned want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t need = want + 64;
    if (rl.rlim_cur < need) {
        rl.rlim_cur = rl.rlim_max < need ? rl.rlim_max : need;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            perror("pbd-bench: setrlimit(RLIMIT_NOFILE)");
    }
}

/* ---- phases -------------------------------------------------------------- */

struct harvest {
    int cpu;
    pid_t tid;
    double event_rate, credit, raw_per_block;
};

static int phase_harvest(const struct bench_daemon *d, const struct opts *o,
                         struct harvest *h)
{
    char a[STATS_CAP], b[STATS_CAP];
    h->tid = bench_find_thread(d->pid, "pbd-sampler");
    if (bench_stats(d, a, sizeof(a)) != 0 || h->tid < 0) {
        fprintf(stderr, "pbd-bench: no stats or no pbd-sampler thread\n");
        return -1;
    }
    h->cpu = (int)bench_json_num(a, "counter", "cpu");
    if (bench_json_num(a, "sampler", "sleeping") == 1)
        fprintf(stderr, "pbd-bench: warning: the sampler sleeps (ring full); "
                        "harvest figures are meaningless\n");
    /* Snapshot order is mirrored at the end so the windows line up. */
    double t0 = now_s();
    uint64_t irq0 = bench_cpu_interrupts(h->cpu);
    long long cs0 = bench_status_field(d->pid, h->tid,
                                       "nonvoluntary_ctxt_switches");
    double tc0 = bench_cpu_seconds(d->pid, h->tid);
    double pc0 = bench_cpu_seconds(d->pid, -1);
    if (bench_stats(d, a, sizeof(a)) != 0)
        return -1;
    sleep_s(o->harvest_s);
    if (bench_stats(d, b, sizeof(b)) != 0)
        return -1;
    double pc1 = bench_cpu_seconds(d->pid, -1);
    double tc1 = bench_cpu_seconds(d->pid, h->tid);
    long long cs1 = bench_status_field(d->pid, h->tid,
                                       "nonvoluntary_ctxt_switches");
    uint64_t irq1 = bench_cpu_interrupts(h->cpu);
    double dt = now_s() - t0;

    double loops = bench_json_num(b, "sampler", "loops") -
                   bench_json_num(a, "sampler", "loops");
    double events = bench_json_num(b, "sampler", "events") -
                    bench_json_num(a, "sampler", "events");
    double irq = (double)(irq1 - irq0), cs = (double)(cs1 - cs0);
    h->credit = bench_json_num(b, "entropy", "credited_bits_per_byte");
    h->raw_per_block = bench_json_num(b, "entropy", "raw_bytes_per_block");
    double mcv = bench_json_num(b, "entropy", "mcv_estimate_bits_per_byte");
    h->event_rate = events / dt;
    double eff = ratio(events, irq + cs);
    double tcpu = tc1 - tc0;

    section("Harvest (sampler CPU, while the 16 MiB ring fills)");
    printf("  window %.1f s on CPU %d; interrupts %.0f + involuntary "
           "switches %.0f = %.0f hits; events %.0f\n",
           dt, h->cpu, irq, cs, irq + cs, events);
    row("loop rate (counter reads/s)", 0, put("harvest.loop_rate_per_s",
                                                   loops / dt), NAN, "");
    row("event rate (events/s)", 1,
        put("harvest.event_rate_per_s", h->event_rate),
        put("harvest.hits_per_s", (irq + cs) / dt), "baseline: irq+ctxsw/s");
    put("harvest.interrupts", irq);
    put("harvest.nonvoluntary_ctxt_switches", cs);
    put("harvest.events", events);
    put("harvest.window_s", dt);
    put("harvest.sampler_cpu", h->cpu);
    char note[64];
    snprintf(note, sizeof(note), ">= 99%%: %s", met(eff >= 0.99));
    row("detection efficiency (events/hits, %)", 1,
        put("harvest.detection_efficiency_pct", eff * 100), NAN, note);

    section("Entropy yield");
    row("credited bits/s (events/s x credit)", 1,
        put("yield.credited_bits_per_s", h->event_rate * h->credit), NAN, "");
    row("credited bits per sampler CPU-second", 1,
        put("yield.credited_bits_per_cpu_s", ratio(events * h->credit, tcpu)),
        NAN, "CPU: task stat utime+stime");
    row("credit (bits/byte)", 3, put("yield.credit_bits_per_byte",
                                          h->credit), NAN, "");
    row("online MCV estimate (bits/byte)", 3,
        put("yield.mcv_estimate_bits_per_byte", mcv), h->credit,
        "ratio: estimate / credit");
    row("sampler thread CPU (% of a core)", 1,
        put("cost.sampler_thread_cpu_pct", 100 * tcpu / dt), NAN, "");
    row("daemon CPU while sampling (% of a core)", 1,
        put("cost.sampling_cpu_pct", 100 * (pc1 - pc0) / dt), NAN,
        "/proc/PID/stat");
    return 0;
}

static void phase_bulk(const struct bench_daemon *d, const struct opts *o)
{
    section("Throughput over the socket");
    double gr = put("throughput.getrandom_1mib_mibps",
                    bench_getrandom_mibps(o->bulk_s));
    double mem;
    double pipe = put("throughput.chacha20_socketpair_mibps",
                      bench_chacha_pipe_mibps(o->bulk_s, &mem));
    put("throughput.chacha20_memory_mibps", mem);

    pbd_t *p;
    uint8_t *buf = malloc(MIB);
    double drbg = NAN;
    uint64_t errs = 0;
    if (buf && pbd_open(&p, d->sock) == 0) {
        /* One read first: seeds nothing, but faults in both sides' buffers. */
        if (pbd_read(p, buf, MIB, PBD_MODE_DRBG) != 0)
            errs++;
        double t0 = now_s(), t;
        size_t n = 0;
        do {
            if (pbd_read(p, buf, MIB, PBD_MODE_DRBG) != 0) {
                errs++;
                break;
            }
            n++;
            t = now_s();
        } while (t - t0 < o->bulk_s);
        drbg = (double)n / (now_s() - t0);
        pbd_close(p);
    } else {
        errs++;
    }
    free(buf);
    put("throughput.drbg_1mib_mibps", drbg);
    put("throughput.drbg_errors", (double)errs);
    char note[96];
    snprintf(note, sizeof(note), "vs getrandom; >= 1.5x: %s",
             met(ratio(drbg, gr) >= 1.5));
    row("drbg, 1 MiB reads (MiB/s)", 1, drbg, gr, note);
    snprintf(note, sizeof(note), "vs bare ChaCha20 pipe; >= 0.80x: %s",
             met(ratio(drbg, pipe) >= 0.8));
    row("drbg, 1 MiB reads (MiB/s)", 1, drbg, pipe, note);
    row("getrandom(), 1 MiB calls (MiB/s)", 1, gr, NAN, "baseline");
    row("bare ChaCha20 -> socketpair, 2 threads", 1, pipe, NAN,
        "floor (MiB/s)");
    row("bare ChaCha20 into memory (MiB/s)", 1, mem, NAN, "1 thread");
    if (errs)
        printf("  drbg read errors: %llu\n", (unsigned long long)errs);
}

/* Reads mode in req-byte requests for about secs after draining stock;
 * returns bytes/s and stores the entropy-bound rate for the same window. */
static double sustained(const struct bench_daemon *d, pbd_mode mode,
                        size_t req, double secs, double per_event,
                        double *bound, uint64_t *errs)
{
    pbd_t *p;
    uint8_t buf[4096];
    *bound = NAN;
    if (pbd_open(&p, d->sock) != 0) {
        (*errs)++;
        return NAN;
    }
    /* Stock first, so the figure is the rate, not the backlog. */
    while (pbd_read_ex(p, buf, req, mode, PBD_READ_NOWAIT, 0) == 0)
        ;
    double e0 = stat_num(d, "sampler", "events");
    double t0 = now_s(), t;
    size_t got = 0;
    do {
        int rc = pbd_read_ex(p, buf, req, mode, 0, 30000);
        if (rc) {
            (*errs)++;
            break;
        }
        got += req;
        t = now_s();
    } while (t - t0 < secs);
    double e1 = stat_num(d, "sampler", "events");
    pbd_close(p);
    t = now_s() - t0;
    *bound = (e1 - e0) * per_event / t;
    sodium_memzero(buf, sizeof(buf));
    return (double)got / t;
}

static void phase_slow_modes(const struct bench_daemon *d,
                             const struct opts *o, const struct harvest *h)
{
    uint64_t errs = 0;
    double bound, bound_raw;
    /* A 32-byte block needs raw_bytes_per_block raw bytes = events. */
    double cond = sustained(d, PBD_MODE_CONDITIONED, 32, o->bulk_s * 2,
                            32.0 / h->raw_per_block, &bound, &errs);
    double raw = sustained(d, PBD_MODE_RAW, 64, o->bulk_s, 1.0, &bound_raw,
                           &errs);
    put("throughput.conditioned_bytes_per_s", cond);
    put("throughput.conditioned_bound_bytes_per_s", bound);
    put("throughput.raw_bytes_per_s", raw);
    put("throughput.raw_bound_bytes_per_s", bound_raw);
    put("throughput.slow_mode_errors", (double)errs);
    row("conditioned, sustained (bytes/s)", 1, cond, bound,
        "bounded by entropy: events x 32/160");
    row("raw, sustained (bytes/s)", 1, raw, bound_raw,
        "bounded by events/s (1 byte/event)");
    if (errs)
        printf("  read errors: %llu\n", (unsigned long long)errs);
}

struct pp {
    double p50, p99, p999, shared;
};

static struct pp pingpong(int a, int b, bool procs, const char *key)
{
    struct pp r = {NAN, NAN, NAN, NAN};
    uint64_t *lat = calloc(PINGPONG_ITERS, sizeof(*lat));
    if (lat &&
        bench_pingpong(a, b, procs, PINGPONG_ITERS, lat, &r.shared) == 0) {
        r.p50 = bench_quantile_us(lat, PINGPONG_ITERS, 0.5, false);
        r.p99 = bench_quantile_us(lat, PINGPONG_ITERS, 0.99, true);
        r.p999 = bench_quantile_us(lat, PINGPONG_ITERS, 0.999, true);
    }
    free(lat);
    char k[64];
    snprintf(k, sizeof(k), "latency.pingpong_%s_p50_us", key);
    put(k, r.p50);
    snprintf(k, sizeof(k), "latency.pingpong_%s_p99_us", key);
    put(k, r.p99);
    snprintf(k, sizeof(k), "latency.pingpong_%s_p999_us", key);
    put(k, r.p999);
    snprintf(k, sizeof(k), "latency.pingpong_%s_shared_cpu_frac", key);
    put(k, r.shared);
    return r;
}

static void lat_row(const char *name, const char *key, unsigned clients,
                    const struct bench_lat *r, const struct bench_lat *base)
{
    char k[80], m[64];
    const char *q[3] = {"p50", "p99", "p999"};
    double v[3] = {r->p50_us, r->p99_us, r->p999_us};
    double bv[3] = {base ? base->p50_us : NAN, base ? base->p99_us : NAN,
                    base ? base->p999_us : NAN};
    for (int i = 0; i < 3; i++) {
        snprintf(k, sizeof(k), "latency.%s_c%u_%s_us", key, clients, q[i]);
        put(k, r->n ? v[i] : NAN);
        snprintf(m, sizeof(m), "%s %4u clients %s (us)", name, clients, q[i]);
        char note[64] = "";
        if (i == 0)
            snprintf(note, sizeof(note), "n=%zu errors=%llu%s", r->n,
                     (unsigned long long)r->errors,
                     base ? " vs getrandom" : "");
        if (i == 2 && r->n < 1000)
            snprintf(note, sizeof(note), "n<1000: p999 is the max");
        if (i == 1 && r->stockout)
            snprintf(note, sizeof(note), "%llu reads found stock empty",
                     (unsigned long long)r->stockout);
        row(m, 1, r->n ? v[i] : NAN, bv[i], note);
    }
    snprintf(k, sizeof(k), "latency.%s_c%u_n", key, clients);
    put(k, (double)r->n);
    snprintf(k, sizeof(k), "latency.%s_c%u_errors", key, clients);
    put(k, (double)r->errors);
    if (r->src == SRC_COND) {
        snprintf(k, sizeof(k), "latency.%s_c%u_stockout", key, clients);
        put(k, (double)r->stockout);
    }
}

static void phase_latency(const struct bench_daemon *d, const struct opts *o,
                          const struct harvest *h)
{
    section("Latency, 32-byte reads");
    int other = h->cpu == 0 ? 1 : 0;
    struct pp same = pingpong(other, other, false, "same_cpu");
    struct pp cross = pingpong(other, h->cpu, false, "cross_cpu");
    struct pp fre = pingpong(-1, -1, false, "unpinned");
    struct pp proc = pingpong(-1, -1, true, "process_unpinned");
    char m[64];
    snprintf(m, sizeof(m), "bare ping-pong, both on CPU %d: p50/p99", other);
    row(m, 1, same.p50, NAN, "");
    row("", 1, same.p99, NAN, "");
    snprintf(m, sizeof(m), "bare ping-pong, CPU %d <-> %d: p50/p99", other,
             h->cpu);
    row(m, 1, cross.p50, NAN, "sampler spins on the 2nd CPU");
    row("", 1, cross.p99, NAN, "");
    snprintf(m, sizeof(m), "bare ping-pong, unpinned: p50/p99");
    row(m, 1, fre.p50, NAN, "");
    char note[64];
    snprintf(note, sizeof(note), "shared a CPU in %.0f%% of trips",
             fre.shared * 100);
    row("", 1, fre.p99, NAN, note);
    row("bare ping-pong, 2 processes: p50/p99", 1, proc.p50, fre.p50,
        "vs threads; the floor for a daemon");
    snprintf(note, sizeof(note), "shared a CPU in %.0f%% of trips",
             proc.shared * 100);
    row("", 1, proc.p99, fre.p99, note);

    unsigned levels[4] = {1, 10, 100, 1000};
    /* Conditioned reads come from stock only, which the harvest built:
     * share out what is there, most to the low levels. */
    double stock = stat_num(d, "entropy", "conditioned_stock");
    size_t blocks = isfinite(stock) ? (size_t)stock / 32 : 0;
    put("latency.conditioned_stock_blocks", (double)blocks);
    struct bench_lat one_gr = {0}, one_drbg = {0}, one_cond = {0};
    for (int li = 0; li < 4; li++) {
        unsigned c = levels[li];
        if (c > o->max_clients)
            break;
        size_t per = LAT_SAMPLES / c;
        if (o->quick)
            per /= 10;
        if (per < 5)
            per = 5;
        struct bench_lat gr = {.src = SRC_GETRANDOM, .sock = d->sock,
                               .clients = c, .reads_per_client = per};
        struct bench_lat dr = gr, co = gr;
        dr.src = SRC_DRBG;
        co.src = SRC_COND;
        size_t budget = blocks / (size_t)(4 - li);
        co.reads_per_client = budget / c ? budget / c : 1;
        bench_latency(&gr);
        bench_latency(&dr);
        if (budget)
            bench_latency(&co);
        blocks -= blocks >= co.n ? co.n : blocks;
        printf("  -- %u client%s --\n", c, c == 1 ? "" : "s");
        lat_row("getrandom(32)", "getrandom", c, &gr, NULL);
        lat_row("drbg", "drbg", c, &dr, &gr);
        if (budget)
            lat_row("conditioned", "conditioned", c, &co, &gr);
        else
            printf("  conditioned: no stock left for this level\n");
        if (c == 1) {
            one_gr = gr;
            one_drbg = dr;
            one_cond = co;
        }
        if (c == 1000) {
            snprintf(note, sizeof(note), "zero errors at 1000 clients: %s",
                     met(dr.errors == 0 && co.errors == 0));
            printf("  %s\n", note);
        }
    }
    (void)one_gr;
    /* Target: one client within 1.5x of the bare ping-pong. A client and
     * the daemon are two processes, unpinned: the floor is the unpinned
     * ping-pong between two processes (the threads' one shares an address
     * space and is shown above for comparison only). */
    double r50 = ratio(one_drbg.p50_us, proc.p50);
    double r99 = ratio(one_drbg.p99_us, proc.p99);
    put("latency.drbg_c1_vs_pingpong_p50", r50);
    put("latency.drbg_c1_vs_pingpong_p99", r99);
    put("latency.drbg_c1_vs_thread_pingpong_p50",
        ratio(one_drbg.p50_us, fre.p50));
    put("latency.conditioned_c1_vs_pingpong_p50",
        ratio(one_cond.p50_us, proc.p50));
    snprintf(note, sizeof(note), "<= 1.5x process ping-pong: %s",
             met(r50 <= 1.5 && r99 <= 1.5));
    row("drbg 1 client p50 vs process ping-pong", 1, one_drbg.p50_us,
        proc.p50, note);
    row("drbg 1 client p99 vs process ping-pong", 1, one_drbg.p99_us,
        proc.p99, "");
    if (one_cond.n)
        row("conditioned 1 client p50 vs ping-pong", 1, one_cond.p50_us,
            proc.p50, "process ping-pong");
}

static void phase_rss(const struct bench_daemon *d, const char *key,
                      const char *label)
{
    char k[64];
    long long kb = bench_status_field(d->pid, -1, "VmHWM");
    snprintf(k, sizeof(k), "cost.%s_vmhwm_kib", key);
    put(k, (double)kb);
    char note[64];
    snprintf(note, sizeof(note), "<= 4 MiB: %s", met(kb >= 0 && kb <= 4096));
    row(label, 2, kb >= 0 ? (double)kb / 1024 : NAN, NAN, note);
}

static void phase_idle(const struct bench_daemon *d, const struct opts *o)
{
    /* The ring must be full and the sampler asleep before the window. */
    double t0 = now_s();
    while (stat_num(d, "sampler", "sleeping") != 1) {
        if (now_s() - t0 > 180) {
            printf("  sampler never slept (ring never filled): idle n/a\n");
            return;
        }
        sleep_s(0.25);
    }
    put("cost.fill_wait_s", now_s() - t0);
    double s0 = sched_cpu_ns(d->pid), c0 = bench_cpu_seconds(d->pid, -1);
    double w0 = now_s();
    sleep_s(o->idle_s);
    double s1 = sched_cpu_ns(d->pid), c1 = bench_cpu_seconds(d->pid, -1);
    double w = now_s() - w0;
    bool still = stat_num(d, "sampler", "sleeping") == 1;
    double pct = put("cost.idle_cpu_pct", 100 * (c1 - c0) / w);
    double pct_ns = put("cost.idle_cpu_pct_schedstat", 100 * (s1 - s0) / 1e9 / w);
    put("cost.idle_window_s", w);
    char note[80];
    snprintf(note, sizeof(note), "<= 0.1%%: %s; 10 ms ticks", met(pct <= 0.1));
    row("idle CPU, ring full (% of a core), stat", 3, pct, NAN, note);
    snprintf(note, sizeof(note), "<= 0.1%%: %s; ns%s", met(pct_ns <= 0.1),
             still ? "" : "; sampler woke during window");
    row("idle CPU, ring full, schedstat", 3, pct_ns, NAN, note);
}

static void phase_cost(const struct opts *o, const struct bench_daemon *big)
{
    section("Cost");
    if (big->owned)
        phase_rss(big, "big_ring", "peak RSS, 16 MiB ring daemon (MiB)");
    struct bench_daemon d;
    if (o->sock) {
        /* A running daemon: measure idle only if its ring is already full. */
        if (stat_num(big, "sampler", "sleeping") == 1)
            phase_idle(big, o);
        else
            printf("  running daemon is sampling: idle figures n/a\n");
        phase_rss(big, "attached", "peak RSS, attached daemon (MiB)");
        return;
    }
    if (bench_daemon_start(&d, o->preemptd, SMALL_RING) != 0)
        return;
    printf("  small daemon: ring %u bytes\n", SMALL_RING);
    phase_idle(&d, o);
    phase_rss(&d, "small_ring_idle", "peak RSS, 4 KiB ring, idle (MiB)");
    /* The same daemon after a burst of many clients. */
    unsigned c = o->max_clients;
    struct bench_lat r = {.src = SRC_DRBG, .sock = d.sock, .clients = c,
                          .reads_per_client = 5};
    bench_latency(&r);
    put("cost.burst_clients", c);
    put("cost.burst_errors", (double)r.errors);
    char label[64];
    snprintf(label, sizeof(label), "peak RSS, 4 KiB ring, after %u clients", c);
    phase_rss(&d, "small_ring_loaded", label);
    printf("  burst: %u clients x 5 drbg reads, %llu errors\n", c,
           (unsigned long long)r.errors);
    bench_daemon_stop(&d);
}

static void describe_machine(char *out, size_t cap)
{
    struct utsname u;
    char model[128] = "?", line[256];
    FILE *f = fopen("/proc/cpuinfo", "r");
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, "model name", 10) == 0) {
            char *s = strchr(line, ':');
            snprintf(model, sizeof(model), "%.120s", s ? s + 2 : line);
            model[strcspn(model, "\n")] = '\0';
            break;
        }
    if (f)
        fclose(f);
    double load[3] = {0, 0, 0};
    if (getloadavg(load, 3) < 0)
        load[0] = NAN;
    uname(&u);
    snprintf(out, cap, "%s %s %s; %ld CPUs: %s; load average %.2f at start",
             u.sysname, u.release, u.machine, sysconf(_SC_NPROCESSORS_ONLN),
             model, load[0]);
}

static void usage(FILE *f)
{
    fprintf(f,
"usage: pbd-bench [options]\n"
"Measures preemptd (harvest, entropy yield, throughput, latency, cost) next\n"
"to baselines taken in the same run. Prints a table; writes JSON.\n"
"\n"
"  --json FILE        write results here (default bench-results.json; - : none)\n"
"  --socket PATH      use a running daemon instead of starting one\n"
"  --preemptd PATH    daemon binary to start (default: this build's)\n"
"  --harvest-s S      harvest window (default 20)\n"
"  --idle-s S         idle CPU window (default 10)\n"
"  --bulk-s S         each throughput run (default 2)\n"
"  --max-clients N    highest concurrency level (default 1000)\n"
"  --quick            short windows and fewer samples (a smoke run)\n"
"  --bulk-only        only the drbg/getrandom/ChaCha20 throughput runs\n"
"  --host-cost        only what the host pays: a CPU-bound job with and\n"
"                     without the daemon, 1 CPU and all CPUs, per --priority\n"
"  --first-byte       only the time from a default daemon's start to its first\n"
"                     32 conditioned bytes, idle and with every CPU busy\n"
"  --repeat N         host-cost/first-byte trials per case (default 3, at most %d)\n"
"  --window-s S       host-cost: seconds measured with and without (default 6)\n"
"  --first-byte-cap S host-cost: give up waiting for a first byte (default 30)\n"
"  -h, --help\n", BENCH_HOST_MAX_REPEAT);
}

static double parse_pos(const char *opt, const char *s, double hi)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v > 0 && v <= hi)) {
        fprintf(stderr, "pbd-bench: %s: expected a number in (0, %g]\n", opt,
                hi);
        exit(2);
    }
    return v;
}

static void parse(int argc, char **argv, struct opts *o)
{
    enum { O_JSON = 256, O_SOCK, O_BIN, O_HARV, O_IDLE, O_BULK, O_MAXC,
           O_QUICK, O_BULKONLY, O_HOST, O_REPEAT, O_WINDOW, O_TTFB,
           O_FIRST };
    static const struct option lo[] = {
        {"json", required_argument, 0, O_JSON},
        {"socket", required_argument, 0, O_SOCK},
        {"preemptd", required_argument, 0, O_BIN},
        {"harvest-s", required_argument, 0, O_HARV},
        {"idle-s", required_argument, 0, O_IDLE},
        {"bulk-s", required_argument, 0, O_BULK},
        {"max-clients", required_argument, 0, O_MAXC},
        {"quick", no_argument, 0, O_QUICK},
        {"bulk-only", no_argument, 0, O_BULKONLY},
        {"host-cost", no_argument, 0, O_HOST},
        {"first-byte", no_argument, 0, O_FIRST},
        {"repeat", required_argument, 0, O_REPEAT},
        {"window-s", required_argument, 0, O_WINDOW},
        {"first-byte-cap", required_argument, 0, O_TTFB},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int ch;
    bool set_h = false, set_i = false, set_b = false;
    while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (ch) {
        case O_JSON: o->json = optarg; break;
        case O_SOCK: o->sock = optarg; break;
        case O_BIN: o->preemptd = optarg; break;
        case O_HARV: o->harvest_s = parse_pos("--harvest-s", optarg, 3600); set_h = true; break;
        case O_IDLE: o->idle_s = parse_pos("--idle-s", optarg, 3600); set_i = true; break;
        case O_BULK: o->bulk_s = parse_pos("--bulk-s", optarg, 600); set_b = true; break;
        case O_MAXC: o->max_clients = (unsigned)parse_pos("--max-clients", optarg, 10000); break;
        case O_QUICK: o->quick = true; break;
        case O_BULKONLY: o->bulk_only = true; break;
        case O_HOST: o->host_cost = true; break;
        case O_FIRST: o->first_byte = true; break;
        case O_REPEAT: o->host_repeat = (unsigned)parse_pos("--repeat", optarg, BENCH_HOST_MAX_REPEAT); break;
        case O_WINDOW: o->host_window_s = parse_pos("--window-s", optarg, 600); break;
        case O_TTFB: o->host_ttfb_cap_s = parse_pos("--first-byte-cap", optarg, 600); break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    if (optind < argc) {
        usage(stderr);
        exit(2);
    }
    if (o->quick) {
        if (!set_h)
            o->harvest_s = 3;
        if (!set_i)
            o->idle_s = 2;
        if (!set_b)
            o->bulk_s = 0.5;
    }
}

int main(int argc, char **argv)
{
    struct opts o = {.json = "bench-results.json",
                     .preemptd = PBD_BENCH_PREEMPTD,
                     .harvest_s = 20, .idle_s = 10, .bulk_s = 2,
                     .max_clients = 1000, .host_repeat = 3,
                     .host_window_s = 6, .host_ttfb_cap_s = 30};
    parse(argc, argv, &o);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (sodium_init() < 0)
        return 1;
    signal(SIGPIPE, SIG_IGN);
    raise_nofile(o.max_clients);

    char machine[512];
    describe_machine(machine, sizeof(machine));
    printf("pbd-bench: %s\n", machine);
    double t_start = now_s();

    if (o.host_cost || o.first_byte) {
        struct bench_host hc = {.preemptd = o.preemptd,
                                .repeat = o.host_repeat,
                                .window_s = o.host_window_s,
                                .ttfb_cap_s = o.host_ttfb_cap_s, .put = put};
        int hrc = o.first_byte ? bench_first_byte(&hc) : 0;
        if (hrc == 0 && o.host_cost)
            hrc = bench_host_cost(&hc);
        put("run.seconds", now_s() - t_start);
        printf("\nrun took %.0f s\n", now_s() - t_start);
        if (strcmp(o.json, "-") != 0 && write_json(o.json, machine) != 0)
            return 1;
        return hrc != 0;
    }

    struct bench_daemon big;
    int rc = o.sock ? bench_daemon_attach(&big, o.sock)
                    : bench_daemon_start(&big, o.preemptd, BIG_RING);
    if (rc != 0)
        return 1;
    printf("daemon: pid %ld, socket %s%s\n", (long)big.pid, big.sock,
           big.owned ? ", ring 16 MiB (started by pbd-bench)" : " (attached)");
    if (o.bulk_only) {
        phase_bulk(&big, &o);
        bench_daemon_stop(&big);
        return 0;
    }
    struct harvest h;
    if (phase_harvest(&big, &o, &h) != 0) {
        bench_daemon_stop(&big);
        return 1;
    }
    phase_latency(&big, &o, &h);
    phase_bulk(&big, &o);
    phase_slow_modes(&big, &o, &h);
    phase_cost(&o, &big);
    bench_daemon_stop(&big);
    put("run.seconds", now_s() - t_start);
    printf("\nrun took %.0f s\n", now_s() - t_start);
    if (strcmp(o.json, "-") != 0) {
        if (write_json(o.json, machine) != 0)
            return 1;
        printf("JSON written to %s\n", o.json);
    }
    return 0;
}

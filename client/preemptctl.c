/*
 * preemptctl.c - the command-line tool for preemptd: option dispatch and
 * the small subcommands (read, stats, health). top, metrics and assess have
 * files of their own (ctl-top.c, ctl-metrics.c, ctl-assess.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctl-json.h"
#include "ctl.h"
#include "proto.h"

static void usage_main(FILE *f)
{
    fputs(
"usage: preemptctl [--socket PATH] COMMAND [options]\n"
"Talks to preemptd, the preemption-boundary entropy daemon.\n"
"\n"
"Commands:\n"
"  read -n SIZE [--raw|--drbg] [-o FILE]   entropy bytes to stdout or FILE\n"
"  stats [--json]                          counters as a table, or the JSON\n"
"  health                                  one line; exit 0 ok, 1 degraded,\n"
"                                          2 failed, 3 cannot connect\n"
"  wait [--timeout S]                      until the source is healthy and\n"
"                                          conditioned output can be served\n"
"  metrics                                 Prometheus text exposition\n"
"  reseed                                  after a VM restore or clone: fresh\n"
"                                          DRBG state now (root or the\n"
"                                          daemon's user)\n"
"  top [--iterations N]                    live view; q quits\n"
"  assess -n SAMPLES [-o FILE]             SP 800-90B estimates on raw samples\n"
"  assess --file FILE                      the same on a file, offline\n"
"  calibrate --file F --restart-file M     a credit file from the evidence\n"
"\n"
"Options:\n"
"  -s, --socket PATH   daemon socket (default: $" PBD_SOCKET_ENV " or "
PBD_DEFAULT_SOCKET ")\n"
"  -h, --help          this text; COMMAND --help describes a command\n"
"  -V, --version       version\n"
"\n"
"Exit status: 0 success, 1 failure, 3 cannot connect, 64 usage error\n"
"(health: 0 ok, 1 degraded, 2 failed, 3 cannot connect;\n"
" wait: 0 ready, 1 timed out, 2 failed for good, 3 never connected).\n", f);
}

/* ---- read ---------------------------------------------------------------- */

static void usage_read(FILE *f)
{
    fputs(
"usage: preemptctl read -n SIZE [--raw | --drbg] [-o FILE] [--wait-ms MS]\n"
"Reads SIZE bytes (4096, 64K, 1M, 1G) and writes them to stdout or FILE.\n"
"  -n, --size SIZE    bytes to read (K, M, G: powers of 1024)\n"
"      --raw          folded jump bytes as sampled: for assessment only,\n"
"                     NOT uniformly random\n"
"      --drbg         ChaCha20 DRBG output (fast)\n"
"                     (default: conditioned, full-entropy SHA-256 blocks,\n"
"                     as fast as the source allows)\n"
"  -o, --output FILE  write to FILE (created mode 0600; removed on failure\n"
"                     or interruption)\n"
"      --wait-ms MS   longest wait per request (default: the daemon's)\n"
"  -s, --socket PATH  daemon socket\n"
"A progress bar is drawn on stderr when it is a terminal and the read\n"
"spans several requests. Refuses to write to a terminal.\n", f);
}

/* Largest read accepted: a sanity bound, not a protocol one. */
#define READ_MAX ((uint64_t)1 << 40)
/* Per-request sizes. A waiting request must be filled whole within the
 * daemon's wait (10 s by default) or what it gathered is wiped, so the
 * entropy modes ask for little at a time: 64 conditioned bytes need 320
 * raw bytes, i.e. 32 events a second at the default credit. */
#define READ_CHUNK_CONDITIONED 64u
#define READ_CHUNK_RAW 256u
#define READ_CHUNK_DRBG PROTO_MAX_READ_DRBG
/* Consecutive timeouts before giving up: a minute without progress. */
#define READ_MAX_TIMEOUTS 6

/* The output file, removed if a signal ends the read half-way. */
static const char *volatile read_partial;

static void read_signal_cb(int sig)
{
    if (read_partial)
        unlink(read_partial); /* async-signal-safe, as is _exit */
    _exit(128 + sig);
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int ctl_read(int argc, char **argv, const char *sock)
{
    static const struct option opts[] = {
        {"size", required_argument, 0, 'n'},
        {"raw", no_argument, 0, 'r'},
        {"drbg", no_argument, 0, 'd'},
        {"output", required_argument, 0, 'o'},
        {"wait-ms", required_argument, 0, 'w'},
        {"socket", required_argument, 0, 's'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    uint64_t size = 0;
    pbd_mode mode = PBD_MODE_CONDITIONED;
    const char *outpath = NULL;
    unsigned long wait_ms = 0;
    int c, nmodes = 0;
    ctl_getopt_reset();
    while ((c = getopt_long(argc, argv, "n:o:s:h", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            if (ctl_parse_size(optarg, READ_MAX, &size) != 0) {
                fprintf(stderr, "preemptctl read: bad size '%s' (e.g. 4096, "
                        "64K, 1M; at most 1T)\n", optarg);
                return CTL_EXIT_USAGE;
            }
            break;
        case 'r': mode = PBD_MODE_RAW; nmodes++; break;
        case 'd': mode = PBD_MODE_DRBG; nmodes++; break;
        case 'o': outpath = optarg; break;
        case 'w': {
            char *end;
            errno = 0;
            wait_ms = strtoul(optarg, &end, 10);
            if (errno || *end || end == optarg || wait_ms > UINT32_MAX) {
                fprintf(stderr, "preemptctl read: bad --wait-ms '%s'\n",
                        optarg);
                return CTL_EXIT_USAGE;
            }
            break;
        }
        case 's': sock = optarg; break;
        case 'h': usage_read(stdout); return CTL_EXIT_OK;
        default: usage_read(stderr); return CTL_EXIT_USAGE;
        }
    }
    if (optind != argc || size == 0 || nmodes > 1) {
        fprintf(stderr, "preemptctl read: %s\n",
                nmodes > 1 ? "--raw and --drbg exclude each other"
                : size == 0 ? "-n SIZE is required"
                            : "unexpected argument");
        usage_read(stderr);
        return CTL_EXIT_USAGE;
    }
    if (!outpath && isatty(STDOUT_FILENO)) {
        fputs("preemptctl read: refusing to write binary data to a "
              "terminal; use -o FILE or a pipe\n", stderr);
        return CTL_EXIT_USAGE;
    }
    pbd_t *p;
    if (ctl_connect(&p, sock) != 0)
        return CTL_EXIT_NOCONN;
    int fd = STDOUT_FILENO;
    if (outpath) {
        fd = open(outpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0) {
            fprintf(stderr, "preemptctl read: %s: %s\n", outpath,
                    strerror(errno));
            pbd_close(p);
            return CTL_EXIT_FAIL;
        }
        read_partial = outpath;
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = read_signal_cb;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGHUP, &sa, NULL);
    }
    size_t chunk = mode == PBD_MODE_DRBG  ? READ_CHUNK_DRBG
                   : mode == PBD_MODE_RAW ? READ_CHUNK_RAW
                                          : READ_CHUNK_CONDITIONED;
    if (chunk > size)
        chunk = (size_t)size;
    uint8_t *buf = malloc(chunk);
    int status = CTL_EXIT_OK;
    if (!buf) {
        fputs("preemptctl read: out of memory\n", stderr);
        status = CTL_EXIT_FAIL;
    }
    struct ctl_progress pg;
    ctl_progress_start(&pg, size, size > chunk);
    uint64_t done = 0;
    int timeouts = 0;
    while (status == CTL_EXIT_OK && done < size) {
        size_t k = size - done < chunk ? (size_t)(size - done) : chunk;
        int rc = pbd_read_ex(p, buf, k, mode, 0, (uint32_t)wait_ms);
        /* A slow source is not an error while it is healthy: ask again. */
        if (rc == PBD_ETIMEDOUT && ++timeouts < READ_MAX_TIMEOUTS)
            continue;
        if (rc != 0) {
            ctl_progress_end(&pg);
            fprintf(stderr, "preemptctl read: after %llu of %llu bytes: %s\n",
                    (unsigned long long)done, (unsigned long long)size,
                    pbd_strerror(rc));
            status = CTL_EXIT_FAIL;
            break;
        }
        int wr = write_all(fd, buf, k);
        ctl_wipe(buf, k);
        if (wr != 0) {
            ctl_progress_end(&pg);
            fprintf(stderr, "preemptctl read: write: %s\n", strerror(errno));
            status = CTL_EXIT_FAIL;
            break;
        }
        done += k;
        timeouts = 0;
        ctl_progress_update(&pg, done);
    }
    ctl_progress_end(&pg);
    if (status == CTL_EXIT_OK)
        read_partial = NULL; /* every byte is written: keep the file */
    if (buf) {
        ctl_wipe(buf, chunk);
        free(buf);
    }
    pbd_close(p);
    if (outpath) {
        if (close(fd) != 0 && status == CTL_EXIT_OK) {
            fprintf(stderr, "preemptctl read: %s: %s\n", outpath,
                    strerror(errno));
            status = CTL_EXIT_FAIL;
        }
        /* A short file of "random" bytes is worse than none. */
        if (status != CTL_EXIT_OK)
            unlink(outpath);
    }
    return status;
}

/* ---- stats --------------------------------------------------------------- */

static void usage_stats(FILE *f)
{
    fputs(
"usage: preemptctl stats [--json]\n"
"Prints the daemon's counters as a table, or with --json the daemon's JSON\n"
"object unchanged (one line).\n"
"  -j, --json         raw JSON\n"
"  -s, --socket PATH  daemon socket\n", f);
}

static double num(const char *js, const char *path)
{
    double v;
    return ctl_json_number(js, path, &v) == 0 ? v : -1.0;
}

static uint64_t u64(const char *js, const char *path)
{
    uint64_t v;
    return ctl_json_u64(js, path, &v) == 0 ? v : 0;
}

static const char *str(const char *js, const char *path, char *buf,
                       size_t cap)
{
    if (ctl_json_string(js, path, buf, cap) < 0)
        snprintf(buf, cap, "?");
    return buf;
}

static void print_table(const char *js)
{
    char s1[256], s2[256], b1[32], b2[32], b3[32];
    printf("%-12s preemptd %s, up %.1f s\n", "daemon",
           str(js, "version", s1, sizeof(s1)), num(js, "uptime_s"));
    printf("%-12s %s at %.3f MHz; threshold %llu ticks (median delta %llu); "
           "cpu %d: %s\n", "source",
           str(js, "counter.name", s1, sizeof(s1)),
           (double)u64(js, "counter.hz") / 1e6,
           (unsigned long long)u64(js, "counter.threshold_ticks"),
           (unsigned long long)u64(js, "counter.median_delta"),
           (int)num(js, "counter.cpu"),
           str(js, "counter.pinning", s2, sizeof(s2)));
    printf("%-12s %llu events (%.1f/s) in %llu reads; %llu bytes pushed, "
           "%llu discarded\n", "sampler",
           (unsigned long long)u64(js, "sampler.events"),
           num(js, "sampler.event_rate"),
           (unsigned long long)u64(js, "sampler.loops"),
           (unsigned long long)u64(js, "sampler.pushed"),
           (unsigned long long)u64(js, "sampler.discarded"));
    printf("%-12s gaps %llu, backwards %llu, migrations %llu, sleeps %llu%s\n",
           "", (unsigned long long)u64(js, "sampler.gaps"),
           (unsigned long long)u64(js, "sampler.backwards"),
           (unsigned long long)u64(js, "sampler.migrations"),
           (unsigned long long)u64(js, "sampler.sleeps"),
           ctl_json_bool(js, "sampler.sleeping") == 1 ? " (sleeping: ring full)"
                                                       : "");
    char why[48];
    if (ctl_json_string(js, "policy.demand", why, sizeof(why)) < 0)
        snprintf(why, sizeof(why), "nothing");
    printf("%-12s %s; %s, needed by %s; boosted %llu times, %.1f s for "
           "%.2f CPU-s; budget %g%% of one CPU, %.0f%% used\n", "policy",
           str(js, "policy.name", s1, sizeof(s1)),
           ctl_json_bool(js, "policy.boosted") == 1 ? "boosted" : "at rest",
           why, (unsigned long long)u64(js, "policy.boosts"),
           num(js, "policy.boosted_s"), num(js, "policy.boost_cpu_s"),
           num(js, "policy.max_cpu_pct"), num(js, "policy.budget_used_pct"));
    uint64_t rb = u64(js, "ring.bytes"), rc = u64(js, "ring.capacity");
    printf("%-12s %llu / %llu bytes (%.0f%%); low %llu, high %llu\n", "ring",
           (unsigned long long)rb, (unsigned long long)rc,
           rc ? 100.0 * (double)rb / (double)rc : 0.0,
           (unsigned long long)u64(js, "ring.low"),
           (unsigned long long)u64(js, "ring.high"));
    double mcv = num(js, "entropy.mcv_estimate_bits_per_byte");
    char mcvs[48];
    if (mcv < 0)
        snprintf(mcvs, sizeof(mcvs), "none yet");
    else
        snprintf(mcvs, sizeof(mcvs), "%.3f bits/byte", mcv);
    printf("%-12s credited %.3f bits/byte; online MCV estimate %s "
           "(window %llu)\n", "entropy",
           num(js, "entropy.credited_bits_per_byte"), mcvs,
           (unsigned long long)u64(js, "entropy.mcv_window"));
    printf("%-12s %llu raw bytes per 32-byte block; conditioned stock %s\n",
           "", (unsigned long long)u64(js, "entropy.raw_bytes_per_block"),
           ctl_fmt_bytes(u64(js, "entropy.conditioned_stock"), b1,
                         sizeof(b1)));
    printf("%-12s %s\n", "health", str(js, "health.message", s1, sizeof(s1)));
    printf("%-12s failures: rct %llu, apt %llu, stall %llu; start-up passes "
           "%llu; last failure %s\n", "",
           (unsigned long long)u64(js, "health.rct_failures"),
           (unsigned long long)u64(js, "health.apt_failures"),
           (unsigned long long)u64(js, "health.stall_failures"),
           (unsigned long long)u64(js, "health.startup_passes"),
           str(js, "health.last_failure", s2, sizeof(s2)));
    printf("%-12s %s; %llu reseeds (last: %s); %s since reseed\n", "drbg",
           ctl_json_bool(js, "drbg.seeded") == 1 ? "seeded" : "not seeded",
           (unsigned long long)u64(js, "drbg.reseeds"),
           str(js, "drbg.last_reseed", s2, sizeof(s2)),
           ctl_fmt_bytes(u64(js, "drbg.bytes_since_reseed"), b1, sizeof(b1)));
    static const char *const evs[] = {"vmgenid", "clock", "gap", "power",
                                      "signal", "request"};
    printf("%-12s events (reseeds caused):", "");
    for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++) {
        char pe[48], pr[48];
        snprintf(pe, sizeof(pe), "drbg.events.%s", evs[i]);
        snprintf(pr, sizeof(pr), "drbg.event_reseeds.%s", evs[i]);
        printf(" %s %llu (%llu)", evs[i], (unsigned long long)u64(js, pe),
               (unsigned long long)u64(js, pr));
    }
    printf("\n%-12s watching %s; fresh OS bytes mixed in %llu times (%s)\n",
           "", str(js, "drbg.watch", s1, sizeof(s1)),
           (unsigned long long)u64(js, "drbg.os_mixes"),
           str(js, "drbg.os_mix", s2, sizeof(s2)));
    printf("%-12s conditioned %s, raw %s, drbg %s\n", "served",
           ctl_fmt_bytes(u64(js, "served.conditioned"), b1, sizeof(b1)),
           ctl_fmt_bytes(u64(js, "served.raw"), b2, sizeof(b2)),
           ctl_fmt_bytes(u64(js, "served.drbg"), b3, sizeof(b3)));
    printf("%-12s %llu connected, %llu waiting; %llu accepted, %llu refused, "
           "%llu cut off\n", "clients",
           (unsigned long long)u64(js, "clients.connected"),
           (unsigned long long)u64(js, "clients.waiting"),
           (unsigned long long)u64(js, "clients.accepted"),
           (unsigned long long)u64(js, "clients.refused"),
           (unsigned long long)u64(js, "clients.cut_off"));
    printf("%-12s %llu (errors %llu, timeouts %llu)\n", "requests",
           (unsigned long long)u64(js, "requests"),
           (unsigned long long)u64(js, "errors"),
           (unsigned long long)u64(js, "timeouts"));
    printf("%-12s %s\n", "kernel fed",
           ctl_fmt_bytes(u64(js, "kernel_fed_bytes"), b1, sizeof(b1)));
}

int ctl_stats(int argc, char **argv, const char *sock)
{
    static const struct option opts[] = {
        {"json", no_argument, 0, 'j'},
        {"socket", required_argument, 0, 's'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int c, json = 0;
    ctl_getopt_reset();
    while ((c = getopt_long(argc, argv, "js:h", opts, NULL)) != -1) {
        switch (c) {
        case 'j': json = 1; break;
        case 's': sock = optarg; break;
        case 'h': usage_stats(stdout); return CTL_EXIT_OK;
        default: usage_stats(stderr); return CTL_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        usage_stats(stderr);
        return CTL_EXIT_USAGE;
    }
    pbd_t *p;
    if (ctl_connect(&p, sock) != 0)
        return CTL_EXIT_NOCONN;
    static char js[CTL_STATS_CAP];
    int rc = ctl_fetch_stats(p, js, sizeof(js));
    pbd_close(p);
    if (rc != 0)
        return CTL_EXIT_FAIL;
    if (json)
        printf("%s\n", js);
    else
        print_table(js);
    return CTL_EXIT_OK;
}

/* ---- health -------------------------------------------------------------- */

static void usage_health(FILE *f)
{
    fputs(
"usage: preemptctl health\n"
"Prints the daemon's health line. Exit status: 0 ok, 1 degraded (serving,\n"
"but something needs attention), 2 failed (raw and conditioned output\n"
"withheld), 3 cannot connect or no answer.\n"
"  -s, --socket PATH  daemon socket\n", f);
}

int ctl_health(int argc, char **argv, const char *sock)
{
    int ex = ctl_socket_only_opts(argc, argv, &sock, usage_health);
    if (ex >= 0)
        return ex;
    pbd_t *p;
    if (ctl_connect(&p, sock) != 0)
        return CTL_EXIT_NOCONN;
    pbd_health_state st;
    char msg[PROTO_MAX_TEXT];
    int rc = pbd_health(p, &st, msg, sizeof(msg));
    pbd_close(p);
    if (rc != 0 && rc != PBD_ETOOBIG) {
        fprintf(stderr, "preemptctl health: %s\n", pbd_strerror(rc));
        return CTL_EXIT_NOCONN;
    }
    printf("%s\n", msg);
    switch (st) {
    case PBD_HEALTH_OK: return 0;
    case PBD_HEALTH_DEGRADED: return 1;
    case PBD_HEALTH_FAILED: return 2;
    }
    return 2; /* a state this tool does not know: assume the worst */
}

/* ---- wait ---------------------------------------------------------------- */

static void usage_wait(FILE *f)
{
    fputs(
"usage: preemptctl wait [--timeout S]\n"
"Waits until preemptd's source is healthy (its start-up test has passed)\n"
"and its DRBG is seeded, so conditioned and DRBG output are served at once;\n"
"also while the socket does not exist yet or refuses (the daemon is\n"
"starting). For boot ordering: preemptd-wait.service runs it.\n"
"  -t, --timeout S    give up after S seconds (default: wait forever)\n"
"  -s, --socket PATH  daemon socket\n"
"Exit status: 0 ready, 1 timed out (the last state is printed), 2 the\n"
"source failed for good (a permanent health failure), 3 never connected.\n",
          f);
}

/* Polls the daemon's stats every 100 ms; a read would take entropy. */
static int ctl_wait(int argc, char **argv, const char *sock)
{
    static const struct option opts[] = {
        {"timeout", required_argument, 0, 't'},
        {"socket", required_argument, 0, 's'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    double timeout = -1;
    int c;
    ctl_getopt_reset();
    while ((c = getopt_long(argc, argv, "t:s:h", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 't':
            timeout = strtod(optarg, &end);
            if (end == optarg || *end || !(timeout >= 0 && timeout <= 1e7)) {
                fprintf(stderr, "preemptctl wait: --timeout: expected "
                        "seconds, 0..10000000, got '%s'\n", optarg);
                return CTL_EXIT_USAGE;
            }
            break;
        case 's': sock = optarg; break;
        case 'h': usage_wait(stdout); return CTL_EXIT_OK;
        default: usage_wait(stderr); return CTL_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        usage_wait(stderr);
        return CTL_EXIT_USAGE;
    }
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    static char js[CTL_STATS_CAP];
    char last[PROTO_MAX_TEXT] = "";
    int conn_err = 0;
    bool connected = false;
    for (;;) {
        pbd_t *p;
        int rc = pbd_open(&p, sock);
        if (rc == 0) {
            rc = pbd_stats(p, js, sizeof(js));
            pbd_close(p);
        }
        if (rc == 0 && ctl_json_validate(js) == 0) {
            connected = true;
            char src[32];
            if (ctl_json_string(js, "health.source", src, sizeof(src)) < 0)
                src[0] = '\0';
            if (ctl_json_string(js, "health.message", last, sizeof(last)) < 0)
                snprintf(last, sizeof(last), "?");
            if (strcmp(src, "ok") == 0 && ctl_json_bool(js, "drbg.seeded") == 1)
                return CTL_EXIT_OK;
            if (strcmp(src, "permanent") == 0) {
                fprintf(stderr, "preemptctl wait: %s\n", last);
                return 2;
            }
        } else {
            conn_err = rc;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        double waited = (double)(now.tv_sec - t0.tv_sec) +
                        (double)(now.tv_nsec - t0.tv_nsec) / 1e9;
        if (timeout >= 0 && waited >= timeout)
            break;
        usleep(100000);
    }
    if (!connected) {
        fprintf(stderr, "preemptctl wait: cannot connect to %s: %s\n", sock,
                pbd_strerror(conn_err));
        return CTL_EXIT_NOCONN;
    }
    fprintf(stderr, "preemptctl wait: not ready after %g s: %s\n", timeout,
            last);
    return CTL_EXIT_FAIL;
}

/* ---- reseed -------------------------------------------------------------- */

static void usage_reseed(FILE *f)
{
    fputs(
"usage: preemptctl reseed\n"
"Tells the daemon that its DRBG's state may exist twice (this VM was\n"
"restored from a snapshot or cloned): it mixes fresh OS bytes into the\n"
"DRBG key before its next drbg byte and reseeds from the source as soon as\n"
"it can. For root and the daemon's own user. Run it from the hook that\n"
"resumes a restored or cloned VM.\n"
"  -s, --socket PATH  daemon socket\n", f);
}

static int ctl_reseed(int argc, char **argv, const char *sock)
{
    int ex = ctl_socket_only_opts(argc, argv, &sock, usage_reseed);
    if (ex >= 0)
        return ex;
    pbd_t *p;
    if (ctl_connect(&p, sock) != 0)
        return CTL_EXIT_NOCONN;
    char msg[256];
    int rc = pbd_reseed(p, msg, sizeof(msg));
    pbd_close(p);
    if (rc != 0) {
        fprintf(stderr, "preemptctl reseed: %s\n", pbd_strerror(rc));
        return CTL_EXIT_FAIL;
    }
    printf("%s\n", msg);
    return CTL_EXIT_OK;
}

/* ---- dispatch ------------------------------------------------------------ */

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"socket", required_argument, 0, 's'},
        {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'V'},
        {0, 0, 0, 0},
    };
    static const struct {
        const char *name;
        int (*fn)(int, char **, const char *);
    } cmds[] = {
        {"read", ctl_read},       {"stats", ctl_stats},
        {"health", ctl_health},   {"metrics", ctl_metrics},
        {"top", ctl_top},         {"assess", ctl_assess},
        {"calibrate", ctl_calibrate}, {"wait", ctl_wait},
        {"reseed", ctl_reseed},
    };
    const char *sock = pbd_default_socket();
    int c;
    /* A closed pipe (preemptctl read | head -c 16) is an error reply from
     * write(), not a silent death half-way through. */
    signal(SIGPIPE, SIG_IGN);
    while ((c = getopt_long(argc, argv, "+s:hV", opts, NULL)) != -1) {
        switch (c) {
        case 's': sock = optarg; break;
        case 'h': usage_main(stdout); return CTL_EXIT_OK;
        case 'V': printf("preemptctl %s\n", PBD_VERSION_STRING); return 0;
        default: usage_main(stderr); return CTL_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        usage_main(stderr);
        return CTL_EXIT_USAGE;
    }
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
        if (strcmp(argv[optind], cmds[i].name) == 0)
            return cmds[i].fn(argc - optind, argv + optind, sock);
    if (strcmp(argv[optind], "help") == 0) {
        usage_main(stdout);
        return CTL_EXIT_OK;
    }
    fprintf(stderr, "preemptctl: unknown command '%s'\n", argv[optind]);
    usage_main(stderr);
    return CTL_EXIT_USAGE;
}

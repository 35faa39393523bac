/*
 * main.c - options, start-up and tear-down order.
 *
 * Order matters: bind (maybe as root) -> drop privileges -> lock and
 * pre-fault the ring -> calibrate -> start the loop's handles -> start the
 * sampler -> run. Tear-down runs it backwards; the sampler stops before the
 * async handle it wakes is closed.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <uv.h>

#include "counter.h"
#include "log.h"
#include "osdep.h"
#include "pbd.h"
#include "ring.h"
#include "sampler.h"
#include "server.h"

#define DEFAULT_RING (1u << 16)
#define DEFAULT_CREDIT 2.0
#define DEFAULT_ALPHA_LOG2 (-30.0)

struct options {
    struct server_config srv;
    struct sampler_config smp;
    size_t ring_size;
    const char *user, *group;
};

static void usage(FILE *f)
{
    fprintf(f,
"usage: preemptd [options]\n"
"Harvests entropy from scheduler preemption boundaries and serves it on a\n"
"Unix socket. Stays in the foreground; logs to stderr.\n"
"\n"
"  -f, --foreground        accepted for compatibility (always foreground)\n"
"  -s, --socket PATH       socket path (default: $" PBD_SOCKET_ENV " or " PBD_DEFAULT_SOCKET ")\n"
"  -c, --cpu N             pin the sampler to CPU N (default: last usable CPU)\n"
"      --ring-size BYTES   ring capacity, a power of two 256..16777216 (default 65536)\n"
"      --threshold TICKS   event threshold (default: calibrated,\n"
"                          max(2, 16 x median, 16 x counter step, 1 us))\n"
"      --credit H          credited min-entropy per folded byte, 0.1..8 (default %.1f)\n"
"      --alpha-log2 A      health-test false-positive rate 2^A, -60..-10 (default %.0f)\n"
"      --stall-ms MS       no event for this long is a health failure (default 5000)\n"
"      --max-clients N     connections served at once (default 1024)\n"
"      --max-queued BYTES  unread reply bytes per client before it is cut off (default 4194304)\n"
"      --idle-ms MS        close clients silent this long (default 60000)\n"
"      --wait-ms MS        default wait for entropy (default 10000; clients may ask up to 120000)\n"
"      --reseed-s S        DRBG reseed interval (default 60)\n"
"      --user NAME         drop to this user after binding (when started as root)\n"
"      --group NAME        socket group (and the group to drop to)\n"
"      --mode OCTAL        socket mode (default 0660)\n"
"      --allow-uid UID     serve only listed uids/gids (repeatable; root always allowed)\n"
"      --allow-gid GID\n"
"      --raw-uid UID       restrict raw mode to listed uids (repeatable)\n"
"      --no-egd            do not accept EGD clients on the socket\n"
"      --feed-kernel       feed conditioned output to the kernel (Linux, RNDADDENTROPY)\n"
"      --feed-interval-ms MS  (default 60000)\n"
#ifdef PBD_FAULT_INJECTION
"      --fault stuck|periodic|periodic-after=N  test build only: replace the\n"
"                          counter (periodic-after: real for N events first)\n"
#endif
"      --log-level LEVEL   error, warn, info or debug (default info)\n"
"  -h, --help              this text\n"
"  -V, --version           version and counter backend\n",
            DEFAULT_CREDIT, DEFAULT_ALPHA_LOG2);
}

/* Parses an unsigned decimal in [lo, hi]; exits with a message otherwise. */
static unsigned long long num(const char *opt, const char *s,
                              unsigned long long lo, unsigned long long hi)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi) {
        fprintf(stderr, "preemptd: --%s: expected a number in %llu..%llu, got '%s'\n",
                opt, lo, hi, s);
        exit(2);
    }
    return v;
}

static double real(const char *opt, const char *s, double lo, double hi)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "preemptd: --%s: expected a number in %g..%g, got '%s'\n",
                opt, lo, hi, s);
        exit(2);
    }
    return v;
}

enum {
    O_RING = 256, O_THRESHOLD, O_CREDIT, O_ALPHA, O_STALL, O_MAXCLIENTS,
    O_MAXQUEUED, O_IDLE, O_WAIT, O_RESEED, O_USER, O_GROUP, O_MODE,
    O_ALLOW_UID, O_ALLOW_GID, O_RAW_UID, O_NO_EGD, O_FEED, O_FEED_INT,
    O_FAULT, O_LOGLEVEL,
};

static void parse(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"foreground", no_argument, 0, 'f'},
        {"socket", required_argument, 0, 's'},
        {"cpu", required_argument, 0, 'c'},
        {"ring-size", required_argument, 0, O_RING},
        {"threshold", required_argument, 0, O_THRESHOLD},
        {"credit", required_argument, 0, O_CREDIT},
        {"alpha-log2", required_argument, 0, O_ALPHA},
        {"stall-ms", required_argument, 0, O_STALL},
        {"max-clients", required_argument, 0, O_MAXCLIENTS},
        {"max-queued", required_argument, 0, O_MAXQUEUED},
        {"idle-ms", required_argument, 0, O_IDLE},
        {"wait-ms", required_argument, 0, O_WAIT},
        {"reseed-s", required_argument, 0, O_RESEED},
        {"user", required_argument, 0, O_USER},
        {"group", required_argument, 0, O_GROUP},
        {"mode", required_argument, 0, O_MODE},
        {"allow-uid", required_argument, 0, O_ALLOW_UID},
        {"allow-gid", required_argument, 0, O_ALLOW_GID},
        {"raw-uid", required_argument, 0, O_RAW_UID},
        {"no-egd", no_argument, 0, O_NO_EGD},
        {"feed-kernel", no_argument, 0, O_FEED},
        {"feed-interval-ms", required_argument, 0, O_FEED_INT},
        {"fault", required_argument, 0, O_FAULT},
        {"log-level", required_argument, 0, O_LOGLEVEL},
        {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'V'},
        {0, 0, 0, 0},
    };
    struct server_config *s = &o->srv;
    int ch, lvl;
    while ((ch = getopt_long(argc, argv, "fs:c:hV", longopts, NULL)) != -1) {
        switch (ch) {
        case 'f':
            break;
        case 's':
            s->socket_path = optarg;
            break;
        case 'c':
            o->smp.cpu = (int)num("cpu", optarg, 0, 4095);
            break;
        case O_RING:
            o->ring_size = num("ring-size", optarg, 256, 1u << 24);
            if (o->ring_size & (o->ring_size - 1)) {
                fprintf(stderr, "preemptd: --ring-size must be a power of two\n");
                exit(2);
            }
            break;
        case O_THRESHOLD:
            o->smp.threshold = num("threshold", optarg, 1, UINT64_MAX / 2);
            break;
        case O_CREDIT:
            s->h_bits = o->smp.h_bits = real("credit", optarg, 0.1, 8.0);
            break;
        case O_ALPHA:
            o->smp.alpha_log2 = real("alpha-log2", optarg, -60, -10);
            break;
        case O_STALL:
            o->smp.stall_ms = (unsigned)num("stall-ms", optarg, 100, 3600000);
            break;
        case O_MAXCLIENTS:
            s->max_clients = (unsigned)num("max-clients", optarg, 1, 65536);
            break;
        case O_MAXQUEUED:
            s->max_queued = num("max-queued", optarg, 65536, 1u << 30);
            break;
        case O_IDLE:
            s->idle_ms = (unsigned)num("idle-ms", optarg, 100, 86400000);
            break;
        case O_WAIT:
            s->wait_ms = (unsigned)num("wait-ms", optarg, 1, 120000);
            break;
        case O_RESEED:
            s->reseed_ms = (unsigned)num("reseed-s", optarg, 1, 86400) * 1000u;
            break;
        case O_USER:
            o->user = optarg;
            break;
        case O_GROUP:
            o->group = optarg;
            break;
        case O_MODE:
            s->sock_mode = (unsigned)num("mode", optarg, 0, 0777);
            break;
        case O_ALLOW_UID:
        case O_ALLOW_GID:
        case O_RAW_UID: {
            unsigned *n = ch == O_ALLOW_UID   ? &s->n_allow_uid
                          : ch == O_ALLOW_GID ? &s->n_allow_gid
                                              : &s->n_raw_uid;
            if (*n == SERVER_MAX_IDS) {
                fprintf(stderr, "preemptd: at most %d ids per list\n",
                        SERVER_MAX_IDS);
                exit(2);
            }
            unsigned long long v = num("uid/gid", optarg, 0, UINT_MAX - 1);
            if (ch == O_ALLOW_UID)
                s->allow_uid[(*n)++] = (uid_t)v;
            else if (ch == O_ALLOW_GID)
                s->allow_gid[(*n)++] = (gid_t)v;
            else
                s->raw_uid[(*n)++] = (uid_t)v;
            break;
        }
        case O_NO_EGD:
            s->egd = false;
            break;
        case O_FEED:
            s->feed_kernel = true;
            break;
        case O_FEED_INT:
            s->feed_interval_ms =
                (unsigned)num("feed-interval-ms", optarg, 100, 86400000);
            break;
        case O_FAULT:
#ifdef PBD_FAULT_INJECTION
            if (strcmp(optarg, "stuck") == 0)
                o->smp.fault = SAMPLER_FAULT_STUCK;
            else if (strcmp(optarg, "periodic") == 0)
                o->smp.fault = SAMPLER_FAULT_PERIODIC;
            else if (strncmp(optarg, "periodic-after=", 15) == 0) {
                o->smp.fault = SAMPLER_FAULT_PERIODIC_AFTER;
                o->smp.fault_after =
                    num("fault", optarg + 15, 1, UINT64_MAX / 2);
            } else {
                fprintf(stderr, "preemptd: --fault: stuck, periodic or "
                                "periodic-after=N\n");
                exit(2);
            }
            break;
#else
            fprintf(stderr, "preemptd: --fault exists only in test builds\n");
            exit(2);
#endif
        case O_LOGLEVEL:
            lvl = log_level_parse(optarg);
            if (lvl < 0) {
                fprintf(stderr, "preemptd: --log-level: error, warn, info or debug\n");
                exit(2);
            }
            log_init((enum log_level)lvl);
            break;
        case 'h':
            usage(stdout);
            exit(0);
        case 'V':
            printf("preemptd %s (protocol 1, counter %s)\n",
                   PBD_VERSION_STRING, COUNTER_NAME);
            exit(0);
        default:
            usage(stderr);
            exit(2);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "preemptd: unexpected argument '%s'\n", argv[optind]);
        exit(2);
    }
}

/* Resolves --user/--group up front, so a typo fails before anything binds. */
static int resolve_ids(const struct options *o, uid_t *uid, gid_t *gid,
                       gid_t *sock_gid)
{
    *uid = (uid_t)-1;
    *gid = (gid_t)-1;
    *sock_gid = (gid_t)-1;
    if (o->group) {
        struct group *g = getgrnam(o->group);
        if (!g) {
            log_err("unknown group '%s'", o->group);
            return -1;
        }
        *sock_gid = *gid = g->gr_gid;
    }
    if (o->user) {
        struct passwd *pw = getpwnam(o->user);
        if (!pw) {
            log_err("unknown user '%s'", o->user);
            return -1;
        }
        *uid = pw->pw_uid;
        if (*gid == (gid_t)-1)
            *gid = pw->pw_gid;
    }
    return 0;
}

static int drop_privileges(uid_t uid, gid_t gid)
{
    if (uid == (uid_t)-1)
        return 0;
    if (geteuid() != 0) {
        log_err("--user needs preemptd to be started as root");
        return -1;
    }
    if (setgroups(1, &gid) != 0 || setgid(gid) != 0 || setuid(uid) != 0) {
        log_warn("dropping privileges to uid %ld gid %ld", (long)uid,
                 (long)gid);
        return -1;
    }
    if (setuid(0) == 0) {
        log_err("privileges were not dropped: setuid(0) still works");
        return -1;
    }
    log_info("running as uid %ld gid %ld", (long)uid, (long)gid);
    return 0;
}

/* Many clients want many descriptors: take the hard limit. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void close_any_cb(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

int main(int argc, char **argv)
{
    struct options o;
    memset(&o, 0, sizeof(o));
    log_init(LOG_LVL_INFO);
    o.srv.socket_path = pbd_default_socket();
    o.srv.activated_fd = -1;
    o.srv.sock_mode = 0660;
    o.srv.max_clients = 1024;
    o.srv.max_queued = 4u << 20;
    o.srv.max_memory = (size_t)64 << 20;
    o.srv.idle_ms = 60000;
    o.srv.wait_ms = 10000;
    o.srv.max_wait_ms = 120000;
    o.srv.reseed_ms = 60000;
    o.srv.h_bits = o.smp.h_bits = DEFAULT_CREDIT;
    o.srv.egd = true;
    o.srv.feed_interval_ms = 60000;
    o.smp.cpu = -1;
    o.smp.alpha_log2 = DEFAULT_ALPHA_LOG2;
    o.smp.permanent_after = 3;
    o.ring_size = DEFAULT_RING;
    parse(argc, argv, &o);

    if (sodium_init() < 0) {
        log_err("libsodium failed to initialise");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN); /* a vanished client is an EPIPE, not a death */
    signal(SIGHUP, SIG_IGN);  /* nothing to reload */
    raise_nofile();

    uid_t uid;
    gid_t gid;
    if (resolve_ids(&o, &uid, &gid, &o.srv.sock_gid) != 0)
        return 1;

    char note[160] = "";
    int rc = osdep_activation_fd(&o.srv.activated_fd, note, sizeof(note));
    if (rc < 0) {
        log_err("socket activation: %s", note);
        return 1;
    }

    uv_loop_t loop;
    uv_loop_init(&loop);
    static struct server srv; /* large; its address is shared with callbacks */
    int status = 1;
    uint8_t *ringbuf = NULL;
    bool sampler_ready = false;
    struct sampler *smp = calloc(1, sizeof(*smp));
    struct ring ring;
    if (!smp)
        goto out;
    if (server_listen(&srv, &loop, &o.srv) != 0)
        goto out;
    if (drop_privileges(uid, gid) != 0)
        goto out;

    /* sodium_malloc: guard pages, and mlock where RLIMIT_MEMLOCK allows.
     * Touch every page now so the hot loop never faults. */
    ringbuf = sodium_malloc(o.ring_size);
    if (!ringbuf) {
        log_err("cannot allocate a %zu-byte ring", o.ring_size);
        goto out;
    }
    memset(ringbuf, 0, o.ring_size);
    ring_init(&ring, ringbuf, o.ring_size, o.ring_size - o.ring_size / 4,
              o.ring_size);

    o.smp.wake = server_wake;
    o.smp.wake_arg = &srv;
    if (sampler_init(smp, &o.smp, &ring) != 0) {
        log_err("bad health-test parameters (credit %.3f, alpha 2^%.0f)",
                o.smp.h_bits, o.smp.alpha_log2);
        goto out;
    }
    sampler_ready = true;
    log_info("preemptd %s: counter %s at %.3f MHz, median delta %llu ticks, "
             "threshold %llu ticks (%.2f us); credit %.3f bits/byte; "
             "RCT cutoff %u, APT cutoff %u/%u; ring %zu bytes",
             PBD_VERSION_STRING, COUNTER_NAME, smp->freq / 1e6,
             (unsigned long long)smp->median_delta,
             (unsigned long long)smp->threshold,
             smp->threshold * 1e6 / (double)smp->freq, o.smp.h_bits,
             smp->health.rct_cutoff, smp->health.apt_cutoff,
             HEALTH_APT_WINDOW, o.ring_size);
#ifdef PBD_FAULT_INJECTION
    if (o.smp.fault)
        log_warnx("FAULT INJECTION: counter replaced (%s)",
                  o.smp.fault == SAMPLER_FAULT_STUCK      ? "stuck"
                  : o.smp.fault == SAMPLER_FAULT_PERIODIC ? "periodic"
                                                          : "periodic-after");
#endif
    if (server_start(&srv, smp) != 0)
        goto out;
    rc = sampler_start(smp);
    if (rc != 0) {
        log_err("cannot start the sampler thread: %s", strerror(rc));
        goto out;
    }
    /* The thread fills in how pinning went as its first act. */
    for (int i = 0; i < 200 && !atomic_load(&smp->st.running); i++)
        usleep(1000);
    log_info("sampler: %s", sampler_pin_note(smp));
    osdep_notify("STATUS=running the start-up health test");

    uv_run(&loop, UV_RUN_DEFAULT);
    status = 0;
out:
    if (sampler_ready) {
        sampler_stop(smp);
        sampler_destroy(smp);
    }
    server_cleanup(&srv);
    uv_walk(&loop, close_any_cb, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    if (ringbuf) {
        sodium_memzero(ringbuf, o.ring_size);
        sodium_free(ringbuf);
    }
    free(smp);
    if (status == 0)
        log_info("stopped");
    return status;
}

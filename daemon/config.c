/* config.c - see config.h. Compiled into each daemon executable (not
 * daemon_core) because --fault exists only in the fault-injection build. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "calcache.h"
#include "conditioner.h"
#include "conffile.h"
#include "credit.h"
#include "osdep.h"
#include "pbd.h"

void config_usage(FILE *f)
{
    fprintf(f,
"usage: preemptd [options]\n"
"Harvests entropy from scheduler preemption boundaries and serves it on a\n"
"Unix socket. Stays in the foreground; logs to stderr. Every long option\n"
"is also a key of the configuration file (\"ring-size = 4096\"); the\n"
"command line overrides the file.\n"
"\n"
"      --config FILE       configuration file (default " CONFIG_DEFAULT_PATH "\n"
"                          if it exists)\n"
"      --no-config         read no configuration file\n"
"  -f, --foreground        accepted for compatibility (always foreground)\n"
"  -s, --socket PATH       socket path (default: $" PBD_SOCKET_ENV " or " PBD_DEFAULT_SOCKET ")\n"
"  -c, --cpu N             pin the sampler to CPU N (default: last usable CPU)\n"
"      --priority demand|idle|normal  the sampler's policy (default demand: idle\n"
"                          priority until something needs entropy, then normal\n"
"                          within --max-cpu; idle: Linux SCHED_IDLE, macOS QoS\n"
"                          background, always; normal: always)\n"
"      --max-cpu PERCENT   demand: CPU budget, %% of one CPU over 30 s, 0.1..100\n"
"                          (default %g)\n"
"      --ring-size BYTES   ring capacity, a power of two 256..16777216 (default 65536)\n"
"                          holding at least 4 conditioning blocks (1280 bytes at credit 1)\n"
"      --threshold TICKS   event threshold (default: calibrated,\n"
"                          max(2, 16 x median, 16 x counter step, 1 us))\n"
"      --credit H          credited min-entropy per folded byte, 0.1..8 (default %.1f,\n"
"                          or the credit file's)\n"
"      --credit-file PATH  credit written by `preemptctl calibrate`\n"
"                          (default " CREDIT_DEFAULT_PATH " if it exists)\n"
"      --state-dir DIR     keep the calibration cache here, if DIR exists\n"
"                          (default " CALCACHE_DEFAULT_DIR "; \"\": none)\n"
"      --alpha-log2 A      health-test false-positive rate 2^A, -60..-10 (default %.0f)\n"
"      --stall-ms MS       no event for this long is a health failure (default 5000)\n"
"      --max-clients N     connections served at once (default 1024; lowered to\n"
"                          fit the open-file limit)\n"
"      --max-queued BYTES  unread reply bytes per client before it is cut off (default 4194304)\n"
"      --max-memory BYTES  memory for all clients' buffers together, 1048576..17179869184\n"
"                          (default 67108864)\n"
"      --idle-ms MS        close clients silent this long (default 60000)\n"
"      --wait-ms MS        default wait for entropy (default 10000; clients may ask up to 120000)\n"
"      --reseed-s S        DRBG reseed interval (default 60)\n"
"      --drbg-os-mix request|events  fresh OS bytes into the DRBG key before\n"
"                          every drbg reply (default) or only on events\n"
"                          that may duplicate its state and at reseeds\n"
"      --user NAME         drop to this user after binding (when started as root)\n"
"      --group NAME        socket group (and the group to drop to)\n"
"      --mode OCTAL        socket mode, e.g. 660 or 0660 (default 0660)\n"
"      --allow-uid UID     serve only listed uids/gids, decimal (repeatable;\n"
"      --allow-gid GID       root always allowed; a gid matches primary and\n"
"                            supplementary groups)\n"
"      --raw-uid UID       restrict raw mode to listed uids (repeatable)\n"
"      --no-egd            do not accept EGD clients on the socket\n"
"      --feed-kernel       feed conditioned output to the kernel (Linux, RNDADDENTROPY)\n"
"      --feed-interval-ms MS  (default 60000)\n"
#ifdef PBD_FAULT_INJECTION
"      --fault stuck|periodic|periodic-after=N|toggle|sequence|rate=R\n"
"                          test build only: a fake counter (docs/reliability.md)\n"
#endif
"      --log-level LEVEL   error, warn, info or debug (default info)\n"
"  -h, --help              this text\n"
"  -V, --version           version and counter backend\n"
"\n"
"Exit status: 0 after a clean stop, 1 when start-up fails, 2 for a bad option.\n",
            CONFIG_DEFAULT_MAX_CPU, CONFIG_DEFAULT_CREDIT,
            CONFIG_DEFAULT_ALPHA_LOG2);
}

void config_defaults(struct config *c)
{
    memset(c, 0, sizeof(*c));
    struct server_config *s = &c->srv;
    s->socket_path = pbd_default_socket();
    s->activated_fd = -1;
    s->sock_mode = 0660;
    s->sock_gid = (gid_t)-1;
    s->max_clients = 1024;
    s->max_queued = 4u << 20;
    s->max_memory = CONFIG_DEFAULT_MAX_MEMORY;
    s->idle_ms = 60000;
    s->wait_ms = 10000;
    s->max_wait_ms = CONFIG_MAX_WAIT_MS;
    s->reseed_ms = 60000;
    s->os_mix = POOL_MIX_REQUEST;
    c->credit = CONFIG_DEFAULT_CREDIT;
    c->credit_default = CREDIT_DEFAULT_PATH;
    c->config_path = CONFIG_DEFAULT_PATH;
    s->egd = true;
    s->feed_interval_ms = 60000;
    c->smp.cpu = -1;
    c->smp.priority = OSDEP_PRIO_DEMAND; /* docs/benchmarks.md, "Host cost" */
    c->smp.max_cpu_pct = CONFIG_DEFAULT_MAX_CPU;
    c->state_dir = CALCACHE_DEFAULT_DIR;
    c->smp.alpha_log2 = CONFIG_DEFAULT_ALPHA_LOG2;
    c->smp.permanent_after = 3;
    c->ring_size = CONFIG_DEFAULT_RING;
    c->log_level = LOG_LVL_INFO;
}

static int say(char *msg, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes one line into msg; returns CONFIG_USAGE for `return say(...)`. */
static int say(char *msg, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (cap)
        vsnprintf(msg, cap, fmt, ap);
    va_end(ap);
    return CONFIG_USAGE;
}

/* Parses an unsigned number in [lo, hi] in base 10 or (for --mode) 8.
 * Digits only: no sign, no space, no 0x; "0660" in base 10 is 660, which
 * is why --mode must not share this with base 0. Returns 0 or
 * CONFIG_USAGE with msg set. */
static int num(const char *opt, const char *s, int base, unsigned long long lo,
               unsigned long long hi, unsigned long long *out, char *msg,
               size_t cap)
{
    char *end;
    errno = 0;
    unsigned long long v = s[0] >= '0' && s[0] <= '9' ? strtoull(s, &end, base)
                                                        : 0;
    if (s[0] < '0' || s[0] > '9' || errno || *end || v < lo || v > hi) {
        if (base == 8)
            return say(msg, cap, "--%s: expected an octal mode %llo..%llo, "
                       "got '%s'", opt, lo, hi, s);
        return say(msg, cap, "--%s: expected a decimal number in %llu..%llu, "
                   "got '%s'", opt, lo, hi, s);
    }
    *out = v;
    return 0;
}

/* A decimal number in [lo, hi]: strtod alone also takes hex floats,
 * "inf" and "nan". */
static int real(const char *opt, const char *s, double lo, double hi,
                double *out, char *msg, size_t cap)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || s[strspn(s, "0123456789.eE+-")] ||
        !(v >= lo && v <= hi))
        return say(msg, cap, "--%s: expected a number in %g..%g, got '%s'",
                   opt, lo, hi, s);
    *out = v;
    return 0;
}

enum {
    O_RING = 256, O_THRESHOLD, O_CREDIT, O_ALPHA, O_STALL, O_MAXCLIENTS,
    O_MAXQUEUED, O_MAXMEMORY, O_IDLE, O_WAIT, O_RESEED, O_USER, O_GROUP,
    O_MODE, O_ALLOW_UID, O_ALLOW_GID, O_RAW_UID, O_NO_EGD, O_FEED,
    O_FEED_INT, O_FAULT, O_LOGLEVEL, O_CREDIT_FILE, O_PRIORITY, O_CONFIG,
    O_NO_CONFIG, O_OS_MIX, O_MAX_CPU, O_STATE_DIR,
};

/* The one table: the command line's options, and (but for the four that
 * config_key() skips) the configuration file's keys. */
static const struct option longopts[] = {
    {"config", required_argument, 0, O_CONFIG},
    {"no-config", no_argument, 0, O_NO_CONFIG},
    {"foreground", no_argument, 0, 'f'},
    {"socket", required_argument, 0, 's'},
    {"cpu", required_argument, 0, 'c'},
    {"priority", required_argument, 0, O_PRIORITY},
    {"max-cpu", required_argument, 0, O_MAX_CPU},
    {"state-dir", required_argument, 0, O_STATE_DIR},
    {"ring-size", required_argument, 0, O_RING},
    {"threshold", required_argument, 0, O_THRESHOLD},
    {"credit", required_argument, 0, O_CREDIT},
    {"credit-file", required_argument, 0, O_CREDIT_FILE},
    {"alpha-log2", required_argument, 0, O_ALPHA},
    {"stall-ms", required_argument, 0, O_STALL},
    {"max-clients", required_argument, 0, O_MAXCLIENTS},
    {"max-queued", required_argument, 0, O_MAXQUEUED},
    {"max-memory", required_argument, 0, O_MAXMEMORY},
    {"idle-ms", required_argument, 0, O_IDLE},
    {"wait-ms", required_argument, 0, O_WAIT},
    {"reseed-s", required_argument, 0, O_RESEED},
    {"drbg-os-mix", required_argument, 0, O_OS_MIX},
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

/* Appends a decimal id to one of the access lists. */
static int add_id(int ch, const char *arg, struct server_config *s, char *msg,
                  size_t cap)
{
    unsigned *n = ch == O_ALLOW_UID   ? &s->n_allow_uid
                  : ch == O_ALLOW_GID ? &s->n_allow_gid
                                      : &s->n_raw_uid;
    const char *opt = ch == O_ALLOW_UID   ? "allow-uid"
                      : ch == O_ALLOW_GID ? "allow-gid"
                                          : "raw-uid";
    if (*n == SERVER_MAX_IDS)
        return say(msg, cap, "--%s: at most %d ids per list", opt,
                   SERVER_MAX_IDS);
    unsigned long long v = 0; /* set by num(); -O3 cannot see it */
    /* (uid_t)-1 means "no id" to the kernel: not a user anyone can be. */
    if (num(opt, arg, 10, 0, UINT_MAX - 1, &v, msg, cap) != 0)
        return CONFIG_USAGE;
    if (ch == O_ALLOW_UID)
        s->allow_uid[(*n)++] = (uid_t)v;
    else if (ch == O_ALLOW_GID)
        s->allow_gid[(*n)++] = (gid_t)v;
    else
        s->raw_uid[(*n)++] = (uid_t)v;
    return 0;
}

static int parse_fault(const char *arg, struct sampler_config *smp, char *msg,
                       size_t cap)
{
#ifdef PBD_FAULT_INJECTION
    if (sampler_fault_parse(arg, smp) != 0)
        return say(msg, cap, "--fault: stuck, periodic, periodic-after=N, "
                             "toggle, sequence or rate=R (1..1000000), "
                             "the middle three with an optional ,rate=R");
    return 0;
#else
    (void)arg;
    (void)smp;
    return say(msg, cap, "--fault exists only in test builds");
#endif
}

/* One option; returns 0, CONFIG_HELP, CONFIG_VERSION or CONFIG_USAGE. */
static int parse_one(struct config *c, int ch, const char *arg, char *msg,
                     size_t cap)
{
    struct server_config *s = &c->srv;
    unsigned long long v = 0;
    int rc = 0;
    switch (ch) {
    case 'f':
        return 0;
    case 's':
        /* An empty sun_path names an abstract socket on Linux: one with no
         * file mode, that any uid may connect to. */
        if (!*arg)
            return say(msg, cap, "--socket: the path must not be empty");
        s->socket_path = arg;
        return 0;
    case 'c':
        rc = num("cpu", arg, 10, 0, 4095, &v, msg, cap);
        c->smp.cpu = (int)v;
        break;
    case O_PRIORITY:
        if (strcmp(arg, "demand") == 0)
            c->smp.priority = OSDEP_PRIO_DEMAND;
        else if (strcmp(arg, "idle") == 0)
            c->smp.priority = OSDEP_PRIO_IDLE;
        else if (strcmp(arg, "normal") == 0)
            c->smp.priority = OSDEP_PRIO_NORMAL;
        else
            return say(msg, cap, "--priority: demand, idle or normal");
        return 0;
    case O_STATE_DIR:
        c->state_dir = arg;
        return 0;
    case O_MAX_CPU:
        return real("max-cpu", arg, 0.1, 100.0, &c->smp.max_cpu_pct, msg, cap);
    case O_RING:
        rc = num("ring-size", arg, 10, 256, 1u << 24, &v, msg, cap);
        if (rc == 0 && (v & (v - 1)))
            return say(msg, cap, "--ring-size: %llu is not a power of two", v);
        c->ring_size = (size_t)v;
        break;
    case O_THRESHOLD:
        rc = num("threshold", arg, 10, 1, UINT64_MAX / 2, &v, msg, cap);
        c->smp.threshold = v;
        break;
    case O_CREDIT:
        rc = real("credit", arg, 0.1, 8.0, &c->credit, msg, cap);
        c->credit_given = true;
        break;
    case O_CREDIT_FILE:
        c->credit_file = arg;
        break;
    case O_ALPHA:
        rc = real("alpha-log2", arg, -60, -10, &c->smp.alpha_log2, msg, cap);
        break;
    case O_STALL:
        rc = num("stall-ms", arg, 10, 100, 3600000, &v, msg, cap);
        c->smp.stall_ms = (unsigned)v;
        break;
    case O_MAXCLIENTS:
        rc = num("max-clients", arg, 10, 1, 65536, &v, msg, cap);
        s->max_clients = (unsigned)v;
        break;
    case O_MAXQUEUED:
        rc = num("max-queued", arg, 10, 65536, 1u << 30, &v, msg, cap);
        s->max_queued = (size_t)v;
        c->queued_given = true;
        break;
    case O_MAXMEMORY:
        rc = num("max-memory", arg, 10, 1u << 20,
                 SIZE_MAX < (16ull << 30) ? SIZE_MAX : 16ull << 30, &v, msg,
                 cap);
        s->max_memory = (size_t)v;
        break;
    case O_IDLE:
        rc = num("idle-ms", arg, 10, 100, 86400000, &v, msg, cap);
        s->idle_ms = (unsigned)v;
        break;
    case O_WAIT:
        rc = num("wait-ms", arg, 10, 1, CONFIG_MAX_WAIT_MS, &v, msg, cap);
        s->wait_ms = (unsigned)v;
        break;
    case O_RESEED:
        rc = num("reseed-s", arg, 10, 1, 86400, &v, msg, cap);
        s->reseed_ms = (unsigned)v * 1000u;
        break;
    case O_OS_MIX:
        if (strcmp(arg, "request") == 0)
            s->os_mix = POOL_MIX_REQUEST;
        else if (strcmp(arg, "events") == 0)
            s->os_mix = POOL_MIX_EVENTS;
        else
            return say(msg, cap, "--drbg-os-mix: request or events");
        return 0;
    case O_USER:
        c->user = arg;
        return 0;
    case O_GROUP:
        c->group = arg;
        return 0;
    case O_MODE:
        rc = num("mode", arg, 8, 0, 0777, &v, msg, cap);
        s->sock_mode = (unsigned)v;
        break;
    case O_ALLOW_UID:
    case O_ALLOW_GID:
    case O_RAW_UID:
        return add_id(ch, arg, s, msg, cap);
    case O_NO_EGD:
        s->egd = false;
        return 0;
    case O_FEED:
        s->feed_kernel = true;
        return 0;
    case O_FEED_INT:
        rc = num("feed-interval-ms", arg, 10, 100, 86400000, &v, msg, cap);
        s->feed_interval_ms = (unsigned)v;
        break;
    case O_FAULT:
        return parse_fault(arg, &c->smp, msg, cap);
    case O_LOGLEVEL:
        rc = log_level_parse(arg);
        if (rc < 0)
            return say(msg, cap, "--log-level: error, warn, info or debug");
        c->log_level = (enum log_level)rc;
        return 0;
    case O_CONFIG:
    case O_NO_CONFIG: /* config_parse's first pass took them */
        return 0;
    case 'h':
        return CONFIG_HELP;
    case 'V':
        return CONFIG_VERSION;
    default: /* getopt has printed what it did not like */
        return say(msg, cap, "try preemptd --help");
    }
    return rc;
}

/* Resets getopt so a pass starts from argv[1]. */
static void getopt_reset(void)
{
#ifdef __GLIBC__
    optind = 0;
#else
    optreset = 1;
    optind = 1;
#endif
}

/* Keeps a string from the configuration file past the parse. */
static const char *keep(struct config *c, const char *v)
{
    size_t n = strlen(v) + 1;
    if (n > sizeof(c->store) - c->store_used)
        return NULL;
    char *p = memcpy(c->store + c->store_used, v, n);
    c->store_used += n;
    return p;
}

/* One "key = value" of the configuration file: the key is a long option
 * of the table; a flag takes yes or no. */
static int config_key(void *arg, int lineno, const char *key, const char *val,
                      char *err, size_t errcap)
{
    struct config *c = arg;
    const struct option *o = longopts;
    (void)lineno;
    while (o->name && strcmp(o->name, key) != 0)
        o++;
    if (!o->name || o->val == O_CONFIG || o->val == O_NO_CONFIG ||
        o->val == 'h' || o->val == 'V') {
        snprintf(err, errcap, "unknown key '%.64s' (the keys are preemptd's "
                 "long options, see preemptd.conf(5))", key);
        return -1;
    }
    if (val == NULL) {
        snprintf(err, errcap, "%s: the value is too long", key);
        return -1;
    }
    if (o->has_arg == no_argument) {
        if (strcmp(val, "no") == 0)
            return 0;
        if (strcmp(val, "yes") != 0) {
            snprintf(err, errcap, "%s: yes or no, not '%.64s'", key, val);
            return -1;
        }
        val = NULL;
    } else if (o->val == 's' || o->val == O_USER || o->val == O_GROUP ||
               o->val == O_CREDIT_FILE || o->val == O_STATE_DIR) {
        /* parse_one keeps these strings, not a copy: val is libinih's
         * line buffer, gone after the parse */
        if ((val = keep(c, val)) == NULL) {
            snprintf(err, errcap, "more than %u bytes of names and paths",
                     CONFIG_STORE);
            return -1;
        }
    }
    return parse_one(c, o->val, val, err, errcap) == 0 ? 0 : -1;
}

/* The first pass: --config, --no-config, --help and --version only; the
 * second reports whatever else is wrong. Returns 0, CONFIG_HELP or
 * CONFIG_VERSION; *path is the file to read (NULL for none), *given
 * whether it was named. */
static int find_config(struct config *c, int argc, char **argv,
                       const char **path, bool *given)
{
    int ch, saved = opterr;
    *path = c->config_path;
    *given = false;
    getopt_reset();
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "fs:c:hV", longopts, NULL)) != -1) {
        if (ch == 'h' || ch == 'V') {
            opterr = saved;
            return ch == 'h' ? CONFIG_HELP : CONFIG_VERSION;
        }
        if (ch == O_CONFIG || ch == O_NO_CONFIG) {
            *path = ch == O_CONFIG ? optarg : NULL;
            *given = true;
        }
    }
    opterr = saved;
    return 0;
}

/* A list option given on the command line replaces the file's list. */
static void replace_list(struct config *c, int ch, unsigned *seen)
{
    unsigned bit = ch == O_ALLOW_UID ? 1u : ch == O_ALLOW_GID ? 2u
                   : ch == O_RAW_UID ? 4u : 0u;
    if (bit == 0 || (*seen & bit))
        return;
    *seen |= bit;
    if (ch == O_ALLOW_UID)
        c->srv.n_allow_uid = 0;
    else if (ch == O_ALLOW_GID)
        c->srv.n_allow_gid = 0;
    else
        c->srv.n_raw_uid = 0;
}

int config_parse(struct config *c, int argc, char **argv, char *msg,
                 size_t cap)
{
    const char *path;
    bool given;
    int rc = find_config(c, argc, argv, &path, &given);
    if (rc != 0)
        return rc;
    if (path != NULL) {
        if (!*path)
            return say(msg, cap, "--config: the path must not be empty "
                       "(--no-config reads none)");
        char err[400];
        rc = conffile_read(path, config_key, c, err, sizeof(err));
        if (rc != 0 && !(rc == -ENOENT && !given))
            return say(msg, cap, "%s", err);
        c->config_used = rc == 0 ? path : NULL;
    }
    /* Where a credit given comes from, for the log and stats: the file's
     * "credit =" unless the command line gives one too. */
    bool credit_in_file = c->credit_given;
    c->credit_given = false;
    getopt_reset();
    int ch;
    unsigned lists = 0;
    while ((ch = getopt_long(argc, argv, "fs:c:hV", longopts, NULL)) != -1) {
        replace_list(c, ch, &lists);
        rc = parse_one(c, ch, optarg, msg, cap);
        if (rc != 0)
            return rc;
    }
    if (optind < argc)
        return say(msg, cap, "unexpected argument '%s'", argv[optind]);
    /* A small --max-memory alone brings the default per-client cap down
     * with it; both given and at odds is config_check's to refuse. */
    if (!c->queued_given && c->srv.max_queued > c->srv.max_memory)
        c->srv.max_queued = c->srv.max_memory;
    /* The credit is final only now: the check below must see it. */
    char given_by[sizeof(c->credit_source)] = "--credit";
    if (!c->credit_given && credit_in_file)
        snprintf(given_by, sizeof(given_by), "configuration file %s",
                 c->config_used);
    c->credit_given = c->credit_given || credit_in_file;
    if (credit_resolve(c->credit_given ? given_by : NULL, c->credit_file,
                       c->credit_default, &c->credit, c->credit_source,
                       sizeof(c->credit_source)) != 0)
        return say(msg, cap, "%s", c->credit_source);
    c->srv.h_bits = c->smp.h_bits = c->credit;
    c->srv.credit_source = c->credit_source;
    return config_check(c, msg, cap) == 0 ? CONFIG_OK : CONFIG_USAGE;
}

int config_check(const struct config *c, char *msg, size_t cap)
{
    const struct server_config *s = &c->srv;
    size_t block = cond_input_bytes(c->credit);
    if (block == 0 || block > c->ring_size / CONFIG_RING_MIN_BLOCKS) {
        size_t need = 256;
        while (block && need / CONFIG_RING_MIN_BLOCKS < block && need < (1u << 24))
            need *= 2;
        say(msg, cap, "--ring-size %zu is too small for --credit %g (from "
            "%s): a conditioning block takes %zu raw bytes and the ring must "
            "hold %u of them; use --ring-size %zu or more, or a higher "
            "--credit", c->ring_size, c->credit, c->credit_source[0] ?
            c->credit_source : "the default", block, CONFIG_RING_MIN_BLOCKS,
            need);
        return -1;
    }
    if (s->wait_ms > s->max_wait_ms) {
        say(msg, cap, "--wait-ms %u is longer than the longest wait, %u ms",
            s->wait_ms, s->max_wait_ms);
        return -1;
    }
    if (s->max_queued > s->max_memory) {
        say(msg, cap, "--max-queued %zu is more than --max-memory %zu: one "
            "client may not hold more than all clients together; lower "
            "--max-queued or raise --max-memory", s->max_queued,
            s->max_memory);
        return -1;
    }
    return 0;
}

unsigned config_fit_clients(unsigned max_clients, uint64_t nofile)
{
    if (nofile <= CONFIG_NOFILE_OWN)
        return 0;
    uint64_t left = nofile - CONFIG_NOFILE_OWN;
    uint64_t refuse = left / 4 < CONFIG_NOFILE_REFUSE ? left / 4
                                                       : CONFIG_NOFILE_REFUSE;
    left -= refuse;
    return left < max_clients ? (unsigned)left : max_clients;
}

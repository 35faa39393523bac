/* server.c - libuv listener and connections; see server.h. */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#ifndef SOCK_CLOEXEC
/* macOS has no SOCK_CLOEXEC; the one socket() that uses it (claim_path's
 * probe) is closed before that function returns, and we never exec. */
#define SOCK_CLOEXEC 0
#endif

#include "counter.h"
#include "egd.h"
#include "health.h"
#include "log.h"
#include "osdep.h"
#include "pbd.h"
#include "proto.h"
#include "textcmd.h"

#define TICK_MS 200u
#define IN_CAP 320u /* a text line (256 + CRLF) or an EGD write (259) */

enum dialect { D_UNKNOWN, D_BINARY, D_TEXT, D_EGD };

/* A request that could not be met from stock and waits for the sampler. */
struct pending {
    uint8_t mode;
    enum dialect how;   /* reply format */
    uint8_t egd_cmd;
    uint32_t need, got;
    uint8_t *out;       /* need bytes, wiped before free */
    uint64_t deadline_ms;
};

struct conn {
    uv_pipe_t pipe; /* first: the handle's address is the conn's */
    struct server *srv;
    struct conn *prev, *next;
    struct conn *wprev, *wnext;
    bool waiting;
    bool busy;         /* a request is pending */
    bool closing;
    bool reading;
    bool close_after_write;
    bool denied;
    bool processing;   /* conn_process is on the stack for this conn */
    enum dialect dialect;
    uint8_t in[IN_CAP];
    size_t inlen;
    size_t queued;     /* bytes handed to uv_write, not yet written */
    uint64_t last_active_ms;
    uid_t uid;
    gid_t gid;
    pid_t pid;
    struct pending p;
};

/* One reply buffer; the data follows the struct. */
struct wreq {
    uv_write_t req;
    size_t len;
    size_t early;      /* bytes uv_try_write sent before uv_write */
    bool secret;
    uint8_t data[];
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void conn_process(struct conn *c);
static void conn_close(struct conn *c);
static void serve_waiters(struct server *srv);

/* ---- output ------------------------------------------------------------ */

static struct wreq *wreq_new(size_t len, bool secret)
{
    if (len > SIZE_MAX - sizeof(struct wreq))
        return NULL;
    struct wreq *w = malloc(sizeof(*w) + len);
    if (!w)
        return NULL;
    w->len = len;
    w->early = 0;
    w->secret = secret;
    return w;
}

static void wreq_free(struct wreq *w)
{
    if (w->secret)
        sodium_memzero(w->data, w->len);
    free(w);
}

static void write_cb(uv_write_t *req, int status)
{
    struct wreq *w = (struct wreq *)req;
    struct conn *c = req->data;
    c->queued -= w->len - w->early;
    wreq_free(w);
    if (status < 0 && status != UV_ECANCELED) {
        log_debug("client write failed: %s", uv_strerror(status));
        conn_close(c);
        return;
    }
    c->last_active_ms = now_ms();
    if (c->closing)
        return;
    if (c->close_after_write && c->queued == 0) {
        conn_close(c);
        return;
    }
    conn_process(c);
}

/* Queues w on c; takes ownership of w. */
static void conn_send(struct conn *c, struct wreq *w)
{
    if (c->closing) {
        wreq_free(w);
        return;
    }
    uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)w->len);
    /* Most replies fit the socket buffer: writing now skips uv_write's
     * deferred callback and its epoll_ctl, a syscall per request. */
    int n = c->queued == 0 ? uv_try_write((uv_stream_t *)&c->pipe, &b, 1)
                           : UV_EAGAIN;
    if (n == (int)w->len) {
        c->last_active_ms = now_ms();
        wreq_free(w);
        return;
    }
    if (n > 0) {
        w->early = (size_t)n;
        b = uv_buf_init((char *)w->data + n, (unsigned)(w->len - w->early));
    }
    w->req.data = c;
    c->queued += w->len - w->early;
    int rc = uv_write(&w->req, (uv_stream_t *)&c->pipe, &b, 1, write_cb);
    if (rc < 0) {
        c->queued -= w->len - w->early;
        wreq_free(w);
        conn_close(c);
    }
}

/* Sends a reply frame, or in text mode a line, for a non-secret payload. */
static void send_frame(struct conn *c, uint8_t type, const void *payload,
                       size_t len)
{
    struct wreq *w = wreq_new(PROTO_HDR_LEN + len, false);
    if (!w) {
        conn_close(c);
        return;
    }
    proto_encode_hdr(w->data, type, (uint32_t)len);
    if (len)
        memcpy(w->data + PROTO_HDR_LEN, payload, len);
    conn_send(c, w);
}

static void send_text(struct conn *c, const char *s)
{
    size_t len = strlen(s);
    struct wreq *w = wreq_new(len, false);
    if (!w) {
        conn_close(c);
        return;
    }
    memcpy(w->data, s, len);
    conn_send(c, w);
}

/* Reports err to the client in its dialect. fatal: close after it is sent. */
static void send_error(struct conn *c, int err, bool fatal)
{
    struct server *srv = c->srv;
    srv->errors++;
    const char *msg = pbd_strerror(err);
    if (c->dialect == D_BINARY || c->dialect == D_UNKNOWN) {
        uint8_t buf[4 + 128];
        size_t n = strlen(msg);
        if (n > 128)
            n = 128;
        proto_put_u32(buf, (uint32_t)-err);
        memcpy(buf + 4, msg, n);
        send_frame(c, PROTO_T_ERROR, buf, 4 + n);
    } else if (c->dialect == D_TEXT) {
        char line[160];
        snprintf(line, sizeof(line), "error: %s\n", msg);
        send_text(c, line);
    } else if (c->dialect == D_EGD && c->p.egd_cmd == EGD_READ_NB) {
        uint8_t zero = 0; /* "no bytes" is EGD's only way to say no */
        struct wreq *w = wreq_new(1, false);
        if (w) {
            memcpy(w->data, &zero, 1);
            conn_send(c, w);
        }
    } else {
        fatal = true; /* EGD has no error reply: hang up */
    }
    if (fatal) {
        c->close_after_write = true;
        if (c->queued == 0)
            conn_close(c);
    }
}

/*
 * Sends the reply to a read of n bytes in c's dialect. The bytes come from
 * src (a waiter's filled buffer) or, when src is NULL, from the pool straight
 * into the reply buffer: no bounce buffer to copy and wipe. A text reply is
 * hex, made from a scratch area at the end of the same buffer, which is
 * wiped before sending.
 */
static void send_read_reply(struct conn *c, uint8_t mode, const uint8_t *src,
                            size_t n, enum dialect how, uint8_t egd_cmd)
{
    struct pool *pool = &c->srv->pool;
    size_t pre = how == D_BINARY                          ? PROTO_HDR_LEN
                 : how == D_EGD && egd_cmd == EGD_READ_NB ? 1
                                                          : 0;
    size_t size = how == D_TEXT ? 3 * n + 2 : pre + n;
    struct wreq *w = wreq_new(size, true);
    if (!w) {
        send_error(c, PBD_ENOMEM, false);
        return;
    }
    uint8_t *bytes = how == D_TEXT ? w->data + 2 * n + 2 : w->data + pre;
    int rc = 0;
    if (src) {
        memcpy(bytes, src, n);
    } else if (mode == PBD_MODE_DRBG) {
        rc = pool_drbg(pool, bytes, n);
    } else {
        pool_take(pool, mode, bytes, n); /* the caller checked the stock */
        sampler_kick(c->srv->sampler);
    }
    if (rc != 0) {
        wreq_free(w);
        send_error(c, rc, false);
        return;
    }
    if (how == D_TEXT) {
        sodium_bin2hex((char *)w->data, 2 * n + 1, bytes, n);
        w->data[2 * n] = '\n';
        sodium_memzero(bytes, n);
        w->len = 2 * n + 1; /* before conn_send, which counts it as queued */
    } else if (how == D_BINARY) {
        proto_encode_hdr(w->data, PROTO_T_READ | PROTO_T_REPLY, (uint32_t)n);
    } else if (pre) {
        w->data[0] = (uint8_t)n;
    }
    conn_send(c, w);
}

/* ---- health and stats -------------------------------------------------- */

static int health_summary(struct server *srv, char *msg, size_t cap)
{
    struct sampler_stats *st = &srv->sampler->st;
    int hs = atomic_load(&st->health_state);
    int last = atomic_load(&st->last_failure);
    int64_t when = atomic_load(&st->last_failure_time);
    char ts[40] = "never";
    if (when) {
        struct tm tm;
        time_t t = (time_t)when;
        strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
    }
    const char *ev = health_event_name((enum health_event)last);
    switch (hs) {
    case HEALTH_PERMANENT:
        snprintf(msg, cap,
                 "failed: permanent: %s test failed at %s and start-up "
                 "re-tests kept failing; raw and conditioned output "
                 "withheld; restart preemptd after checking the source",
                 ev, ts);
        return PBD_HEALTH_FAILED;
    case HEALTH_RETEST:
        snprintf(msg, cap,
                 "failed: %s test failed at %s; re-running the start-up "
                 "test (%u/%u samples); raw and conditioned output withheld",
                 ev, ts, atomic_load(&st->startup_seen),
                 HEALTH_STARTUP_SAMPLES);
        return PBD_HEALTH_FAILED;
    case HEALTH_STARTUP:
        snprintf(msg, cap,
                 "degraded: start-up health test running (%u/%u samples); "
                 "reads wait",
                 atomic_load(&st->startup_seen), HEALTH_STARTUP_SAMPLES);
        return PBD_HEALTH_DEGRADED;
    default:
        break;
    }
    int32_t mcv = atomic_load(&st->mcv_millibits);
    if (mcv >= 0 && mcv < (int32_t)(srv->cfg.h_bits * 1000)) {
        snprintf(msg, cap,
                 "degraded: online MCV estimate %.3f bits/byte is below the "
                 "credited %.3f",
                 mcv / 1000.0, srv->cfg.h_bits);
        return PBD_HEALTH_DEGRADED;
    }
    if (srv->off_cpu) {
        snprintf(msg, cap,
                 "degraded: sampler is running off CPU %d (CPU offline, or "
                 "its affinity was changed)",
                 srv->sampler->cpu);
        return PBD_HEALTH_DEGRADED;
    }
    if (srv->sampler->cpu < 0 ||
        strncmp(srv->sampler->pin_note, "not", 3) == 0) {
        snprintf(msg, cap, "degraded: sampler %s", srv->sampler->pin_note);
        return PBD_HEALTH_DEGRADED;
    }
    snprintf(msg, cap, "ok: source healthy; %s%s", srv->sampler->pin_note,
             pool_seeded(&srv->pool) ? "" : "; drbg not yet seeded");
    return PBD_HEALTH_OK;
}

size_t server_stats_json(struct server *srv, char *buf, size_t cap)
{
    struct sampler *s = srv->sampler;
    struct sampler_stats *st = &s->st;
    struct pool *p = &srv->pool;
    char hmsg[256];
    int hstate = health_summary(srv, hmsg, sizeof(hmsg));
    static const char *const hnames[] = {"ok", "degraded", "failed"};
    int64_t when = atomic_load(&st->last_failure_time);
    int32_t mcv = atomic_load(&st->mcv_millibits);
    char jumps[SAMPLER_JUMP_BUCKETS * 22];
    size_t jl = 0;
    for (unsigned i = 0; i < SAMPLER_JUMP_BUCKETS && jl < sizeof(jumps); i++)
        jl += (size_t)snprintf(jumps + jl, sizeof(jumps) - jl, "%s%" PRIu64,
                               i ? "," : "", atomic_load(&st->jumps[i]));
    /* Escaping: every string here is ours and has no quotes or controls. */
    int n = snprintf(
        buf, cap,
        "{\"version\":\"%s\",\"uptime_s\":%.1f,"
        "\"counter\":{\"name\":\"%s\",\"hz\":%" PRIu64
        ",\"median_delta\":%" PRIu64 ",\"step\":%" PRIu64
        ",\"threshold_ticks\":%" PRIu64
        ",\"cpu\":%d,\"pinning\":\"%s\"},"
        "\"sampler\":{\"loops\":%" PRIu64 ",\"events\":%" PRIu64
        ",\"event_rate\":%.1f,\"pushed\":%" PRIu64 ",\"discarded\":%" PRIu64
        ",\"gaps\":%" PRIu64 ",\"backwards\":%" PRIu64
        ",\"migrations\":%" PRIu64 ",\"sleeps\":%" PRIu64
        ",\"sleeping\":%s,\"jump_log2_hist\":[%s]},"
        "\"ring\":{\"bytes\":%zu,\"capacity\":%zu,\"low\":%zu,\"high\":%zu},"
        "\"entropy\":{\"credited_bits_per_byte\":%.3f,"
        "\"mcv_estimate_bits_per_byte\":%s%.3f,\"mcv_window\":%u,"
        "\"raw_bytes_per_block\":%zu,\"conditioned_stock\":%zu},"
        "\"health\":{\"state\":\"%s\",\"source\":\"%s\",\"message\":\"%s\","
        "\"rct_cutoff\":%u,\"apt_cutoff\":%u,\"apt_window\":%u,"
        "\"rct_failures\":%" PRIu64 ",\"apt_failures\":%" PRIu64
        ",\"stall_failures\":%" PRIu64 ",\"startup_passes\":%" PRIu64
        ",\"last_failure\":\"%s\",\"last_failure_time\":%" PRId64
        ",\"flushed_bytes\":%" PRIu64 "},"
        "\"drbg\":{\"seeded\":%s,\"reseeds\":%" PRIu64
        ",\"bytes_since_reseed\":%" PRIu64 "},"
        "\"served\":{\"conditioned\":%" PRIu64 ",\"raw\":%" PRIu64
        ",\"drbg\":%" PRIu64 ",\"blocks\":%" PRIu64 "},"
        "\"clients\":{\"connected\":%u,\"waiting\":%u,\"accepted\":%" PRIu64
        ",\"refused\":%" PRIu64 ",\"cut_off\":%" PRIu64 "},"
        "\"requests\":%" PRIu64 ",\"errors\":%" PRIu64
        ",\"timeouts\":%" PRIu64 ",\"kernel_fed_bytes\":%" PRIu64 "}",
        PBD_VERSION_STRING, (now_ms() - srv->start_ms) / 1000.0, COUNTER_NAME,
        s->freq, s->median_delta, s->step, s->threshold, s->cpu, s->pin_note,
        atomic_load(&st->loops), atomic_load(&st->events), srv->event_rate,
        atomic_load(&st->pushed), atomic_load(&st->discarded),
        atomic_load(&st->gaps), atomic_load(&st->backwards),
        atomic_load(&st->migrations), atomic_load(&st->sleeps),
        atomic_load(&st->sleeping) ? "true" : "false", jumps,
        ring_level(p->ring), p->ring->cap, p->ring->low, p->ring->high,
        srv->cfg.h_bits, mcv < 0 ? "-" : "", mcv < 0 ? 1.0 : mcv / 1000.0,
        HEALTH_MCV_WINDOW, p->block_in,
        pool_stock(p, PBD_MODE_CONDITIONED), hnames[hstate],
        health_state_name((enum health_state)atomic_load(&st->health_state)),
        hmsg, s->health.rct_cutoff, s->health.apt_cutoff, HEALTH_APT_WINDOW,
        atomic_load(&st->rct_failures), atomic_load(&st->apt_failures),
        atomic_load(&st->stall_failures), atomic_load(&st->passes),
        when ? health_event_name((enum health_event)atomic_load(&st->last_failure))
             : "none",
        when, p->flushed, pool_seeded(p) ? "true" : "false",
        p->sec->drbg.reseeds, p->sec->drbg.bytes_since_reseed,
        p->served[PBD_MODE_CONDITIONED], p->served[PBD_MODE_RAW],
        p->served[PBD_MODE_DRBG], p->blocks, srv->nconns,
        srv->nwaiting, srv->accepted, srv->refused, srv->cut_off, srv->requests,
        srv->errors, srv->timeouts, srv->kernel_fed_bytes);
    return n < 0 ? cap : (size_t)n;
}

/* ---- serving reads ----------------------------------------------------- */

static bool uid_listed(const uid_t *l, unsigned n, uid_t u)
{
    for (unsigned i = 0; i < n; i++)
        if (l[i] == u)
            return true;
    return false;
}

static bool raw_allowed(const struct conn *c)
{
    const struct server_config *cfg = &c->srv->cfg;
    return cfg->n_raw_uid == 0 || c->uid == 0 || c->uid == geteuid() ||
           uid_listed(cfg->raw_uid, cfg->n_raw_uid, c->uid);
}

static int gate(struct server *srv)
{
    struct sampler_stats *st = &srv->sampler->st;
    return pool_gate(&srv->pool, atomic_load(&st->health_state),
                     atomic_load(&st->fail_epoch));
}

static void finish_pending(struct conn *c)
{
    if (c->p.out) {
        sodium_memzero(c->p.out, c->p.need);
        free(c->p.out);
    }
    memset(&c->p, 0, sizeof(c->p));
    c->busy = false;
}

static void waiter_remove(struct conn *c)
{
    struct server *srv = c->srv;
    if (!c->waiting)
        return;
    if (c->wprev)
        c->wprev->wnext = c->wnext;
    else
        srv->wait_head = c->wnext;
    if (c->wnext)
        c->wnext->wprev = c->wprev;
    else
        srv->wait_tail = c->wprev;
    c->wprev = c->wnext = NULL;
    c->waiting = false;
    srv->nwaiting--;
}

static void waiter_add(struct conn *c)
{
    struct server *srv = c->srv;
    c->wnext = NULL;
    c->wprev = srv->wait_tail;
    if (srv->wait_tail)
        srv->wait_tail->wnext = c;
    else
        srv->wait_head = c;
    srv->wait_tail = c;
    c->waiting = true;
    srv->nwaiting++;
}

static void pending_done(struct conn *c, int err)
{
    waiter_remove(c);
    if (err)
        send_error(c, err, false);
    else
        send_read_reply(c, c->p.mode, c->p.out, c->p.need, c->p.how,
                        c->p.egd_cmd);
    finish_pending(c);
    if (!c->closing)
        conn_process(c);
}

/* Starts a read of n bytes. May answer at once or leave c busy waiting. */
static void start_read(struct conn *c, uint8_t mode, uint32_t n,
                       bool nowait, uint32_t wait_ms, enum dialect how,
                       uint8_t egd_cmd)
{
    struct server *srv = c->srv;
    if (mode == PBD_MODE_RAW && !raw_allowed(c)) {
        send_error(c, PBD_EPERM, false);
        return;
    }
    c->p.mode = mode;
    c->p.how = how;
    c->p.egd_cmd = egd_cmd;
    c->p.need = n;
    c->p.got = 0;
    if (mode == PBD_MODE_DRBG) {
        pool_maintain(&srv->pool, now_ms(), gate(srv) == 0);
        if (pool_seeded(&srv->pool)) {
            send_read_reply(c, mode, NULL, n, how, egd_cmd);
            return;
        }
        if (nowait) {
            send_error(c, PBD_ENOTSEEDED, false);
            return;
        }
    } else {
        int g = gate(srv);
        if (g == PBD_EHEALTH || (g == PBD_EAGAIN && nowait)) {
            send_error(c, g, false);
            return;
        }
        /* Served at once only when nobody waits ahead: no overtaking. */
        if (g == 0 && !srv->wait_head && pool_stock(&srv->pool, mode) >= n) {
            send_read_reply(c, mode, NULL, n, how, egd_cmd);
            return;
        }
        if (nowait) {
            send_error(c, PBD_EAGAIN, false);
            return;
        }
    }
    c->p.out = malloc(n);
    if (!c->p.out) {
        send_error(c, PBD_ENOMEM, false);
        return;
    }
    if (wait_ms == 0)
        wait_ms = srv->cfg.wait_ms;
    if (wait_ms > srv->cfg.max_wait_ms)
        wait_ms = srv->cfg.max_wait_ms;
    c->p.deadline_ms = now_ms() + wait_ms;
    c->busy = true;
    waiter_add(c);
    serve_waiters(srv);
}

/* Seeds or reseeds the DRBG when due (before anyone is served, so the seed
 * comes first), then serves waiting reads round-robin: each waiter in turn
 * gets one block (32 bytes) per pass, so a large request cannot starve
 * small ones queued behind it. */
static void serve_waiters(struct server *srv)
{
    int g = gate(srv);
    pool_maintain(&srv->pool, now_ms(), g == 0);
    if (!srv->wait_head)
        return;
    bool progress = true;
    while (progress && srv->wait_head) {
        progress = false;
        for (struct conn *c = srv->wait_head, *nx; c; c = nx) {
            nx = c->wnext;
            struct pending *p = &c->p;
            if (p->mode == PBD_MODE_DRBG) {
                if (pool_seeded(&srv->pool)) {
                    if (pool_drbg(&srv->pool, p->out, p->need) == 0)
                        p->got = p->need;
                    pending_done(c, 0);
                    progress = true;
                }
                continue;
            }
            if (g == PBD_EHEALTH) {
                pending_done(c, PBD_EHEALTH);
                continue;
            }
            if (g != 0)
                continue;
            size_t want = p->need - p->got;
            if (want > COND_BLOCK_BYTES)
                want = COND_BLOCK_BYTES;
            size_t got = pool_take(&srv->pool, p->mode, p->out + p->got, want);
            if (got) {
                p->got += (uint32_t)got;
                progress = true;
                if (p->got == p->need) {
                    pending_done(c, 0);
                } else if (c->wnext) {
                    /* To the back of the queue: blocks often arrive one
                     * per wake-up, and the head must not take them all. */
                    waiter_remove(c);
                    waiter_add(c);
                }
            }
        }
    }
    sampler_kick(srv->sampler);
    /* Ask to be woken when one more block's worth has arrived. */
    if (srv->wait_head)
        sampler_want(srv->sampler, srv->pool.block_in);
}

static void expire_waiters(struct server *srv, uint64_t now)
{
    for (struct conn *c = srv->wait_head, *nx; c; c = nx) {
        nx = c->wnext;
        if (now >= c->p.deadline_ms) {
            srv->timeouts++;
            /* Bytes already gathered for it are wiped, never served. */
            pending_done(c, c->p.mode == PBD_MODE_DRBG ? PBD_ENOTSEEDED
                                                       : PBD_ETIMEDOUT);
        }
    }
}

/* ---- requests ---------------------------------------------------------- */

static void do_stats(struct conn *c, bool text)
{
    char buf[4096];
    size_t n = server_stats_json(c->srv, buf, sizeof(buf) - 1);
    if (n >= sizeof(buf) - 1)
        n = sizeof(buf) - 2;
    if (text) {
        buf[n] = '\n';
        buf[n + 1] = '\0';
        send_text(c, buf);
    } else {
        send_frame(c, PROTO_T_STATS | PROTO_T_REPLY, buf, n);
    }
}

static void do_health(struct conn *c, bool text)
{
    char msg[300];
    int st = health_summary(c->srv, msg, sizeof(msg) - 2); /* room for LF */
    if (text) {
        size_t n = strlen(msg);
        msg[n] = '\n';
        msg[n + 1] = '\0';
        send_text(c, msg);
    } else {
        uint8_t buf[301];
        size_t n = strlen(msg);
        buf[0] = (uint8_t)st;
        memcpy(buf + 1, msg, n);
        send_frame(c, PROTO_T_HEALTH | PROTO_T_REPLY, buf, n + 1);
    }
}

/* Handles one complete request at the front of c->in. Returns bytes
 * consumed, 0 when more input is needed, -1 after a fatal error. */
static long handle_binary(struct conn *c)
{
    struct proto_req req;
    long n = proto_parse_request(c->in, c->inlen, &req);
    if (n == 0)
        return 0;
    if (n < 0) {
        send_error(c, (int)n, true);
        return -1;
    }
    c->srv->requests++;
    switch (req.type) {
    case PROTO_T_READ:
        start_read(c, req.rd.mode, req.rd.len,
                   (req.rd.flags & PROTO_READ_NOWAIT) != 0, req.rd.wait_ms,
                   D_BINARY, 0);
        break;
    case PROTO_T_STATS:
        do_stats(c, false);
        break;
    case PROTO_T_HEALTH:
        do_health(c, false);
        break;
    case PROTO_T_VERSION: {
        char v[64];
        int len = snprintf(v, sizeof(v), "%cpreemptd %s", PROTO_VERSION,
                           PBD_VERSION_STRING);
        send_frame(c, PROTO_T_VERSION | PROTO_T_REPLY, v, (size_t)len);
        break;
    }
    }
    return n;
}

static long handle_text(struct conn *c)
{
    size_t linelen;
    long n = textcmd_find_line((const char *)c->in, c->inlen, &linelen);
    if (n == 0)
        return 0;
    if (n < 0) {
        c->srv->errors++;
        send_text(c, "error: line too long\n");
        c->close_after_write = true;
        return -1;
    }
    struct text_req req;
    const char *err;
    c->srv->requests++;
    if (textcmd_parse((const char *)c->in, linelen, &req, &err) != 0) {
        char line[128];
        snprintf(line, sizeof(line), "error: %s\n", err);
        c->srv->errors++;
        send_text(c, line);
        return n;
    }
    switch (req.cmd) {
    case TEXT_READ:
        start_read(c, req.mode, req.n, req.nowait, 0, D_TEXT, 0);
        break;
    case TEXT_STATS:
        do_stats(c, true);
        break;
    case TEXT_HEALTH:
        do_health(c, true);
        break;
    case TEXT_VERSION:
        send_text(c, "preemptd " PBD_VERSION_STRING " protocol 1\n");
        break;
    case TEXT_HELP:
        send_text(c, textcmd_help);
        break;
    case TEXT_QUIT:
        c->close_after_write = true;
        if (c->queued == 0)
            conn_close(c);
        return -1;
    }
    return n;
}

static long handle_egd(struct conn *c)
{
    struct egd_req req;
    long n = egd_parse(c->in, c->inlen, &req);
    if (n <= 0) {
        if (n < 0) {
            c->srv->errors++;
            conn_close(c); /* EGD has no error reply */
        }
        return n;
    }
    c->srv->requests++;
    c->p.egd_cmd = (uint8_t)req.cmd;
    switch (req.cmd) {
    case EGD_LEVEL: {
        size_t stock = pool_stock(&c->srv->pool, PBD_MODE_CONDITIONED);
        uint8_t b[4];
        proto_put_u32(b, gate(c->srv) == 0 ? (uint32_t)(stock * 8) : 0);
        struct wreq *w = wreq_new(4, false);
        if (w) {
            memcpy(w->data, b, 4);
            conn_send(c, w);
        }
        break;
    }
    case EGD_READ_NB: {
        /* Up to n bytes of what is in stock now; 0 bytes is a valid reply. */
        uint32_t k = req.n;
        size_t stock = gate(c->srv) == 0 && !c->srv->wait_head
                           ? pool_stock(&c->srv->pool, PBD_MODE_CONDITIONED)
                           : 0;
        if (k > stock)
            k = (uint32_t)stock;
        if (k == 0) {
            send_error(c, PBD_EAGAIN, false);
            break;
        }
        start_read(c, PBD_MODE_CONDITIONED, k, true, 0, D_EGD, EGD_READ_NB);
        break;
    }
    case EGD_READ:
        start_read(c, PBD_MODE_CONDITIONED, req.n, false, 0, D_EGD, EGD_READ);
        break;
    case EGD_WRITE:
        log_debug("EGD write of %u bytes ignored: preemptd takes no input",
                  req.n);
        break;
    case EGD_PID: {
        char pid[24];
        int len = snprintf(pid, sizeof(pid), "%ld", (long)getpid());
        struct wreq *w = wreq_new(1 + (size_t)len, false);
        if (w) {
            w->data[0] = (uint8_t)len;
            memcpy(w->data + 1, pid, (size_t)len);
            conn_send(c, w);
        }
        break;
    }
    }
    return n;
}

static void set_reading(struct conn *c, bool on);

/* Answers requests in order until one must wait, input runs out, or the
 * client has too much unread output queued. */
static void conn_process(struct conn *c)
{
    /* A request served at once from inside start_read (serve_waiters ->
     * pending_done) calls back here; the outer loop has not consumed that
     * request yet, so let it carry on instead of parsing it twice. */
    if (c->processing)
        return;
    c->processing = true;
    while (!c->closing && !c->busy && !c->close_after_write &&
           c->queued < c->srv->cfg.max_queued && c->inlen > 0) {
        if (c->dialect == D_UNKNOWN) {
            uint8_t b = c->in[0];
            if (b == PROTO_MAGIC)
                c->dialect = D_BINARY;
            else if ((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z'))
                c->dialect = D_TEXT;
            else if (b <= EGD_PID && c->srv->cfg.egd)
                c->dialect = D_EGD;
            else {
                send_error(c, PBD_EPROTO, true);
                break;
            }
        }
        if (c->denied) {
            send_error(c, PBD_EPERM, true);
            break;
        }
        long n = c->dialect == D_BINARY ? handle_binary(c)
                 : c->dialect == D_TEXT ? handle_text(c)
                                        : handle_egd(c);
        if (n <= 0)
            break;
        memmove(c->in, c->in + n, c->inlen - (size_t)n);
        c->inlen -= (size_t)n;
    }
    c->processing = false;
    /* A last reply written at once leaves no write_cb to hang up after it. */
    if (!c->closing && c->close_after_write && c->queued == 0) {
        conn_close(c);
        return;
    }
    set_reading(c, !c->closing && !c->busy && !c->close_after_write &&
                       c->queued < c->srv->cfg.max_queued &&
                       c->inlen < IN_CAP);
}

/* ---- connections ------------------------------------------------------- */

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct conn *c = (struct conn *)h;
    *buf = uv_buf_init((char *)c->in + c->inlen,
                       (unsigned)(IN_CAP - c->inlen));
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    struct conn *c = (struct conn *)s;
    if (n < 0) {
        if (n != UV_EOF)
            log_debug("client read: %s", uv_strerror((int)n));
        conn_close(c);
        return;
    }
    if (n == 0)
        return;
    c->inlen += (size_t)n;
    c->last_active_ms = now_ms();
    conn_process(c);
}

static void set_reading(struct conn *c, bool on)
{
    if (on == c->reading || c->closing)
        return;
    int rc = on ? uv_read_start((uv_stream_t *)&c->pipe, alloc_cb, read_cb)
                : uv_read_stop((uv_stream_t *)&c->pipe);
    if (rc == 0)
        c->reading = on;
}

static void conn_free_cb(uv_handle_t *h)
{
    struct conn *c = (struct conn *)h;
    sodium_memzero(c, sizeof(*c));
    free(c);
}

static void conn_close(struct conn *c)
{
    if (c->closing)
        return;
    struct server *srv = c->srv;
    c->closing = true;
    waiter_remove(c);
    finish_pending(c);
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->nconns--;
    uv_close((uv_handle_t *)&c->pipe, conn_free_cb);
}

static bool peer_allowed(const struct server_config *cfg, uid_t uid, gid_t gid)
{
    if (cfg->n_allow_uid == 0 && cfg->n_allow_gid == 0)
        return true;
    if (uid == 0 || uid == geteuid())
        return true;
    if (uid_listed(cfg->allow_uid, cfg->n_allow_uid, uid))
        return true;
    for (unsigned i = 0; i < cfg->n_allow_gid; i++)
        if (cfg->allow_gid[i] == gid)
            return true;
    return false;
}

static void refuse_cb(uv_handle_t *h)
{
    free(h);
}

static void connection_cb(uv_stream_t *l, int status)
{
    struct server *srv = l->data;
    if (status < 0) {
        /* libuv already closed the pending connection (EMFILE trick). */
        log_warnx("accept: %s", uv_strerror(status));
        return;
    }
    if (srv->nconns >= srv->cfg.max_clients || srv->stopping) {
        uv_pipe_t *tmp = malloc(sizeof(*tmp));
        if (!tmp || uv_pipe_init(srv->loop, tmp, 0) != 0) {
            free(tmp);
            return;
        }
        srv->refused++;
        if (uv_accept(l, (uv_stream_t *)tmp) == 0)
            log_debug("refusing client: %u connections open", srv->nconns);
        uv_close((uv_handle_t *)tmp, refuse_cb);
        return;
    }
    struct conn *c = calloc(1, sizeof(*c));
    if (!c)
        return;
    c->srv = srv;
    if (uv_pipe_init(srv->loop, &c->pipe, 0) != 0) {
        free(c);
        return;
    }
    if (uv_accept(l, (uv_stream_t *)&c->pipe) != 0) {
        uv_close((uv_handle_t *)&c->pipe, conn_free_cb);
        return;
    }
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->nconns++;
    srv->accepted++;
    c->last_active_ms = now_ms();
    uv_os_fd_t fd;
    c->uid = (uid_t)-1;
    c->gid = (gid_t)-1;
    c->pid = -1;
    if (uv_fileno((uv_handle_t *)&c->pipe, &fd) != 0 ||
        osdep_peer_cred(fd, &c->uid, &c->gid, &c->pid) != 0)
        log_warnx("cannot read peer credentials; treating peer as unknown");
    c->denied = !peer_allowed(&srv->cfg, c->uid, c->gid);
    if (c->denied)
        log_info("client uid %ld gid %ld not on the allow list",
                 (long)c->uid, (long)c->gid);
    set_reading(c, true);
}

/* ---- loop plumbing ----------------------------------------------------- */

void server_wake(void *arg)
{
    struct server *srv = arg;
    uv_async_send(&srv->wake);
}

static void check_ready(struct server *srv)
{
    if (srv->ready ||
        atomic_load(&srv->sampler->st.health_state) != HEALTH_OK)
        return;
    srv->ready = true;
    log_info("start-up health test passed; serving");
    osdep_notify("READY=1\nSTATUS=start-up health test passed; serving");
}

static void wake_cb(uv_async_t *a)
{
    struct server *srv = a->data;
    /* uv_async_send coalesces: look at the state, never count wake-ups. */
    check_ready(srv);
    serve_waiters(srv);
}

static void feed_kernel(struct server *srv, uint64_t now)
{
    if (!srv->cfg.feed_kernel ||
        now - srv->last_feed_ms < srv->cfg.feed_interval_ms)
        return;
    /* The time is stamped only when a block goes out: a due feed that finds
     * no stock retries next tick rather than a whole interval later. */
    if (gate(srv) != 0 || srv->wait_head ||
        pool_stock(&srv->pool, PBD_MODE_CONDITIONED) < COND_BLOCK_BYTES)
        return;
    srv->last_feed_ms = now;
    uint8_t block[COND_BLOCK_BYTES];
    pool_take(&srv->pool, PBD_MODE_CONDITIONED, block, sizeof(block));
    int rc = osdep_feed_kernel(block, sizeof(block), COND_BLOCK_BYTES * 8);
    sodium_memzero(block, sizeof(block));
    sampler_kick(srv->sampler);
    if (rc != 0) {
        log_err("kernel feed: RNDADDENTROPY: %s; feeding disabled%s",
                strerror(-rc),
                rc == -EPERM ? " (needs CAP_SYS_ADMIN)" : "");
        srv->cfg.feed_kernel = false;
        return;
    }
    srv->kernel_fed_bytes += sizeof(block);
}

static void tick_cb(uv_timer_t *t)
{
    struct server *srv = t->data;
    uint64_t now = now_ms();
    uint64_t ev = atomic_load(&srv->sampler->st.events);
    if (now - srv->rate_ms >= 1000) {
        srv->event_rate = (double)(ev - srv->rate_events) * 1000.0 /
                          (double)(now - srv->rate_ms);
        srv->rate_events = ev;
        srv->rate_ms = now;
    }
    /* Batches seen off the pinned CPU since the last tick: the kernel broke
     * the affinity (CPU hot-unplugged) or someone changed it. */
    uint64_t mig = atomic_load(&srv->sampler->st.migrations);
    srv->off_cpu = mig != srv->last_migrations;
    srv->last_migrations = mig;
    check_ready(srv);
    expire_waiters(srv, now);
    serve_waiters(srv);
    feed_kernel(srv, now);
    sampler_kick(srv->sampler);
    /* Idle clients, and clients that stopped reading their replies. */
    for (struct conn *c = srv->conns, *nx; c; c = nx) {
        nx = c->next;
        /* last_active_ms may be later than now: replies sent during this
         * tick (try-write in conn_send) stamp it; never underflow. */
        if (!c->busy && c->last_active_ms < now &&
            now - c->last_active_ms >= srv->cfg.idle_ms) {
            if (c->queued)
                srv->cut_off++;
            log_debug("closing idle client (uid %ld)", (long)c->uid);
            conn_close(c);
        }
    }
}

static void close_walk_cb(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL); /* connections were closed (and freed) above */
}

static void stop_server(struct server *srv, const char *why)
{
    if (srv->stopping)
        return;
    srv->stopping = true;
    log_info("%s: shutting down", why);
    osdep_notify("STOPPING=1");
    /* The sampler must be gone before the async handle it wakes. */
    sampler_stop(srv->sampler);
    for (struct conn *c = srv->conns, *nx; c; c = nx) {
        nx = c->next;
        conn_close(c);
    }
    uv_walk(srv->loop, close_walk_cb, NULL);
}

static void signal_cb(uv_signal_t *h, int signum)
{
    struct server *srv = h->data;
    if (signum == SIGUSR1) {
        char buf[4096];
        server_stats_json(srv, buf, sizeof(buf));
        log_info("stats: %s", buf);
        return;
    }
    stop_server(srv, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* ---- set-up and tear-down ---------------------------------------------- */

/* Returns 0 when path is free (nothing there, or a stale socket now
 * removed), -1 after logging why we must not bind it. */
static int claim_path(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT)
            return 0;
        log_warn("%s", path);
        return -1;
    }
    if (!S_ISSOCK(st.st_mode)) {
        log_err("%s exists and is not a socket; refusing to touch it", path);
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        log_warn("socket");
        return -1;
    }
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    int err = errno;
    close(fd);
    if (rc == 0) {
        log_err("another preemptd is already serving %s", path);
        return -1;
    }
    if (err != ECONNREFUSED) {
        errno = err;
        log_warn("cannot tell whether %s is in use", path);
        return -1;
    }
    log_info("removing stale socket %s", path);
    if (unlink(path) != 0 && errno != ENOENT) {
        log_warn("unlink %s", path);
        return -1;
    }
    return 0;
}

int server_listen(struct server *srv, uv_loop_t *loop,
                  const struct server_config *cfg)
{
    memset(srv, 0, sizeof(*srv));
    srv->cfg = *cfg;
    srv->loop = loop;
    int rc = uv_pipe_init(loop, &srv->listener, 0);
    if (rc != 0) {
        log_err("uv_pipe_init: %s", uv_strerror(rc));
        return -1;
    }
    srv->listener.data = srv;
    if (cfg->activated_fd >= 0) {
        rc = uv_pipe_open(&srv->listener, cfg->activated_fd);
        if (rc != 0) {
            log_err("adopting the activation socket: %s", uv_strerror(rc));
            return -1;
        }
        log_info("using the socket handed over by the service manager");
        return 0;
    }
    const char *path = cfg->socket_path;
    struct sockaddr_un sa;
    /* libuv 1.44 truncates long paths silently: check the length here. */
    if (strlen(path) >= sizeof(sa.sun_path)) {
        log_err("socket path is %zu bytes; the limit is %zu: %s",
                strlen(path), sizeof(sa.sun_path) - 1, path);
        return -1;
    }
    if (claim_path(path) != 0)
        return -1;
    /* umask 0117: the socket is born 0660, never briefly wider. */
    mode_t old = umask(0117);
    rc = uv_pipe_bind(&srv->listener, path);
    umask(old);
    if (rc != 0) {
        log_err("bind %s: %s", path, uv_strerror(rc));
        return -1;
    }
    srv->own_socket = true;
    if (chmod(path, (mode_t)cfg->sock_mode) != 0)
        log_warn("chmod %s", path);
    if (cfg->sock_gid != (gid_t)-1 && chown(path, (uid_t)-1, cfg->sock_gid) != 0)
        log_warn("chown %s", path);
    log_info("listening on %s (mode %04o)", path, cfg->sock_mode);
    return 0;
}

int server_start(struct server *srv, struct sampler *sampler)
{
    srv->sampler = sampler;
    srv->start_ms = srv->rate_ms = srv->last_feed_ms = now_ms();
    if (pool_init(&srv->pool, sampler->ring, srv->cfg.h_bits,
                  srv->cfg.reseed_ms) != 0) {
        log_err("cannot set up the entropy pool (credit %.3f)",
                srv->cfg.h_bits);
        return -1;
    }
    uv_async_init(srv->loop, &srv->wake, wake_cb);
    srv->wake.data = srv;
    uv_timer_init(srv->loop, &srv->tick);
    srv->tick.data = srv;
    uv_timer_start(&srv->tick, tick_cb, TICK_MS, TICK_MS);
    static const int sigs[3] = {SIGTERM, SIGINT, SIGUSR1};
    for (int i = 0; i < 3; i++) {
        uv_signal_init(srv->loop, &srv->sig[i]);
        srv->sig[i].data = srv;
        uv_signal_start(&srv->sig[i], signal_cb, sigs[i]);
    }
    int rc = uv_listen((uv_stream_t *)&srv->listener, 128, connection_cb);
    if (rc != 0) {
        log_err("listen: %s", uv_strerror(rc));
        return -1;
    }
    srv->listening = true;
    return 0;
}

void server_cleanup(struct server *srv)
{
    if (srv->own_socket && srv->cfg.socket_path) {
        if (unlink(srv->cfg.socket_path) != 0 && errno != ENOENT)
            log_warn("unlink %s", srv->cfg.socket_path);
        srv->own_socket = false;
    }
    if (srv->pool.sec)
        pool_free(&srv->pool);
}

/* vmwatch.c - signs of duplicated DRBG state; see vmwatch.h. */
#include "vmwatch.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "request.h"
#include "log.h"
#include "osdep.h"
#include "pbd.h"

#define VMWATCH_TICK_MS 1000u

/* Logs reseeds an event caused (info) and the scheduled ones (debug),
 * each once. */
static void log_reseeds(struct vmwatch *w)
{
    struct pool *p = &w->srv->pool;
    uint64_t n = p->sec->drbg.reseeds;
    if (n == w->logged_reseeds)
        return;
    w->logged_reseeds = n;
    if (p->last_why >= 0)
        log_info("drbg: reseeded from the source after a %s event",
                 pool_event_name(p->last_why));
    else
        log_debug("drbg: reseeded from the source (%s)",
                  n == 1 ? "first seed" : "interval or output limit");
}

void vmwatch_event(struct vmwatch *w, int why, const char *detail)
{
    struct server *srv = w->srv;
    uint64_t now = now_ms();
    pool_event(&srv->pool, why, now);
    /* A host that starves the sampler can make gaps every few seconds:
     * each is acted on, but said at info at most every 10 s per kind. */
    bool quiet = w->said_ms[why] && now - w->said_ms[why] < 10000;
    if (!quiet)
        w->said_ms[why] = now;
    log_msg(quiet ? LOG_LVL_DEBUG : LOG_LVL_INFO,
            "drbg: %s event (%s): fresh OS bytes mixed into the key%s",
            pool_event_name(why), detail,
            srv->pool.reseed_asap ? "; reseed from the source due" : "");
    pool_maintain(&srv->pool, now, request_gate(srv) == 0);
    log_reseeds(w);
}

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* (the clock that counts sleep) - (the one that does not), read with the
 * second on both sides: *err_ns is how far a preemption between the reads
 * may have moved it. */
static int64_t asleep_ns(int64_t *err_ns)
{
    clockid_t with, without;
    osdep_asleep_clocks(&with, &without);
    int64_t w0 = clock_ns(without);
    int64_t a = clock_ns(with);
    int64_t w1 = clock_ns(without);
    *err_ns = w1 - w0;
    return a - w0;
}

/* The time-asleep clock. A read that a preemption stretched is skipped:
 * the next look judges it. */
static void check_clock(struct vmwatch *w)
{
    int64_t err;
    int64_t a = asleep_ns(&err) + w->fake_asleep_ns;
    int64_t limit = (int64_t)VMWATCH_ASLEEP_MS * 1000000;
    if (err > limit / 2)
        return;
    int64_t grew = a - w->asleep_ns;
    if (grew < 0 && -grew <= err)
        return; /* the read's own jitter */
    w->asleep_ns = a;
    if (grew > limit) {
        char d[64];
        snprintf(d, sizeof(d), "%.1f s asleep", (double)grew / 1e9);
        vmwatch_event(w, POOL_EV_CLOCK, d);
    }
}

static void check_gaps(struct vmwatch *w)
{
    uint64_t g = atomic_load(&w->srv->sampler->shared.st.gaps);
    if (g == w->seen_gaps)
        return;
    char d[96];
    snprintf(d, sizeof(d), "the sampler's counter leapt over a second, %" PRIu64
             " time%s", g - w->seen_gaps, g - w->seen_gaps == 1 ? "" : "s");
    w->seen_gaps = g;
    vmwatch_event(w, POOL_EV_GAP, d);
}

static void check_fd(struct vmwatch *w)
{
    if (w->fd < 0)
        return;
    int n = osdep_watch_drain(w->fd);
    if (n > 0)
        vmwatch_event(w, w->fd_event,
                      w->fd_event == POOL_EV_VMGENID
                          ? "the VM generation ID changed"
                          : "the system sleeps or wakes");
}

void vmwatch_check(struct vmwatch *w)
{
    check_fd(w);
    check_clock(w);
    check_gaps(w);
}

/* Before each drbg reply chunk: the clocks and the gaps, which cost no
 * system call (vDSO clock reads, an atomic load). The descriptor is not
 * read here: libuv reports it readable in the poll phase, which runs
 * before the check phase's pass parses and serves requests, so an
 * announcement that came before the loop woke is acted on before any
 * reply of that pass; reading it per chunk as well cost a recvmsg(2) a
 * request (~0.5 us, issue 21) and only narrowed the race with one
 * arriving during the pass, which nothing closes. */
static void guard_cb(void *arg)
{
    struct vmwatch *w = arg;
    check_clock(w);
    check_gaps(w);
}

static void timer_cb(uv_timer_t *t)
{
    struct vmwatch *w = t->data;
    vmwatch_check(w);
    log_reseeds(w);
}

static void poll_cb(uv_poll_t *h, int status, int events)
{
    struct vmwatch *w = h->data;
    (void)events;
    if (status < 0) {
        log_warnx("drbg: %s: %s; no longer watched", w->note,
                  uv_strerror(status));
        uv_poll_stop(h);
        return;
    }
    check_fd(w);
}

int vmwatch_start(struct vmwatch *w, struct server *srv)
{
    w->srv = srv;
    w->fd = -1;
    int64_t err;
    w->asleep_ns = asleep_ns(&err);
    w->seen_gaps = atomic_load(&srv->sampler->shared.st.gaps);
    int kind = 0;
    char note[sizeof(w->note)];
    int fd = osdep_watch_open(&kind, note, sizeof(note));
    snprintf(w->note, sizeof(w->note), "%s", note);
    if (fd >= 0 && uv_poll_init(srv->loop, &w->poll, fd) == 0) {
        w->fd = fd;
        w->fd_event = kind == OSDEP_WATCH_POWER ? POOL_EV_POWER
                                                : POOL_EV_VMGENID;
        w->poll.data = w;
        w->polling = uv_poll_start(&w->poll, UV_READABLE, poll_cb) == 0;
    } else if (fd >= 0) {
        close(fd);
    }
    log_info("drbg: watching for duplicated state: %s%s; the clocks; the "
             "sampler's gaps; SIGHUP and the reseed command",
             w->fd >= 0 ? "" : "not ", w->note);
    srv->pool.guard = guard_cb;
    srv->pool.guard_arg = w;
    uv_timer_init(srv->loop, &w->timer);
    w->timer.data = w;
    uv_timer_start(&w->timer, timer_cb, VMWATCH_TICK_MS, VMWATCH_TICK_MS);
    return 0;
}

void vmwatch_free(struct vmwatch *w)
{
    if (!w->srv || w->fd < 0)
        return; /* never started, or nothing opened */
    /* libuv wants the poll handle stopped before its fd goes; uv_close
     * stops it at once (the handle is normally closed already). */
    if (!uv_is_closing((uv_handle_t *)&w->poll))
        uv_close((uv_handle_t *)&w->poll, NULL);
    close(w->fd);
    w->fd = -1;
}

void vmwatch_reseed_cmd(struct conn *c, bool text)
{
    struct server *srv = c->srv;
    /* It costs a conditioned block and a log line: for the operator. */
    if (c->uid != 0 && c->uid != geteuid()) {
        send_error(c, PBD_EPERM, false);
        return;
    }
    char d[48];
    snprintf(d, sizeof(d), "asked by uid %ld", (long)c->uid);
    vmwatch_event(&srv->vmw, POOL_EV_REQUEST, d);
    const char *msg = srv->pool.reseed_asap
                          ? "ok: fresh OS bytes mixed in; reseed from the "
                            "source pending (it follows once a block from "
                            "a healthy source is in stock)\n"
                          : "ok: fresh OS bytes mixed in; reseeded from "
                            "the source\n";
    if (text)
        send_text(c, msg);
    else
        send_frame(c, PROTO_T_RESEED | PROTO_T_REPLY, msg, strlen(msg) - 1);
}

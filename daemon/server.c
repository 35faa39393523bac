/*
 * server.c - the loop's plumbing: the sampler's wake-up, the tick, the pass
 * over runnable connections, signals and shutdown. Connections live in
 * conn.c, requests in dialect.c, request.c, reads.c and capture.c, the
 * listening socket and its path in listener.c; conn.h says how they fit.
 */
#include "conn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "conditioner.h"
#include "health.h"
#include "log.h"
#include "osdep.h"
#include "pbd.h"
#include "request.h"

#define TICK_MS 200u

/* ---- the sampler and the tick ------------------------------------------ */

void server_wake(void *arg)
{
    struct server *srv = arg;
    uv_async_send(&srv->wake);
}

/* Says in the log (and to the service manager) when the source's health
 * changes: a failure must never be silent. */
static void health_watch(struct server *srv)
{
    struct sampler_stats *st = &srv->sampler->shared.st;
    int hs = atomic_load(&st->health_state);
    uint64_t epoch = atomic_load(&st->fail_epoch);
    if (hs == srv->seen_health && epoch == srv->seen_epoch)
        return;
    char msg[300];
    status_health(srv, msg, sizeof(msg));
    if (epoch != srv->seen_epoch && hs == HEALTH_STARTUP)
        /* The first start-up test failed and starts over: msg would only
         * say it is running, so name the test that failed. */
        log_err("health: %s test failed during the start-up test; "
                "running it again",
                health_event_name(
                    (enum health_event)atomic_load(&st->last_failure)));
    else if (epoch != srv->seen_epoch && hs != HEALTH_OK)
        log_err("health: %s", msg);
    else if (hs == HEALTH_OK && srv->ready)
        log_info("health: start-up re-test passed; serving again");
    if (hs == HEALTH_OK && !srv->ready) {
        srv->ready = true;
        log_info("start-up health test passed; serving (%.2f s after the "
                 "loop started)", (double)(now_ms() - srv->start_ms) / 1e3);
        osdep_notify("READY=1\nSTATUS=start-up health test passed; serving");
    } else if (hs != srv->seen_health) {
        char status[320];
        snprintf(status, sizeof(status), "STATUS=%s", msg);
        osdep_notify(status);
    }
    srv->seen_health = hs;
    srv->seen_epoch = epoch;
}

/* Whether the kernel feed is due and lacks the block it would send. */
static bool feed_wants_block(struct server *srv, uint64_t now)
{
    return srv->cfg.feed_kernel &&
           now - srv->last_feed_ms >= srv->cfg.feed_interval_ms &&
           pool_stock(&srv->pool, PBD_MODE_CONDITIONED) < COND_BLOCK_BYTES;
}

/* What needs entropy now, for the sampler's demand policy: the start-up
 * test (or a re-test), a capture, reads waiting, the DRBG's seed or
 * reseed, a due kernel feed, a stock under the reserve. NULL: nothing;
 * the sampler may rest. *need says how much: the spare ones (the reserve,
 * a reseed only a gap made due) may not spend the budget a waiting client
 * will need (sampler.h, enum sampler_need). */
static const char *demand_reason(struct server *srv, uint64_t now,
                                 enum sampler_need *need)
{
    *need = SAMPLER_NEED_NOW;
    int hs = atomic_load(&srv->sampler->shared.st.health_state);
    if (hs == HEALTH_PERMANENT) {
        *need = SAMPLER_NEED_NONE;
        return NULL; /* nothing to gain: it serves nothing again */
    }
    if (hs != HEALTH_OK)
        return "start-up test";
    if (srv->cap.armed)
        return "capture";
    if (!TAILQ_EMPTY(&srv->waiters))
        return "waiting reads";
    enum pool_need drbg = pool_block_need(&srv->pool, now);
    if (drbg == POOL_NEED_NOW)
        return pool_seeded(&srv->pool) ? "drbg reseed" : "drbg seed";
    if (feed_wants_block(srv, now))
        return "kernel feed";
    *need = SAMPLER_NEED_SPARE;
    if (drbg == POOL_NEED_SPARE)
        return "drbg reseed after a gap";
    if (pool_below_reserve(&srv->pool))
        return "reserve";
    *need = SAMPLER_NEED_NONE;
    return NULL;
}

/* Publishes the demand to the sampler; after anything that may change it
 * (the wake-up, the pass, the tick). Cheap: a few loads, and a store only
 * when the answer changes. */
static void demand_update(struct server *srv)
{
    enum sampler_need need;
    srv->demand_why = demand_reason(srv, now_ms(), &need);
    sampler_demand(srv->sampler, need);
}

static void wake_cb(uv_async_t *a)
{
    struct server *srv = a->data;
    /* uv_async_send coalesces: look at the state, never count wake-ups. */
    health_watch(srv);
    reads_serve(srv);
    capture_serve(srv);
    demand_update(srv);
}

/* The pass: parse and start requests of runnable connections, then serve
 * the waiters they queued. Runs after each poll for I/O. */
static void server_fail(struct server *srv, const char *why);
static void server_stop_finish(struct server *srv);

static void run_check_cb(uv_check_t *h)
{
    struct server *srv = h->data;
    /* Stops asked for by those below (flags, never calls up): */
    if (srv->fail_why && !srv->stopping)
        server_fail(srv, srv->fail_why);
    if (srv->stopping) {
        /* Nothing more is processed; block until the restart's thread
         * is joined (its completion wakes the loop), then finish. */
        uv_idle_stop(&srv->run_idle);
        if (!srv->stopped && !srv->cap.restarting)
            server_stop_finish(srv);
        return;
    }
    conn_run_pass(srv);
    if (srv->serve_due) {
        reads_serve(srv);
        capture_serve(srv);
    }
    demand_update(srv);
    if (TAILQ_EMPTY(&srv->runnable) && !srv->mem_freed)
        uv_idle_stop(&srv->run_idle); /* serving may have scheduled some */
}

static void feed_kernel(struct server *srv, uint64_t now)
{
    if (!srv->cfg.feed_kernel ||
        now - srv->last_feed_ms < srv->cfg.feed_interval_ms)
        return;
    /* The time is stamped only when a block goes out: a due feed that finds
     * no stock retries next tick rather than a whole interval later. */
    if (request_gate(srv) != 0 || !TAILQ_EMPTY(&srv->waiters) ||
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

/* Events per second of sampling (the sampler sleeps while the ring is
 * full: that is no event rate of zero), and per wall-clock second. */
static void update_rates(struct server *srv, uint64_t now)
{
    if (now - srv->rate_ms < 1000)
        return;
    struct sampler_stats *st = &srv->sampler->shared.st;
    uint64_t ev = atomic_load(&st->events);
    uint64_t us = atomic_load(&st->sampling_us);
    double dev = (double)(ev - srv->rate_events);
    srv->event_rate_wall = dev * 1000.0 / (double)(now - srv->rate_ms);
    /* Asleep for most of the second: keep the last rate measured awake. */
    if (us - srv->rate_sampling_us >= 100000)
        srv->event_rate = dev * 1e6 / (double)(us - srv->rate_sampling_us);
    srv->rate_events = ev;
    srv->rate_sampling_us = us;
    srv->rate_ms = now;
}

/* Large buffers freed back to malloc stay in the process unless handed
 * back: after a burst, give them to the system once usage has dropped. */
static void trim_memory(struct server *srv)
{
    if (srv->mem_trim_mark < (1u << 20) ||
        srv->mem_used > srv->mem_trim_mark / 4)
        return;
    osdep_release_memory();
    srv->mem_trim_mark = srv->mem_used;
}

static void tick_cb(uv_timer_t *t)
{
    struct server *srv = t->data;
    uint64_t now = now_ms();
    update_rates(srv, now);
    /* Batches seen off the pinned CPU since the last tick: the kernel broke
     * the affinity (CPU hot-unplugged) or someone changed it. */
    uint64_t mig = atomic_load(&srv->sampler->shared.st.migrations);
    srv->off_cpu = mig != srv->last_migrations;
    srv->last_migrations = mig;
    health_watch(srv);
    reads_expire(srv, now);
    reads_serve(srv);
    capture_expire(srv, now);
    feed_kernel(srv, now);
    sampler_kick(srv->sampler);
    conn_reap_idle(srv, now);
    trim_memory(srv);
    demand_update(srv);
}

/* ---- shutdown ---------------------------------------------------------- */

static void close_walk_cb(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL); /* connections were closed (and freed) above */
}

void server_stop(struct server *srv, const char *why)
{
    if (srv->stopping)
        return;
    srv->stopping = true;
    log_info("%s: shutting down", why);
    osdep_notify("STOPPING=1");
    /* A restart on the thread pool is joining the sampler thread: it
     * finishes the stop when that is done (capture.c). */
    if (!srv->cap.restarting)
        server_stop_finish(srv);
}

/* server_stop for an internal failure: the daemon exits
 * SERVER_EXIT_FAILURE, so a service manager restarts it. */
static void server_fail(struct server *srv, const char *why)
{
    if (!srv->stopping)
        srv->exit_status = SERVER_EXIT_FAILURE;
    server_stop(srv, why);
}

/* The part of server_stop that needs the sampler thread gone. */
static void server_stop_finish(struct server *srv)
{
    srv->stopped = true;
    /* The sampler must be gone before the async handle it wakes. */
    sampler_stop(srv->sampler);
    /* Reads still waiting are told why they end (written now if the
     * socket has room: the loop is about to stop). */
    for (struct conn *c = TAILQ_FIRST(&srv->conns), *nx; c; c = nx) {
        nx = TAILQ_NEXT(c, all);
        if (c->p.state == R_WAITING || c->p.state == R_CAPTURE ||
            c->mem_blocked)
            request_finish(c, PBD_ESHUTDOWN);
        conn_close(c);
    }
    uv_walk(srv->loop, close_walk_cb, NULL);
}

/* The eleventh default-fatal signal: SIGPWR on Linux; macOS has none, but
 * has SIGEMT (default: core dump), which Linux on x86 and ARM lacks. */
#if defined(SIGPWR)
#define SIG_OTHER SIGPWR
#define SIG_OTHER_NAME "SIGPWR"
#elif defined(SIGEMT)
#define SIG_OTHER SIGEMT
#define SIG_OTHER_NAME "SIGEMT"
#else
#error "neither SIGPWR nor SIGEMT: name another default-fatal signal"
#endif
/* SIGPROF is left alone: a profiler's timer would find our handler. */
const int server_signals[SERVER_NSIGNALS] = {
    SIGTERM, SIGINT,  SIGUSR1, SIGHUP,  SIGUSR2, SIGALRM,
    SIGVTALRM, SIGIO, SIGXCPU, SIGXFSZ, SIG_OTHER,
};
const size_t server_nsignals = SERVER_NSIGNALS;

static const char *signal_name(int signum)
{
    switch (signum) {
    case SIGUSR2: return "SIGUSR2";
    case SIGALRM: return "SIGALRM";
    case SIGVTALRM: return "SIGVTALRM";
    case SIGIO: return "SIGIO";
    case SIGXCPU: return "SIGXCPU";
    case SIGXFSZ: return "SIGXFSZ";
    case SIG_OTHER: return SIG_OTHER_NAME;
    default: return "a signal";
    }
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
    if (signum == SIGHUP) {
        vmwatch_event(&srv->vmw, POOL_EV_SIGNAL, "SIGHUP");
        return;
    }
    if (signum != SIGTERM && signum != SIGINT) {
        /* Default-fatal, but nothing we are asked to do: dying of it would
         * leave the socket path behind. */
        log_warnx("ignoring %s (%d): only SIGTERM and SIGINT stop preemptd",
                  signal_name(signum), signum);
        return;
    }
    server_stop(srv, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

static void connection_cb(uv_stream_t *l, int status)
{
    if (status < 0)
        listener_accept_error(l->data, status);
    else
        conn_accept(l->data, l);
}

/* c is closing: its request ends (wiped, never served), and with it a
 * capture session it owns. */
static void request_gone(struct conn *c)
{
    request_cancel(c);
    capture_conn_gone(c);
}

/* The server's layers, wired: the transport calls up only through these. */
static const struct conn_hooks hooks = {
    .request = dialect_handle,
    .resume = reads_stream,
    .gone = request_gone,
    .allowed = listener_peer_allowed,
};

/* ---- set-up and tear-down ---------------------------------------------- */

int server_start(struct server *srv, struct sampler *sampler)
{
    srv->sampler = sampler;
    srv->hooks = &hooks;
    srv->start_ms = srv->rate_ms = srv->last_feed_ms = now_ms();
    srv->seen_health = HEALTH_STARTUP;
    TAILQ_INIT(&srv->conns);
    TAILQ_INIT(&srv->waiters);
    TAILQ_INIT(&srv->runnable);
    TAILQ_INIT(&srv->mem_waiters);
    if (pool_init(&srv->pool, sampler->setup.ring, srv->cfg.h_bits,
                  srv->cfg.reseed_ms) != 0) {
        log_err("cannot set up the entropy pool (credit %.3f)",
                srv->cfg.h_bits);
        return -1;
    }
    srv->pool.os_mix = srv->cfg.os_mix;
    if (capture_init(srv) != 0) {
        log_err("cannot allocate the capture tap");
        return -1;
    }
    uv_async_init(srv->loop, &srv->wake, wake_cb);
    srv->wake.data = srv;
    uv_timer_init(srv->loop, &srv->tick);
    srv->tick.data = srv;
    uv_timer_start(&srv->tick, tick_cb, TICK_MS, TICK_MS);
    uv_timer_init(srv->loop, &srv->expiry);
    srv->expiry.data = srv;
    uv_check_init(srv->loop, &srv->run_check);
    srv->run_check.data = srv;
    uv_check_start(&srv->run_check, run_check_cb);
    uv_idle_init(srv->loop, &srv->run_idle);
    srv->run_idle.data = srv;
    vmwatch_start(&srv->vmw, srv);
    for (size_t i = 0; i < server_nsignals; i++) {
        uv_signal_init(srv->loop, &srv->sig[i]);
        srv->sig[i].data = srv;
        uv_signal_start(&srv->sig[i], signal_cb, server_signals[i]);
    }
    int rc = uv_listen((uv_stream_t *)&srv->listener, 128, connection_cb);
    if (rc != 0) {
        log_err("listen: %s", uv_strerror(rc));
        return -1;
    }
    return 0;
}

void server_cleanup(struct server *srv)
{
    server_unlisten(srv);
    if (srv->pool.sec)
        pool_free(&srv->pool);
    capture_free(srv);
    vmwatch_free(&srv->vmw);
}

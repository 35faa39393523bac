/*
 * capture.c - consecutive raw samples for assessment (SP 800-90B wants
 * them consecutive), and restarts of the noise source (90B 3.1.4).
 *
 * A capture read (PBD_MODE_CAPTURE) is for root, the daemon's uid and
 * --raw-uid (an empty list opens raw reads to all, not capture). The
 * first one on a connection arms the sampler's tap (sampler.h): from then
 * on every sample the sampler makes goes to the tap instead of the main
 * ring, so no other consumer and no DRBG reseed can take one out of the
 * sequence, and none is ever served as output. Each capture read is
 * answered with the next samples in order, once the tap holds all of them,
 * so a read that times out takes nothing and leaves no hole. The session
 * lasts until the connection closes. It ends early, and the read waiting
 * says so, if the sampler could not keep a sample (PBD_EOVERRUN: the client
 * fell a tap's worth behind) or the source failed a health test
 * (PBD_EHEALTH): a capture never skips a sample silently.
 *
 * A capture read with PBD_READ_RESTART restarts the noise source first:
 * the sampler thread is stopped and joined, the counter re-calibrated and a
 * new pinned thread started, and the read is answered with the first
 * samples that thread makes. Joining may wait for a thread that has little
 * CPU (SCHED_IDLE under load), so the stop and calibration run on libuv's
 * thread pool; the loop serves everyone else meanwhile. Health tests carry
 * on across a restart: it restarts the noise source, not its tests.
 *
 * Meanwhile other clients are served from what the main ring holds; new
 * samples reach them again when the capture ends (or, for a restart read,
 * after its samples). So a capture arms, and a restart read restarts,
 * only once the DRBG has its first seed: drbg clients never wait on one.
 */
#include "request.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "pbd.h"
#include "proto.h"

int capture_init(struct server *srv)
{
    struct capture *cp = &srv->cap;
    cp->buf = sodium_malloc(CAPTURE_TAP);
    if (!cp->buf)
        return -1;
    memset(cp->buf, 0, CAPTURE_TAP);
    return ring_init(&cp->ring, cp->buf, CAPTURE_TAP, CAPTURE_TAP,
                     CAPTURE_TAP);
}

void capture_free(struct server *srv)
{
    struct capture *cp = &srv->cap;
    if (cp->buf) {
        sodium_memzero(cp->buf, CAPTURE_TAP);
        sodium_free(cp->buf);
        cp->buf = NULL;
    }
}

/* Stops diverting; what the tap holds is wiped once the sampler is out of
 * it (capture_serve). */
static void session_end(struct server *srv)
{
    struct capture *cp = &srv->cap;
    if (cp->armed)
        sampler_tap_disarm(srv->sampler);
    cp->armed = false;
    cp->dirty = true;
}

void capture_conn_gone(struct conn *c)
{
    struct capture *cp = &c->srv->cap;
    if (cp->owner != c)
        return;
    session_end(c->srv);
    cp->owner = NULL;
    cp->failed = 0;
    log_info("capture: pid %ld (uid %lu) done: %llu samples, %llu restarts",
             (long)c->pid, (unsigned long)c->uid,
             (unsigned long long)(cp->samples - cp->owner_samples),
             (unsigned long long)(cp->restarts - cp->owner_restarts));
}

/* ---- restarts ---------------------------------------------------------- */

/* Thread pool: stop and join the sampler thread, then calibrate as at
 * start-up. Touches only the sampler's thread-safe stop and the counter. */
static void restart_work(uv_work_t *w)
{
    struct server *srv = w->data;
    sampler_stop(srv->sampler);
    sampler_calibrate(&srv->sampler->setup.cfg, &srv->cap.cal);
}

static void restart_done(uv_work_t *w, int status)
{
    struct server *srv = w->data;
    struct capture *cp = &srv->cap;
    (void)status;
    cp->restarting = false;
    if (srv->stopping)
        return; /* the thread is gone: the pass finishes the stop (server.c) */
    sampler_apply_cal(srv->sampler, &cp->cal);
    struct conn *c = cp->owner;
    if (c && c->p.state == R_CAPTURE && c->p.restart) {
        /* Exactly the new thread's first samples: armed before it starts. */
        sampler_tap_arm(srv->sampler, &cp->ring, c->p.need);
        sampler_tap_want(srv->sampler, c->p.need);
        cp->armed = true;
        cp->dirty = false;
    }
    int rc = sampler_start(srv->sampler);
#ifdef PBD_FAULT_INJECTION
    /* The fault build's way to test an internal fatal stop (tests only). */
    const char *fail = getenv("PBD_FAULT_RESTART_FAILS");
    if (rc == 0 && fail && cp->restarts + 1 >= strtoull(fail, NULL, 10)) {
        sampler_stop(srv->sampler);
        rc = EAGAIN;
    }
#endif
    if (rc != 0) {
        log_err("capture: cannot restart the sampler thread: %s",
                strerror(rc));
        srv->fail_why = "no sampler"; /* the pass stops the server */
        return;
    }
    cp->restarts++;
    log_debug("capture: noise source restarted (%llu): threshold %llu, "
              "step %llu, grain %llu", (unsigned long long)cp->restarts,
              (unsigned long long)srv->sampler->setup.threshold,
              (unsigned long long)srv->sampler->setup.step,
              (unsigned long long)srv->sampler->setup.grain);
    capture_serve(srv);
}

/* ---- reads ------------------------------------------------------------- */

int capture_start(struct conn *c, const struct request *rq)
{
    struct server *srv = c->srv;
    struct capture *cp = &srv->cap;
    struct pending *p = &c->p;
    bool restart = rq->restart;

    if (!request_raw_allowed(c, true)) {
        send_error(c, PBD_EPERM, false);
        return 0;
    }
    if (cp->owner && cp->owner != c) {
        send_error(c, PBD_EINUSE, false);
        return 0;
    }
    /* During the start-up test (PBD_EAGAIN) a capture waits like any
     * read: capture_serve arms it once the source is healthy. */
    int g = request_gate(srv);
    if (g != 0 && g != PBD_EAGAIN) {
        send_error(c, g, false);
        return 0;
    }
    /* The whole reply is reserved now, so a capture never waits for
     * memory once its samples are in the tap. */
    size_t size = PROTO_HDR_LEN + rq->len;
    if (!mem_admit(c, size)) {
        mem_block(c);
        return -1;
    }
    p->w = wreq_new(c, size, true);
    if (!p->w) {
        send_error(c, PBD_ENOMEM, false);
        return 0;
    }
    p->bytes = p->w->data + PROTO_HDR_LEN;
    p->deadline_ms = request_deadline(srv, rq->wait_ms);
    p->state = R_CAPTURE;
    if (cp->owner != c) {
        /* Audit trail: a capture holds every new sample for itself. */
        log_info("capture: pid %ld (uid %lu) captures; other clients get "
                 "no new samples while it reads", (long)c->pid,
                 (unsigned long)c->uid);
        cp->owner_samples = cp->samples;
        cp->owner_restarts = cp->restarts;
    }
    cp->owner = c;
    if (restart) {
        session_end(srv);
        cp->failed = 0; /* a restart starts afresh: no gap to report */
        /* capture_serve queues the restart. One still on the pool (its
         * owner hung up mid-restart) is not queued again: its new thread
         * starts after this request, with no sample made meanwhile, so
         * restart_done answers this read with its first samples. */
    }
    capture_serve(srv);
    return 0;
}

void capture_serve(struct server *srv)
{
    struct capture *cp = &srv->cap;
    struct conn *c = cp->owner;
    if (cp->restarting)
        return;
    int broken = atomic_load(&srv->sampler->shared.tap.broken);
    if (cp->armed && broken != TAP_OK) {
        /* The capture ended: what the tap holds goes with it (never a
         * gap), wiped as soon as the sampler is out, whether or not a read
         * waits; the owner's next read is told why. */
        session_end(srv);
        if (broken == TAP_OVERRUN)
            cp->overruns++;
        cp->failed = broken == TAP_OVERRUN ? PBD_EOVERRUN : PBD_EHEALTH;
    }
    if (cp->dirty && !cp->armed && sampler_tap_quiet(srv->sampler)) {
        ring_flush(&cp->ring); /* samples of an ended capture: wiped */
        cp->dirty = false;
    }
    if (!c || c->p.state != R_CAPTURE)
        return;
    struct pending *p = &c->p;
    if (cp->failed) {
        int err = cp->failed;
        cp->failed = 0;
        request_finish(c, err);
        return;
    }
    if (!cp->armed) {
        int g = request_gate(srv);
        if (g == PBD_EHEALTH) {
            request_finish(c, g);
            return;
        }
        if (g != 0)
            return; /* the start-up test runs: tried again at the next tick */
        /* Not before the DRBG's first seed: right after start-up the ring
         * is nearly empty, and a capture (or a series of restarts) would
         * hold that seed back from every drbg client. (A quiet tap was
         * flushed above, so dirty implies not quiet.) */
        if (!pool_seeded(&srv->pool))
            return; /* tried again at the next tick */
        if (p->restart) {
            /* Not yet restarted: restart_done arms the tap for it (the
             * thread is joined by then, so the tap is quiet). */
            cp->restarting = true;
            cp->work.data = srv;
            if (uv_queue_work(srv->loop, &cp->work, restart_work,
                              restart_done) != 0) {
                cp->restarting = false;
                request_finish(c, PBD_ENOMEM);
            }
            return;
        }
        if (!sampler_tap_quiet(srv->sampler))
            return;
        sampler_tap_arm(srv->sampler, &cp->ring, UINT64_MAX);
        cp->armed = true;
        cp->sessions++;
    }
    if (ring_level(&cp->ring) < p->need) {
        sampler_tap_want(srv->sampler, p->need);
        /* The sampler may have filled it between the look and the ask. */
        if (ring_level(&cp->ring) < p->need)
            return;
    }
    ring_take(&cp->ring, p->bytes, p->need);
    cp->samples += p->need;
    if (p->restart)
        session_end(srv); /* a restart read is its samples, no more */
    request_finish(c, 0);
}

void capture_expire(struct server *srv, uint64_t now)
{
    struct capture *cp = &srv->cap;
    capture_serve(srv); /* may answer, or end, the owner's read */
    struct conn *c = cp->owner;
    if (!c || c->p.state != R_CAPTURE || cp->restarting ||
        now < c->p.deadline_ms)
        return;
    srv->timeouts++;
    /* A plain capture keeps its samples for the next read; a restart read's
     * are the first after that restart or nothing. */
    if (c->p.restart)
        session_end(srv);
    request_finish(c, PBD_ETIMEDOUT);
}

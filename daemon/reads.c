/*
 * reads.c - starting every read (reads_start; a capture read goes on in
 * capture.c) and serving reads: at once from stock, as a drbg stream
 * generated as the socket drains, or as a waiter that the sampler's bytes
 * fill in turn. Finishing a read (request.c) sends its one reply and marks
 * its connection runnable; the next request is parsed by the pass in
 * conn.c, never from here.
 */
#include "request.h"

#include <string.h>

#include "conditioner.h"
#include "health.h"
#include "pbd.h"
#include "proto.h"

size_t reads_egd_stock(struct server *srv)
{
    if (request_gate(srv) != 0 || !TAILQ_EMPTY(&srv->waiters))
        return 0;
    return pool_stock(&srv->pool, PBD_MODE_CONDITIONED);
}

static void expiry_arm(struct server *srv, uint64_t at);

/* ---- drbg streams ------------------------------------------------------ */

/* The caller sees that the stream runs: conn_process goes straight on
 * with it; from the waiter queue, the connection is scheduled. */
static void stream_begin(struct conn *c)
{
    c->p.state = R_STREAMING;
    c->p.left = c->p.need;
    c->p.got = 0;
}

/* The next chunk of c's drbg stream, at most max bytes: its entropy
 * bytes (returned), where they go in the reply and the reply's size. */
static size_t stream_chunk(const struct conn *c, size_t max, size_t *at,
                           size_t *size)
{
    const struct pending *p = &c->p;
    size_t k = p->left < max ? p->left : max;
    if (p->how == D_TEXT) {
        *size = request_reply_size(D_TEXT, 0, k, at); /* text: one chunk */
    } else {
        *at = p->got == 0 ? PROTO_HDR_LEN : 0;
        *size = *at + k;
    }
    return k;
}

void reads_stream(struct conn *c)
{
    struct pending *p = &c->p;
    while (p->state == R_STREAMING && !c->closing && c->queued == 0 &&
           p->left > 0) {
        size_t at, size;
        size_t k = stream_chunk(c, DRBG_CHUNK, &at, &size);
        /* Short of budget: a small chunk, which a client holding nothing
         * may always have, so drbg replies flow whoever holds the rest. */
        if (!mem_admit(c, size))
            k = stream_chunk(c, DRBG_SMALL_CHUNK, &at, &size);
        if (!mem_admit(c, size)) {
            mem_block(c);
            return;
        }
        struct wreq *w = wreq_new(c, size, true);
        if (!w || pool_drbg(&c->srv->pool, w->data + at, k) != 0) {
            /* The header may be out already: no error frame can follow. */
            if (w)
                wreq_free(w);
            conn_close(c);
            return;
        }
        if (p->how == D_TEXT)
            request_reply_finish(w, D_TEXT, 0, k);
        else if (p->got == 0)
            proto_encode_hdr(w->data, PROTO_T_READ | PROTO_T_REPLY, p->need);
        p->left -= (uint32_t)k;
        p->got += (uint32_t)k;
        conn_send(c, w);
    }
    if (p->state == R_STREAMING && p->left == 0)
        memset(p, 0, sizeof(*p)); /* done: conn_process parses on */
}

/* ---- starting a read --------------------------------------------------- */

/* Serves n bytes from stock into a new reply. Returns 0, or -1 when the
 * budget has no room (c parked, nothing sent). */
static int serve_now(struct conn *c)
{
    const struct pending *p = &c->p;
    size_t at, size = request_reply_size(p->how, p->egd_cmd, p->need, &at);
    if (!mem_admit(c, size)) {
        mem_block(c);
        return -1;
    }
    struct wreq *w = wreq_new(c, size, true);
    if (!w) {
        send_error(c, PBD_ENOMEM, false);
        return 0;
    }
    /* stock was checked */
    pool_take(&c->srv->pool, p->mode, w->data + at, p->need);
    sampler_kick(c->srv->sampler);
    request_reply_finish(w, p->how, p->egd_cmd, p->need);
    conn_send(c, w);
    return 0;
}

/* A raw, conditioned or drbg read; c->p says what was asked. */
static int start_read(struct conn *c, const struct request *rq)
{
    struct server *srv = c->srv;
    struct pending *p = &c->p;
    uint8_t mode = rq->mode;
    if (mode == PBD_MODE_RAW && !request_raw_allowed(c, false)) {
        send_error(c, PBD_EPERM, false);
        return 0;
    }
    bool waits_seed = false;
    if (mode == PBD_MODE_DRBG) {
        pool_maintain(&srv->pool, now_ms(), request_gate(srv) == 0);
        if (!pool_seeded(&srv->pool) && rq->nowait) {
            send_error(c, PBD_ENOTSEEDED, false);
            return 0;
        }
        waits_seed = !pool_seeded(&srv->pool);
    } else {
        int g = request_gate(srv);
        if (g == PBD_EHEALTH || (g == PBD_EAGAIN && rq->nowait)) {
            send_error(c, g, false);
            return 0;
        }
        /* Served at once only when nobody waits ahead: no overtaking. */
        if (g == 0 && TAILQ_EMPTY(&srv->waiters) &&
            pool_stock(&srv->pool, mode) >= rq->len)
            return serve_now(c);
        if (rq->nowait) {
            send_error(c, PBD_EAGAIN, false);
            return 0;
        }
    }
    if (mode == PBD_MODE_DRBG && !waits_seed) {
        stream_begin(c);
        return 0;
    }
    /* A waiting entropy read holds its reply buffer, filled as bytes come;
     * a drbg read waiting for the first seed holds nothing. */
    if (mode != PBD_MODE_DRBG) {
        size_t at;
        size_t size = request_reply_size(p->how, p->egd_cmd, p->need, &at);
        if (!mem_admit(c, size)) {
            mem_block(c);
            return -1;
        }
        p->w = wreq_new(c, size, true);
        if (!p->w) {
            send_error(c, PBD_ENOMEM, false);
            return 0;
        }
        p->bytes = p->w->data + at;
    }
    p->deadline_ms = request_deadline(srv, rq->wait_ms);
    p->state = R_WAITING;
    request_enqueue(c);
    expiry_arm(srv, p->deadline_ms);
    srv->serve_due = true; /* after the pass: never from inside it */
    return 0;
}

int reads_start(struct conn *c, const struct request *rq)
{
    struct pending *p = &c->p;
    /* c->p is the request's from here to its one reply: an error, even
     * one given at once, answers in its dialect (EGD no-wait: a zero
     * count), and nobody else fills it in. */
    memset(p, 0, sizeof(*p));
    p->mode = rq->mode;
    p->how = rq->how;
    p->egd_cmd = rq->egd_cmd;
    p->restart = rq->restart;
    p->need = rq->len;
    int rc = rq->mode == PBD_MODE_CAPTURE ? capture_start(c, rq)
                                          : start_read(c, rq);
    if (p->state == R_NONE)
        memset(p, 0, sizeof(*p)); /* answered, failed, or parked */
    return rc;
}

/* ---- the waiter queue -------------------------------------------------- */

/* Gives c what the pool has for it now, up to one block. Returns true when
 * it made progress. Finishes c (removing it from the queue) when done. */
static bool serve_one(struct server *srv, struct conn *c, int g)
{
    struct pending *p = &c->p;
    if (p->mode == PBD_MODE_DRBG) {
        if (!pool_seeded(&srv->pool))
            return false;
        request_dequeue(c);
        stream_begin(c);
        conn_schedule(c);
        return true;
    }
    if (g == PBD_EHEALTH) {
        request_finish(c, PBD_EHEALTH);
        return true;
    }
    if (g != 0)
        return false;
    size_t want = p->need - p->got;
    if (want > COND_BLOCK_BYTES)
        want = COND_BLOCK_BYTES;
    size_t got = pool_take(&srv->pool, p->mode, p->bytes + p->got, want);
    if (got == 0)
        return false;
    p->got += (uint32_t)got;
    if (p->got == p->need)
        request_finish(c, 0);
    return true;
}

/* Round-robin: each waiter in turn gets at most one block per round, and
 * one that got a block but is not done goes to the back of the queue, so a
 * large request cannot starve small ones queued behind it (blocks often
 * come one per wake-up: the head must not take them all). A round visits
 * each waiter once: the walk holds only the next pointer, and serving c
 * touches no other waiter. */
static void serve_rounds(struct server *srv, int g)
{
    bool progress = true;
    while (progress && !TAILQ_EMPTY(&srv->waiters)) {
        progress = false;
        unsigned n = srv->nwaiting;
        for (struct conn *c = TAILQ_FIRST(&srv->waiters), *nx;
             c && n-- > 0; c = nx) {
            nx = TAILQ_NEXT(c, wait);
            if (!serve_one(srv, c, g))
                continue;
            progress = true;
            if (c->waitq && nx) {
                TAILQ_REMOVE(&srv->waiters, c, wait);
                TAILQ_INSERT_TAIL(&srv->waiters, c, wait);
            }
        }
    }
}

void reads_serve(struct server *srv)
{
    srv->serve_due = false;
    int g = request_gate(srv);
    /* The DRBG's first seed takes a block before the waiters only when
     * none waits or a drbg read is at the head: otherwise a client waiting
     * for conditioned bytes on a fresh daemon paid for the seed first (160
     * events, ~0.1 s here), although the DRBG served nobody ahead of it.
     * The round-robin brings a drbg read to the head in turn, and one
     * behind them is served as soon as the seed is made. A reseed keeps
     * its place before the waiters: drbg reads never wait for one, so a
     * client reading without end would put it off for ever. */
    struct conn *head = TAILQ_FIRST(&srv->waiters);
    bool drbg_first = !head || head->p.mode == PBD_MODE_DRBG ||
                      pool_seeded(&srv->pool);
    if (drbg_first)
        pool_maintain(&srv->pool, now_ms(), g == 0);
    serve_rounds(srv, g);
    if (!drbg_first && pool_maintain(&srv->pool, now_ms(), g == 0))
        serve_rounds(srv, g);
    sampler_kick(srv->sampler);
    /* Ask to be woken when one more block's worth has arrived: for the
     * waiters, or to seed the DRBG as soon as the first block exists. */
    if (!TAILQ_EMPTY(&srv->waiters) || !pool_seeded(&srv->pool))
        sampler_want(srv->sampler, srv->pool.block_in);
}

/*
 * A wait ends at its deadline, not at the next tick: a read that asked to
 * wait 1 ms must not be filled during the 200 ms until then (a fast source
 * fills 512 raw bytes in a few ms). One timer, for the earliest deadline;
 * it finds the next one when it fires.
 */
static void expiry_cb(uv_timer_t *t)
{
    struct server *srv = t->data;
    uint64_t now = now_ms();
    srv->expiry_at = 0;
    reads_expire(srv, now);
    uint64_t next = 0;
    struct conn *c;
    TAILQ_FOREACH(c, &srv->waiters, wait)
        if (next == 0 || c->p.deadline_ms < next)
            next = c->p.deadline_ms;
    if (next != 0)
        expiry_arm(srv, next);
}

static void expiry_arm(struct server *srv, uint64_t at)
{
    if (srv->expiry.loop == NULL) /* a server without its loop (unit tests) */
        return;
    if (srv->expiry_at != 0 && srv->expiry_at <= at)
        return;
    uint64_t now = now_ms();
    srv->expiry_at = at;
    uv_timer_start(&srv->expiry, expiry_cb, at > now ? at - now : 0, 0);
}

void reads_expire(struct server *srv, uint64_t now)
{
    for (struct conn *c = TAILQ_FIRST(&srv->waiters), *nx; c; c = nx) {
        nx = TAILQ_NEXT(c, wait);
        if (c->eof && conn_peer_gone(c)) {
            /* Half-closed, then gone: nobody to answer. */
            srv->hangups++;
            conn_close(c);
        } else if (now >= c->p.deadline_ms) {
            srv->timeouts++;
            /* Bytes already gathered for it are wiped, never served. */
            request_finish(c, c->p.mode == PBD_MODE_DRBG ? PBD_ENOTSEEDED
                                                       : PBD_ETIMEDOUT);
        }
    }
}

/*
 * conn.c - a connection's lifecycle: accept, read, write, close, the memory
 * budget, and the one pass that processes runnable connections. See conn.h
 * for the rules that keep one request to one reply.
 */
#include "conn.h"

#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "egd.h" /* EGD_READ_NB: how EGD is told "no" */
#include "log.h"
#include "osdep.h"
#include "pbd.h"
#include "proto.h"

/* Replies up to this size go to a client holding no memory even when the
 * budget is spent: stats, health, errors and small reads never wait behind
 * bulk readers. At most max_clients of them: bounded. */
#define MEM_SMALL (4096u + 64u)
/* A client's share of the budget is never less than its largest request. */
#define MEM_MIN_SHARE (PROTO_MAX_READ_ENTROPY + 64u)
/* Connections accepted only to be told "busy", at most. */
#define REFUSE_SLOTS 64u

uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void conn_process(struct conn *c);

/* Only there so the loop polls without blocking while work is runnable;
 * the pass itself runs in the check handle, after the poll. */
static void keep_polling_cb(uv_idle_t *h)
{
    (void)h;
}

static void keep_polling(struct server *srv)
{
    if (!uv_is_active((uv_handle_t *)&srv->run_idle))
        uv_idle_start(&srv->run_idle, keep_polling_cb);
}


/* ---- the memory budget ------------------------------------------------- */

/* The budget is shared fairly: a client may always grow to its fair share
 * (the budget over the clients connected) while the budget has room, and
 * beyond it (up to MEM_MIN_SHARE, its largest request) only while a
 * quarter of the budget stays free. So a crowd of large requests cannot
 * take the last quarter from clients within their share, and a reply of
 * MEM_SMALL to a client holding nothing always goes. */
bool mem_admit(const struct conn *c, size_t len)
{
    const struct server *srv = c->srv;
    if (c->mem == 0 && len <= MEM_SMALL)
        return true;
    size_t limit = srv->cfg.max_memory;
    if (len > limit || srv->mem_used > limit - len)
        return false;
    size_t fair = limit / (srv->nconns ? srv->nconns : 1);
    if (c->mem + len <= fair)
        return true;
    return c->mem + len <= MEM_MIN_SHARE &&
           srv->mem_used + len <= limit - limit / 4;
}

/* Parks c until memory is handed back; its request stays unparsed in
 * c->in and is tried again then. */
void mem_block(struct conn *c)
{
    if (c->mem_blocked || c->closing)
        return;
    c->mem_blocked = true;
    TAILQ_INSERT_TAIL(&c->srv->mem_waiters, c, memq);
}

static void mem_unblock(struct conn *c)
{
    if (!c->mem_blocked)
        return;
    c->mem_blocked = false;
    TAILQ_REMOVE(&c->srv->mem_waiters, c, memq);
}

/* Memory handed back changes what other connections may do: it only sets
 * a flag, and the next pass gives everyone parked another try. Never
 * inside a walk: a walk's own test (say, "parked for memory") stays true
 * until the walk is done. */
static void mem_release(struct server *srv, size_t n)
{
    srv->mem_used -= n;
    if (!TAILQ_EMPTY(&srv->mem_waiters) && !srv->mem_freed) {
        srv->mem_freed = true;
        keep_polling(srv);
    }
}

static void mem_wake_parked(struct server *srv)
{
    if (!srv->mem_freed)
        return;
    srv->mem_freed = false;
    struct conn *c;
    while ((c = TAILQ_FIRST(&srv->mem_waiters))) {
        mem_unblock(c);
        conn_schedule(c);
    }
}

struct wreq *wreq_new(struct conn *c, size_t len, bool secret)
{
    if (len > SIZE_MAX - sizeof(struct wreq))
        return NULL;
    struct wreq *w = malloc(sizeof(*w) + len);
    if (!w)
        return NULL;
    w->c = c;
    w->len = w->size = len;
    w->early = 0;
    w->secret = secret;
    struct server *srv = c->srv;
    c->mem += len;
    srv->mem_used += len;
    if (srv->mem_used > srv->mem_peak)
        srv->mem_peak = srv->mem_used;
    if (srv->mem_used > srv->mem_trim_mark)
        srv->mem_trim_mark = srv->mem_used;
    return w;
}

void wreq_free(struct wreq *w)
{
    struct conn *c = w->c;
    if (w->secret)
        sodium_memzero(w->data, w->size);
    c->mem -= w->size;
    size_t n = w->size;
    free(w);
    mem_release(c->srv, n);
}

/* ---- output ------------------------------------------------------------ */

static void write_cb(uv_write_t *req, int status)
{
    struct wreq *w = (struct wreq *)req;
    struct conn *c = w->c;
    c->queued -= w->len - w->early;
    wreq_free(w);
    if (c->closing)
        return;
    if (status < 0) {
        log_debug("client write failed: %s", uv_strerror(status));
        conn_close(c);
        return;
    }
    c->last_active_ms = now_ms();
    conn_schedule_if_due(c);
}

void conn_send(struct conn *c, struct wreq *w)
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
    if (n < 0 && n != UV_EAGAIN) {
        wreq_free(w); /* EPIPE and the like: the peer is gone */
        conn_close(c);
        return;
    }
    if (n > 0) {
        w->early = (size_t)n;
        b = uv_buf_init((char *)w->data + n, (unsigned)(w->len - w->early));
    }
    c->queued += w->len - w->early;
    int rc = uv_write(&w->req, (uv_stream_t *)&c->pipe, &b, 1, write_cb);
    if (rc < 0) {
        c->queued -= w->len - w->early;
        wreq_free(w);
        conn_close(c);
    }
}

void send_frame(struct conn *c, uint8_t type, const void *payload,
                size_t len)
{
    struct wreq *w = wreq_new(c, PROTO_HDR_LEN + len, false);
    if (!w) {
        conn_close(c);
        return;
    }
    proto_encode_hdr(w->data, type, (uint32_t)len);
    if (len)
        memcpy(w->data + PROTO_HDR_LEN, payload, len);
    conn_send(c, w);
}

void send_bytes(struct conn *c, const void *data, size_t len)
{
    struct wreq *w = wreq_new(c, len, false);
    if (!w) {
        conn_close(c); /* no reply can be made: never leave it waiting */
        return;
    }
    memcpy(w->data, data, len);
    conn_send(c, w);
}

void send_text(struct conn *c, const char *s)
{
    send_bytes(c, s, strlen(s));
}

void send_error(struct conn *c, int err, bool fatal)
{
    c->srv->errors++;
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
    } else if (c->dialect == D_EGD && c->p.egd_cmd == EGD_READ_NB &&
               !c->refuse) {
        static const char zero = 0; /* "no bytes": EGD's only way to say no */
        send_bytes(c, &zero, 1);
    } else {
        fatal = true; /* EGD has no error reply: hang up */
    }
    if (fatal && !c->closing) {
        c->close_after_write = true;
        if (c->queued == 0)
            conn_close(c);
    }
}

/* ---- input ------------------------------------------------------------- */

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct conn *c = (struct conn *)h;
    *buf = uv_buf_init((char *)c->in + c->inlen,
                       (unsigned)(IN_CAP - c->inlen));
}

static void set_reading(struct conn *c, bool on);

bool conn_peer_gone(struct conn *c)
{
    uv_os_fd_t fd;
    return uv_fileno((uv_handle_t *)&c->pipe, &fd) == 0 &&
           osdep_peer_gone(fd);
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    struct conn *c = (struct conn *)s;
    if (n == UV_EOF) {
        /* libuv stops reading at EOF. A peer that only shut down its
         * sending side still reads its replies (nc -N, shutdown(SHUT_WR));
         * one that closed outright cancels its requests now. */
        c->reading = false;
        c->eof = true;
        if (conn_peer_gone(c)) {
            if (c->p.state != R_NONE)
                c->srv->hangups++;
            conn_close(c);
            return;
        }
        conn_schedule(c);
        return;
    }
    if (n == UV_ENOBUFS) {
        set_reading(c, false); /* input full: the pass resumes reading */
        return;
    }
    if (n < 0) {
        log_debug("client read: %s", uv_strerror((int)n));
        conn_close(c);
        return;
    }
    if (n == 0)
        return;
    c->inlen += (size_t)n;
    c->last_active_ms = now_ms();
    /* Requests are parsed in the pass, after this poll: until then libuv
     * would go on reading into a full buffer. */
    if (c->inlen == IN_CAP)
        set_reading(c, false);
    conn_schedule(c);
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

/* ---- processing -------------------------------------------------------- */

void conn_schedule(struct conn *c)
{
    struct server *srv = c->srv;
    if (c->runnable || c->closing)
        return;
    c->runnable = true;
    TAILQ_INSERT_TAIL(&srv->runnable, c, run);
    srv->nrunnable++;
    keep_polling(srv);
}

/* Whether a pass has anything to do for c once a reply is out or its
 * request ended: input already holds (part of) the next request, a stream
 * goes on, it must be hung up, or reading must resume. Otherwise nothing:
 * the next input schedules it, and the loop blocks in its poll meanwhile
 * (one poll per request, not two). */
void conn_schedule_if_due(struct conn *c)
{
    if (c->inlen > 0 || c->eof || c->close_after_write || !c->reading ||
        c->p.state == R_STREAMING)
        conn_schedule(c);
}

static void unschedule(struct conn *c)
{
    if (!c->runnable)
        return;
    c->runnable = false;
    TAILQ_REMOVE(&c->srv->runnable, c, run);
    c->srv->nrunnable--;
}

void conn_run_pass(struct server *srv)
{
    /* Only those runnable when the pass starts: one scheduled meanwhile
     * waits for the next pass, so a pass always ends. */
    mem_wake_parked(srv);
    unsigned n = srv->nrunnable;
    struct conn *c;
    while (n-- > 0 && (c = TAILQ_FIRST(&srv->runnable))) {
        unschedule(c);
        conn_process(c);
    }
    /* Nothing left for a pass: the next poll may block. */
    if (TAILQ_EMPTY(&srv->runnable) && !srv->mem_freed)
        uv_idle_stop(&srv->run_idle);
}

/* Answers c's requests in order until one is in progress, input runs out,
 * or a reply waits to be written. That is the flow control: the next
 * request is parsed only once every earlier reply is in the socket buffer
 * (queued == 0), so a client that does not read stops being answered when
 * its socket buffer is full, holding at most one reply of the budget.
 * Called only from the pass. */
static void conn_process(struct conn *c)
{
    struct server *srv = c->srv;
    while (!c->closing) {
        /* A drbg stream goes on as its socket drains; one that started
         * just now sends its first chunk (often all of it) in this pass. */
        if (c->p.state == R_STREAMING)
            srv->hooks->resume(c);
        if (c->closing || c->p.state != R_NONE || c->close_after_write ||
            c->mem_blocked || c->queued != 0 || c->inlen == 0)
            break;
        if (!mem_admit(c, MEM_SMALL)) {
            mem_block(c);
            break;
        }
        long n = srv->hooks->request(c);
        if (n <= 0)
            break;
        memmove(c->in, c->in + n, c->inlen - (size_t)n);
        c->inlen -= (size_t)n;
    }
    if (c->closing)
        return;
    /* After EOF nothing more will arrive: once the last request is
     * answered (a partial one never will be), hang up. With a reply still
     * queued, requests may remain: the write's completion comes back. */
    if (c->eof && c->p.state == R_NONE && !c->mem_blocked && c->queued == 0)
        c->close_after_write = true;
    if (c->close_after_write && c->queued == 0) {
        conn_close(c);
        return;
    }
    /* Read on while a request waits: that is how a hang-up is seen. */
    set_reading(c, !c->eof && !c->close_after_write && c->inlen < IN_CAP &&
                       c->queued < srv->cfg.max_queued);
}

/* ---- open and close ---------------------------------------------------- */

static void conn_free_cb(uv_handle_t *h)
{
    struct conn *c = (struct conn *)h;
    sodium_memzero(c, sizeof(*c));
    free(c);
}

void conn_close(struct conn *c)
{
    if (c->closing)
        return;
    struct server *srv = c->srv;
    srv->hooks->gone(c);
    c->closing = true;
    unschedule(c);
    mem_unblock(c);
    TAILQ_REMOVE(&srv->conns, c, all);
    if (c->refuse)
        srv->nrefusing--;
    else
        srv->nconns--;
    /* Queued writes come back to write_cb as cancelled before this. */
    uv_close((uv_handle_t *)&c->pipe, conn_free_cb);
}

static void refuse_close_cb(uv_handle_t *h)
{
    free(h);
}

void conn_accept(struct server *srv, uv_stream_t *l)
{
    bool over = srv->nconns >= srv->cfg.max_clients;
    if (srv->stopping || (over && srv->nrefusing >= REFUSE_SLOTS)) {
        /* No slot even to say why: accept and close at once. */
        uv_pipe_t *tmp = malloc(sizeof(*tmp));
        if (!tmp || uv_pipe_init(srv->loop, tmp, 0) != 0) {
            free(tmp);
            return;
        }
        srv->refused++;
        uv_accept(l, (uv_stream_t *)tmp);
        uv_close((uv_handle_t *)tmp, refuse_close_cb);
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
    TAILQ_INSERT_HEAD(&srv->conns, c, all);
    c->accepted_ms = c->last_active_ms = now_ms();
    if (over) {
        /* Told "busy" in its own dialect once it speaks, then closed. */
        c->refuse = PBD_EBUSY;
        srv->nrefusing++;
        srv->refused++;
        log_debug("refusing client: %u connections open", srv->nconns);
        set_reading(c, true);
        return;
    }
    srv->nconns++;
    srv->accepted++;
    uv_os_fd_t fd = -1;
    c->uid = (uid_t)-1;
    c->gid = (gid_t)-1;
    c->pid = -1;
    if (uv_fileno((uv_handle_t *)&c->pipe, &fd) != 0 ||
        osdep_peer_cred(fd, &c->uid, &c->gid, &c->pid) != 0)
        log_warnx("cannot read peer credentials; treating peer as unknown");
    c->denied = !srv->hooks->allowed(&srv->cfg, fd, c->uid, c->gid);
    if (c->denied)
        log_info("client uid %ld gid %ld not on the allow list",
                 (long)c->uid, (long)c->gid);
    set_reading(c, true);
}

void conn_reap_idle(struct server *srv, uint64_t now)
{
    for (struct conn *c = TAILQ_FIRST(&srv->conns), *nx; c; c = nx) {
        nx = TAILQ_NEXT(c, all);
        /* Not reading (its input is full, or it pipelined past a reply it
         * has not read): no end of file can reach us, so ask the socket.
         * A dead peer's waiting request is cancelled, its capture ended. */
        if (!c->reading && !c->eof && conn_peer_gone(c)) {
            if (c->p.state != R_NONE || c->mem_blocked)
                srv->hangups++;
            conn_close(c);
            continue;
        }
        if (c->refuse) {
            if (now - c->accepted_ms >= REFUSE_MS)
                conn_close(c);
            continue;
        }
        /* A read waiting for entropy (or a capture's samples) has its own
         * deadline, and one parked for the budget waits on us, not on the
         * client. last_active_ms may be later than now (stamped during this
         * tick): no wrap. */
        if (c->p.state == R_WAITING || c->p.state == R_CAPTURE ||
            c->mem_blocked ||
            c->last_active_ms >= now ||
            now - c->last_active_ms < srv->cfg.idle_ms)
            continue;
        /* A request that arrived since the last poll is no silence: closing
         * now would drop it unread and reset the peer. */
        uint8_t b;
        uv_os_fd_t fd;
        if (c->reading && uv_fileno((uv_handle_t *)&c->pipe, &fd) == 0 &&
            recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) > 0)
            continue;
        if (c->queued)
            srv->cut_off++;
        log_debug("closing idle client (uid %ld)", (long)c->uid);
        conn_close(c);
    }
}

/* pbd.c - libpbd: blocking client for preemptd; see include/pbd.h. */
#include "pbd.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "pbd-int.h"
#include "proto.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0 /* macOS: SO_NOSIGPIPE is set on the socket instead */
#endif

#define PIPELINE 4 /* read requests in flight on one connection */

/* A waiting entropy request must be filled within the daemon's wait limit,
 * which at tens of conditioned bytes per second means small requests; a
 * long read is many of them, so it goes on as long as entropy keeps
 * arriving. A no-wait read stays whole, so a refusal consumes nothing. */
#define WAIT_CHUNK_CONDITIONED 64u
#define WAIT_CHUNK_RAW 512u

static uint32_t chunk_for(pbd_mode mode, unsigned flags)
{
    uint32_t max = proto_max_read((uint8_t)mode);
    if (max == 0 || (flags & PBD_READ_NOWAIT))
        return max;
    if (mode == PBD_MODE_CONDITIONED)
        return WAIT_CHUNK_CONDITIONED;
    if (mode == PBD_MODE_RAW || mode == PBD_MODE_CAPTURE)
        return WAIT_CHUNK_RAW;
    return max;
}

struct pbd {
    int fd;    /* -1: no connection; the next call opens one */
    pid_t pid; /* the process that opened the handle, the only user */
    /* Samples of a capture came on this connection: losing it loses them. */
    bool capturing;
    /* A capture's connection went away and no capture read has said so
     * yet: the next one returns PBD_ELOST rather than begin anew. */
    bool capture_lost;
    size_t got; /* bytes of the reply being read that have arrived */
    struct sockaddr_un sa; /* where to connect again */
};

/* ---- deadlines ------------------------------------------------------- */

uint64_t pbd_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* How long a call waits for one reply: the daemon's wait limit for
 * wait_ms, as the daemon resolves it, plus the margin. */
static uint64_t reply_window_ns(uint32_t wait_ms)
{
    if (wait_ms == 0)
        wait_ms = PBD_WAIT_DEFAULT_MS;
    if (wait_ms > PBD_WAIT_MAX_MS)
        wait_ms = PBD_WAIT_MAX_MS;
    return ((uint64_t)wait_ms + PBD_DEADLINE_MARGIN_MS) * 1000000u;
}

/* Waits until fd is ready for events or the deadline passes. Returns 0
 * (ready, or hung up: the I/O call that follows says which), PBD_ETIMEDOUT
 * or PBD_EIO. */
static int fd_wait(int fd, short events, uint64_t deadline)
{
    for (;;) {
        uint64_t now = pbd_now_ns();
        if (now >= deadline)
            return PBD_ETIMEDOUT;
        uint64_t ms = (deadline - now + 999999u) / 1000000u; /* round up */
        struct pollfd pfd = {.fd = fd, .events = events};
        int n = poll(&pfd, 1, ms > INT_MAX ? INT_MAX : (int)ms);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR && errno != EAGAIN)
            return PBD_EIO;
    }
}

/* ---- the connection -------------------------------------------------- */

/* Opens a non-blocking, close-on-exec stream socket. Where socket() takes
 * the flags, no fork() in another thread can catch the descriptor without
 * close-on-exec. Returns the descriptor or -1. */
static int sock_new(void)
{
    int fd;
#if defined(SOCK_CLOEXEC) && defined(SOCK_NONBLOCK)
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd >= 0 || errno != EINVAL) /* EINVAL: a kernel without the flags */
        return fd;
#endif
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    int fl = fcntl(fd, F_GETFL);
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 || fl < 0 ||
        fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Why connect() failed, as a code a person can act on. */
static int connect_error(int e)
{
    switch (e) {
    case EACCES:
    case EPERM:
        return PBD_EACCESS;
    case ENOENT:
    case ENOTDIR:
        return PBD_ENOSOCKET;
    case ECONNREFUSED:
        return PBD_EREFUSED;
    default:
        return PBD_ECONNECT;
    }
}

/* Connects p to its path before the deadline. Without wait, a connection
 * that cannot complete at once is left for the next call: returns 0 with
 * p->fd still -1. Returns 0, PBD_ETIMEDOUT (a listener that does not
 * accept), or a connect error (connect_error()). */
static int conn_open(pbd_t *p, uint64_t deadline, bool wait)
{
    int fd = sock_new();
    if (fd < 0)
        return PBD_ECONNECT;
#ifdef SO_NOSIGPIPE
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof(one));
#endif
    int rc = PBD_ECONNECT;
    uint64_t pause_ms = 1;
    while (connect(fd, (struct sockaddr *)&p->sa, sizeof(p->sa)) != 0) {
        if (!wait && (errno == EINPROGRESS || errno == EAGAIN)) {
            rc = 0; /* the first call connects, within its deadline */
            goto fail;
        }
        if (errno == EINPROGRESS || errno == EINTR) {
            /* The connection completes on its own; poll says when. */
            int err = 0;
            socklen_t elen = sizeof(err);
            rc = fd_wait(fd, POLLOUT, deadline);
            if (rc == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err,
                                      &elen) != 0)
                rc = PBD_ECONNECT;
            else if (rc == 0 && err != 0)
                rc = connect_error(err);
            if (rc == 0)
                break;
            goto fail;
        }
        if (errno != EAGAIN) {
            rc = connect_error(errno);
            goto fail;
        }
        /* Linux: the listener's backlog is full and poll() cannot tell when
         * it drains, so try again after a pause that grows to 100 ms. */
        uint64_t now = pbd_now_ns();
        if (now >= deadline) {
            rc = PBD_ETIMEDOUT;
            goto fail;
        }
        uint64_t left_ms = (deadline - now + 999999u) / 1000000u;
        poll(NULL, 0, (int)(pause_ms < left_ms ? pause_ms : left_ms));
        pause_ms = pause_ms < 50 ? pause_ms * 2 : 100;
    }
    p->fd = fd;
    return 0;
fail:
    close(fd);
    return rc;
}

/* Closes the connection: after a missed deadline (a reply may still be on
 * its way, and must never be taken for a later request's), a break, or a
 * daemon out of step. A capture on it is lost. Idempotent. */
static void conn_drop(pbd_t *p)
{
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
    if (p->capturing)
        p->capture_lost = true;
    p->capturing = false;
}

/* What every call does first: refuses a handle from another process
 * without touching its socket, and connects one that has no connection.
 * Returns 0, PBD_EFORKED, or an error from conn_open(). */
static int conn_ready(pbd_t *p, uint64_t deadline)
{
    if (p->pid != getpid())
        return PBD_EFORKED;
    return p->fd < 0 ? conn_open(p, deadline, true) : 0;
}

/* Wipes len bytes in a way the compiler may not drop. */
static void wipe(void *p, size_t len)
{
    volatile unsigned char *v = p;
    while (len--)
        *v++ = 0;
}

int pbd_open(pbd_t **out, const char *path)
{
    if (!out)
        return PBD_EINVAL;
    *out = NULL;
    if (!path)
        path = pbd_default_socket();
    size_t len = strlen(path);
    if (len == 0)
        return PBD_EINVAL;
    pbd_t *p = calloc(1, sizeof(*p));
    if (!p)
        return PBD_ENOMEM;
    if (len >= sizeof(p->sa.sun_path)) {
        free(p);
        return PBD_EPATH;
    }
    p->sa.sun_family = AF_UNIX;
    memcpy(p->sa.sun_path, path, len + 1);
    p->pid = getpid();
    p->fd = -1;
    int rc = conn_open(p, 0, false);
    if (rc) {
        free(p);
        return rc;
    }
    *out = p;
    return 0;
}

void pbd_close(pbd_t *p)
{
    if (!p)
        return;
    /* Never shutdown(): in a forked child that would end the parent's
     * connection too; close() ends only this process's descriptor. */
    if (p->fd >= 0)
        close(p->fd);
    free(p);
}

/* Waits for fd to be ready before the deadline; on a miss or a failure,
 * drops the connection. Returns 0, PBD_ETIMEDOUT or PBD_EIO. */
static int conn_wait(pbd_t *p, short events, uint64_t deadline)
{
    int rc = fd_wait(p->fd, events, deadline);
    if (rc)
        conn_drop(p);
    return rc;
}

/* Drops the connection after a failed send or receive (errno set) and
 * returns the code for it: PBD_ECLOSED when the daemon had closed it. */
static int conn_failed(pbd_t *p)
{
    int e = errno;
    conn_drop(p);
    return e == EPIPE || e == ECONNRESET ? PBD_ECLOSED : PBD_EIO;
}

/* A call may send its request again on a new connection when the old one
 * closed before any byte of the reply it waits for came: the daemon then
 * served nothing of it that we could see, so nothing is taken twice. */
static bool lost_cleanly(const pbd_t *p, int err)
{
    return err == PBD_ECLOSED && p->got == 0;
}

static bool again(void)
{
    return errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK;
}

static int send_all(pbd_t *p, const void *buf, size_t len, uint64_t deadline)
{
    const uint8_t *b = buf;
    while (len) {
        /* Send first: the socket buffer almost always has room. */
        ssize_t n = send(p->fd, b, len, MSG_NOSIGNAL);
        if (n < 0) {
            /* Closed by the daemon: replies it sent first are still there
             * to read, so the connection stays until they are. */
            if (errno == EPIPE || errno == ECONNRESET)
                return PBD_ECLOSED;
            if (!again())
                return conn_failed(p);
            int rc = conn_wait(p, POLLOUT, deadline);
            if (rc)
                return rc;
            continue;
        }
        b += n;
        len -= (size_t)n;
    }
    return 0;
}

static int recv_all(pbd_t *p, void *buf, size_t len, uint64_t deadline)
{
    uint8_t *b = buf;
    while (len) {
        /* Poll first: a reply is rarely there the moment we look. */
        int rc = conn_wait(p, POLLIN, deadline);
        if (rc)
            return rc;
        ssize_t n = recv(p->fd, b, len, 0);
        if (n == 0) {
            conn_drop(p);
            return PBD_ECLOSED;
        }
        if (n < 0) {
            if (again())
                continue;
            return conn_failed(p);
        }
        b += n;
        len -= (size_t)n;
        p->got += (size_t)n;
    }
    return 0;
}

/* Reads and drops len bytes. */
static int skip(pbd_t *p, size_t len, uint64_t deadline)
{
    uint8_t junk[512];
    while (len) {
        size_t k = len < sizeof(junk) ? len : sizeof(junk);
        int rc = recv_all(p, junk, k, deadline);
        wipe(junk, k);
        if (rc)
            return rc;
        len -= k;
    }
    return 0;
}

/* Finishes reading an error frame whose first `have` payload bytes are
 * already in pre, and returns its code. */
static int read_error(pbd_t *p, const struct proto_hdr *h, const uint8_t *pre,
                      size_t have, uint64_t deadline)
{
    uint8_t code[4];
    if (have > h->len) {
        conn_drop(p); /* we read past the frame: out of step */
        return PBD_EPROTO;
    }
    size_t k = have < 4 ? have : 4;
    if (k)
        memcpy(code, pre, k); /* pre may be NULL when k is 0 */
    int rc = recv_all(p, code + k, 4 - k, deadline);
    if (rc == 0)
        rc = skip(p, h->len - (have > 4 ? have : 4), deadline);
    if (rc)
        return rc;
    uint32_t v = proto_get_u32(code);
    if (v == 0 || v > 1000) {
        conn_drop(p);
        return PBD_EPROTO;
    }
    return -(int)v;
}

/* Decodes and checks a reply header. Returns 0 for the expected reply, 1
 * for an error frame, or a negative code (the connection is then dropped). */
static int check_hdr(pbd_t *p, const uint8_t raw[PROTO_HDR_LEN],
                     uint8_t req_type, long expect, struct proto_hdr *h)
{
    int rc = proto_decode_hdr(raw, h);
    if (rc == 0)
        rc = proto_check_reply(h, req_type, expect);
    if (rc < 0)
        conn_drop(p);
    return rc;
}

/* Reads one reply header for req_type and checks it. Returns 0 for a
 * reply, a negative code otherwise (error frames are consumed). */
static int read_reply_hdr(pbd_t *p, uint8_t req_type, long expect,
                          struct proto_hdr *h, uint64_t deadline)
{
    uint8_t raw[PROTO_HDR_LEN];
    int rc = recv_all(p, raw, sizeof(raw), deadline);
    if (rc)
        return rc;
    rc = check_hdr(p, raw, req_type, expect, h);
    return rc == 1 ? read_error(p, h, NULL, 0, deadline) : rc;
}

/* Reads the reply to a READ of want bytes into out. When it is the only
 * request in flight, nothing can follow its reply, so header and payload
 * are read with one recvmsg: for a small read, one poll and one recvmsg. */
static int read_data_reply(pbd_t *p, uint8_t *out, size_t want, bool alone,
                           uint64_t deadline)
{
    uint8_t raw[PROTO_HDR_LEN];
    size_t have = 0; /* payload bytes already in out */
    struct proto_hdr h;
    if (alone) {
        struct iovec iov[2] = {{raw, sizeof(raw)}, {out, want}};
        struct msghdr m;
        memset(&m, 0, sizeof(m));
        m.msg_iov = iov;
        m.msg_iovlen = 2;
        ssize_t n;
        do {
            int rc = conn_wait(p, POLLIN, deadline);
            if (rc)
                return rc;
            n = recvmsg(p->fd, &m, 0);
        } while (n < 0 && again());
        if (n == 0) {
            conn_drop(p);
            return PBD_ECLOSED;
        }
        if (n < 0)
            return conn_failed(p);
        p->got += (size_t)n;
        if ((size_t)n < sizeof(raw)) {
            int rc = recv_all(p, raw + n, sizeof(raw) - (size_t)n, deadline);
            if (rc)
                return rc;
        } else {
            have = (size_t)n - sizeof(raw);
        }
    } else {
        int rc = recv_all(p, raw, sizeof(raw), deadline);
        if (rc)
            return rc;
    }
    int rc = check_hdr(p, raw, PROTO_T_READ, (long)want, &h);
    if (rc == 1)
        return read_error(p, &h, out, have, deadline);
    if (rc)
        return rc;
    return recv_all(p, out + have, want - have, deadline);
}

/* The earlier of a reply's deadline and the call's limit. */
static uint64_t reply_deadline(uint64_t window, uint64_t limit)
{
    uint64_t d = pbd_now_ns() + window;
    return d < limit ? d : limit;
}

int pbd_read_until(pbd_t *p, void *buf, size_t len, pbd_mode mode,
                   unsigned flags, uint32_t timeout_ms, uint64_t limit)
{
    if (!p || (!buf && len) || (flags & ~(PBD_READ_NOWAIT | PBD_READ_RESTART)))
        return PBD_EINVAL;
    uint32_t chunk = chunk_for(mode, flags);
    if (chunk == 0)
        return PBD_EINVAL;
    /* A capture waits for the samples that follow; a restart's are one
     * request, the first samples after it. */
    bool capture = mode == PBD_MODE_CAPTURE;
    bool restart = (flags & PBD_READ_RESTART) != 0;
    if (capture && (flags & PBD_READ_NOWAIT))
        return PBD_EINVAL;
    if (restart) {
        if (!capture || len == 0 || len > PROTO_MAX_READ_ENTROPY)
            return PBD_EINVAL;
        chunk = (uint32_t)len;
    }
    if (p->pid != getpid())
        return PBD_EFORKED;
    /* A capture lost since its last read: say so before anything else, and
     * never carry on with a new capture as if it were the same one. */
    if (capture && p->capture_lost) {
        p->capture_lost = false;
        return PBD_ELOST;
    }
    /* Each reply gets its own window, from the reply before it: the daemon
     * starts a request's wait once it has answered the previous one, so a
     * long read goes on for as long as replies keep coming. */
    uint64_t window = reply_window_ns(timeout_ms);
    uint64_t deadline = reply_deadline(window, limit);
    int err = conn_ready(p, deadline);
    uint8_t *out = buf;
    size_t nreq = len / chunk + (len % chunk != 0);
    size_t sent = 0, done = 0;
    bool retried = false; /* a new connection since the last reply */
    bool hold = false;    /* the daemon hung up: read what it owes first */
    /* Keep up to PIPELINE requests in flight; replies come back in order. */
    while (!err && done < nreq) {
        while (!err && !hold && sent < nreq && sent - done < PIPELINE) {
            size_t off = sent * chunk;
            struct proto_read r = {
                .len = (uint32_t)(len - off < chunk ? len - off : chunk),
                .wait_ms = timeout_ms,
                .mode = (uint8_t)mode,
                .flags = (uint8_t)flags,
            };
            uint8_t req[PROTO_HDR_LEN + PROTO_READ_PAYLOAD];
            size_t n = proto_encode_read(req, &r);
            err = send_all(p, req, n, deadline);
            if (!err)
                sent++;
            else if (err == PBD_ECLOSED)
                hold = true; /* replies already sent may still be there */
        }
        if (err && !hold)
            break;
        err = PBD_ECLOSED; /* nothing owed: the connection is gone */
        p->got = 0;
        if (sent > done) {
            size_t off = done * chunk;
            size_t want = len - off < chunk ? len - off : chunk;
            err = read_data_reply(p, out + off, want, sent - done == 1,
                                  deadline);
            if (!err) {
                done++;
                retried = false;
                /* A restart read's samples are its whole capture. */
                if (capture)
                    p->capturing = !restart;
                deadline = reply_deadline(window, limit);
                continue;
            }
        }
        if (!lost_cleanly(p, err))
            break;
        /* Gone before any byte of the reply we wait for: the daemon closed
         * an idle connection, or restarted. Send the rest again on a new
         * connection, once per reply; never a capture's or a restart's. */
        conn_drop(p);
        if ((capture && p->capture_lost) || (restart && sent > 0) || retried)
            break;
        retried = true;
        hold = false;
        sent = done;
        err = conn_open(p, deadline, true);
    }
    /* An error frame, which leaves the connection up: the daemon said why
     * (shutting down, a failed source...), and that is the answer. */
    bool told = err && p->fd >= 0;
    if (told) {
        /* The daemon ended a capture that overran or whose source failed,
         * and said so. */
        if (err == PBD_EOVERRUN || err == PBD_EHEALTH)
            p->capturing = false;
        /* Replies still owed after an error would only be thrown away, and
         * each may take a full wait: drop the connection, not drain it. */
        if (sent - done > 1)
            conn_drop(p);
    }
    /* A capture whose connection went without a word from the daemon:
     * PBD_ELOST (after an error frame, the next capture read says so). */
    if (err && !told && ((capture && p->capture_lost) ||
                         (restart && sent > 0 && p->fd < 0))) {
        p->capture_lost = false;
        err = PBD_ELOST;
    }
    if (err && len)
        wipe(buf, len);
    return err;
}

int pbd_read_ex(pbd_t *p, void *buf, size_t len, pbd_mode mode,
                unsigned flags, uint32_t timeout_ms)
{
    return pbd_read_until(p, buf, len, mode, flags, timeout_ms, UINT64_MAX);
}

int pbd_read(pbd_t *p, void *buf, size_t len, pbd_mode mode)
{
    return pbd_read_ex(p, buf, len, mode, 0, 0);
}

/* Sends a bodiless request and reads the reply's header; sends it again on
 * a new connection, once, when the old one was gone before any byte of the
 * reply came. Returns 0 or an error (error frames are consumed). */
static int request_hdr(pbd_t *p, uint8_t type, struct proto_hdr *h,
                       uint64_t deadline)
{
    int rc = conn_ready(p, deadline);
    for (int tries = 0; rc == 0; tries++) {
        uint8_t req[PROTO_HDR_LEN];
        proto_encode_hdr(req, type, 0);
        p->got = 0;
        rc = send_all(p, req, sizeof(req), deadline);
        if (rc == 0 || rc == PBD_ECLOSED) /* a reply may be there still */
            rc = p->fd < 0 ? PBD_ECLOSED
                           : read_reply_hdr(p, type, -1, h, deadline);
        if (!lost_cleanly(p, rc) || tries > 0)
            break;
        conn_drop(p);
        rc = conn_open(p, deadline, true);
    }
    return rc;
}

/* Sends a bodiless request and reads a text-ish reply into buf (cap bytes,
 * NUL-terminated). Returns 0, PBD_ETOOBIG when truncated, or an error. */
static int simple_request(pbd_t *p, uint8_t type, uint8_t *buf, size_t cap,
                          size_t *outlen, uint64_t limit)
{
    if (!p || !buf || cap == 0)
        return PBD_EINVAL;
    /* No wait asked for: the default window, as for a read with 0. */
    uint64_t deadline = reply_deadline(reply_window_ns(0), limit);
    struct proto_hdr h;
    int rc = request_hdr(p, type, &h, deadline);
    if (rc)
        return rc;
    size_t keep = h.len < cap - 1 ? h.len : cap - 1;
    rc = recv_all(p, buf, keep, deadline);
    if (rc == 0)
        rc = skip(p, h.len - keep, deadline);
    if (rc)
        return rc;
    buf[keep] = '\0';
    *outlen = keep;
    return keep < h.len ? PBD_ETOOBIG : 0;
}

int pbd_stats_until(pbd_t *p, char *buf, size_t cap, uint64_t limit)
{
    size_t n;
    return simple_request(p, PROTO_T_STATS, (uint8_t *)buf, cap, &n, limit);
}

int pbd_stats(pbd_t *p, char *buf, size_t cap)
{
    return pbd_stats_until(p, buf, cap, UINT64_MAX);
}

int pbd_health(pbd_t *p, pbd_health_state *state, char *msg, size_t cap)
{
    uint8_t buf[1024];
    size_t n;
    if (!state || (cap && !msg))
        return PBD_EINVAL;
    int rc = simple_request(p, PROTO_T_HEALTH, buf, sizeof(buf), &n,
                            UINT64_MAX);
    if (rc && rc != PBD_ETOOBIG)
        return rc;
    if (n < 1 || buf[0] > PBD_HEALTH_FAILED)
        return PBD_EPROTO;
    *state = (pbd_health_state)buf[0];
    if (cap) {
        size_t k = n - 1 < cap - 1 ? n - 1 : cap - 1;
        memcpy(msg, buf + 1, k);
        msg[k] = '\0';
    }
    return 0;
}

int pbd_reseed(pbd_t *p, char *msg, size_t cap)
{
    char buf[256];
    size_t n;
    if (cap && !msg)
        return PBD_EINVAL;
    int rc = simple_request(p, PROTO_T_RESEED, (uint8_t *)buf, sizeof(buf),
                            &n, UINT64_MAX);
    if (rc && rc != PBD_ETOOBIG)
        return rc;
    if (cap) {
        size_t k = n < cap - 1 ? n : cap - 1;
        memcpy(msg, buf, k);
        msg[k] = '\0';
    }
    return 0;
}

const char *pbd_version(void)
{
    return PBD_VERSION_STRING;
}

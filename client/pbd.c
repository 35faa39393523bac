/* pbd.c - libpbd: blocking client for preemptd; see include/pbd.h. */
#include "pbd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

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
    if (mode == PBD_MODE_RAW)
        return WAIT_CHUNK_RAW;
    return max;
}

struct pbd {
    int fd;
    bool broken; /* a reply was lost mid-stream: the connection is unusable */
    pid_t pid;   /* the process that opened the handle, the only user */
};

/* What every call checks first: refuses a handle from another process
 * without touching its socket, which the parent still uses. Returns 0,
 * PBD_EFORKED or PBD_ECLOSED. */
static int handle_check(const pbd_t *p)
{
    if (p->pid != getpid())
        return PBD_EFORKED;
    return p->broken ? PBD_ECLOSED : 0;
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
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    size_t len = strlen(path);
    if (len == 0)
        return PBD_EINVAL;
    if (len >= sizeof(sa.sun_path))
        return PBD_EPATH;
    memcpy(sa.sun_path, path, len + 1);
    /* Close-on-exec from the start where socket() takes the flag: a fork()
     * in another thread before a later fcntl() would leak the descriptor
     * into whatever the child runs. */
#ifdef SOCK_CLOEXEC
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
#else
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd >= 0 && fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
        close(fd);
        fd = -1;
    }
#endif
    if (fd < 0)
        return PBD_ECONNECT;
#ifdef SO_NOSIGPIPE
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof(one));
#endif
    int rc;
    do {
        rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) {
        close(fd);
        return PBD_ECONNECT;
    }
    pbd_t *p = calloc(1, sizeof(*p));
    if (!p) {
        close(fd);
        return PBD_ENOMEM;
    }
    p->fd = fd;
    p->pid = getpid();
    *out = p;
    return 0;
}

void pbd_close(pbd_t *p)
{
    if (!p)
        return;
    /* Never shutdown(): in a forked child that would end the parent's
     * connection too; close() ends only this process's descriptor. */
    close(p->fd);
    free(p);
}

static int send_all(pbd_t *p, const void *buf, size_t len)
{
    const uint8_t *b = buf;
    while (len) {
        ssize_t n = send(p->fd, b, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            p->broken = true;
            return errno == EPIPE || errno == ECONNRESET ? PBD_ECLOSED
                                                         : PBD_EIO;
        }
        b += n;
        len -= (size_t)n;
    }
    return 0;
}

static int recv_all(pbd_t *p, void *buf, size_t len)
{
    uint8_t *b = buf;
    while (len) {
        ssize_t n = recv(p->fd, b, len, 0);
        if (n == 0) {
            p->broken = true;
            return PBD_ECLOSED;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            p->broken = true;
            return errno == ECONNRESET ? PBD_ECLOSED : PBD_EIO;
        }
        b += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads and drops len bytes. */
static int skip(pbd_t *p, size_t len)
{
    uint8_t junk[512];
    while (len) {
        size_t k = len < sizeof(junk) ? len : sizeof(junk);
        int rc = recv_all(p, junk, k);
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
                      size_t have)
{
    uint8_t code[4];
    if (have > h->len) {
        p->broken = true; /* we read past the frame: out of step */
        return PBD_EPROTO;
    }
    size_t k = have < 4 ? have : 4;
    if (k)
        memcpy(code, pre, k); /* pre may be NULL when k is 0 */
    int rc = recv_all(p, code + k, 4 - k);
    if (rc == 0)
        rc = skip(p, h->len - (have > 4 ? have : 4));
    if (rc)
        return rc;
    uint32_t v = proto_get_u32(code);
    if (v == 0 || v > 1000)
        return PBD_EPROTO;
    return -(int)v;
}

/* Decodes and checks a reply header. Returns 0 for the expected reply, 1
 * for an error frame, or a negative code (the connection is then broken). */
static int check_hdr(pbd_t *p, const uint8_t raw[PROTO_HDR_LEN],
                     uint8_t req_type, long expect, struct proto_hdr *h)
{
    int rc = proto_decode_hdr(raw, h);
    if (rc == 0)
        rc = proto_check_reply(h, req_type, expect);
    if (rc < 0)
        p->broken = true;
    return rc;
}

/* Reads one reply header for req_type and checks it. Returns 0 for a
 * reply, a negative code otherwise (error frames are consumed). */
static int read_reply_hdr(pbd_t *p, uint8_t req_type, long expect,
                          struct proto_hdr *h)
{
    uint8_t raw[PROTO_HDR_LEN];
    int rc = recv_all(p, raw, sizeof(raw));
    if (rc)
        return rc;
    rc = check_hdr(p, raw, req_type, expect, h);
    return rc == 1 ? read_error(p, h, NULL, 0) : rc;
}

/* Reads the reply to a READ of want bytes into out. When it is the only
 * request in flight, nothing can follow its reply, so header and payload
 * are read with one recvmsg: one system call for a small read. */
static int read_data_reply(pbd_t *p, uint8_t *out, size_t want, bool alone)
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
            n = recvmsg(p->fd, &m, 0);
        } while (n < 0 && errno == EINTR);
        if (n <= 0) {
            p->broken = true;
            return n == 0 || errno == ECONNRESET ? PBD_ECLOSED : PBD_EIO;
        }
        if ((size_t)n < sizeof(raw)) {
            int rc = recv_all(p, raw + n, sizeof(raw) - (size_t)n);
            if (rc)
                return rc;
        } else {
            have = (size_t)n - sizeof(raw);
        }
    } else {
        int rc = recv_all(p, raw, sizeof(raw));
        if (rc)
            return rc;
    }
    int rc = check_hdr(p, raw, PROTO_T_READ, (long)want, &h);
    if (rc == 1)
        return read_error(p, &h, out, have);
    if (rc)
        return rc;
    return recv_all(p, out + have, want - have);
}

int pbd_read_ex(pbd_t *p, void *buf, size_t len, pbd_mode mode,
                unsigned flags, uint32_t timeout_ms)
{
    if (!p || (!buf && len) || (flags & ~PBD_READ_NOWAIT))
        return PBD_EINVAL;
    uint32_t chunk = chunk_for(mode, flags);
    if (chunk == 0)
        return PBD_EINVAL;
    int rc0 = handle_check(p);
    if (rc0)
        return rc0;
    uint8_t *out = buf;
    size_t nreq = len / chunk + (len % chunk != 0);
    size_t sent = 0, done = 0;
    int err = 0;
    /* Keep up to PIPELINE requests in flight; replies come back in order. */
    while (done < nreq) {
        while (!err && sent < nreq && sent - done < PIPELINE) {
            size_t off = sent * chunk;
            struct proto_read r = {
                .len = (uint32_t)(len - off < chunk ? len - off : chunk),
                .wait_ms = timeout_ms,
                .mode = (uint8_t)mode,
                .flags = (uint8_t)(flags & PBD_READ_NOWAIT),
            };
            uint8_t req[PROTO_HDR_LEN + PROTO_READ_PAYLOAD];
            size_t n = proto_encode_read(req, &r);
            int rc = send_all(p, req, n);
            if (rc) {
                err = rc;
                break;
            }
            sent++;
        }
        if (done == sent)
            break;
        size_t off = done * chunk;
        size_t want = len - off < chunk ? len - off : chunk;
        int rc;
        if (!err) {
            rc = read_data_reply(p, out + off, want, sent - done == 1);
        } else {
            /* Drain replies to requests sent before the failure. */
            struct proto_hdr h;
            rc = read_reply_hdr(p, PROTO_T_READ, (long)want, &h);
            if (rc == 0)
                rc = skip(p, want);
        }
        if (rc && !err)
            err = rc;
        done++;
        if (p->broken)
            break;
    }
    if (err && len)
        wipe(buf, len);
    return err;
}

int pbd_read(pbd_t *p, void *buf, size_t len, pbd_mode mode)
{
    return pbd_read_ex(p, buf, len, mode, 0, 0);
}

/* Sends a bodiless request and reads a text-ish reply into buf (cap bytes,
 * NUL-terminated). Returns 0, PBD_ETOOBIG when truncated, or an error. */
static int simple_request(pbd_t *p, uint8_t type, uint8_t *buf, size_t cap,
                          size_t *outlen)
{
    if (!p || !buf || cap == 0)
        return PBD_EINVAL;
    int rc = handle_check(p);
    if (rc)
        return rc;
    uint8_t req[PROTO_HDR_LEN];
    proto_encode_hdr(req, type, 0);
    rc = send_all(p, req, sizeof(req));
    if (rc)
        return rc;
    struct proto_hdr h;
    rc = read_reply_hdr(p, type, -1, &h);
    if (rc)
        return rc;
    size_t keep = h.len < cap - 1 ? h.len : cap - 1;
    rc = recv_all(p, buf, keep);
    if (rc == 0)
        rc = skip(p, h.len - keep);
    if (rc)
        return rc;
    buf[keep] = '\0';
    *outlen = keep;
    return keep < h.len ? PBD_ETOOBIG : 0;
}

int pbd_stats(pbd_t *p, char *buf, size_t cap)
{
    size_t n;
    return simple_request(p, PROTO_T_STATS, (uint8_t *)buf, cap, &n);
}

int pbd_health(pbd_t *p, pbd_health_state *state, char *msg, size_t cap)
{
    uint8_t buf[1024];
    size_t n;
    if (!state || (cap && !msg))
        return PBD_EINVAL;
    int rc = simple_request(p, PROTO_T_HEALTH, buf, sizeof(buf), &n);
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

/* Keeps no connection between calls, on purpose: there is no hidden handle
 * for a forked child to inherit, so it works in a child like anywhere. */
int pbd_getentropy(void *buf, size_t len)
{
    pbd_t *p;
    int rc = pbd_open(&p, NULL);
    if (rc)
        return rc;
    rc = pbd_read(p, buf, len, PBD_MODE_CONDITIONED);
    pbd_close(p);
    return rc;
}

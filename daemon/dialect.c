/*
 * dialect.c - the three dialects on one socket: framed binary (libpbd),
 * text lines (nc -U) and EGD. Each handler parses one request at the front
 * of the connection's input and answers it or starts it (reads_start); it never
 * loops over requests, which is the pass's job (conn.c).
 */
#include "conn.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "egd.h"
#include "pbd.h"
#include "proto.h"
#include "textcmd.h"

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
    int st = status_health(c->srv, msg, sizeof(msg) - 2); /* room for LF */
    size_t n = strlen(msg);
    if (text) {
        msg[n] = '\n';
        msg[n + 1] = '\0';
        send_text(c, msg);
    } else {
        uint8_t buf[301];
        buf[0] = (uint8_t)st;
        memcpy(buf + 1, msg, n);
        send_frame(c, PROTO_T_HEALTH | PROTO_T_REPLY, buf, n + 1);
    }
}

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
    switch (req.type) {
    case PROTO_T_READ: {
        struct request rq = {
            .mode = req.rd.mode,
            .len = req.rd.len,
            .wait_ms = req.rd.wait_ms,
            .nowait = (req.rd.flags & PROTO_READ_NOWAIT) != 0,
            .restart = (req.rd.flags & PROTO_READ_RESTART) != 0,
            .how = D_BINARY,
        };
        if (reads_start(c, &rq) != 0)
            return 0; /* parked for memory: parsed again later */
        break;
    }
    case PROTO_T_STATS:
        do_stats(c, false);
        break;
    case PROTO_T_HEALTH:
        do_health(c, false);
        break;
    case PROTO_T_RESEED:
        vmwatch_reseed_cmd(c, false);
        break;
    case PROTO_T_VERSION: {
        char v[64];
        int len = snprintf(v, sizeof(v), "%cpreemptd %s", PROTO_VERSION,
                           PBD_VERSION_STRING);
        send_frame(c, PROTO_T_VERSION | PROTO_T_REPLY, v, (size_t)len);
        break;
    }
    }
    c->srv->requests++;
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
    if (textcmd_parse((const char *)c->in, linelen, &req, &err) != 0) {
        char line[128];
        snprintf(line, sizeof(line), "error: %s\n", err);
        c->srv->requests++;
        c->srv->errors++;
        send_text(c, line);
        return n;
    }
    switch (req.cmd) {
    case TEXT_READ: {
        struct request rq = {.mode = req.mode, .len = req.n,
                             .nowait = req.nowait, .how = D_TEXT};
        if (reads_start(c, &rq) != 0)
            return 0;
        break;
    }
    case TEXT_STATS:
        do_stats(c, true);
        break;
    case TEXT_HEALTH:
        do_health(c, true);
        break;
    case TEXT_VERSION:
        send_text(c, "preemptd " PBD_VERSION_STRING " protocol 1\n");
        break;
    case TEXT_RESEED:
        vmwatch_reseed_cmd(c, true);
        break;
    case TEXT_HELP:
        send_text(c, textcmd_help);
        break;
    case TEXT_QUIT:
        c->srv->requests++;
        c->close_after_write = true;
        return n;
    }
    c->srv->requests++;
    return n;
}

static long handle_egd(struct conn *c)
{
    struct egd_req req;
    long n = egd_parse(c->in, c->inlen, &req);
    if (n <= 0) {
        if (n < 0) {
            c->srv->errors++;
            c->close_after_write = true; /* EGD has no error reply */
        }
        return n;
    }
    struct request rq = {.mode = PBD_MODE_CONDITIONED, .how = D_EGD,
                         .egd_cmd = (uint8_t)req.cmd};
    switch (req.cmd) {
    case EGD_LEVEL: {
        size_t stock = reads_egd_stock(c->srv);
        uint8_t b[4];
        proto_put_u32(b, (uint32_t)(stock * 8));
        send_bytes(c, b, sizeof(b));
        break;
    }
    case EGD_READ_NB: {
        /* Up to n bytes of what is in stock now; 0 bytes is a valid reply. */
        size_t stock = reads_egd_stock(c->srv);
        uint32_t k = req.n < stock ? req.n : (uint32_t)stock;
        if (k == 0) {
            static const uint8_t none = 0; /* a zero count: EGD's "no" */
            c->srv->errors++;
            send_bytes(c, &none, 1);
            break;
        }
        rq.len = k;
        rq.nowait = true;
        if (reads_start(c, &rq) != 0)
            return 0;
        break;
    }
    case EGD_READ:
        rq.len = req.n;
        if (reads_start(c, &rq) != 0)
            return 0;
        break;
    case EGD_WRITE:
        /* preemptd takes no outside input; no reply is due. */
        break;
    case EGD_PID: {
        char pid[24];
        int len = snprintf(pid + 1, sizeof(pid) - 1, "%ld", (long)getpid());
        pid[0] = (char)len; /* a count byte, then the digits */
        send_bytes(c, pid, 1 + (size_t)len);
        break;
    }
    }
    c->srv->requests++;
    return n;
}

static enum dialect sniff(const struct conn *c)
{
    uint8_t b = c->in[0];
    if (b == PROTO_MAGIC)
        return D_BINARY;
    if ((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z'))
        return D_TEXT;
    if (b <= EGD_PID && (c->srv->cfg.egd || c->refuse))
        return D_EGD;
    return D_UNKNOWN;
}

long dialect_handle(struct conn *c)
{
    if (c->dialect == D_UNKNOWN) {
        c->dialect = sniff(c);
        if (c->dialect == D_UNKNOWN) {
            send_error(c, PBD_EPROTO, true);
            return -1;
        }
    }
    /* Refused or denied: told why in its own dialect, then closed. */
    if (c->refuse || c->denied) {
        send_error(c, c->refuse ? c->refuse : PBD_EPERM, true);
        return -1;
    }
    switch (c->dialect) {
    case D_BINARY:
        return handle_binary(c);
    case D_TEXT:
        return handle_text(c);
    case D_EGD:
        return handle_egd(c);
    default:
        return -1;
    }
}

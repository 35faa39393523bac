/*
 * dialect.c - the three dialects on one socket: framed binary (libpbd),
 * text lines (nc -U) and EGD. Each handler parses one request at the front
 * of the connection's input and answers it or starts it (reads.c); it never
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
    case PROTO_T_READ:
        if ((req.rd.mode == PBD_MODE_CAPTURE
                 ? capture_start(c, &req.rd)
                 : reads_start(c, req.rd.mode, req.rd.len,
                               (req.rd.flags & PROTO_READ_NOWAIT) != 0,
                               req.rd.wait_ms, D_BINARY, 0)) != 0)
            return 0; /* parked for memory: parsed again later */
        break;
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
    case TEXT_READ:
        if (reads_start(c, req.mode, req.n, req.nowait, 0, D_TEXT, 0) != 0)
            return 0;
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
    c->p.egd_cmd = (uint8_t)req.cmd; /* send_error answers in kind */
    switch (req.cmd) {
    case EGD_LEVEL: {
        size_t stock = reads_egd_stock(c->srv);
        uint8_t b[4];
        proto_put_u32(b, (uint32_t)(stock * 8));
        struct wreq *w = wreq_new(c, 4, false);
        if (w) {
            memcpy(w->data, b, 4);
            conn_send(c, w);
        }
        break;
    }
    case EGD_READ_NB: {
        /* Up to n bytes of what is in stock now; 0 bytes is a valid reply. */
        size_t stock = reads_egd_stock(c->srv);
        uint32_t k = req.n < stock ? req.n : (uint32_t)stock;
        if (k == 0) {
            send_error(c, PBD_EAGAIN, false);
            break;
        }
        if (reads_start(c, PBD_MODE_CONDITIONED, k, true, 0, D_EGD,
                        EGD_READ_NB) != 0)
            return 0;
        break;
    }
    case EGD_READ:
        if (reads_start(c, PBD_MODE_CONDITIONED, req.n, false, 0, D_EGD,
                        EGD_READ) != 0)
            return 0;
        break;
    case EGD_WRITE:
        /* preemptd takes no outside input; no reply is due. */
        break;
    case EGD_PID: {
        char pid[24];
        int len = snprintf(pid, sizeof(pid), "%ld", (long)getpid());
        struct wreq *w = wreq_new(c, 1 + (size_t)len, false);
        if (w) {
            w->data[0] = (uint8_t)len;
            memcpy(w->data + 1, pid, (size_t)len);
            conn_send(c, w);
        }
        break;
    }
    }
    if (c->p.state == R_NONE)
        c->p.egd_cmd = 0;
    c->srv->requests++;
    return n;
}

long dialect_handle(struct conn *c)
{
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

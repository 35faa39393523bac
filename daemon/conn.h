/*
 * conn.h - the server's insides, shared by its files and nobody else:
 * a connection, its one request in progress, and the calls between
 *
 *   conn.c     the transport: accept, read, write, close, the budget, and
 *              the one pass that processes runnable connections; it calls
 *              up only through the hooks server.c gives it (conn_hooks)
 *   request.c  the request layer's base: a request's one reply or none,
 *              the health gate, deadlines, the raw-read policy (request.h)
 *   reads.c    starting every read; reads that wait for entropy, the
 *              waiter queue, drbg streams
 *   capture.c  consecutive samples for assessment, noise-source restarts
 *   dialect.c  the three dialects: one request parsed and answered or started
 *   status.c   the stats JSON and the health line
 *   server.c   loop plumbing: wake-up, tick, signals, shutdown; wires the
 *              layers (the hooks) and acts on the flags set below it
 *              (memory freed, an internal failure): never inside a walk
 *
 * The lifecycle, in one paragraph (README and docs/protocol.md say more):
 * input only ever marks a connection runnable; requests are parsed and
 * started from one place, conn_run_pass(), which takes runnable connections
 * one at a time off a queue. Completing a request (request_finish) sends
 * its reply and marks the connection runnable again if its input already
 * holds more (conn_schedule_if_due); it never parses the next request
 * itself. So no walk over connections or waiters ever runs with a callee
 * that can reach another connection's request: one request, one reply.
 *
 * Layers, bottom up; a file calls only those below it by name
 * (tools/layers.py checks it): conn.c; request.c; capture.c; reads.c;
 * status.c and listener.c; vmwatch.c; dialect.c; server.c.
 */
#ifndef PBD_CONN_H
#define PBD_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>
#include <uv.h>

#include "proto.h"
#include "server.h"

#define IN_CAP 320u /* a text line (256 + CRLF) or an EGD write (259) */
/* drbg replies are generated this much at a time as the socket drains. */
#define DRBG_CHUNK (64u * 1024u)
/* ... or this much when the budget is short: small enough (text: 3 * 1024
 * + 2) to be a reply every client holding nothing may have (conn.c). */
#define DRBG_SMALL_CHUNK 1024u
/* A connection refused over --max-clients is given this long to send its
 * first bytes (so it can be told why in its own dialect). */
#define REFUSE_MS 1000u

enum dialect { D_UNKNOWN, D_BINARY, D_TEXT, D_EGD };

/* One reply buffer; the data follows the struct. Counted against the
 * server's memory budget from wreq_new() to wreq_free(). */
struct wreq {
    uv_write_t req;
    struct conn *c;
    size_t len;        /* bytes to send */
    size_t size;       /* bytes allocated in data[] */
    size_t early;      /* bytes uv_try_write sent before uv_write */
    bool secret;
    uint8_t data[];
};

/* One request as the three dialects produce it: one value for all. */
struct request {
    uint8_t mode;      /* PBD_MODE_* */
    uint32_t len;      /* entropy bytes (samples, for a capture) */
    uint32_t wait_ms;  /* 0: --wait-ms */
    bool nowait;
    bool restart;      /* a capture read that restarts the source first */
    enum dialect how;  /* reply format */
    uint8_t egd_cmd;   /* EGD_READ or EGD_READ_NB: how EGD is told "no" */
};

/* The request in progress on a connection (busy), if any: filled by
 * reads_start() from a struct request, ended by request_finish() or
 * request_cancel(). */
enum req_state {
    R_NONE,
    R_WAITING,   /* a read waiting for entropy, on the waiter queue */
    R_STREAMING, /* a drbg reply being generated as the socket drains */
    R_CAPTURE,   /* a capture read, owner of srv->cap (capture.c) */
};

struct pending {
    enum req_state state;
    uint8_t mode;
    enum dialect how;   /* reply format */
    uint8_t egd_cmd;
    bool restart;       /* R_CAPTURE: the first samples after a restart */
    uint32_t need, got; /* entropy bytes asked for / gathered */
    uint32_t left;      /* R_STREAMING: drbg bytes still to send */
    struct wreq *w;     /* R_WAITING: the reply, filled as bytes arrive */
    uint8_t *bytes;     /* where in w the entropy goes */
    uint64_t deadline_ms;
};

struct conn {
    uv_pipe_t pipe; /* first: the handle's address is the conn's */
    struct server *srv;
    TAILQ_ENTRY(conn) all;  /* srv->conns */
    TAILQ_ENTRY(conn) wait; /* srv->waiters, while p.state == R_WAITING */
    TAILQ_ENTRY(conn) run;  /* srv->runnable, while runnable */
    TAILQ_ENTRY(conn) memq; /* srv->mem_waiters, while mem_blocked */
    bool runnable;
    bool waitq;             /* on srv->waiters */
    bool closing;
    bool reading;
    bool eof;               /* peer will send no more (it may still read) */
    bool close_after_write; /* hang up once queued output is written */
    bool denied;
    bool mem_blocked;       /* a request waits for the memory budget */
    int refuse;             /* non-zero: answer the first request with this
                             * error and hang up (over --max-clients) */
    enum dialect dialect;
    uint8_t in[IN_CAP];
    size_t inlen;
    size_t queued;          /* bytes handed to uv_write, not yet written */
    size_t mem;             /* bytes this connection holds of the budget */
    uint64_t accepted_ms;
    uint64_t last_active_ms;
    uid_t uid;
    gid_t gid;
    pid_t pid;
    struct pending p;
};

uint64_t now_ms(void);

/* What the transport (conn.c) calls up through: it knows no request, no
 * dialect and no listener by name. server_start sets srv->hooks. */
struct conn_hooks {
    /* Handles one request at the front of c->in: the bytes consumed
     * (> 0), 0 when more input is needed or it cannot start yet
     * (c->mem_blocked), -1 after a fatal error (dialect_handle). */
    long (*request)(struct conn *c);
    /* Goes on with c's request in progress now that its socket has room
     * (a drbg stream: reads_stream). */
    void (*resume)(struct conn *c);
    /* c is closing: its request is cancelled, what it holds released. */
    void (*gone)(struct conn *c);
    /* Whether the peer may use the socket (listener_peer_allowed). */
    bool (*allowed)(const struct server_config *cfg, int fd, uid_t uid,
                    gid_t gid);
};

/* ---- conn.c ---- */
/* Marks c to be processed by the next pass; cheap and idempotent. */
void conn_schedule(struct conn *c);
/* conn_schedule, only when the pass has something to do for c (its
 * input holds more, a stream goes on, it is to be closed, reading must
 * resume): after a reply or a request's end. */
void conn_schedule_if_due(struct conn *c);
/* Processes runnable connections; the loop's check handle calls it. */
void conn_run_pass(struct server *srv);
/* Closes c: cancels its request (bytes gathered for it are wiped, never
 * served), frees its buffers in the close callback. Idempotent. */
void conn_close(struct conn *c);
/* Accepts one pending connection from the listener. */
void conn_accept(struct server *srv, uv_stream_t *listener);
/* Whether c's peer has closed (it can no longer read a reply). */
bool conn_peer_gone(struct conn *c);
/* Closes connections idle too long, refusals that never spoke, and peers
 * gone while they were not being read. */
void conn_reap_idle(struct server *srv, uint64_t now);

/* Reply buffers. wreq_new() returns NULL when memory is short. */
struct wreq *wreq_new(struct conn *c, size_t len, bool secret);
void wreq_free(struct wreq *w);
/* Queues w on c and takes ownership of it. */
void conn_send(struct conn *c, struct wreq *w);
/* Whether the budget lets c take len more bytes now (see docs). */
bool mem_admit(const struct conn *c, size_t len);
/* Parks c until memory is handed back; its request is tried again then. */
void mem_block(struct conn *c);

void send_frame(struct conn *c, uint8_t type, const void *payload,
                size_t len);
/* A copy of data as one reply; closes c when no buffer can be had. */
void send_bytes(struct conn *c, const void *data, size_t len);
void send_text(struct conn *c, const char *s);
/* Reports err in c's dialect; fatal: hang up once it is written. */
void send_error(struct conn *c, int err, bool fatal);

/* ---- dialect.c ---- */
/* The request hook: sniffs the dialect, refuses or denies in kind, then
 * handles one request at the front of c->in. Returns the bytes consumed
 * (> 0), 0 when more input is needed or the request cannot start yet
 * (c->mem_blocked), -1 after a fatal error. */
long dialect_handle(struct conn *c);

/* request.c, the request layer's base (ending a request, the health gate,
 * deadlines, the raw-read policy), is declared in request.h. */

/* ---- reads.c ---- */
/* Starts rq on c (a read, a drbg stream, a capture: capture_start):
 * answers at once, fails (one reply, in c's dialect), or makes it c's
 * request in progress. Returns 0, or -1 when the budget has no room yet
 * (nothing sent; c->mem_blocked is set: the dialect parses it again
 * later). */
int reads_start(struct conn *c, const struct request *rq);
/* Generates the next drbg chunk of c's stream if its socket has room. */
void reads_stream(struct conn *c);
/* Serves waiters from the pool, round-robin, and seeds the DRBG first. */
void reads_serve(struct server *srv);
/* Fails waiters whose deadline has passed. */
void reads_expire(struct server *srv, uint64_t now);
/* The stock an EGD no-wait read may take now (0 while others wait). */
size_t reads_egd_stock(struct server *srv);

/* ---- capture.c ---- */
/* The tap's buffer, set up once at start. Returns 0 or -1. */
int capture_init(struct server *srv);
void capture_free(struct server *srv);
/* reads_start() for a capture read (PBD_MODE_CAPTURE, rq->restart:
 * restart first), c->p already filled: answers, fails, or makes c the
 * capture's owner. Returns 0, or -1 when the budget has no room yet. */
int capture_start(struct conn *c, const struct request *rq);
/* Answers the capture read waiting, if the tap holds its samples. */
void capture_serve(struct server *srv);
/* capture_serve, then fails a capture read past its deadline. */
void capture_expire(struct server *srv, uint64_t now);
/* c is closing: its capture session, if any, ends. */
void capture_conn_gone(struct conn *c);

/* ---- server.c ---- */
/* Stops the server: waiting requests are told why, connections close.
 * While a restart joins the sampler thread, the pass after it finishes
 * the stop. An internal failure sets srv->fail_why instead: the next pass
 * stops the server and it exits SERVER_EXIT_FAILURE. */
void server_stop(struct server *srv, const char *why);

/* ---- status.c ---- */
int status_health(struct server *srv, char *msg, size_t cap);

#endif

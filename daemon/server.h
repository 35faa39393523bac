/*
 * server.h - the libuv side: listener, connections, the three dialects
 * (framed binary, text lines, EGD), waiting requests, timers and signals.
 * Everything here runs on the loop thread; the sampler reaches it only
 * through the ring and a uv_async wake-up.
 */
#ifndef PBD_SERVER_H
#define PBD_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "pool.h"
#include "sampler.h"

#define SERVER_MAX_IDS 16

struct server_config {
    const char *socket_path;
    int activated_fd;        /* from the service manager, or -1 */
    unsigned sock_mode;      /* e.g. 0660 */
    gid_t sock_gid;          /* (gid_t)-1: leave as is */
    unsigned max_clients;
    size_t max_queued;       /* bytes queued for one client before it is cut off */
    unsigned idle_ms;        /* silent client, or one not reading, is closed */
    unsigned wait_ms;        /* default wait for entropy */
    unsigned max_wait_ms;    /* longest wait a client may ask for */
    unsigned reseed_ms;
    double h_bits;
    /* Access: empty lists allow everyone. uid 0 and our own uid always pass. */
    uid_t allow_uid[SERVER_MAX_IDS];
    gid_t allow_gid[SERVER_MAX_IDS];
    uid_t raw_uid[SERVER_MAX_IDS];
    unsigned n_allow_uid, n_allow_gid, n_raw_uid;
    bool egd;                /* accept EGD on the main socket */
    bool feed_kernel;        /* RNDADDENTROPY (Linux) */
    unsigned feed_interval_ms;
};

struct conn;

struct server {
    struct server_config cfg;
    uv_loop_t *loop;
    uv_pipe_t listener;
    uv_async_t wake;
    uv_timer_t tick;
    uv_signal_t sig[3];
    struct sampler *sampler;
    struct pool pool;
    struct conn *conns;      /* all connections */
    struct conn *wait_head, *wait_tail; /* requests waiting for entropy */
    unsigned nconns, nwaiting;
    bool own_socket;         /* we created the path: unlink it on exit */
    bool listening;
    bool ready;              /* first start-up test passed, READY=1 sent */
    bool stopping;
    bool off_cpu;            /* the sampler ran off its CPU since the last tick */
    uint64_t last_migrations;
    uint64_t start_ms;
    uint64_t last_feed_ms;
    /* counters for stats */
    uint64_t accepted, refused, requests, errors, timeouts, cut_off;
    uint64_t kernel_fed_bytes;
    uint64_t rate_events, rate_ms;  /* last tick's sample, for event rate */
    double event_rate;
};

/* Binds or adopts the listening socket (see README: lifecycle). Returns 0,
 * or -1 after logging why. Run before dropping privileges. */
int server_listen(struct server *srv, uv_loop_t *loop,
                  const struct server_config *cfg);

/* Sets up the pool, async, timers and signals, and starts accepting.
 * The sampler must be initialised but need not be started yet. Returns 0 or
 * -1 after logging. */
int server_start(struct server *srv, struct sampler *sampler);

/* For the sampler's wake callback: thread-safe. */
void server_wake(void *srv);

/* After uv_run returns: closes the socket (unlinking what we created) and
 * wipes the pool. */
void server_cleanup(struct server *srv);

/* Writes the stats JSON object (no newline) into buf; returns its length,
 * or a value >= cap when truncated. */
size_t server_stats_json(struct server *srv, char *buf, size_t cap);

#endif

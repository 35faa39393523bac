/*
 * server.h - the libuv side: listener, connections, the three dialects
 * (framed binary, text lines, EGD), waiting requests, timers and signals.
 * Everything here runs on the loop thread; the sampler reaches it only
 * through the ring, its published stats and a uv_async wake-up. conn.h
 * lists the files behind this interface.
 */
#ifndef PBD_SERVER_H
#define PBD_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>
#include <uv.h>

#include "listener.h"
#include "pool.h"
#include "sampler.h"
#include "vmwatch.h"

#define SERVER_MAX_IDS 16
/* Exit status after an internal failure stopped a running daemon
 * (preemptd(8)): 1 is a failed start, 2 bad options. */
#define SERVER_EXIT_FAILURE 3
#define SERVER_NSIGNALS 11

struct server_config {
    const char *socket_path;
    int activated_fd;        /* from the service manager, or -1 */
    unsigned sock_mode;      /* e.g. 0660 */
    gid_t sock_gid;          /* (gid_t)-1: leave as is */
    unsigned max_clients;
    size_t max_queued;       /* bytes queued for one client before it is cut off */
    size_t max_memory;       /* all reply and waiting buffers together */
    unsigned idle_ms;        /* silent client, or one not reading, is closed */
    unsigned wait_ms;        /* default wait for entropy */
    unsigned max_wait_ms;    /* longest wait a client may ask for */
    unsigned reseed_ms;
    int os_mix;              /* enum pool_os_mix: --drbg-os-mix */
    double h_bits;
    const char *credit_source; /* where h_bits came from (credit.h) */
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
struct conn_hooks;
TAILQ_HEAD(conn_list, conn);

/* The capture tap: one capture (or restart) at a time (capture.c). It
 * holds twice the largest capture read, so a read of that size is not
 * overrun while it is being answered. */
#define CAPTURE_TAP (128u * 1024u)
struct capture {
    struct conn *owner;      /* the connection capturing, if any */
    struct ring ring;        /* the tap, over buf */
    uint8_t *buf;
    bool armed;              /* the sampler diverts to the tap */
    bool dirty;              /* holds samples of an ended capture */
    bool restarting;         /* a restart is on the thread pool */
    int failed;              /* PBD_E* for the owner's next read: its
                              * capture broke with no read waiting */
    uv_work_t work;
    struct sampler_cal cal;  /* what the restart's calibration found */
    uint64_t sessions, restarts, samples, overruns;
    uint64_t owner_samples, owner_restarts; /* counts when owner came */
};

struct server {
    struct server_config cfg;
    const struct conn_hooks *hooks; /* the transport's calls up (conn.h) */
    uv_loop_t *loop;
    uv_pipe_t listener;
    uv_async_t wake;
    uv_timer_t tick;
    uv_timer_t expiry;       /* reads.c: the earliest waiting read's deadline */
    uint64_t expiry_at;      /* when expiry fires (ms, now_ms()); 0: idle */
    uv_check_t run_check;    /* processes runnable connections */
    uv_idle_t run_idle;      /* keeps the loop from blocking meanwhile */
    uv_signal_t sig[SERVER_NSIGNALS];
    struct sampler *sampler;
    struct pool pool;
    struct capture cap;
    struct vmwatch vmw;        /* signs of duplicated DRBG state */
    struct conn_list conns;    /* all connections */
    struct conn_list waiters;  /* reads waiting for entropy, in turn */
    struct conn_list runnable; /* to be processed by the next pass */
    struct conn_list mem_waiters; /* requests waiting for the budget */
    unsigned nconns, nwaiting, nrefusing, nrunnable;
    size_t mem_used, mem_peak; /* bytes of the budget in use, and the most */
    size_t mem_trim_mark;      /* peak since memory was last handed back */
    bool serve_due;            /* a waiter was queued: serve after the pass */
    bool mem_freed;            /* memory handed back: the next pass wakes
                                * those parked for it (conn.c) */
    int exit_status;           /* main's: 0, or 3 after an internal failure */
    int seen_health;           /* last health state logged */
    uint64_t seen_epoch;       /* last failure epoch logged */
    uint64_t emfile_logged_ms;
    uint64_t emfile_count;
    struct listener_claim claim; /* lock and socket path (listener.c) */
    bool ready;              /* first start-up test passed, READY=1 sent */
    bool stopping;
    bool stopped;            /* server_stop_finish ran */
    const char *fail_why;    /* an internal failure: the pass stops us */
    bool off_cpu;            /* the sampler ran off its CPU since the last tick */
    const char *demand_why;  /* what needs entropy now (demand policy), or NULL */
    uint64_t last_migrations;
    uint64_t start_ms;
    uint64_t last_feed_ms;
    /* counters for stats */
    uint64_t accepted, refused, requests, errors, timeouts, cut_off, hangups;
    uint64_t kernel_fed_bytes;
    /* Event rate: per second of sampling (the sampler sleeps while the
     * ring is full), and per wall-clock second, over the last second. */
    uint64_t rate_events, rate_ms, rate_sampling_us;
    double event_rate, event_rate_wall;
};

/* Sets up the pool, async, timers and signals, and starts accepting.
 * The sampler must be initialised but need not be started yet. Returns 0 or
 * -1 after logging. */
int server_start(struct server *srv, struct sampler *sampler);

/* The signals server_start handles: SIGTERM and SIGINT stop, SIGUSR1
 * logs the stats, the rest (default-fatal ones that can reasonably
 * arrive) are logged and ignored. main blocks them until then. */
extern const int server_signals[];
extern const size_t server_nsignals;

/* For the sampler's wake callback: thread-safe. */
void server_wake(void *srv);

/* After uv_run returns: removes the socket path if it is still ours
 * (server_unlisten) and wipes the pool. */
void server_cleanup(struct server *srv);

/* Writes the stats JSON object (no newline) into buf; returns its length,
 * or a value >= cap when truncated. */
size_t server_stats_json(struct server *srv, char *buf, size_t cap);

#endif

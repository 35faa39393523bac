/*
 * main.c - start-up and tear-down order; options are config.c's.
 *
 * Order matters: options (config.c: the configuration file, the command
 * line and the credit file, checked once they are all in) -> fit max_clients to the fd limit -> claim the
 * socket (lock, probe, bind, listen, rename; maybe as root) -> drop
 * privileges -> lock and pre-fault the ring -> calibrate -> start the
 * loop's handles -> start the sampler -> run. The socket listens before its
 * path appears, so a client that connects during the seconds of calibration
 * waits in the backlog instead of being refused. Tear-down runs it
 * backwards; the sampler stops before the async handle it wakes is closed,
 * and the path is removed (if still ours) before the lock is let go.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "calcache.h"
#include "config.h"
#include "counter.h"
#ifdef PBD_FAULT_INJECTION
#include "faulthook.h"
#endif
#include "log.h"
#include "osdep.h"
#include "pbd.h"
#include "ring.h"
#include "sampler.h"
#include "server.h"

/* Resolves --user/--group up front, so a typo fails before anything binds. */
static int resolve_ids(const struct config *o, uid_t *uid, gid_t *gid,
                       gid_t *sock_gid)
{
    *uid = (uid_t)-1;
    *gid = (gid_t)-1;
    *sock_gid = (gid_t)-1;
    if (o->group) {
        struct group *g = getgrnam(o->group);
        if (!g) {
            log_err("unknown group '%s'", o->group);
            return -1;
        }
        *sock_gid = *gid = g->gr_gid;
    }
    if (o->user) {
        if (geteuid() != 0) {
            log_err("--user needs preemptd to be started as root");
            return -1;
        }
        struct passwd *pw = getpwnam(o->user);
        if (!pw) {
            log_err("unknown user '%s'", o->user);
            return -1;
        }
        *uid = pw->pw_uid;
        if (*gid == (gid_t)-1)
            *gid = pw->pw_gid;
    }
    return 0;
}

static int drop_privileges(uid_t uid, gid_t gid)
{
    if (uid == (uid_t)-1)
        return 0;
    if (setgroups(1, &gid) != 0 || setgid(gid) != 0 || setuid(uid) != 0) {
        log_err("cannot drop privileges to uid %ld gid %ld: %s", (long)uid,
                (long)gid, strerror(errno));
        return -1;
    }
    if (setuid(0) == 0) {
        log_err("privileges were not dropped: setuid(0) still works");
        return -1;
    }
    log_info("running as uid %ld gid %ld", (long)uid, (long)gid);
    return 0;
}

/* Many clients want many descriptors: take the hard limit, then serve no
 * more clients than it leaves room for. Returns 0, or -1 after logging. */
static int fit_nofile(struct server_config *srv)
{
    uint64_t nofile = osdep_raise_nofile();
    unsigned fit = config_fit_clients(srv->max_clients, nofile);
    if (fit == 0) {
        log_err("the open-file limit is %llu descriptors, too few to serve "
                "a client (the daemon keeps %u): raise it (ulimit -n, "
                "LimitNOFILE=)", (unsigned long long)nofile, CONFIG_NOFILE_OWN);
        return -1;
    }
    if (fit < srv->max_clients) {
        log_info("max_clients lowered from %u to %u to fit the open-file "
                 "limit of %llu descriptors (%llu kept for the daemon and for "
                 "refusing clients); raise the limit to serve more",
                 srv->max_clients, fit, (unsigned long long)nofile,
                 (unsigned long long)(nofile - fit));
        srv->max_clients = fit;
    }
    return 0;
}

static uint64_t mono_ms(void)
{
    return uv_hrtime() / 1000000u;
}

static void close_any_cb(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* The signals the loop handles (server_signals) wait until it can: before
 * that their default action would end us without removing the socket
 * path. */
static void hold_stop_signals(int how)
{
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < server_nsignals; i++)
        sigaddset(&set, server_signals[i]);
    sigprocmask(how, &set, NULL);
}

int main(int argc, char **argv)
{
    struct config o;
    char msg[512];
    config_defaults(&o);
    log_init(LOG_LVL_INFO);
    switch (config_parse(&o, argc, argv, msg, sizeof(msg))) {
    case CONFIG_OK:
        break;
    case CONFIG_HELP:
        config_usage(stdout);
        return 0;
    case CONFIG_VERSION:
        printf("preemptd %s (protocol 1, counter %s)\n", PBD_VERSION_STRING,
               COUNTER_NAME);
        return 0;
    default:
        fprintf(stderr, "preemptd: %s\n", msg);
        return 2;
    }
    log_init(o.log_level);
    log_info("configuration file: %s", o.config_used ? o.config_used : "none");
    log_info("credit %.3f bits/byte from %s", o.credit, o.credit_source);

    if (sodium_init() < 0) {
        log_err("libsodium failed to initialise");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN); /* a vanished client is an EPIPE, not a death */
    signal(SIGHUP, SIG_IGN);  /* until the loop's handler (a reseed) is in */
    hold_stop_signals(SIG_BLOCK);
    if (fit_nofile(&o.srv) != 0)
        return 1;

    uid_t uid;
    gid_t gid;
    if (resolve_ids(&o, &uid, &gid, &o.srv.sock_gid) != 0)
        return 1;

    int rc = osdep_activation_fd(&o.srv.activated_fd, msg, sizeof(msg));
    if (rc < 0) {
        log_err("socket activation: %s", msg);
        return 1;
    }

    uv_loop_t loop;
    uv_loop_init(&loop);
    static struct server srv; /* large; its address is shared with callbacks */
    int status = 1;
    uint8_t *ringbuf = NULL;
    bool sampler_ready = false;
    struct sampler *smp = calloc(1, sizeof(*smp));
    struct ring ring;
    if (!smp) {
        log_err("out of memory");
        goto out;
    }
    if (server_listen(&srv, &loop, &o.srv) != 0)
        goto out;
    if (drop_privileges(uid, gid) != 0)
        goto out;

    /* sodium_malloc: guard pages, and mlock where RLIMIT_MEMLOCK allows.
     * Touch every page now so the hot loop never faults. */
    ringbuf = sodium_malloc(o.ring_size);
    if (!ringbuf) {
        log_err("cannot allocate a %zu-byte ring", o.ring_size);
        goto out;
    }
    memset(ringbuf, 0, o.ring_size);
    ring_init(&ring, ringbuf, o.ring_size, o.ring_size - o.ring_size / 4,
              o.ring_size);

    /* Calibration, through the cache in the state directory: a restart
     * skips the counter's frequency measurement (150 ms on x86-64). */
    struct sampler_cal cal;
    uint64_t cal_t0 = mono_ms();
    calcache_calibrate(o.state_dir, &o.smp,
                       o.smp.cpu >= 0 ? o.smp.cpu : osdep_last_cpu(), &cal,
                       msg, sizeof(msg));
    log_info("calibration: %s (%llu ms)", msg,
             (unsigned long long)(mono_ms() - cal_t0));
    o.smp.cal = &cal;
    o.smp.wake = server_wake;
    o.smp.wake_arg = &srv;
    if (sampler_init(smp, &o.smp, &ring) != 0) {
        log_err("bad health-test parameters (credit %.3f, alpha 2^%.0f)",
                o.smp.h_bits, o.smp.alpha_log2);
        goto out;
    }
    sampler_ready = true;
    log_info("preemptd %s: counter %s at %.3f MHz, median delta %llu ticks, "
             "threshold %llu ticks (%.2f us); credit %.3f bits/byte; "
             "RCT cutoff %u, APT cutoff %u/%u; ring %zu bytes",
             PBD_VERSION_STRING, COUNTER_NAME, smp->setup.freq / 1e6,
             (unsigned long long)smp->setup.median_delta,
             (unsigned long long)smp->setup.threshold,
             smp->setup.threshold * 1e6 / (double)smp->setup.freq,
             o.smp.h_bits,
             atomic_load(&smp->shared.st.rct_cutoff),
             atomic_load(&smp->shared.st.apt_cutoff),
             HEALTH_APT_WINDOW, o.ring_size);
#ifdef PBD_FAULT_INJECTION
    if (o.smp.fault)
        log_warnx("FAULT INJECTION: counter replaced (%s)",
                  sampler_fault_name(o.smp.fault));
#endif
    if (server_start(&srv, smp) != 0)
        goto out;
#ifdef PBD_FAULT_INJECTION
    faulthook_start(&srv);
#endif
    hold_stop_signals(SIG_UNBLOCK); /* the loop's handlers are in place */
    rc = sampler_start(smp);
    if (rc != 0) {
        log_err("cannot start the sampler thread: %s", strerror(rc));
        goto out;
    }
    /* The thread fills in how pinning went as its first act. */
    for (int i = 0; i < 200 && !atomic_load(&smp->shared.st.running); i++)
        usleep(1000);
    log_info("sampler: %s", sampler_pin_note(smp));
    osdep_notify("STATUS=running the start-up health test");

    uv_run(&loop, UV_RUN_DEFAULT);
    status = srv.exit_status; /* 0, or SERVER_EXIT_FAILURE */
out:
    if (sampler_ready) {
        sampler_stop(smp);
        sampler_destroy(smp);
    }
    server_cleanup(&srv);
    uv_walk(&loop, close_any_cb, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    if (ringbuf) {
        sodium_memzero(ringbuf, o.ring_size);
        sodium_free(ringbuf);
    }
    free(smp);
#ifdef PBD_FAULT_INJECTION
    faulthook_free();
#endif
    if (status == 0)
        log_info("stopped");
    else if (status == SERVER_EXIT_FAILURE)
        log_err("stopped after an internal failure (exit %d)", status);
    return status;
}

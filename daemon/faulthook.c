/*
 * faulthook.c - test build only (preemptd-fault, -DPBD_FAULT_INJECTION):
 * signals that stand in for what a test cannot do to a real machine.
 *
 *   SIGRTMIN      snapshot the DRBG (key and counters)
 *   SIGRTMIN + 1  restore that snapshot: as a VM restored from a snapshot
 *                 finds its DRBG, with nothing told yet
 *   SIGRTMIN + 2  add 5 s to the time-asleep clock: as a suspend and resume
 *
 * Never in the installed daemon.
 */
#include "faulthook.h"

#include <signal.h>
#include <sodium.h>
#include <string.h>

#include "log.h"

#ifdef SIGRTMIN
static struct drbg fault_snap; /* test build only: no guarded memory */
static bool fault_have_snap;
static uv_signal_t fault_sig[3];

static void fault_cb(uv_signal_t *h, int signum)
{
    struct server *srv = h->data;
    struct drbg *d = &srv->pool.sec->drbg;
    if (signum == SIGRTMIN) {
        fault_snap = *d;
        fault_have_snap = true;
        log_warnx("FAULT INJECTION: DRBG snapshot taken");
    } else if (signum == SIGRTMIN + 1 && fault_have_snap) {
        *d = fault_snap;
        log_warnx("FAULT INJECTION: DRBG restored from the snapshot");
    } else if (signum == SIGRTMIN + 2) {
        srv->vmw.fake_asleep_ns += 5000000000;
        log_warnx("FAULT INJECTION: the time-asleep clock moved 5 s");
    }
}

void faulthook_start(struct server *srv)
{
    for (int i = 0; i < 3; i++) {
        uv_signal_init(srv->loop, &fault_sig[i]);
        fault_sig[i].data = srv;
        uv_signal_start(&fault_sig[i], fault_cb, SIGRTMIN + i);
    }
}

void faulthook_free(void)
{
    sodium_memzero(&fault_snap, sizeof(fault_snap));
}
#else
void faulthook_start(struct server *srv)
{
    (void)srv;
}

void faulthook_free(void)
{
}
#endif

/*
 * vmwatch.h - signs that the DRBG's state may now exist twice: a VM
 * restored from a snapshot or cloned, a suspend and resume, or an operator
 * asking. Each goes to pool_event() (pool.h says what it does: fresh OS
 * bytes into the key at once, a reseed from the source as soon as it can)
 * and is logged with its reason, as is the reseed it causes.
 *
 *   sign                                   platform  event
 *   uevent NEW_VMGENID=1 (vmgenid driver)  Linux     POOL_EV_VMGENID
 *   power notify(3) (sleep, wake)          macOS     POOL_EV_POWER
 *   the time-asleep clock grew (osdep.h)   both      POOL_EV_CLOCK
 *   the sampler's gaps grew (leap > 1 s)   both      POOL_EV_GAP
 *   SIGHUP                                 both      POOL_EV_SIGNAL
 *   the reseed command                     both      POOL_EV_REQUEST
 *
 * The clocks and the gaps are looked at before every drbg reply chunk (the
 * pool's guard: no system call); the notification descriptor when libuv
 * finds it readable (the poll phase, before the pass serves requests);
 * everything once a second. Loop thread only.
 */
#ifndef PBD_VMWATCH_H
#define PBD_VMWATCH_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "pool.h"

/* Growth of the time-asleep clock that counts as a suspend. Reads whose
 * own uncertainty is over half of it are not judged. */
#define VMWATCH_ASLEEP_MS 100

struct server;
struct conn;

struct vmwatch {
    struct server *srv;
    uv_timer_t timer;
    uv_poll_t poll;
    bool polling;
    int fd;                 /* the OS's announcements, or -1 */
    int fd_event;           /* enum pool_event they mean */
    char note[96];          /* what is watched: stats and the log */
    int64_t asleep_ns;      /* the time-asleep clock at the last look */
    int64_t fake_asleep_ns; /* fault injection: added to that clock */
    uint64_t seen_gaps;     /* the sampler's gaps at the last look */
    uint64_t logged_reseeds; /* drbg reseeds already logged */
    uint64_t said_ms[POOL_EV_COUNT]; /* when each kind was last logged */
};

/* Opens the OS's announcements (their absence is logged, not an error),
 * takes the clocks' and the sampler's first readings, installs the pool's
 * guard and starts the timer. Returns 0. */
int vmwatch_start(struct vmwatch *w, struct server *srv);

/* Closes the descriptor (after the loop has closed the handles). */
void vmwatch_free(struct vmwatch *w);

/* Records one event (enum pool_event) for the reason given in the log,
 * then reseeds from the source at once if a block is in stock. */
void vmwatch_event(struct vmwatch *w, int why, const char *detail);

/* Looks at every sign now (the guard and the timer call it). */
void vmwatch_check(struct vmwatch *w);

/* The reseed command, in c's dialect (text when text): root and the
 * daemon's own uid only (else PBD_EPERM). One reply. */
void vmwatch_reseed_cmd(struct conn *c, bool text);

#endif

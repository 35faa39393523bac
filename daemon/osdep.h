/*
 * osdep.h - everything that differs between Linux and macOS, behind one
 * interface: osdep-linux.c and osdep-darwin.c implement it.
 */
#ifndef PBD_OSDEP_H
#define PBD_OSDEP_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* Returns the highest-numbered CPU this process may run on (Linux: from its
 * affinity mask, so taskset and cgroups are honoured), or 0. */
int osdep_last_cpu(void);

/* Returns the CPU the calling thread runs on, or -1 where unknown (macOS). */
int osdep_current_cpu(void);

/* How much the sampler thread may take from the host's own work. */
enum osdep_priority {
    OSDEP_PRIO_NORMAL = 0, /* Linux SCHED_OTHER nice 0; macOS QoS utility */
    OSDEP_PRIO_IDLE = 1,   /* Linux SCHED_IDLE; macOS QoS background */
    OSDEP_PRIO_DEMAND = 2, /* the sampler's policy only: IDLE at rest,
                            * NORMAL while something needs entropy */
};

/* Called first on the sampler thread: names it, pins it to cpu (Linux: hard
 * affinity; macOS: an affinity tag, a hint only), applies priority (enum
 * osdep_priority) to this thread alone, and writes a one-line account of
 * what happened into note. A priority that cannot be set is said in the
 * note and is not an error. Returns 1 when the thread is pinned for real,
 * 0 when not (or only hinted). */
int osdep_sampler_thread_setup(int cpu, int priority, char *note, size_t cap);

/* Sets the scheduling of thread t to OSDEP_PRIO_NORMAL or OSDEP_PRIO_IDLE.
 * Linux: any thread of this process (SCHED_OTHER <-> SCHED_IDLE); macOS:
 * the calling thread only (a QoS class is set on oneself), ENOTSUP for
 * another. Returns 0 or an errno value. */
int osdep_thread_priority(pthread_t t, int priority);

/* Whether a thread of this process may go from OSDEP_PRIO_IDLE back to
 * OSDEP_PRIO_NORMAL, and at which nice value (Linux: the lowest in
 * OSDEP_BOOST_NICE..0 that it may set and leave SCHED_IDLE at, which needs
 * CAP_SYS_NICE or an RLIMIT_NICE of 20 - nice; the soft limit is raised to
 * the hard one first, and it is found out on a throwaway thread; macOS: 0,
 * QoS classes have no nice). Returns 1 with *nice set, or 0. */
#define OSDEP_BOOST_NICE (-10)
int osdep_priority_reversible(int *nice);

/* Sets the calling thread's own nice value (Linux: per thread; macOS: a
 * no-op). Returns 0 or an errno value. */
int osdep_thread_nice(int nice);

/* Writes what identifies this machine's CPU model into buf (Linux: the
 * first "model name", else "CPU implementer"/"CPU part" (MIDR) lines of
 * /proc/cpuinfo; macOS: machdep.cpu.brand_string), or "unknown". */
void osdep_cpu_model(char *buf, size_t cap);

/* Reads the peer's credentials from a connected Unix socket. Returns 0, or
 * -1 with errno set. pid is -1 where the OS does not say (macOS). */
int osdep_peer_cred(int fd, uid_t *uid, gid_t *gid, pid_t *pid);

/* Reads the groups of the peer of a connected Unix socket, as they were
 * when it connected (Linux: SO_PEERGROUPS, kernel 4.13 and later; macOS:
 * LOCAL_PEERCRED, which gives the effective gid and at most 15 more). On
 * success returns how many and sets *groups to an array from malloc() the
 * caller frees; returns -1 with errno set (ENOPROTOOPT: the kernel cannot
 * say) and *groups NULL otherwise. */
int osdep_peer_groups(int fd, gid_t **groups);

/* Raises the soft RLIMIT_NOFILE as far as the system lets us (the hard
 * limit; on macOS at most OPEN_MAX) and returns the soft limit now in
 * force. */
uint64_t osdep_raise_nofile(void);

/* Looks for a listening socket handed over by the service manager (systemd
 * LISTEN_FDS/LISTEN_PID; launchd launch_activate_socket("Listeners")).
 * Returns 1 and sets *fd when there is one, 0 when there is none, -1 when the
 * hand-over is malformed (note says why). */
int osdep_activation_fd(int *fd, char *note, size_t cap);

/* Tells the service manager about state ("READY=1", "STOPPING=1",
 * "STATUS=..."). Returns 0, also when no manager listens. */
int osdep_notify(const char *state);

/* Adds len bytes crediting bits of entropy to the kernel pool
 * (RNDADDENTROPY). Returns 0, or -errno (-ENOTSUP where unsupported). */
int osdep_feed_kernel(const uint8_t *buf, size_t len, unsigned bits);

/* Whether the peer of a connected stream socket has closed it outright, as
 * opposed to only shutting down its sending side: a zero-byte send fails
 * with EPIPE only in the first case (Linux; macOS documents the same for
 * a socket that can no longer send). Returns 1 or 0. */
int osdep_peer_gone(int fd);

/* Hands memory that malloc keeps after large frees back to the system
 * (glibc: malloc_trim). No-op where the allocator does this itself. */
void osdep_release_memory(void);

/* ---- signs that the process's state may exist twice (vmwatch.c) ---- */

/* Two clocks whose difference grows by exactly the time the system sleeps:
 * *with runs on through a suspend, *without stops (Linux CLOCK_BOOTTIME and
 * CLOCK_MONOTONIC; macOS CLOCK_MONOTONIC and CLOCK_UPTIME_RAW). */
void osdep_asleep_clocks(clockid_t *with, clockid_t *without);

/* What an announcement on the watch descriptor means. */
enum osdep_watch_kind {
    OSDEP_WATCH_VMGENID = 0, /* Linux: the VM generation ID changed */
    OSDEP_WATCH_POWER = 1,   /* macOS: the system sleeps or wakes */
};

/* Opens a non-blocking, close-on-exec descriptor that becomes readable when
 * the OS announces an event that can duplicate our state (Linux: a
 * NETLINK_KOBJECT_UEVENT socket for the kernel's uevents, of which the
 * vmgenid driver's NEW_VMGENID=1 counts; macOS: a notify(3) descriptor for
 * the power-management state notification). Returns it and sets *kind
 * (enum osdep_watch_kind) and a note naming what is watched, or returns
 * -errno and says why in note. */
int osdep_watch_open(int *kind, char *note, size_t cap);

/* Reads everything pending on a descriptor from osdep_watch_open() without
 * blocking. Returns how many announcements that count were among it. */
int osdep_watch_drain(int fd);

#ifdef __linux__
/* Whether a NETLINK_KOBJECT_UEVENT message (len bytes: "action@devpath",
 * then NUL-separated KEY=VALUE pairs) is a "change" carrying NEW_VMGENID=1.
 * Pure. */
int osdep_uevent_vmgenid(const char *msg, size_t len);
#endif

#endif

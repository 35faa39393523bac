/*
 * osdep-darwin.c - macOS side of osdep.h. Compile-checked in CI against
 * Apple's headers (zig cc -target aarch64-macos); not run there.
 *
 * Apple Silicon has no user-visible CPU affinity: THREAD_AFFINITY_POLICY is
 * refused (KERN_NOT_SUPPORTED) and is at most a hint on Intel Macs; the log
 * says plainly that pinning is a hint. The thread's QoS class is what the
 * scheduler listens to: --priority idle asks for BACKGROUND, which on Apple
 * silicon keeps the spinning sampler on the efficiency cores and below all
 * other work; normal asks for UTILITY, which may use any core but yields to
 * what the user is doing. Neither touches the loop thread.
 */
#include "osdep.h"

#include <errno.h>
#include <fcntl.h>
#include <launch.h>
#include <limits.h>
#include <mach/mach.h>
#include <mach/thread_policy.h>
#include <pthread.h>
#include <pthread/qos.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/sysctl.h>
#include <sys/ucred.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int osdep_last_cpu(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 1 ? (int)n - 1 : 0;
}

int osdep_current_cpu(void)
{
    return -1;
}

int osdep_sampler_thread_setup(int cpu, int priority, char *note, size_t cap)
{
    pthread_setname_np("pbd-sampler");
    bool idle = priority == OSDEP_PRIO_IDLE;
    int qos = pthread_set_qos_class_self_np(
        idle ? QOS_CLASS_BACKGROUND : QOS_CLASS_UTILITY, 0);
    thread_affinity_policy_data_t pol = {.affinity_tag = cpu + 1};
    /* mach_thread_self() hands us a send right; give it back. */
    thread_act_t self = mach_thread_self();
    kern_return_t kr = thread_policy_set(self, THREAD_AFFINITY_POLICY,
                                         (thread_policy_t)&pol,
                                         THREAD_AFFINITY_POLICY_COUNT);
    mach_port_deallocate(mach_task_self(), self);
    snprintf(note, cap,
             "macOS: pinning is a hint only (affinity tag %d: %s); QoS %s: %s",
             cpu + 1, kr == KERN_SUCCESS ? "accepted" : "not supported",
             idle ? "background" : "utility", qos == 0 ? "set" : "refused");
    return 0; /* a hint is not a pin: no off-CPU checks */
}

int osdep_thread_priority(pthread_t t, int priority)
{
    /* A QoS class is set on oneself only. */
    if (!pthread_equal(t, pthread_self()))
        return ENOTSUP;
    return pthread_set_qos_class_self_np(priority == OSDEP_PRIO_IDLE
                                             ? QOS_CLASS_BACKGROUND
                                             : QOS_CLASS_UTILITY,
                                         0);
}

int osdep_priority_reversible(int *nice)
{
    *nice = 0; /* QoS classes have no nice */
    return 1;  /* a thread may raise its own QoS class again */
}

int osdep_thread_nice(int nice)
{
    (void)nice;
    return 0;
}

void osdep_cpu_model(char *buf, size_t cap)
{
    size_t len = cap;
    if (cap == 0 || sysctlbyname("machdep.cpu.brand_string", buf, &len,
                                 NULL, 0) != 0 || len == 0)
        snprintf(buf, cap, "unknown");
    else
        buf[cap - 1] = '\0';
}

int osdep_peer_cred(int fd, uid_t *uid, gid_t *gid, pid_t *pid)
{
    if (getpeereid(fd, uid, gid) != 0)
        return -1;
    *pid = -1;
    return 0;
}

int osdep_peer_groups(int fd, gid_t **groups)
{
    /* struct xucred holds at most NGROUPS (16) groups, the effective gid
     * first; more than that the kernel does not hand over. */
    struct xucred xu;
    socklen_t len = sizeof(xu);
    *groups = NULL;
    if (getsockopt(fd, SOL_LOCAL, LOCAL_PEERCRED, &xu, &len) != 0)
        return -1;
    if (xu.cr_version != XUCRED_VERSION || xu.cr_ngroups < 0 ||
        xu.cr_ngroups > NGROUPS) {
        errno = EPROTO;
        return -1;
    }
    gid_t *g = malloc(sizeof(gid_t) * (size_t)(xu.cr_ngroups + 1));
    if (!g)
        return -1;
    memcpy(g, xu.cr_groups, sizeof(gid_t) * (size_t)xu.cr_ngroups);
    *groups = g;
    return xu.cr_ngroups;
}

uint64_t osdep_raise_nofile(void)
{
    /* The hard limit is often RLIM_INFINITY here, which setrlimit refuses
     * for RLIMIT_NOFILE: OPEN_MAX is the most a process may ask for. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;
    rlim_t want = rl.rlim_max < (rlim_t)OPEN_MAX ? rl.rlim_max : (rlim_t)OPEN_MAX;
    if (rl.rlim_cur < want) {
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
}

int osdep_activation_fd(int *fd, char *note, size_t cap)
{
    int *fds = NULL;
    size_t cnt = 0;
    int rc = launch_activate_socket("Listeners", &fds, &cnt);
    if (rc == ESRCH || rc == ENOENT)
        return 0; /* not started by launchd, or no Sockets entry */
    if (rc != 0) {
        snprintf(note, cap, "launch_activate_socket: %s", strerror(rc));
        return -1;
    }
    if (cnt == 0) {
        free(fds);
        return 0; /* launchd started us without a socket: not activated */
    }
    if (cnt != 1) {
        snprintf(note, cap, "launchd handed over %zu sockets, expected 1", cnt);
        for (size_t i = 0; i < cnt; i++)
            close(fds[i]);
        free(fds);
        return -1;
    }
    *fd = fds[0];
    free(fds);
    int fl = fcntl(*fd, F_GETFD); /* as on Linux: never leak it to a child */
    if (fl >= 0)
        fcntl(*fd, F_SETFD, fl | FD_CLOEXEC);
    return 1;
}

int osdep_notify(const char *state)
{
    (void)state; /* launchd has no readiness protocol */
    return 0;
}

int osdep_feed_kernel(const uint8_t *buf, size_t len, unsigned bits)
{
    (void)buf;
    (void)len;
    (void)bits;
    return -ENOTSUP;
}

int osdep_peer_gone(int fd)
{
    /* SIGPIPE is ignored by the daemon; MSG_DONTWAIT never blocks here. */
    return send(fd, "", 0, MSG_DONTWAIT) < 0 && errno == EPIPE;
}

void osdep_release_memory(void)
{
    /* macOS's allocator returns large regions to the system by itself. */
}

/* ---- signs of duplicated state ---------------------------------------- */

/* CLOCK_MONOTONIC is mach_continuous_time, which runs on through sleep;
 * CLOCK_UPTIME_RAW is mach_absolute_time, which stops. */
void osdep_asleep_clocks(clockid_t *with, clockid_t *without)
{
    *with = CLOCK_MONOTONIC;
    *without = CLOCK_UPTIME_RAW;
}

/* powerd posts this notify(3) name as the system begins a sleep, a wake or
 * a maintenance wake (kIOPMSystemPowerStateNotify, IOKit's IOPMLibPrivate.h;
 * notify(3) needs no IOKit or run loop, and its descriptor suits libuv).
 * Each post writes the 4-byte token to the descriptor. */
#define POWER_STATE_NOTIFY "com.apple.powermanagement.systempowerstate"
#if __has_include(<notify.h>)
#include <notify.h>
#else
/* The CI's macOS headers (zig's) lack notify.h; libSystem has these, as
 * notify(3) declares them. */
uint32_t notify_register_file_descriptor(const char *name, int *notify_fd,
                                         int flags, int *out_token);
#define NOTIFY_STATUS_OK 0
#endif

int osdep_watch_open(int *kind, char *note, size_t cap)
{
    int fd = -1, token;
    uint32_t st = notify_register_file_descriptor(POWER_STATE_NOTIFY, &fd, 0,
                                                  &token);
    if (st != NOTIFY_STATUS_OK) {
        snprintf(note, cap, "no power notifications (notify status %u)",
                 (unsigned)st);
        return -EIO;
    }
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    fl = fcntl(fd, F_GETFD);
    fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
    *kind = OSDEP_WATCH_POWER;
    snprintf(note, cap, "power notifications (%s)", POWER_STATE_NOTIFY);
    return fd;
}

int osdep_watch_drain(int fd)
{
    int n = 0;
    int32_t token;
    ssize_t r;
    while ((r = read(fd, &token, sizeof(token))) > 0 || (r < 0 && errno == EINTR))
        if (r == (ssize_t)sizeof(token))
            n++;
    return n;
}

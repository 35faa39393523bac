/* osdep-linux.c - Linux side of osdep.h. */
#include "osdep.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/random.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int osdep_last_cpu(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0)
        return 0;
    for (int c = CPU_SETSIZE - 1; c >= 0; c--)
        if (CPU_ISSET(c, &set))
            return c;
    return 0;
}

int osdep_current_cpu(void)
{
    return sched_getcpu();
}

/* SCHED_IDLE: the sampler runs only when nothing else on its CPU wants to,
 * so a host's own work (and our loop thread) preempts it at once. A thread
 * may lower itself to it without privileges. Returns a note fragment. */
static const char *set_priority(int priority, char *buf, size_t cap)
{
    if (priority != OSDEP_PRIO_IDLE)
        return "SCHED_OTHER";
    struct sched_param sp = {.sched_priority = 0};
    int rc = pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
    if (rc == 0)
        return "SCHED_IDLE";
    snprintf(buf, cap, "SCHED_OTHER (SCHED_IDLE: %s)", strerror(rc));
    return buf;
}

int osdep_thread_priority(pthread_t t, int priority)
{
    struct sched_param sp = {.sched_priority = 0};
    return pthread_setschedparam(
        t, priority == OSDEP_PRIO_IDLE ? SCHED_IDLE : SCHED_OTHER, &sp);
}

int osdep_thread_nice(int nice)
{
    pid_t tid = (pid_t)syscall(SYS_gettid);
    return setpriority(PRIO_PROCESS, (id_t)tid, nice) == 0 ? 0 : errno;
}

struct probe {
    int nice; /* in: to try; out: unchanged when it worked */
    int ok;
};

static void *probe_main(void *arg)
{
    struct probe *p = arg;
    p->ok = osdep_thread_nice(p->nice) == 0 &&
            osdep_thread_priority(pthread_self(), OSDEP_PRIO_IDLE) == 0 &&
            osdep_thread_priority(pthread_self(), OSDEP_PRIO_NORMAL) == 0;
    return NULL;
}

int osdep_priority_reversible(int *nice)
{
    /* Leaving SCHED_IDLE at nice n asks for an RLIMIT_NICE of 20 - n. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NICE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NICE, &rl);
    }
    for (int n = OSDEP_BOOST_NICE; n <= 0; n += -OSDEP_BOOST_NICE) {
        struct probe p = {.nice = n, .ok = 0};
        pthread_t t;
        if (pthread_create(&t, NULL, probe_main, &p) != 0)
            return 0;
        pthread_join(t, NULL);
        if (p.ok) {
            *nice = n;
            return 1;
        }
    }
    return 0;
}

void osdep_cpu_model(char *buf, size_t cap)
{
    snprintf(buf, cap, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "re");
    if (!f)
        return;
    char line[256], impl[64] = "", part[64] = "";
    while (fgets(line, sizeof(line), f)) {
        char *v = strchr(line, ':');
        if (!v)
            continue;
        v += strspn(v + 1, " \t") + 1;
        v[strcspn(v, "\n")] = '\0';
        if (strncmp(line, "model name", 10) == 0) {
            snprintf(buf, cap, "%s", v);
            break;
        }
        if (strncmp(line, "CPU implementer", 15) == 0 && !impl[0])
            snprintf(impl, sizeof(impl), "%s", v);
        else if (strncmp(line, "CPU part", 8) == 0 && !part[0])
            snprintf(part, sizeof(part), "%s", v);
    }
    fclose(f);
    if (strcmp(buf, "unknown") == 0 && impl[0])
        snprintf(buf, cap, "midr implementer %s part %s", impl, part);
}

int osdep_sampler_thread_setup(int cpu, int priority, char *note, size_t cap)
{
    pthread_setname_np(pthread_self(), "pbd-sampler");
    char pbuf[48];
    const char *prio = set_priority(priority, pbuf, sizeof(pbuf));
    cpu_set_t set;
    CPU_ZERO(&set);
    if (cpu < 0 || cpu >= CPU_SETSIZE) {
        snprintf(note, cap, "not pinned: CPU %d out of range; %s", cpu, prio);
        return 0;
    }
    CPU_SET(cpu, &set);
    int rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
    if (rc != 0) {
        snprintf(note, cap, "not pinned to CPU %d: %s; %s", cpu, strerror(rc),
                 prio);
        return 0;
    }
    snprintf(note, cap, "pinned to CPU %d; %s", cpu, prio);
    return 1;
}

int osdep_peer_cred(int fd, uid_t *uid, gid_t *gid, pid_t *pid)
{
    struct ucred uc;
    socklen_t len = sizeof(uc);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) != 0)
        return -1;
    *uid = uc.uid;
    *gid = uc.gid;
    *pid = uc.pid;
    return 0;
}

int osdep_peer_groups(int fd, gid_t **groups)
{
    *groups = NULL;
#ifdef SO_PEERGROUPS
    /* The kernel answers ERANGE with the size it needs in len. */
    socklen_t cap = 32 * sizeof(gid_t);
    for (int tries = 0; tries < 4; tries++) {
        gid_t *g = malloc(cap);
        if (!g)
            return -1;
        socklen_t len = cap;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) == 0) {
            *groups = g;
            return (int)(len / sizeof(gid_t));
        }
        int e = errno;
        free(g);
        errno = e;
        if (e != ERANGE || len <= cap)
            return -1;
        cap = len; /* groups may grow between calls: try again */
    }
    errno = ERANGE;
    return -1;
#else
    (void)fd;
    errno = ENOPROTOOPT;
    return -1;
#endif
}

uint64_t osdep_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
}

int osdep_activation_fd(int *fd, char *note, size_t cap)
{
    const char *pid = getenv("LISTEN_PID");
    const char *fds = getenv("LISTEN_FDS");
    if (!pid || !fds)
        return 0;
    char *end;
    long p = strtol(pid, &end, 10);
    if (*end || p != (long)getpid())
        return 0; /* meant for another process */
    long n = strtol(fds, &end, 10);
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    if (*end || n != 1) {
        snprintf(note, cap, "LISTEN_FDS=%s: expected exactly one socket", fds);
        return -1;
    }
    struct stat st;
    if (fstat(3, &st) != 0 || !S_ISSOCK(st.st_mode)) {
        snprintf(note, cap, "LISTEN_FDS: fd 3 is not a socket");
        return -1;
    }
    int fl = fcntl(3, F_GETFD);
    if (fl >= 0)
        fcntl(3, F_SETFD, fl | FD_CLOEXEC);
    *fd = 3;
    return 1;
}

int osdep_notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !*path)
        return 0;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sa.sun_path))
        return -EINVAL;
    memcpy(sa.sun_path, path, len);
    if (path[0] == '@')
        sa.sun_path[0] = '\0'; /* abstract namespace */
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    ssize_t n = sendto(fd, state, strlen(state), MSG_NOSIGNAL,
                       (struct sockaddr *)&sa,
                       (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
    int err = n < 0 ? -errno : 0;
    close(fd);
    return err;
}

int osdep_feed_kernel(const uint8_t *buf, size_t len, unsigned bits)
{
    struct {
        int entropy_count;
        int buf_size;
        uint8_t buf[64];
    } req;
    if (len > sizeof(req.buf))
        return -EINVAL;
    int fd = open("/dev/random", O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    req.entropy_count = (int)bits;
    req.buf_size = (int)len;
    memcpy(req.buf, buf, len);
    int rc = ioctl(fd, RNDADDENTROPY, &req) != 0 ? -errno : 0;
    explicit_bzero(&req, sizeof(req));
    close(fd);
    return rc;
}

int osdep_peer_gone(int fd)
{
    return send(fd, "", 0, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 &&
           errno == EPIPE;
}

void osdep_release_memory(void)
{
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

/* ---- signs of duplicated state ---------------------------------------- */

void osdep_asleep_clocks(clockid_t *with, clockid_t *without)
{
    *with = CLOCK_BOOTTIME;
    *without = CLOCK_MONOTONIC;
}

/* The vmgenid driver (drivers/virt/vmgenid.c, Linux 5.18+) reseeds the
 * kernel's own generator on a VM fork; the kernels whose driver also sends
 * a KOBJ_CHANGE uevent with NEW_VMGENID=1 on its device (the uevent has
 * been in and out of mainline) announce it to user space this way and no
 * other. Group 1 is the kernel's; any user may listen. */
int osdep_watch_open(int *kind, char *note, size_t cap)
{
    int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    NETLINK_KOBJECT_UEVENT);
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK, .nl_groups = 1};
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        int e = errno;
        snprintf(note, cap, "no kernel uevents (%s)", strerror(e));
        if (fd >= 0)
            close(fd);
        return -e;
    }
    *kind = OSDEP_WATCH_VMGENID;
    snprintf(note, cap, "kernel uevents (vmgenid NEW_VMGENID=1)");
    return fd;
}

int osdep_uevent_vmgenid(const char *msg, size_t len)
{
    if (len < 7 || strncmp(msg, "change@", 7) != 0)
        return 0;
    for (size_t i = 0; i < len;) {
        const char *kv = msg + i;
        size_t k = strnlen(kv, len - i);
        if (k == 13 && memcmp(kv, "NEW_VMGENID=1", 13) == 0)
            return 1;
        i += k + 1;
    }
    return 0;
}

int osdep_watch_drain(int fd)
{
    char buf[8192];
    int n = 0;
    for (;;) {
        struct sockaddr_nl from;
        struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
        struct msghdr mh = {.msg_name = &from, .msg_namelen = sizeof(from),
                            .msg_iov = &iov, .msg_iovlen = 1};
        ssize_t r = recvmsg(fd, &mh, MSG_DONTWAIT);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            /* ENOBUFS: uevents were lost (a burst of device events). One
             * may have been the VM's: count it as one, to be safe. */
            if (errno == ENOBUFS) {
                n++;
                continue;
            }
            return n;
        }
        /* Only the kernel (port 0) speaks for the kernel. */
        if (mh.msg_namelen == sizeof(from) && from.nl_pid == 0 &&
            osdep_uevent_vmgenid(buf, (size_t)r))
            n++;
    }
}

/* bench-daemon.c - the daemon under test and the /proc readers; see bench.h. */
#include "bench.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pbd.h"

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int bench_stats(const struct bench_daemon *d, char *buf, size_t cap)
{
    pbd_t *p;
    int rc = pbd_open(&p, d->sock);
    if (rc)
        return rc;
    rc = pbd_stats(p, buf, cap);
    pbd_close(p);
    return rc;
}

static void dump_log(const struct bench_daemon *d)
{
    FILE *f = fopen(d->log, "r");
    char line[512];
    if (!f)
        return;
    while (fgets(line, sizeof(line), f))
        fprintf(stderr, "  preemptd: %s", line);
    fclose(f);
}

void bench_state_remove(const char *dir)
{
    /* The cache (daemon/calcache.h's CALCACHE_FILE), and any temporary
     * CALCACHE_FILE.XXXXXX a daemon killed while writing it left. */
    DIR *dp = opendir(dir);
    if (!dp)
        return;
    struct dirent *e;
    while ((e = readdir(dp)) != NULL)
        if (strncmp(e->d_name, "calibration", 11) == 0) {
            char path[PATH_MAX];
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            unlink(path);
        }
    closedir(dp);
}

int bench_daemon_spawn(struct bench_daemon *d, const char *binary,
                       size_t ring, const char *prio, const cpu_set_t *cpus,
                       const char *state)
{
    memset(d, 0, sizeof(*d));
    snprintf(d->dir, sizeof(d->dir), "/tmp/pbd-bench-XXXXXX");
    if (!mkdtemp(d->dir)) {
        perror("pbd-bench: mkdtemp");
        return -1;
    }
    snprintf(d->sock, sizeof(d->sock), "%s/preemptd.sock", d->dir);
    snprintf(d->log, sizeof(d->log), "%s/log", d->dir);
    d->owned = true;
    char ringarg[32];
    snprintf(ringarg, sizeof(ringarg), "%zu", ring);
    pid_t pid = fork();
    if (pid < 0) {
        perror("pbd-bench: fork");
        rmdir(d->dir);
        return -1;
    }
    if (pid == 0) {
        int fd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        if (cpus && sched_setaffinity(0, sizeof(*cpus), cpus) != 0)
            _exit(126);
        const char *argv[] = {binary, "--foreground", "--socket", d->sock,
                              "--ring-size", ringarg, "--log-level", "info",
                              "--state-dir", state ? state : d->dir,
                              prio ? "--priority" : NULL, prio, NULL};
        execv(binary, (char *const *)argv);
        _exit(127);
    }
    d->pid = pid;
    return 0;
}

int bench_daemon_start(struct bench_daemon *d, const char *binary,
                       size_t ring)
{
    if (bench_daemon_spawn(d, binary, ring, NULL, NULL, NULL) != 0)
        return -1;
    pid_t pid = d->pid;
    /* Health "ok" means the start-up test passed and pinning worked. */
    for (int i = 0; i < 600; i++) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            fprintf(stderr, "pbd-bench: %s exited during start-up\n", binary);
            dump_log(d);
            d->pid = 0;
            bench_daemon_stop(d);
            return -1;
        }
        pbd_t *p;
        if (pbd_open(&p, d->sock) == 0) {
            pbd_health_state hs;
            char msg[256];
            int rc = pbd_health(p, &hs, msg, sizeof(msg));
            pbd_close(p);
            if (rc == 0 && hs == PBD_HEALTH_OK)
                return 0;
        }
        sleep_ms(100);
    }
    fprintf(stderr, "pbd-bench: daemon never became healthy\n");
    dump_log(d);
    bench_daemon_stop(d);
    return -1;
}

int bench_daemon_attach(struct bench_daemon *d, const char *path)
{
    memset(d, 0, sizeof(*d));
    if (strlen(path) >= sizeof(d->sock)) {
        fprintf(stderr, "pbd-bench: socket path too long\n");
        return -1;
    }
    strcpy(d->sock, path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, path, strlen(path) + 1);
    struct ucred uc;
    socklen_t len = sizeof(uc);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) != 0) {
        fprintf(stderr, "pbd-bench: cannot reach %s: %s\n", path,
                strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    d->pid = uc.pid;
    return 0;
}

void bench_daemon_stop(struct bench_daemon *d)
{
    if (!d->owned)
        return;
    if (d->pid > 0) {
        kill(d->pid, SIGTERM);
        int st, i;
        for (i = 0; i < 150 && waitpid(d->pid, &st, WNOHANG) == 0; i++)
            sleep_ms(100);
        if (i == 150) {
            fprintf(stderr, "pbd-bench: daemon ignored SIGTERM; killing\n");
            kill(d->pid, SIGKILL);
            waitpid(d->pid, &st, 0);
        }
        d->pid = 0;
    }
    char lock[sizeof(d->sock) + 8];
    snprintf(lock, sizeof(lock), "%s.lock", d->sock); /* left in place */
    unlink(d->sock);
    unlink(lock);
    unlink(d->log);
    bench_state_remove(d->dir);
    rmdir(d->dir);
    d->owned = false;
}

double bench_json_num(const char *json, const char *section, const char *key)
{
    char pat[96];
    const char *s = json;
    if (section) {
        snprintf(pat, sizeof(pat), "\"%s\":", section);
        s = strstr(json, pat);
        if (!s)
            return NAN;
    }
    snprintf(pat, sizeof(pat), "\"%s\":", key);
    s = strstr(s, pat);
    if (!s)
        return NAN;
    s += strlen(pat);
    if (strncmp(s, "true", 4) == 0)
        return 1;
    if (strncmp(s, "false", 5) == 0)
        return 0;
    char *end;
    double v = strtod(s, &end);
    return end == s ? NAN : v;
}

pid_t bench_find_comm(const char *dir_path, const char *comm)
{
    DIR *dir = opendir(dir_path);
    if (!dir)
        return -1;
    pid_t found = -1;
    struct dirent *e;
    while (found < 0 && (e = readdir(dir))) {
        /* Only numeric entries: /proc also holds "self", "sys", ... */
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char cpath[384], name[32] = "";
        snprintf(cpath, sizeof(cpath), "%s/%s/comm", dir_path, e->d_name);
        FILE *f = fopen(cpath, "r");
        if (!f)
            continue;
        if (fgets(name, sizeof(name), f)) {
            name[strcspn(name, "\n")] = '\0';
            if (strcmp(name, comm) == 0)
                found = (pid_t)atol(e->d_name);
        }
        fclose(f);
    }
    closedir(dir);
    return found;
}

pid_t bench_find_thread(pid_t pid, const char *comm)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%ld/task", (long)pid);
    return bench_find_comm(path, comm);
}

uint64_t bench_cpu_interrupts(int cpu)
{
    FILE *f = fopen("/proc/interrupts", "r");
    if (!f)
        return 0;
    char line[4096];
    int ncpu = 0;
    uint64_t sum = 0;
    if (fgets(line, sizeof(line), f))
        for (char *t = strtok(line, " \t\n"); t; t = strtok(NULL, " \t\n"))
            ncpu++;
    while (fgets(line, sizeof(line), f)) {
        char *s = strchr(line, ':');
        if (!s)
            continue;
        s++;
        /* Rows such as ERR and MIS carry one total, not a column per CPU:
         * a row counts only when all ncpu columns are numbers. */
        uint64_t v[256];
        int k;
        for (k = 0; k < ncpu && k < 256; k++) {
            char *end;
            v[k] = strtoull(s, &end, 10);
            if (end == s)
                break;
            s = end;
        }
        if (k == ncpu && cpu < ncpu)
            sum += v[cpu];
    }
    fclose(f);
    return sum;
}

double bench_cpu_seconds(pid_t pid, pid_t tid)
{
    char path[96], buf[1024];
    if (tid < 0)
        snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    else
        snprintf(path, sizeof(path), "/proc/%ld/task/%ld/stat", (long)pid,
                 (long)tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return NAN;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* comm may hold spaces: fields count from the last ')'. utime and stime
     * are fields 14 and 15, i.e. the 12th and 13th after the state. */
    char *s = strrchr(buf, ')');
    if (!s)
        return NAN;
    unsigned long long ut = 0, st = 0;
    if (sscanf(s + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
               &ut, &st) != 2)
        return NAN;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

long long bench_status_field(pid_t pid, pid_t tid, const char *field)
{
    char path[96], line[256];
    if (tid < 0)
        snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
    else
        snprintf(path, sizeof(path), "/proc/%ld/task/%ld/status", (long)pid,
                 (long)tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t fl = strlen(field);
    long long v = -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, field, fl) == 0 && line[fl] == ':') {
            v = atoll(line + fl + 1);
            break;
        }
    fclose(f);
    return v;
}

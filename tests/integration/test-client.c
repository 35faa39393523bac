/* test-client.c - libpbd against the real daemon on a temporary socket:
 * every mode, exact lengths, uniqueness, errors, one-call form, a stopped
 * daemon, fork, close-on-exec. The daemon is the fault build
 * ($PREEMPTD_FAULT) on an injected event rate (--fault rate=R, R from
 * $PBD_TEST_RATE, and --priority normal, as harness.py's fast_source), so
 * the test takes as long on a loaded host as on an idle one. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "fill-backlog.h"
#include "pbd.h"

static char dir[] = "/tmp/pbd-client-XXXXXX";
static char sock[128];
static pid_t daemon_pid;

/* How late a timed-out call may return after its deadline: the scheduler's
 * lateness on a loaded machine under the sanitizers, a choice, not a
 * measurement. */
#define SLACK_MS 1000u

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Waits (up to 60 s) until the daemon on path answers and reports health
 * ok. */
static int wait_healthy_at(const char *path)
{
    for (int i = 0; i < 3000; i++) {
        pbd_t *p;
        if (pbd_open(&p, path) == 0) {
            pbd_health_state hs;
            char msg[256];
            int rc = pbd_health(p, &hs, msg, sizeof(msg));
            pbd_close(p);
            if (rc == 0 && hs == PBD_HEALTH_OK)
                return 0;
        }
        usleep(20000);
    }
    return -1;
}

static int wait_healthy(void)
{
    return wait_healthy_at(sock);
}

/* Starts the fault build on path, its log in logpath, with --fault fault
 * and --priority normal, and $PBD_TEST_DAEMON_ARGS as in harness.py, split
 * at blanks (no quoting here). Returns its pid. */
static pid_t spawn_daemon(const char *bin, const char *path,
                          const char *logpath, const char *fault)
{
    pid_t pid = fork();
    if (pid == 0) {
        freopen(logpath, "w", stderr);
        char *argv[64] = {(char *)bin, "--foreground", "--socket",
                          (char *)path, "--ring-size", "2048", "--fault",
                          (char *)fault, "--priority", "normal"};
        int argc = 10;
        const char *extra = getenv("PBD_TEST_DAEMON_ARGS");
        char *copy = extra ? strdup(extra) : NULL;
        for (char *w = copy ? strtok(copy, " \t\n") : NULL;
             w && argc < 63; w = strtok(NULL, " \t\n"))
            argv[argc++] = w;
        argv[argc] = NULL;
        execv(bin, argv);
        _exit(127);
    }
    return pid;
}

static int start_daemon(void **state)
{
    (void)state;
    const char *bin = getenv("PREEMPTD_FAULT");
    const char *rate = getenv("PBD_TEST_RATE");
    char fault[64];
    if (!bin || !rate || !mkdtemp(dir))
        return -1;
    snprintf(fault, sizeof(fault), "rate=%s", rate);
    snprintf(sock, sizeof(sock), "%s/s.sock", dir);
    char log[160];
    snprintf(log, sizeof(log), "%s/log", dir);
    daemon_pid = spawn_daemon(bin, sock, log, fault);
    /* Wait for the start-up health test to pass. */
    return wait_healthy();
}

static int stop_daemon(void **state)
{
    (void)state;
    int status = -1;
    kill(daemon_pid, SIGTERM);
    waitpid(daemon_pid, &status, 0);
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        return -1;
    /* A clean exit is part of the contract (and of the sanitizer builds). */
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static void test_modes_and_lengths(void **state)
{
    (void)state;
    pbd_t *p;
    assert_int_equal(pbd_open(&p, sock), 0);
    static uint8_t a[(1 << 20) + 13], b[(1 << 20) + 13];
    /* drbg over two requests (1 MiB is the per-request maximum). */
    assert_int_equal(pbd_read(p, a, sizeof(a), PBD_MODE_DRBG), 0);
    assert_int_equal(pbd_read(p, b, sizeof(b), PBD_MODE_DRBG), 0);
    assert_memory_not_equal(a, b, sizeof(a));
    assert_memory_not_equal(a, a + (1 << 20) - 32, 32); /* chunks differ */
    uint8_t c1[64], c2[64], r[32];
    assert_int_equal(pbd_read(p, c1, sizeof(c1), PBD_MODE_CONDITIONED), 0);
    assert_int_equal(pbd_read(p, c2, sizeof(c2), PBD_MODE_CONDITIONED), 0);
    assert_memory_not_equal(c1, c2, sizeof(c1));
    assert_int_equal(pbd_read(p, r, sizeof(r), PBD_MODE_RAW), 0);
    assert_int_equal(pbd_read(p, r, 0, PBD_MODE_RAW), 0); /* nothing to do */
    pbd_close(p);
}

static void test_many_reads_unique(void **state)
{
    (void)state;
    pbd_t *p;
    assert_int_equal(pbd_open(&p, sock), 0);
    /* Conditioned blocks cost 160 raw bytes each: fewer of them. */
    enum { ND = 200, NC = 24 };
    static uint8_t blocks[ND + NC][32];
    for (int i = 0; i < ND; i++)
        assert_int_equal(pbd_read(p, blocks[i], 32, PBD_MODE_DRBG), 0);
    for (int i = 0; i < NC; i++)
        assert_int_equal(pbd_read_ex(p, blocks[ND + i], 32,
                                     PBD_MODE_CONDITIONED, 0, 60000), 0);
    for (int i = 0; i < ND + NC; i++)
        for (int j = i + 1; j < ND + NC; j++)
            assert_memory_not_equal(blocks[i], blocks[j], 32);
    pbd_close(p);
}

static void test_stats_health(void **state)
{
    (void)state;
    pbd_t *p;
    assert_int_equal(pbd_open(&p, sock), 0);
    char buf[8192];
    assert_int_equal(pbd_stats(p, buf, sizeof(buf)), 0);
    assert_int_equal(buf[0], '{');
    assert_non_null(strstr(buf, "\"event_rate\""));
    char small[16];
    assert_int_equal(pbd_stats(p, small, sizeof(small)), PBD_ETOOBIG);
    assert_int_equal(strlen(small), sizeof(small) - 1);
    pbd_health_state hs;
    char msg[256];
    assert_int_equal(pbd_health(p, &hs, msg, sizeof(msg)), 0);
    assert_int_equal(hs, PBD_HEALTH_OK);
    assert_memory_equal(msg, "ok", 2);
    /* The connection is still in step after the truncated reply. */
    uint8_t x[8];
    assert_int_equal(pbd_read(p, x, sizeof(x), PBD_MODE_DRBG), 0);
    pbd_close(p);
}

static void test_errors(void **state)
{
    (void)state;
    pbd_t *p;
    char path[300];
    memset(path, 'a', sizeof(path) - 1);
    path[0] = '/';
    path[sizeof(path) - 1] = '\0';
    assert_int_equal(pbd_open(&p, path), PBD_EPATH);
    assert_int_equal(pbd_open(&p, "/nonexistent/preemptd.sock"),
                     PBD_ENOSOCKET);
    assert_int_equal(pbd_open(NULL, sock), PBD_EINVAL);
    assert_int_equal(pbd_open(&p, sock), 0);
    uint8_t buf[64];
    assert_int_equal(pbd_read(p, buf, sizeof(buf), (pbd_mode)7), PBD_EINVAL);
    assert_int_equal(pbd_read_ex(p, buf, sizeof(buf), PBD_MODE_RAW, 0x80, 0),
                     PBD_EINVAL);
    /* More than the ring can ever hold, no wait: EAGAIN, buffer wiped. */
    static uint8_t big[60000];
    memset(big, 0xAA, sizeof(big));
    assert_int_equal(pbd_read_ex(p, big, sizeof(big), PBD_MODE_RAW,
                                 PBD_READ_NOWAIT, 0), PBD_EAGAIN);
    for (size_t i = 0; i < sizeof(big); i++)
        assert_int_equal(big[i], 0);
    /* A wait limit that cannot be met: 512 new raw bytes per millisecond
     * (200 ms was met on a busy machine, whose preemptions feed the source). */
    assert_int_equal(pbd_read_ex(p, big, sizeof(big), PBD_MODE_RAW, 0, 1),
                     PBD_ETIMEDOUT);
    /* The same, one request at a time: a 1 ms wait ends at its deadline,
     * not at the daemon's next 200 ms tick, by which the test source
     * ($PBD_TEST_RATE, far below 512 bytes a millisecond) has filled it. */
    for (int i = 0; i < 10; i++)
        assert_int_equal(pbd_read_ex(p, big, 512, PBD_MODE_RAW, 0, 1),
                         PBD_ETIMEDOUT);
    /* Still usable afterwards. */
    assert_int_equal(pbd_read(p, buf, 16, PBD_MODE_DRBG), 0);
    pbd_close(p);
    assert_string_equal(pbd_errname(PBD_EAGAIN), "PBD_EAGAIN");
    assert_non_null(strstr(pbd_strerror(PBD_EHEALTH), "health"));
}

static void test_getentropy_default_socket(void **state)
{
    (void)state;
    setenv("PBD_SOCKET", sock, 1);
    assert_string_equal(pbd_default_socket(), sock);
    uint8_t a[48], b[48];
    assert_int_equal(pbd_getentropy(a, sizeof(a)), 0);
    assert_int_equal(pbd_getentropy(b, sizeof(b)), 0);
    assert_memory_not_equal(a, b, sizeof(a));
    setenv("PBD_SOCKET", "", 1);
    assert_string_equal(pbd_default_socket(), PBD_DEFAULT_SOCKET);
    unsetenv("PBD_SOCKET");
}

/* Lets a call that ignores its deadline return (the daemon answers once it
 * runs again), so such a call fails on its timing instead of hanging. */
static void resume_daemon(int sig)
{
    (void)sig;
    kill(daemon_pid, SIGCONT);
}

/* A stopped daemon: the read gives up on the client's deadline, the wait it
 * asked for plus the margin, and the handle reconnects on its next call. */
struct capture_read {
    pbd_t *p;
    int first; /* the first read's result; then the second starts */
    int rc;
    _Atomic bool started;
};

static void *capture_reader(void *arg)
{
    struct capture_read *cr = arg;
    static uint8_t buf[4096]; /* eight 512-byte requests in flight */
    cr->first = pbd_read_ex(cr->p, buf, 512, PBD_MODE_CAPTURE, 0, 60000);
    atomic_store(&cr->started, true);
    cr->rc = pbd_read_ex(cr->p, buf, sizeof(buf), PBD_MODE_CAPTURE, 0,
                         60000);
    return NULL;
}

/* The daemon's count of requests, from a stats call on p (which counts). */
static unsigned long long requests_seen(pbd_t *p)
{
    static char buf[8192];
    assert_int_equal(pbd_stats(p, buf, sizeof(buf)), 0);
    const char *s = strstr(buf, "\"requests\":");
    assert_non_null(s);
    return strtoull(s + strlen("\"requests\":"), NULL, 10);
}

/* A capture read that the daemon ends with an error frame (here: it is
 * shutting down) while more of the read's requests are in flight returns
 * the daemon's reason. Regression: dropping the connection the other
 * requests were on marked the capture lost, and the read returned
 * PBD_ELOST ("the capture was lost with its connection") instead of
 * PBD_ESHUTDOWN. Its own daemon, at 1,000 events/s, so the 4096 samples
 * take seconds. */
static void test_capture_ended_with_reason(void **state)
{
    (void)state;
    char d2[] = "/tmp/pbd-client-XXXXXX", path[128], logpath[128];
    assert_non_null(mkdtemp(d2));
    snprintf(path, sizeof(path), "%s/s.sock", d2);
    snprintf(logpath, sizeof(logpath), "%s/log", d2);
    pid_t pid = spawn_daemon(getenv("PREEMPTD_FAULT"), path, logpath,
                             "rate=1000");
    assert_int_equal(wait_healthy_at(path), 0);
    struct capture_read cr = {.rc = 1, .first = 1};
    assert_int_equal(pbd_open(&cr.p, path), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, capture_reader, &cr), 0);
    for (int i = 0; i < 6000 && !atomic_load(&cr.started); i++)
        usleep(10000);
    assert_true(atomic_load(&cr.started));
    assert_int_equal(cr.first, 0); /* a capture with samples on its way */
    /* Until the daemon has parsed the second read's first request: its
     * count of requests grows by more than our own stats calls. */
    pbd_t *q;
    assert_int_equal(pbd_open(&q, path), 0);
    unsigned long long r0 = requests_seen(q), polls = 0, r = r0;
    while (r - r0 <= polls && polls < 6000) {
        usleep(10000);
        r = requests_seen(q);
        polls++;
    }
    pbd_close(q);
    assert_true(r - r0 > polls);
    int status = -1;
    assert_int_equal(kill(pid, SIGTERM), 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    pthread_join(t, NULL);
    pbd_close(cr.p);
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", d2);
    assert_int_equal(system(cmd), 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_string_equal(pbd_strerror(cr.rc), pbd_strerror(PBD_ESHUTDOWN));
}

static void test_stopped_daemon(void **state)
{
    (void)state;
    enum { WAIT = 1000 };
    const uint64_t bound = WAIT + PBD_DEADLINE_MARGIN_MS;
    pbd_t *p;
    assert_int_equal(pbd_open(&p, sock), 0);
    uint8_t buf[32];
    assert_int_equal(pbd_read(p, buf, 8, PBD_MODE_DRBG), 0);
    signal(SIGALRM, resume_daemon);
    assert_int_equal(kill(daemon_pid, SIGSTOP), 0);
    alarm((unsigned)((bound + SLACK_MS) / 1000 + 5));
    uint64_t t0 = now_ms();
    int rc = pbd_read_ex(p, buf, sizeof(buf), PBD_MODE_CONDITIONED, 0, WAIT);
    uint64_t el = now_ms() - t0;
    alarm(0);
    kill(daemon_pid, SIGCONT);
    print_message("  gave up after %llu ms (deadline %llu ms)\n",
                  (unsigned long long)el, (unsigned long long)bound);
    assert_int_equal(rc, PBD_ETIMEDOUT);
    assert_true(el >= bound);
    assert_true(el <= bound + SLACK_MS);
    /* A new connection: a late reply on the old one cannot be taken for
     * this read's. */
    assert_int_equal(pbd_read(p, buf, 16, PBD_MODE_DRBG), 0);
    pbd_close(p);
    /* The sampler was stopped too; later tests want a healthy source. */
    assert_int_equal(wait_healthy(), 0);
}

/* The case: a stopped daemon with its backlog full. Opening and
 * reading with a wait of 1 s ends within that wait plus the margin, connect
 * included (pbd_open alone once took 15 s); pbd_getentropy() ends within
 * its own bound, from the OS alone, and strict says why. */
static void test_stopped_daemon_full_backlog(void **state)
{
    (void)state;
    enum { WAIT = 1000, MAXFILL = 1024 };
    const uint64_t bound = WAIT + PBD_DEADLINE_MARGIN_MS;
    static int fill[MAXFILL];
    signal(SIGALRM, resume_daemon);
    assert_int_equal(kill(daemon_pid, SIGSTOP), 0);
    alarm(60);
    int nfill = fill_backlog(sock, fill, MAXFILL);
    if (nfill < 0) {
        alarm(0);
        kill(daemon_pid, SIGCONT);
        skip(); /* refused, not blocked, at a full backlog (BSD, macOS) */
    }
    pbd_t *p = NULL;
    uint8_t buf[32];
    uint64_t t0 = now_ms();
    int rc = pbd_open(&p, sock);
    if (rc == 0)
        rc = pbd_read_ex(p, buf, sizeof(buf), PBD_MODE_CONDITIONED, 0, WAIT);
    uint64_t el = now_ms() - t0;
    pbd_close(p);
    print_message("  %d connections queued; open + read gave up after %llu "
                  "ms (bound %llu ms)\n", nfill, (unsigned long long)el,
                  (unsigned long long)bound);
    assert_int_equal(rc, PBD_ETIMEDOUT);
    assert_true(el <= bound + SLACK_MS);

    setenv("PBD_SOCKET", sock, 1);
    t0 = now_ms();
    rc = pbd_getentropy(buf, sizeof(buf));
    el = now_ms() - t0;
    print_message("  pbd_getentropy: %d after %llu ms (bound %u ms)\n", rc,
                  (unsigned long long)el, PBD_GETENTROPY_TIMEOUT_MS);
    assert_int_equal(rc, 0);
    assert_true(el <= PBD_GETENTROPY_TIMEOUT_MS + SLACK_MS);
    t0 = now_ms();
    rc = pbd_getentropy_ex(buf, sizeof(buf), PBD_GETENTROPY_STRICT, 300);
    el = now_ms() - t0;
    assert_int_equal(rc, PBD_ETIMEDOUT);
    assert_true(el >= 300 && el <= 300 + SLACK_MS);
    for (size_t i = 0; i < sizeof(buf); i++)
        assert_int_equal(buf[i], 0); /* strict failure: wiped */
    unsetenv("PBD_SOCKET");
    alarm(0);
    kill(daemon_pid, SIGCONT);
    for (int i = 0; i < nfill; i++)
        close(fill[i]);
    assert_int_equal(wait_healthy(), 0);
}

/* The daemon's conditioned bytes served so far, from its stats. */
static unsigned long long served_conditioned(void)
{
    static char buf[16384];
    pbd_t *p;
    assert_int_equal(pbd_open(&p, sock), 0);
    assert_int_equal(pbd_stats(p, buf, sizeof(buf)), 0);
    pbd_close(p);
    const char *s = strstr(buf, "\"served\":");
    assert_non_null(s);
    s = strstr(s, "\"conditioned\":");
    assert_non_null(s);
    return strtoull(s + strlen("\"conditioned\":"), NULL, 10);
}

/* pbd_getentropy() as getentropy(3): up to 256 bytes, an error above with
 * the buffer untouched; min(len, 32) conditioned bytes from the daemon go
 * into each output (served counts them), and with no daemon the OS alone
 * serves unless the caller asks strict. (It once read len conditioned bytes
 * with no bound: 4096 took 17 s.) */
static void test_getentropy_bounds_and_fallback(void **state)
{
    (void)state;
    static uint8_t big[PBD_GETENTROPY_MAX + 1];
    setenv("PBD_SOCKET", sock, 1);
    memset(big, 0xEE, sizeof(big));
    assert_int_equal(pbd_getentropy(big, sizeof(big)), PBD_ETOOBIG);
    for (size_t i = 0; i < sizeof(big); i++)
        assert_int_equal(big[i], 0xEE);
    assert_int_equal(pbd_getentropy(NULL, 0), 0);
    assert_int_equal(pbd_getentropy_ex(big, 8, 0x80, 0), PBD_EINVAL);

    /* Wait for stock, so the draw need not fall back to the OS alone. */
    uint8_t one[32];
    pbd_t *p;
    assert_int_equal(pbd_open(&p, sock), 0);
    assert_int_equal(pbd_read_ex(p, one, sizeof(one), PBD_MODE_CONDITIONED, 0,
                                 60000), 0);
    pbd_close(p);
    for (int tries = 0;; tries++) {
        unsigned long long before = served_conditioned();
        int rc = pbd_getentropy_ex(big, PBD_GETENTROPY_MAX,
                                   PBD_GETENTROPY_STRICT, 60000);
        unsigned long long after = served_conditioned();
        assert_int_equal(rc, 0);
        print_message("  strict, 256 bytes: served.conditioned +%llu\n",
                      after - before);
        if (after - before == 32)
            break;
        assert_true(tries < 3); /* another client drew meanwhile */
    }
    size_t zeros = 0;
    for (size_t i = 0; i < PBD_GETENTROPY_MAX; i++)
        zeros += big[i] == 0;
    assert_true(zeros < 16);

    /* No daemon at the path: the OS alone, or strict's reason. */
    char none[200];
    snprintf(none, sizeof(none), "%s/none.sock", dir);
    setenv("PBD_SOCKET", none, 1);
    uint8_t a[64], b[64];
    assert_int_equal(pbd_getentropy(a, sizeof(a)), 0);
    assert_int_equal(pbd_getentropy(b, sizeof(b)), 0);
    assert_memory_not_equal(a, b, sizeof(a));
    assert_int_equal(pbd_getentropy_ex(a, sizeof(a), PBD_GETENTROPY_STRICT, 0),
                     PBD_ENOSOCKET);
    unsetenv("PBD_SOCKET");
}

/* pbd_version() and the macros agree with each other and with meson's
 * project version ($PBD_PROJECT_VERSION, from the test's environment). */
static void test_version(void **state)
{
    (void)state;
    char v[32];
    snprintf(v, sizeof(v), "%d.%d.%d", PBD_VERSION_MAJOR, PBD_VERSION_MINOR,
             PBD_VERSION_PATCH);
    assert_string_equal(v, PBD_VERSION_STRING);
    assert_string_equal(pbd_version(), PBD_VERSION_STRING);
    const char *want = getenv("PBD_PROJECT_VERSION");
    assert_non_null(want);
    assert_string_equal(pbd_version(), want);
}

/* A child that uses its parent's handle gets PBD_EFORKED and sends nothing;
 * the parent's connection stays in step, also after the child's pbd_close. */
static void test_fork_handle(void **state)
{
    (void)state;
    pbd_t *p;
    assert_int_equal(pbd_open(&p, sock), 0);
    uint8_t buf[32];
    assert_int_equal(pbd_read(p, buf, sizeof(buf), PBD_MODE_DRBG), 0);
    unsigned long long before = requests_seen(p);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* No cmocka in the child: its verdict is the exit status. */
        char text[64];
        pbd_health_state hs;
        int bad = 0;
        bad |= pbd_read(p, buf, sizeof(buf), PBD_MODE_DRBG) != PBD_EFORKED;
        bad |= pbd_read_ex(p, buf, sizeof(buf), PBD_MODE_RAW, PBD_READ_NOWAIT,
                           0) != PBD_EFORKED;
        bad |= pbd_stats(p, text, sizeof(text)) != PBD_EFORKED;
        bad |= pbd_health(p, &hs, text, sizeof(text)) != PBD_EFORKED;
        pbd_close(p);
        _exit(bad);
    }
    int status = -1;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    /* Nothing reached the daemon from the child: one more request, this. */
    assert_int_equal(requests_seen(p), before + 1);
    assert_int_equal(pbd_read(p, buf, sizeof(buf), PBD_MODE_DRBG), 0);
    pbd_close(p);
    assert_string_equal(pbd_errname(PBD_EFORKED), "PBD_EFORKED");
    assert_string_not_equal(pbd_strerror(PBD_EFORKED), "unknown error");
}

/* pbd_getentropy() keeps no connection between calls, so a child uses it
 * like any process. */
static void test_getentropy_in_child(void **state)
{
    (void)state;
    uint8_t a[32];
    setenv("PBD_SOCKET", sock, 1);
    assert_int_equal(pbd_getentropy(a, sizeof(a)), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(pbd_getentropy(a, sizeof(a)) != 0);
    int status = -1;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    unsetenv("PBD_SOCKET");
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* The handle's socket is close-on-exec: a program the caller runs does not
 * inherit a connection to the daemon. */
static void test_cloexec(void **state)
{
    (void)state;
    int lowest = dup(0); /* socket() will get the lowest free descriptor */
    assert_true(lowest >= 0);
    close(lowest);
    pbd_t *p;
    assert_int_equal(pbd_open(&p, sock), 0);
    struct stat st;
    assert_int_equal(fstat(lowest, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    int fl = fcntl(lowest, F_GETFD);
    assert_true(fl >= 0 && (fl & FD_CLOEXEC));
    pbd_close(p);
}

/* Forks while the main thread opens handles, and has each child look for a
 * socket without close-on-exec: a fork between socket() and a later
 * fcntl(FD_CLOEXEC) would leak one into a program the child runs. */
static volatile int race_stop;

static void *race_forker(void *arg)
{
    int *leaks = arg;
    for (int i = 0; i < 400 && !race_stop; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            for (int fd = 3; fd < 256; fd++) {
                struct stat st;
                if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) &&
                    !(fcntl(fd, F_GETFD) & FD_CLOEXEC))
                    _exit(1);
            }
            _exit(0);
        }
        int status = 0;
        if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
            WEXITSTATUS(status) == 1)
            (*leaks)++;
    }
    race_stop = 1;
    return NULL;
}

static void test_cloexec_atomic(void **state)
{
    (void)state;
    int leaks = 0;
    pthread_t t;
    race_stop = 0;
    assert_int_equal(pthread_create(&t, NULL, race_forker, &leaks), 0);
    uint64_t end = now_ms() + 20000;
    while (!race_stop && now_ms() < end) {
        pbd_t *p;
        if (pbd_open(&p, sock) == 0)
            pbd_close(p);
    }
    race_stop = 1;
    pthread_join(t, NULL);
    print_message("  %d of the children inherited a socket without "
                  "close-on-exec\n", leaks);
    assert_int_equal(leaks, 0);
}

/* An argument runs only the tests whose names match it (a glob). */
int main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_modes_and_lengths),
        cmocka_unit_test(test_many_reads_unique),
        cmocka_unit_test(test_stats_health),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_getentropy_default_socket),
        cmocka_unit_test(test_getentropy_in_child),
        cmocka_unit_test(test_fork_handle),
        cmocka_unit_test(test_cloexec),
        cmocka_unit_test(test_cloexec_atomic),
        cmocka_unit_test(test_stopped_daemon),
        cmocka_unit_test(test_stopped_daemon_full_backlog),
        cmocka_unit_test(test_getentropy_bounds_and_fallback),
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_capture_ended_with_reason),
    };
    return cmocka_run_group_tests(tests, start_daemon, stop_daemon);
}

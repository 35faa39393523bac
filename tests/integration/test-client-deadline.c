/* test-client-deadline.c - libpbd's client-side deadline against fake daemons
 * that accept and then go quiet: a thread in this process plays the daemon
 * on a temporary socket, so each hang is deterministic. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "pbd.h"
#include "proto.h"

/* How late a timed-out call may return after its deadline: the scheduler's
 * lateness on a loaded machine under the sanitizers, a choice, not a
 * measurement. */
#define SLACK_MS 1000u

/* A wait limit the fake daemon never meets. */
#define WAIT_MS 100u

static char dir[] = "/tmp/pbd-fake-XXXXXX";
static char sock[100]; /* fits sun_path */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The longest a libpbd call may take against a daemon that never answers,
 * from pbd.h's contract. */
static uint64_t bound_ms(uint32_t wait_ms)
{
    if (wait_ms == 0)
        wait_ms = PBD_WAIT_DEFAULT_MS;
    if (wait_ms > PBD_WAIT_MAX_MS)
        wait_ms = PBD_WAIT_MAX_MS;
    return (uint64_t)wait_ms + PBD_DEADLINE_MARGIN_MS;
}

/* Checks that a call that started at t0 gave up with PBD_ETIMEDOUT on the
 * client's deadline: not before it (the daemon was owed that long), not
 * long after it. */
static void assert_timed_out(int rc, uint64_t t0, uint64_t deadline_ms)
{
    uint64_t el = now_ms() - t0;
    print_message("  gave up after %llu ms (deadline %llu ms)\n",
                  (unsigned long long)el, (unsigned long long)deadline_ms);
    assert_int_equal(rc, PBD_ETIMEDOUT);
    assert_true(el >= deadline_ms);
    assert_true(el <= deadline_ms + SLACK_MS);
}

/* Starts a thread with SIGALRM blocked: the EINTR test's signals must reach
 * only the thread inside libpbd. */
static void spawn(pthread_t *t, void *(*fn)(void *), void *arg)
{
    sigset_t alrm, old;
    sigemptyset(&alrm);
    sigaddset(&alrm, SIGALRM);
    pthread_sigmask(SIG_BLOCK, &alrm, &old);
    assert_int_equal(pthread_create(t, NULL, fn, arg), 0);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* ---- watchdog: a call that never returns fails the run instead of hanging */

static pthread_mutex_t wd_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wd_cv = PTHREAD_COND_INITIALIZER;
static bool wd_armed;
static uint64_t wd_limit_ms;
static pthread_t wd_thread;

static void *watchdog_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&wd_mu);
    while (wd_armed) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&wd_cv, &wd_mu, &ts);
        if (wd_armed && now_ms() > wd_limit_ms) {
            static const char msg[] = "watchdog: a libpbd call is still "
                                      "blocked long after its deadline\n";
            (void)!write(2, msg, sizeof(msg) - 1);
            _exit(1);
        }
    }
    pthread_mutex_unlock(&wd_mu);
    return NULL;
}

static void watchdog_arm(uint64_t ms)
{
    pthread_mutex_lock(&wd_mu);
    wd_armed = true;
    wd_limit_ms = now_ms() + ms;
    pthread_mutex_unlock(&wd_mu);
    spawn(&wd_thread, watchdog_main, NULL);
}

static void watchdog_disarm(void)
{
    pthread_mutex_lock(&wd_mu);
    wd_armed = false;
    pthread_cond_signal(&wd_cv);
    pthread_mutex_unlock(&wd_mu);
    pthread_join(wd_thread, NULL);
}

/* ---- the fake daemon ----------------------------------------------------- */

struct fake {
    int lfd;
    int go[2];     /* the test writes a byte when the script may go on */
    pthread_t thread;
    void (*script)(struct fake *);
    bool old_closed; /* the client hung up the connection it gave up on */
    int fail;        /* line of the first failed step, 0 if none */
};

#define FAKE_CHECK(f, cond)                                                  \
    do {                                                                     \
        if (!(cond) && !(f)->fail)                                           \
            (f)->fail = __LINE__;                                            \
    } while (0)

static struct sockaddr_un fake_addr(void)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, sock, sizeof(sock));
    return sa;
}

static int fake_listen(int backlog)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_un sa = fake_addr();
    unlink(sock);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, backlog), 0);
    return fd;
}

/* Accepts one client; its reads give up after 30 s so the script cannot
 * hang the run when the library misbehaves. */
static int fake_accept(struct fake *f)
{
    int fd = accept(f->lfd, NULL, NULL);
    FAKE_CHECK(f, fd >= 0);
    struct timeval tv = {.tv_sec = 30};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static bool fake_recv(int fd, void *buf, size_t len)
{
    uint8_t *b = buf;
    while (len) {
        ssize_t n = recv(fd, b, len, 0);
        if (n <= 0)
            return false;
        b += n;
        len -= (size_t)n;
    }
    return true;
}

static bool fake_send(int fd, const void *buf, size_t len)
{
    return send(fd, buf, len, MSG_NOSIGNAL) == (ssize_t)len;
}

/* Reads n READ requests and checks each asks for wait_ms. */
static void fake_read_reqs(struct fake *f, int fd, int n, uint32_t wait_ms)
{
    for (int i = 0; i < n; i++) {
        uint8_t req[PROTO_HDR_LEN + PROTO_READ_PAYLOAD];
        struct proto_req r;
        FAKE_CHECK(f, fake_recv(fd, req, sizeof(req)));
        FAKE_CHECK(f, proto_parse_request(req, sizeof(req), &r) ==
                          (long)sizeof(req));
        FAKE_CHECK(f, r.type == PROTO_T_READ && r.rd.wait_ms == wait_ms);
    }
}

static void fake_reply(struct fake *f, int fd, uint8_t type, const void *body,
                       uint32_t len)
{
    uint8_t h[PROTO_HDR_LEN];
    proto_encode_hdr(h, type, len);
    FAKE_CHECK(f, fake_send(fd, h, sizeof(h)));
    FAKE_CHECK(f, len == 0 || fake_send(fd, body, len));
}

static void fake_read_reply(struct fake *f, int fd, uint32_t len, uint8_t byte)
{
    uint8_t body[256];
    FAKE_CHECK(f, len <= sizeof(body));
    memset(body, byte, len);
    fake_reply(f, fd, PROTO_T_READ | PROTO_T_REPLY, body, len);
}

static void fake_wait_go(struct fake *f)
{
    char c;
    FAKE_CHECK(f, read(f->go[0], &c, 1) == 1);
}

/* True when the client has hung up fd (EOF or reset), after any bytes it
 * left unread. */
static bool fake_hung_up(int fd)
{
    char junk[64];
    for (;;) {
        ssize_t n = recv(fd, junk, sizeof(junk), 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            return true;
        if (n < 0)
            return false; /* SO_RCVTIMEO: still open */
    }
}

/* Checks that the client hung up old, the connection it gave up on, then
 * answers one read of len bytes on the connection it opens next. */
static void fake_serve_next(struct fake *f, int old, uint32_t len,
                            uint8_t byte)
{
    f->old_closed = fake_hung_up(old);
    close(old);
    int c = fake_accept(f);
    fake_read_reqs(f, c, 1, WAIT_MS);
    fake_read_reply(f, c, len, byte);
    close(c);
}

static void *fake_main(void *arg)
{
    struct fake *f = arg;
    f->script(f);
    return NULL;
}

/* Starts the fake daemon running script and returns a handle to it. */
static pbd_t *fake_start(struct fake *f, void (*script)(struct fake *))
{
    memset(f, 0, sizeof(*f));
    f->lfd = fake_listen(8);
    assert_int_equal(pipe(f->go), 0);
    f->script = script;
    spawn(&f->thread, fake_main, f);
    pbd_t *p = NULL;
    assert_int_equal(pbd_open(&p, sock), 0);
    return p;
}

static void fake_go(struct fake *f)
{
    assert_int_equal(write(f->go[1], "g", 1), 1);
}

/* Joins the script and checks that it saw what it expected. */
static void fake_finish(struct fake *f)
{
    pthread_join(f->thread, NULL);
    close(f->lfd);
    close(f->go[0]);
    close(f->go[1]);
    unlink(sock);
    if (f->fail)
        fail_msg("fake daemon: step at line %d failed", f->fail);
}

/* ---- tests ----------------------------------------------------------------- */

static void ignore_signal(int sig)
{
    (void)sig;
}

/* Answers nothing on the first connection until the client has given up,
 * then sends that request's reply late; answers the next connection at once. */
static void script_late_reply(struct fake *f)
{
    int c1 = fake_accept(f);
    fake_read_reqs(f, c1, 1, WAIT_MS);
    fake_wait_go(f);
    uint8_t h[PROTO_HDR_LEN];
    uint8_t late[32];
    memset(late, 0xAA, sizeof(late));
    proto_encode_hdr(h, PROTO_T_READ | PROTO_T_REPLY, sizeof(late));
    /* The client may already have closed: the late frame then goes nowhere,
     * which is the point. */
    (void)fake_send(c1, h, sizeof(h));
    (void)fake_send(c1, late, sizeof(late));
    fake_serve_next(f, c1, 32, 0xBB);
}

/* A read against a daemon that never answers gives up on time, signals
 * and all, and its late reply is never taken for the next request's. */
static void test_read_deadline_late_reply(void **state)
{
    (void)state;
    struct fake f;
    pbd_t *p = fake_start(&f, script_late_reply);

    /* A signal every 10 ms without SA_RESTART: poll() and recv() see EINTR
     * throughout the wait. */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = ignore_signal;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 10000}, {0, 10000}};
    setitimer(ITIMER_REAL, &it, NULL);

    uint8_t buf[32];
    watchdog_arm(bound_ms(WAIT_MS) + SLACK_MS + 5000);
    uint64_t t0 = now_ms();
    int rc = pbd_read_ex(p, buf, sizeof(buf), PBD_MODE_DRBG, 0, WAIT_MS);
    watchdog_disarm();
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    assert_timed_out(rc, t0, bound_ms(WAIT_MS));
    for (size_t i = 0; i < sizeof(buf); i++)
        assert_int_equal(buf[i], 0); /* wiped */

    fake_go(&f);
    assert_int_equal(pbd_read_ex(p, buf, sizeof(buf), PBD_MODE_DRBG, 0,
                                 WAIT_MS), 0);
    for (size_t i = 0; i < sizeof(buf); i++)
        assert_int_equal(buf[i], 0xBB);
    pbd_close(p);
    fake_finish(&f);
    assert_true(f.old_closed);
}

/* Serves two of three pipelined requests, each a little over half a
 * deadline apart, then goes quiet. */
static void script_slow_then_quiet(struct fake *f)
{
    int c1 = fake_accept(f);
    fake_read_reqs(f, c1, 3, WAIT_MS);
    for (int i = 0; i < 2; i++) {
        usleep((useconds_t)(bound_ms(WAIT_MS) * 1000 * 6 / 10));
        fake_read_reply(f, c1, 64, (uint8_t)i);
    }
    fake_wait_go(f);
    close(c1);
}

/* A long read that keeps making progress is not cut short: the deadline
 * restarts with each reply and fires only once replies stop. */
static void test_deadline_restarts_per_reply(void **state)
{
    (void)state;
    struct fake f;
    pbd_t *p = fake_start(&f, script_slow_then_quiet);
    uint8_t buf[3 * 64]; /* three 64-byte conditioned requests */
    uint64_t b = bound_ms(WAIT_MS);
    uint64_t last_reply = 2 * (b * 6 / 10);
    watchdog_arm(last_reply + b + SLACK_MS + 5000);
    uint64_t t0 = now_ms();
    int rc = pbd_read_ex(p, buf, sizeof(buf), PBD_MODE_CONDITIONED, 0,
                         WAIT_MS);
    watchdog_disarm();
    assert_timed_out(rc, t0, last_reply + b);
    fake_go(&f);
    pbd_close(p);
    fake_finish(&f);
}

/* Fails the first of four pipelined requests and never answers the rest. */
static void script_error_then_quiet(struct fake *f)
{
    int c1 = fake_accept(f);
    fake_read_reqs(f, c1, 4, WAIT_MS);
    uint8_t code[4];
    proto_put_u32(code, (uint32_t)-PBD_EHEALTH);
    fake_reply(f, c1, PROTO_T_ERROR, code, sizeof(code));
    fake_wait_go(f);
    fake_serve_next(f, c1, 64, 0xCC);
}

/* An error ends the call at once: it does not wait out the replies still
 * owed to the requests in flight, and the next call starts afresh. */
static void test_error_abandons_pipeline(void **state)
{
    (void)state;
    struct fake f;
    pbd_t *p = fake_start(&f, script_error_then_quiet);
    uint8_t buf[4 * 64];
    watchdog_arm(4 * bound_ms(WAIT_MS) + SLACK_MS);
    uint64_t t0 = now_ms();
    int rc = pbd_read_ex(p, buf, sizeof(buf), PBD_MODE_CONDITIONED, 0,
                         WAIT_MS);
    watchdog_disarm();
    assert_int_equal(rc, PBD_EHEALTH);
    assert_true(now_ms() - t0 < bound_ms(WAIT_MS));
    fake_go(&f);
    assert_int_equal(pbd_read_ex(p, buf, 64, PBD_MODE_CONDITIONED, 0,
                                 WAIT_MS), 0);
    assert_int_equal(buf[0], 0xCC);
    pbd_close(p);
    fake_finish(&f);
    assert_true(f.old_closed);
}

/* Sends three bytes of a reply header and stalls; answers the next
 * connection properly. */
static void script_partial_header(struct fake *f)
{
    int c1 = fake_accept(f);
    uint8_t req[PROTO_HDR_LEN];
    FAKE_CHECK(f, fake_recv(c1, req, sizeof(req)));
    uint8_t h[PROTO_HDR_LEN];
    proto_encode_hdr(h, PROTO_T_STATS | PROTO_T_REPLY, 2);
    FAKE_CHECK(f, fake_send(c1, h, 3));
    fake_wait_go(f);
    f->old_closed = fake_hung_up(c1);
    close(c1);
    int c2 = fake_accept(f);
    FAKE_CHECK(f, fake_recv(c2, req, sizeof(req)));
    fake_reply(f, c2, PROTO_T_STATS | PROTO_T_REPLY, "{}", 2);
    close(c2);
}

/* Calls that ask for no wait (stats, health) get the default deadline, and
 * a half-arrived reply does not hold them. */
static void test_stats_deadline(void **state)
{
    (void)state;
    struct fake f;
    pbd_t *p = fake_start(&f, script_partial_header);
    char buf[64];
    watchdog_arm(bound_ms(0) + SLACK_MS + 5000);
    uint64_t t0 = now_ms();
    int rc = pbd_stats(p, buf, sizeof(buf));
    watchdog_disarm();
    assert_timed_out(rc, t0, bound_ms(0));
    fake_go(&f);
    assert_int_equal(pbd_stats(p, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "{}");
    pbd_close(p);
    fake_finish(&f);
    assert_true(f.old_closed);
}

/* Accepts one queued connection a little after the test starts waiting,
 * freeing a place in the backlog. */
static void *accept_later(void *arg)
{
    int lfd = *(int *)arg;
    usleep(300000);
    int fd = accept(lfd, NULL, NULL);
    if (fd >= 0)
        close(fd);
    return NULL;
}

/* A daemon that stopped accepting with its backlog full: connect() would
 * block (Linux) until it accepts again. pbd_open() gives up on time, and
 * gets through when a place frees up before then. */
static void test_open_full_backlog(void **state)
{
    (void)state;
    int lfd = fake_listen(0);
    int fill[64];
    int nfill = 0;
    bool full = false, refused = false;
    while (nfill < 64 && !full && !refused) {
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        assert_true(fd >= 0);
        assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
        struct sockaddr_un sa = fake_addr();
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
            full = errno == EAGAIN || errno == EWOULDBLOCK;
            refused = !full; /* BSD, macOS: ECONNREFUSED at once */
            close(fd);
        } else {
            fill[nfill++] = fd;
        }
    }
    if (!full) {
        for (int i = 0; i < nfill; i++)
            close(fill[i]);
        close(lfd);
        skip(); /* this system refuses rather than blocks at a full backlog */
    }
    pbd_t *p = NULL;
    watchdog_arm(bound_ms(0) + SLACK_MS + 5000);
    uint64_t t0 = now_ms();
    int rc = pbd_open(&p, sock);
    watchdog_disarm();
    assert_timed_out(rc, t0, bound_ms(0));
    assert_null(p);

    pthread_t t;
    spawn(&t, accept_later, &lfd);
    watchdog_arm(bound_ms(0) + SLACK_MS + 5000);
    rc = pbd_open(&p, sock);
    watchdog_disarm();
    pthread_join(t, NULL);
    assert_int_equal(rc, 0);
    pbd_close(p);
    for (int i = 0; i < nfill; i++)
        close(fill[i]);
    close(lfd);
    unlink(sock);
}

static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(dir))
        return -1;
    snprintf(sock, sizeof(sock), "%s/fake.sock", dir);
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(sock);
    return rmdir(dir);
}

/* An argument runs only the tests whose names match it (a glob). */
int main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_deadline_late_reply),
        cmocka_unit_test(test_deadline_restarts_per_reply),
        cmocka_unit_test(test_error_abandons_pipeline),
        cmocka_unit_test(test_stats_deadline),
        cmocka_unit_test(test_open_full_backlog),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

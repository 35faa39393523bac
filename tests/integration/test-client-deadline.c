/* test-client-deadline.c - libpbd's client-side deadline, reconnection and
 * connect errors against fake daemons that go quiet, hang up or are not
 * there: a thread in this process plays the daemon on a temporary socket,
 * so each hang is deterministic. */
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
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "fill-backlog.h"
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
    uint8_t body[512];
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

struct backlog {
    int lfd, nfill;
    struct fake f; /* for FAKE_CHECK */
};

/* After 300 ms accepts (and closes) the connections that filled the
 * backlog, then the client's, queued behind them, and serves one read. */
static void *drain_then_serve(void *arg)
{
    struct backlog *b = arg;
    usleep(300000);
    for (int i = 0; i < b->nfill; i++) {
        int fd = accept(b->lfd, NULL, NULL);
        if (fd >= 0)
            close(fd);
    }
    b->f.lfd = b->lfd;
    int c = fake_accept(&b->f);
    fake_read_reqs(&b->f, c, 1, WAIT_MS);
    fake_read_reply(&b->f, c, 32, 0x5A);
    close(c);
    return NULL;
}

/* A daemon that stopped accepting with its backlog full: connect() would
 * block (Linux) until it accepts again. pbd_open() does not wait at all
 * (it once waited its own 15 s, whatever the caller's read asked for); the
 * read connects within its own deadline, and gets through when a place
 * frees up before then. */
static void test_open_full_backlog(void **state)
{
    (void)state;
    struct backlog b;
    memset(&b, 0, sizeof(b));
    b.lfd = fake_listen(0);
    int fill[64];
    b.nfill = fill_backlog(sock, fill, 64);
    if (b.nfill < 0) {
        close(b.lfd);
        skip(); /* this system refuses rather than blocks at a full backlog */
    }
    pbd_t *p = NULL;
    watchdog_arm(bound_ms(0) + SLACK_MS + 5000);
    uint64_t t0 = now_ms();
    int rc = pbd_open(&p, sock);
    uint64_t el = now_ms() - t0;
    print_message("  pbd_open returned %d after %llu ms\n", rc,
                  (unsigned long long)el);
    assert_int_equal(rc, 0);
    assert_true(el < SLACK_MS);
    uint8_t buf[32];
    t0 = now_ms();
    rc = pbd_read_ex(p, buf, sizeof(buf), PBD_MODE_DRBG, 0, WAIT_MS);
    watchdog_disarm();
    assert_timed_out(rc, t0, bound_ms(WAIT_MS));

    pthread_t t;
    spawn(&t, drain_then_serve, &b);
    watchdog_arm(bound_ms(WAIT_MS) + SLACK_MS + 5000);
    rc = pbd_read_ex(p, buf, sizeof(buf), PBD_MODE_DRBG, 0, WAIT_MS);
    watchdog_disarm();
    pthread_join(t, NULL);
    assert_int_equal(rc, 0);
    assert_int_equal(buf[0], 0x5A);
    pbd_close(p);
    for (int i = 0; i < b.nfill; i++)
        close(fill[i]);
    close(b.lfd);
    unlink(sock);
    if (b.f.fail)
        fail_msg("fake daemon: step at line %d failed", b.f.fail);
}

/* ---- reconnection -------------------------------------------------------- */

/* Serves one read, then closes the connection as the daemon's --idle-ms
 * does; serves the next connection's read and stats. */
static void script_idle_close(struct fake *f)
{
    int c1 = fake_accept(f);
    fake_read_reqs(f, c1, 1, WAIT_MS);
    fake_read_reply(f, c1, 32, 0x11);
    fake_wait_go(f);
    close(c1); /* idle: no request pending */
    fake_wait_go(f);
    int c2 = fake_accept(f);
    fake_read_reqs(f, c2, 1, WAIT_MS);
    fake_read_reply(f, c2, 32, 0x22);
    close(c2);
    int c3 = fake_accept(f);
    uint8_t req[PROTO_HDR_LEN];
    FAKE_CHECK(f, fake_recv(c3, req, sizeof(req)));
    fake_reply(f, c3, PROTO_T_STATS | PROTO_T_REPLY, "{}", 2);
    close(c3);
}

/* A handle outlives the daemon's idle close: the next call connects again
 * and sends its request on the new connection. (It once failed with
 * PBD_ECLOSED, and every later call too.) */
static void test_idle_close_reconnects(void **state)
{
    (void)state;
    struct fake f;
    pbd_t *p = fake_start(&f, script_idle_close);
    uint8_t buf[32];
    watchdog_arm(60000);
    assert_int_equal(pbd_read_ex(p, buf, sizeof(buf), PBD_MODE_DRBG, 0,
                                 WAIT_MS), 0);
    assert_int_equal(buf[0], 0x11);
    fake_go(&f);
    usleep(100000); /* the close has reached us */
    fake_go(&f);
    assert_int_equal(pbd_read_ex(p, buf, sizeof(buf), PBD_MODE_DRBG, 0,
                                 WAIT_MS), 0);
    for (size_t i = 0; i < sizeof(buf); i++)
        assert_int_equal(buf[i], 0x22);
    /* c2 closed after its read: stats reconnects too. */
    char js[16];
    assert_int_equal(pbd_stats(p, js, sizeof(js)), 0);
    assert_string_equal(js, "{}");
    watchdog_disarm();
    pbd_close(p);
    fake_finish(&f);
}

/* Answers the first of three pipelined reads, then hangs up (a restart);
 * the next connection must ask for the other two only. */
static void script_close_mid_pipeline(struct fake *f)
{
    int c1 = fake_accept(f);
    fake_read_reqs(f, c1, 3, WAIT_MS);
    fake_read_reply(f, c1, 64, 0x01);
    close(c1);
    int c2 = fake_accept(f);
    fake_read_reqs(f, c2, 2, WAIT_MS);
    fake_read_reply(f, c2, 64, 0x02);
    fake_read_reply(f, c2, 64, 0x03);
    /* Nothing more: a third request here would be a byte asked twice. */
    f->old_closed = fake_hung_up(c2);
    close(c2);
}

/* A connection lost between replies: the replies that came are kept, the
 * requests that had no byte of reply are sent again, once each. */
static void test_reconnect_resends_only_unanswered(void **state)
{
    (void)state;
    struct fake f;
    pbd_t *p = fake_start(&f, script_close_mid_pipeline);
    uint8_t buf[3 * 64];
    watchdog_arm(60000);
    assert_int_equal(pbd_read_ex(p, buf, sizeof(buf), PBD_MODE_CONDITIONED, 0,
                                 WAIT_MS), 0);
    watchdog_disarm();
    for (size_t i = 0; i < sizeof(buf); i++)
        assert_int_equal(buf[i], i < 64 ? 0x01 : i < 128 ? 0x02 : 0x03);
    pbd_close(p);
    fake_finish(&f);
    assert_true(f.old_closed);
}

/* Sends the header and half the payload of a reply, then hangs up. */
static void script_half_reply(struct fake *f)
{
    int c1 = fake_accept(f);
    fake_read_reqs(f, c1, 1, WAIT_MS);
    uint8_t h[PROTO_HDR_LEN], half[16];
    proto_encode_hdr(h, PROTO_T_READ | PROTO_T_REPLY, 32);
    memset(half, 0x77, sizeof(half));
    FAKE_CHECK(f, fake_send(c1, h, sizeof(h)));
    FAKE_CHECK(f, fake_send(c1, half, sizeof(half)));
    close(c1);
    fake_wait_go(f);
    int c2 = fake_accept(f);
    fake_read_reqs(f, c2, 1, WAIT_MS);
    fake_read_reply(f, c2, 32, 0x33);
    close(c2);
}

/* A reply that had begun is never asked for again: half a reply is an
 * error (buffer wiped), and only the next call connects again. */
static void test_half_reply_not_retried(void **state)
{
    (void)state;
    struct fake f;
    pbd_t *p = fake_start(&f, script_half_reply);
    uint8_t buf[32];
    watchdog_arm(60000);
    assert_int_equal(pbd_read_ex(p, buf, sizeof(buf), PBD_MODE_DRBG, 0,
                                 WAIT_MS), PBD_ECLOSED);
    for (size_t i = 0; i < sizeof(buf); i++)
        assert_int_equal(buf[i], 0);
    fake_go(&f);
    assert_int_equal(pbd_read_ex(p, buf, sizeof(buf), PBD_MODE_DRBG, 0,
                                 WAIT_MS), 0);
    watchdog_disarm();
    assert_int_equal(buf[0], 0x33);
    pbd_close(p);
    fake_finish(&f);
}

/* ---- captures: bound to their connection --------------------------------- */

/* Checks that no client connects for 500 ms: nothing was sent again. */
static bool fake_no_new_client(struct fake *f)
{
    struct timeval tv = {.tv_usec = 500000};
    setsockopt(f->lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    int fd = accept(f->lfd, NULL, NULL);
    struct timeval off = {0, 0};
    setsockopt(f->lfd, SOL_SOCKET, SO_RCVTIMEO, &off, sizeof(off));
    if (fd >= 0)
        close(fd);
    return fd < 0;
}

/* Serves one capture read, then hangs up (a daemon restart mid-capture). */
static void script_capture_then_close(struct fake *f)
{
    int c1 = fake_accept(f);
    fake_read_reqs(f, c1, 1, WAIT_MS);
    fake_read_reply(f, c1, 512, 0x44);
    fake_read_reqs(f, c1, 1, WAIT_MS);
    close(c1);
    FAKE_CHECK(f, fake_no_new_client(f));
    fake_wait_go(f);
    /* After PBD_ELOST, a new capture on a new connection. */
    int c2 = fake_accept(f);
    fake_read_reqs(f, c2, 1, WAIT_MS);
    fake_read_reply(f, c2, 512, 0x55);
    close(c2);
}

/* A capture's connection lost: the read says PBD_ELOST at once and sends
 * nothing on a new connection, whose capture would leave a gap. */
static void test_capture_lost(void **state)
{
    (void)state;
    struct fake f;
    pbd_t *p = fake_start(&f, script_capture_then_close);
    static uint8_t buf[512];
    watchdog_arm(60000);
    assert_int_equal(pbd_read_ex(p, buf, sizeof(buf), PBD_MODE_CAPTURE, 0,
                                 WAIT_MS), 0);
    assert_int_equal(buf[0], 0x44);
    assert_int_equal(pbd_read_ex(p, buf, sizeof(buf), PBD_MODE_CAPTURE, 0,
                                 WAIT_MS), PBD_ELOST);
    usleep(700000); /* past the fake's watch for a new client */
    fake_go(&f);
    assert_int_equal(pbd_read_ex(p, buf, sizeof(buf), PBD_MODE_CAPTURE, 0,
                                 WAIT_MS), 0);
    watchdog_disarm();
    assert_int_equal(buf[0], 0x55);
    pbd_close(p);
    fake_finish(&f);
}

/* Serves a capture read, then hangs up while idle; serves stats on the next
 * connection, and expects no capture read there. */
static void script_capture_idle_close(struct fake *f)
{
    int c1 = fake_accept(f);
    fake_read_reqs(f, c1, 1, WAIT_MS);
    fake_read_reply(f, c1, 512, 0x66);
    close(c1);
    int c2 = fake_accept(f);
    uint8_t req[PROTO_HDR_LEN];
    FAKE_CHECK(f, fake_recv(c2, req, sizeof(req)));
    fake_reply(f, c2, PROTO_T_STATS | PROTO_T_REPLY, "{}", 2);
    f->old_closed = fake_hung_up(c2); /* nothing more was sent */
    close(c2);
}

/* A capture lost while another call reconnected (stats, which is safe to
 * send again): the next capture read reports it rather than begin anew. */
static void test_capture_lost_between_reads(void **state)
{
    (void)state;
    struct fake f;
    pbd_t *p = fake_start(&f, script_capture_idle_close);
    static uint8_t buf[512];
    char js[16];
    watchdog_arm(60000);
    assert_int_equal(pbd_read_ex(p, buf, sizeof(buf), PBD_MODE_CAPTURE, 0,
                                 WAIT_MS), 0);
    usleep(100000); /* the close has reached us */
    assert_int_equal(pbd_stats(p, js, sizeof(js)), 0);
    assert_int_equal(pbd_read_ex(p, buf, sizeof(buf), PBD_MODE_CAPTURE, 0,
                                 WAIT_MS), PBD_ELOST);
    watchdog_disarm();
    pbd_close(p);
    fake_finish(&f);
    assert_true(f.old_closed);
}

/* Takes a restart read and never answers it. */
static void script_restart_quiet(struct fake *f)
{
    int c1 = fake_accept(f);
    fake_read_reqs(f, c1, 1, WAIT_MS);
    fake_wait_go(f);
    close(c1);
}

/* A restart read whose connection is dropped on the client's deadline is
 * lost too (PBD_ELOST, not PBD_ETIMEDOUT): its samples are the first
 * after that restart or none. */
static void test_restart_lost_on_deadline(void **state)
{
    (void)state;
    struct fake f;
    pbd_t *p = fake_start(&f, script_restart_quiet);
    static uint8_t buf[1000];
    watchdog_arm(bound_ms(WAIT_MS) + SLACK_MS + 5000);
    uint64_t t0 = now_ms();
    int rc = pbd_read_ex(p, buf, sizeof(buf), PBD_MODE_CAPTURE,
                         PBD_READ_RESTART, WAIT_MS);
    watchdog_disarm();
    assert_int_equal(rc, PBD_ELOST);
    assert_true(now_ms() - t0 >= bound_ms(WAIT_MS));
    fake_go(&f);
    pbd_close(p);
    fake_finish(&f);
}

/* ---- connect errors -------------------------------------------------------- */

/* No socket, a stale one, one the caller may not open: three codes, each
 * saying what to do (all were PBD_ECONNECT). */
static void test_connect_errors(void **state)
{
    (void)state;
    pbd_t *p = NULL;
    char path[160];
    snprintf(path, sizeof(path), "%s/none.sock", dir);
    assert_int_equal(pbd_open(&p, path), PBD_ENOSOCKET);
    assert_null(p);
    assert_non_null(strstr(pbd_strerror(PBD_ENOSOCKET), "running"));

    /* Bound but never listening: what a daemon that died leaves behind. */
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = fake_addr();
    unlink(sock);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(fd);
    assert_int_equal(pbd_open(&p, sock), PBD_EREFUSED);
    assert_non_null(strstr(pbd_strerror(PBD_EREFUSED), "stale"));

    /* Root passes any mode: look as nobody, in a child. */
    int lfd = fake_listen(8);
    assert_int_equal(chmod(sock, 0660), 0);
    assert_int_equal(chmod(dir, 0755), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (getuid() != 0 && chmod(sock, 0) != 0)
            _exit(3);
        if (getuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
            _exit(2);
        _exit(pbd_open(&p, sock) == PBD_EACCESS ? 0 : 1);
    }
    int st = -1;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    chmod(dir, 0700);
    close(lfd);
    unlink(sock);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_non_null(strstr(pbd_strerror(PBD_EACCESS), "group"));
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
        cmocka_unit_test(test_idle_close_reconnects),
        cmocka_unit_test(test_reconnect_resends_only_unanswered),
        cmocka_unit_test(test_half_reply_not_retried),
        cmocka_unit_test(test_capture_lost),
        cmocka_unit_test(test_capture_lost_between_reads),
        cmocka_unit_test(test_restart_lost_on_deadline),
        cmocka_unit_test(test_connect_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

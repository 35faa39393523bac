/*
 * test-conn.c - the transport (daemon/conn.c) alone, under fake request
 * hooks: a real libuv loop and a real socket, no dialect, no pool, no
 * sampler. The fake request consumes one byte and answers it with a reply
 * of reply_len bytes.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "conn.h"

static struct server srv;
static uv_loop_t loop;
static char dir[64], path[128];
static size_t reply_len = 16384;
static unsigned handled, gone;

static long fake_request(struct conn *c)
{
    if (reply_len == 0) { /* a request that waits, holding nothing */
        c->p.state = R_WAITING;
        handled++;
        return 1;
    }
    struct wreq *w = wreq_new(c, reply_len, false);
    if (!w)
        return -1;
    memset(w->data, 'r', reply_len);
    conn_send(c, w);
    handled++;
    return 1;
}

static void fake_resume(struct conn *c)
{
    (void)c;
}

static void fake_gone(struct conn *c)
{
    c->p.state = R_NONE; /* cancelled */
    gone++;
}

static bool fake_allowed(const struct server_config *cfg, int fd, uid_t uid,
                         gid_t gid)
{
    (void)cfg, (void)fd, (void)uid, (void)gid;
    return true;
}

static const struct conn_hooks hooks = {fake_request, fake_resume, fake_gone,
                                        fake_allowed};

static void on_connection(uv_stream_t *l, int status)
{
    assert_int_equal(status, 0);
    conn_accept(&srv, l);
}

/* One loop iteration that may not block, then the pass. */
static void turn(void)
{
    uv_run(&loop, UV_RUN_NOWAIT);
    conn_run_pass(&srv);
}

static int setup(void **state)
{
    (void)state;
    memset(&srv, 0, sizeof(srv));
    assert_int_equal(uv_loop_init(&loop), 0);
    srv.loop = &loop;
    srv.hooks = &hooks;
    srv.cfg.max_clients = 16;
    srv.cfg.max_memory = 1u << 20;
    srv.cfg.max_queued = 1u << 20;
    srv.cfg.idle_ms = 60000;
    TAILQ_INIT(&srv.conns);
    TAILQ_INIT(&srv.waiters);
    TAILQ_INIT(&srv.runnable);
    TAILQ_INIT(&srv.mem_waiters);
    uv_idle_init(&loop, &srv.run_idle);
    snprintf(dir, sizeof(dir), "/tmp/pbd-conn-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/s", dir);
    assert_int_equal(uv_pipe_init(&loop, &srv.listener, 0), 0);
    assert_int_equal(uv_pipe_bind(&srv.listener, path), 0);
    assert_int_equal(
        uv_listen((uv_stream_t *)&srv.listener, 16, on_connection), 0);
    handled = gone = 0;
    reply_len = 16384;
    return 0;
}

static void close_cb(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static int teardown(void **state)
{
    (void)state;
    for (struct conn *c = TAILQ_FIRST(&srv.conns), *nx; c; c = nx) {
        nx = TAILQ_NEXT(c, all);
        conn_close(c);
    }
    uv_walk(&loop, close_cb, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_int_equal(srv.mem_used, 0);
    unlink(path);
    rmdir(dir);
    return 0;
}

/* A connected client; the daemon side accepted. */
static int client(void)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, path, strlen(path) + 1);
    unsigned before = srv.nconns;
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    for (int i = 0; i < 1000 && srv.nconns == before; i++)
        turn();
    assert_int_equal(srv.nconns, before + 1);
    return fd;
}

static void send_requests(int fd, size_t n)
{
    uint8_t b[320];
    memset(b, 'q', sizeof(b));
    assert_true(n <= sizeof(b));
    assert_int_equal(write(fd, b, n), (ssize_t)n);
}

/* Reads what is there without blocking; returns the bytes read. */
static size_t drain(int fd)
{
    static uint8_t b[65536];
    size_t total = 0;
    ssize_t n;
    while ((n = recv(fd, b, sizeof(b), MSG_DONTWAIT)) > 0)
        total += (size_t)n;
    return total;
}

/* A client that does not read stops being answered once its socket buffer
 * is full, holding at most one reply of the budget; reading resumes it and
 * every request is answered, once. */
static void flow_control(void **state)
{
    (void)state;
    int fd = client();
    send_requests(fd, 300);
    for (int i = 0; i < 200; i++)
        turn();
    assert_true(handled > 0);
    assert_true(handled < 300);
    assert_true(srv.mem_used <= reply_len);
    size_t got = 0;
    for (int i = 0; i < 100000 && got < 300 * reply_len; i++) {
        got += drain(fd);
        turn();
    }
    assert_int_equal(handled, 300);
    assert_int_equal(got, 300 * reply_len);
    close(fd);
}

/* One request, one reply, and then nothing runnable: the next poll may
 * block (one loop pass per request). */
static void one_pass_per_request(void **state)
{
    (void)state;
    reply_len = 32;
    int fd = client();
    for (unsigned k = 1; k <= 3; k++) {
        send_requests(fd, 1);
        for (int i = 0; i < 1000 && handled < k; i++)
            turn();
        assert_int_equal(handled, k);
        assert_int_equal(srv.nrunnable, 0);
        assert_false(uv_is_active((uv_handle_t *)&srv.run_idle));
        size_t got = 0;
        for (int i = 0; i < 1000 && got < 32; i++)
            got += drain(fd);
        assert_int_equal(got, 32);
    }
    close(fd);
}

/* Memory handed back never wakes parked connections inside a walk: it
 * sets a flag, and the next pass wakes them. */
static void memory_freed_is_a_flag(void **state)
{
    (void)state;
    int a = client();
    int b = client();
    struct conn *cb = TAILQ_FIRST(&srv.conns); /* inserted at the head */
    struct conn *ca = TAILQ_NEXT(cb, all);
    struct wreq *w = wreq_new(cb, 100000, true);
    assert_non_null(w);
    mem_block(ca);
    wreq_free(w);
    assert_true(ca->mem_blocked); /* unchanged until the pass */
    assert_true(srv.mem_freed);
    conn_run_pass(&srv);
    assert_false(ca->mem_blocked);
    assert_false(srv.mem_freed);
    close(a);
    close(b);
}

/* A peer gone while it is not being read (its request waits, its input
 * is full) is seen by the tick's check and closed; its request is
 * cancelled through the hook. */
static void dead_peer_behind_full_input(void **state)
{
    (void)state;
    reply_len = 0;
    int fd = client();
    send_requests(fd, 1);
    send_requests(fd, 320);
    send_requests(fd, 100); /* more than the input holds */
    struct conn *c = TAILQ_FIRST(&srv.conns);
    for (int i = 0; i < 1000 && (c->inlen < IN_CAP || c->reading); i++)
        turn();
    assert_int_equal(handled, 1);
    assert_int_equal(c->inlen, IN_CAP);
    assert_false(c->reading);
    close(fd);
    for (int i = 0; i < 10; i++)
        turn();
    assert_int_equal(srv.nconns, 1); /* no EOF can reach it */
    conn_reap_idle(&srv, now_ms());
    assert_int_equal(srv.nconns, 0);
    assert_int_equal(gone, 1);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* as the daemon: a gone peer is an EPIPE */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(flow_control, setup, teardown),
        cmocka_unit_test_setup_teardown(one_pass_per_request, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(memory_freed_is_a_flag, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(dead_peer_behind_full_input, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

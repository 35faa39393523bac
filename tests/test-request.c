/*
 * test-request.c - the request layer's base (daemon/request.c) alone, on a
 * fake transport: the five conn.c calls it makes (now_ms, send_error,
 * conn_send, wreq_free, conn_schedule_if_due) are defined here and record
 * what they were asked. No libuv loop, no socket, no sampler thread: the
 * health state is set in a zeroed struct sampler's published stats.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "egd.h"
#include "health.h"
#include "pbd.h"
#include "request.h"

/* ---- the fake transport ------------------------------------------------ */

static uint64_t clock_ms;
static unsigned n_errors, n_sent, n_freed, n_scheduled;
static int last_error;
static uint8_t last_error_egd; /* c->p.egd_cmd when the error was sent */
static uint8_t sent[512];
static size_t sent_len;

uint64_t now_ms(void)
{
    return clock_ms;
}

void send_error(struct conn *c, int err, bool fatal)
{
    (void)fatal;
    n_errors++;
    last_error = err;
    /* What the real one reads to answer EGD no-wait in kind. */
    last_error_egd = c->p.egd_cmd;
}

void wreq_free(struct wreq *w)
{
    n_freed++;
    free(w);
}

void conn_send(struct conn *c, struct wreq *w)
{
    (void)c;
    n_sent++;
    assert_true(w->len <= sizeof(sent));
    memcpy(sent, w->data, w->len);
    sent_len = w->len;
    wreq_free(w);
}

void conn_schedule_if_due(struct conn *c)
{
    (void)c;
    n_scheduled++;
}

/* ---- fixture ----------------------------------------------------------- */

struct fx {
    struct server srv;
    struct sampler sampler;
    struct ring ring;
    uint8_t ringbuf[4096];
    struct conn c;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (!f || ring_init(&f->ring, f->ringbuf, sizeof(f->ringbuf), 3072,
                        4096) != 0)
        return -1;
    if (pool_init(&f->srv.pool, &f->ring, 2.0, 60000) != 0)
        return -1;
    f->srv.sampler = &f->sampler;
    f->srv.cfg.wait_ms = 5000;
    f->srv.cfg.max_wait_ms = 30000;
    TAILQ_INIT(&f->srv.waiters);
    f->c.srv = &f->srv;
    f->c.uid = (uid_t)-1;
    clock_ms = 1000000;
    n_errors = n_sent = n_freed = n_scheduled = 0;
    last_error = 0;
    last_error_egd = 0;
    sent_len = 0;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    pool_free(&f->srv.pool);
    free(f);
    return 0;
}

static void set_health(struct fx *f, int state, uint64_t epoch)
{
    atomic_store(&f->sampler.shared.st.health_state, state);
    atomic_store(&f->sampler.shared.st.fail_epoch, epoch);
}

/* A request in progress of n bytes in dialect how, its reply buffer filled
 * with 0xab, and (waiting) on the waiter queue. */
static void in_progress(struct fx *f, enum dialect how, uint8_t egd_cmd,
                        uint32_t n, bool waiting)
{
    struct pending *p = &f->c.p;
    memset(p, 0, sizeof(*p));
    p->how = how;
    p->egd_cmd = egd_cmd;
    p->mode = PBD_MODE_CONDITIONED;
    p->need = p->got = n;
    size_t at, size = request_reply_size(how, egd_cmd, n, &at);
    p->w = calloc(1, sizeof(*p->w) + size);
    assert_non_null(p->w);
    p->w->c = &f->c;
    p->w->len = p->w->size = size;
    p->bytes = p->w->data + at;
    memset(p->bytes, 0xab, n);
    f->c.dialect = how;
    if (waiting) {
        p->state = R_WAITING;
        request_enqueue(&f->c);
    } else {
        p->state = R_CAPTURE;
    }
}

/* ---- the health gate --------------------------------------------------- */

static void gate_per_health_state(void **state)
{
    struct fx *f = *state;
    set_health(f, HEALTH_STARTUP, 0);
    assert_int_equal(request_gate(&f->srv), PBD_EAGAIN);
    set_health(f, HEALTH_OK, 0);
    assert_int_equal(request_gate(&f->srv), 0);
    set_health(f, HEALTH_RETEST, 0);
    assert_int_equal(request_gate(&f->srv), PBD_EHEALTH);
    set_health(f, HEALTH_PERMANENT, 0);
    assert_int_equal(request_gate(&f->srv), PBD_EHEALTH);
}

/* A new failure epoch wipes what was stocked before it, even once the
 * source is healthy again: no byte drawn before a failure is served. */
static void gate_wipes_stock_of_a_new_failure(void **state)
{
    struct fx *f = *state;
    for (unsigned i = 0; i < 200; i++)
        assert_true(ring_put(&f->ring, (uint8_t)i));
    set_health(f, HEALTH_OK, 0);
    assert_int_equal(request_gate(&f->srv), 0);
    assert_int_equal(pool_stock(&f->srv.pool, PBD_MODE_RAW), 200);
    set_health(f, HEALTH_OK, 1);
    assert_int_equal(request_gate(&f->srv), 0);
    assert_int_equal(pool_stock(&f->srv.pool, PBD_MODE_RAW), 0);
}

/* ---- deadlines --------------------------------------------------------- */

static void deadline_arithmetic(void **state)
{
    struct fx *f = *state;
    /* 0: --wait-ms */
    assert_int_equal(request_deadline(&f->srv, 0), clock_ms + 5000);
    assert_int_equal(request_deadline(&f->srv, 1), clock_ms + 1);
    assert_int_equal(request_deadline(&f->srv, 30000), clock_ms + 30000);
    /* at most --max-wait-ms */
    assert_int_equal(request_deadline(&f->srv, 30001), clock_ms + 30000);
    assert_int_equal(request_deadline(&f->srv, UINT32_MAX),
                     clock_ms + 30000);
    /* a --wait-ms above --max-wait-ms is capped too */
    f->srv.cfg.wait_ms = 60000;
    assert_int_equal(request_deadline(&f->srv, 0), clock_ms + 30000);
}

/* ---- the raw-read policy ----------------------------------------------- */

static void raw_allowed_per_uid_policy(void **state)
{
    struct fx *f = *state;
    struct server_config *cfg = &f->srv.cfg;
    uid_t me = geteuid();
    /* Neither root nor us, nor the one on the list below. */
    uid_t other = me == 4242 ? 4243 : 4242;
    uid_t listed = me == 4344 ? 4345 : 4344;

    /* Empty list: raw reads for all, capture for root and us only. */
    f->c.uid = other;
    assert_true(request_raw_allowed(&f->c, false));
    assert_false(request_raw_allowed(&f->c, true));
    f->c.uid = 0;
    assert_true(request_raw_allowed(&f->c, true));
    f->c.uid = me;
    assert_true(request_raw_allowed(&f->c, true));

    /* A list: its uids, root and us; nobody else, either way. */
    cfg->raw_uid[0] = 7;
    cfg->raw_uid[1] = listed;
    cfg->n_raw_uid = 2;
    f->c.uid = listed;
    assert_true(request_raw_allowed(&f->c, false));
    assert_true(request_raw_allowed(&f->c, true));
    f->c.uid = other;
    assert_false(request_raw_allowed(&f->c, false));
    assert_false(request_raw_allowed(&f->c, true));
    f->c.uid = 0;
    assert_true(request_raw_allowed(&f->c, false));
    f->c.uid = me;
    assert_true(request_raw_allowed(&f->c, true));
}

/* ---- reply formats ----------------------------------------------------- */

static void reply_sizes(void **state)
{
    (void)state;
    size_t at;
    assert_int_equal(request_reply_size(D_BINARY, 0, 64, &at), 8 + 64);
    assert_int_equal(at, PROTO_HDR_LEN);
    assert_int_equal(request_reply_size(D_TEXT, 0, 64, &at), 3 * 64 + 2);
    assert_int_equal(at, 2 * 64 + 2);
    assert_int_equal(request_reply_size(D_EGD, EGD_READ_NB, 64, &at), 65);
    assert_int_equal(at, 1);
    assert_int_equal(request_reply_size(D_EGD, EGD_READ, 64, &at), 64);
    assert_int_equal(at, 0);
}

/* ---- ending a request: one reply, or none ------------------------------ */

static void finish_sends_one_reply(void **state)
{
    struct fx *f = *state;
    in_progress(f, D_BINARY, 0, 32, true);
    assert_int_equal(f->srv.nwaiting, 1);
    request_finish(&f->c, 0);
    assert_int_equal(n_sent, 1);
    assert_int_equal(n_errors, 0);
    assert_int_equal(n_freed, 1);
    assert_int_equal(n_scheduled, 1);
    assert_int_equal(sent_len, PROTO_HDR_LEN + 32);
    struct proto_hdr h;
    assert_int_equal(proto_decode_hdr(sent, &h), 0);
    assert_int_equal(h.type, PROTO_T_READ | PROTO_T_REPLY);
    assert_int_equal(h.len, 32);
    for (size_t i = 0; i < 32; i++)
        assert_int_equal(sent[PROTO_HDR_LEN + i], 0xab);
    /* Ended: off the queue, nothing held, nothing left to answer. */
    assert_int_equal(f->c.p.state, R_NONE);
    assert_null(f->c.p.w);
    assert_false(f->c.waitq);
    assert_int_equal(f->srv.nwaiting, 0);
    assert_true(TAILQ_EMPTY(&f->srv.waiters));
    /* Its end is not a second reply, whatever ends it next. */
    request_cancel(&f->c);
    assert_int_equal(n_sent, 1);
    assert_int_equal(n_freed, 1);
    assert_int_equal(f->srv.nwaiting, 0);
}

static void finish_with_error_sends_only_the_error(void **state)
{
    struct fx *f = *state;
    in_progress(f, D_TEXT, 0, 16, true);
    request_finish(&f->c, PBD_ETIMEDOUT);
    assert_int_equal(n_errors, 1);
    assert_int_equal(last_error, PBD_ETIMEDOUT);
    assert_int_equal(n_sent, 0);     /* the bytes gathered are not served */
    assert_int_equal(n_freed, 1);    /* but wiped and freed */
    assert_int_equal(n_scheduled, 1);
    assert_int_equal(f->c.p.state, R_NONE);
    assert_int_equal(f->srv.nwaiting, 0);
}

/* The error goes out while the request still says what was asked: an EGD
 * no-wait read is told "no" with a zero count, not hung up on. */
static void finish_error_answers_egd_in_kind(void **state)
{
    struct fx *f = *state;
    in_progress(f, D_EGD, EGD_READ_NB, 5, true);
    request_finish(&f->c, PBD_EHEALTH);
    assert_int_equal(n_errors, 1);
    assert_int_equal(last_error_egd, EGD_READ_NB);
    assert_int_equal(f->c.p.egd_cmd, 0); /* cleared after */
}

static void finish_text_is_hex(void **state)
{
    struct fx *f = *state;
    in_progress(f, D_TEXT, 0, 4, false);
    request_finish(&f->c, 0);
    assert_int_equal(n_sent, 1);
    assert_int_equal(sent_len, 2 * 4 + 1);
    assert_memory_equal(sent, "abababab\n", 9);
}

static void finish_egd_nowait_has_a_count(void **state)
{
    struct fx *f = *state;
    in_progress(f, D_EGD, EGD_READ_NB, 5, false);
    request_finish(&f->c, 0);
    assert_int_equal(n_sent, 1);
    assert_int_equal(sent_len, 6);
    assert_int_equal(sent[0], 5);
    assert_int_equal(sent[5], 0xab);
}

/* Cancelling is idempotent and leaves other waiters queued, in order. */
static void cancel_takes_only_its_own(void **state)
{
    struct fx *f = *state;
    struct conn other = {.srv = &f->srv};
    other.p.state = R_WAITING;
    request_enqueue(&other);
    in_progress(f, D_BINARY, 0, 8, true);
    assert_int_equal(f->srv.nwaiting, 2);
    request_cancel(&f->c);
    request_cancel(&f->c);
    assert_int_equal(n_freed, 1);
    assert_int_equal(n_sent + n_errors, 0);
    assert_int_equal(f->srv.nwaiting, 1);
    assert_ptr_equal(TAILQ_FIRST(&f->srv.waiters), &other);
    request_dequeue(&other);
    assert_true(TAILQ_EMPTY(&f->srv.waiters));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(gate_per_health_state, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(gate_wipes_stock_of_a_new_failure,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(deadline_arithmetic, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(raw_allowed_per_uid_policy, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(reply_sizes, setup, teardown),
        cmocka_unit_test_setup_teardown(finish_sends_one_reply, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            finish_with_error_sends_only_the_error, setup, teardown),
        cmocka_unit_test_setup_teardown(finish_error_answers_egd_in_kind,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(finish_text_is_hex, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(finish_egd_nowait_has_a_count, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(cancel_takes_only_its_own, setup,
                                        teardown),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}

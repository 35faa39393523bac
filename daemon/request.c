/*
 * request.c - the request layer's base: what reads (reads.c) and captures
 * (capture.c) share. A request ends here, with its one reply or none;
 * nothing here starts one or parses the next (request.h).
 */
#include "request.h"

#include <sodium.h>
#include <string.h>
#include <unistd.h>

#include "egd.h"
#include "pbd.h"
#include "proto.h"

int request_gate(struct server *srv)
{
    struct sampler_stats *st = &srv->sampler->shared.st;
    return pool_gate(&srv->pool, atomic_load(&st->health_state),
                     atomic_load(&st->fail_epoch));
}

uint64_t request_deadline(const struct server *srv, uint32_t wait_ms)
{
    if (wait_ms == 0)
        wait_ms = srv->cfg.wait_ms;
    if (wait_ms > srv->cfg.max_wait_ms)
        wait_ms = srv->cfg.max_wait_ms;
    return now_ms() + wait_ms;
}

bool request_raw_allowed(const struct conn *c, bool listed)
{
    const struct server_config *cfg = &c->srv->cfg;
    if ((cfg->n_raw_uid == 0 && !listed) || c->uid == 0 ||
        c->uid == geteuid())
        return true;
    for (unsigned i = 0; i < cfg->n_raw_uid; i++)
        if (cfg->raw_uid[i] == c->uid)
            return true;
    return false;
}

size_t request_reply_size(enum dialect how, uint8_t egd_cmd, size_t n,
                          size_t *at)
{
    if (how == D_TEXT) {
        *at = 2 * n + 2;
        return 3 * n + 2;
    }
    *at = how == D_BINARY                          ? PROTO_HDR_LEN
          : how == D_EGD && egd_cmd == EGD_READ_NB ? 1
                                                   : 0;
    return *at + n;
}

void request_reply_finish(struct wreq *w, enum dialect how, uint8_t egd_cmd,
                          size_t n)
{
    if (how == D_TEXT) {
        uint8_t *bytes = w->data + 2 * n + 2;
        sodium_bin2hex((char *)w->data, 2 * n + 1, bytes, n);
        w->data[2 * n] = '\n';
        sodium_memzero(bytes, n);
        w->len = 2 * n + 1;
    } else if (how == D_BINARY) {
        proto_encode_hdr(w->data, PROTO_T_READ | PROTO_T_REPLY, (uint32_t)n);
    } else if (egd_cmd == EGD_READ_NB) {
        w->data[0] = (uint8_t)n; /* count byte */
    }
}

void request_enqueue(struct conn *c)
{
    struct server *srv = c->srv;
    TAILQ_INSERT_TAIL(&srv->waiters, c, wait);
    c->waitq = true;
    srv->nwaiting++;
}

void request_dequeue(struct conn *c)
{
    struct server *srv = c->srv;
    if (!c->waitq)
        return;
    TAILQ_REMOVE(&srv->waiters, c, wait);
    c->waitq = false;
    srv->nwaiting--;
}

void request_cancel(struct conn *c)
{
    request_dequeue(c);
    struct wreq *w = c->p.w;
    memset(&c->p, 0, sizeof(c->p));
    if (w)
        wreq_free(w); /* secret: wiped */
}

void request_finish(struct conn *c, int err)
{
    struct pending *p = &c->p;
    if (err) {
        /* While p still says what was asked: an EGD no-wait read is
         * answered with a zero count. */
        send_error(c, err, false);
        request_cancel(c); /* wipes what was gathered */
    } else {
        struct wreq *w = p->w;
        enum dialect how = p->how;
        uint32_t n = p->need;
        uint8_t egd_cmd = p->egd_cmd;
        p->w = NULL;
        request_cancel(c);
        request_reply_finish(w, how, egd_cmd, n);
        conn_send(c, w);
    }
    conn_schedule_if_due(c);
}

/*
 * request.h - the request layer's base (request.c): what every kind of
 * request shares, below the two kinds, reads (reads.c) and captures
 * (capture.c), and above the transport (conn.c). It ends a request with
 * its one reply, gates reads on the source's health, computes deadlines,
 * applies the raw-read policy and keeps the waiter queue's membership. It
 * calls only the transport and the pure modules below it by name. Loop
 * thread only, like all of conn.h.
 */
#ifndef PBD_REQUEST_H
#define PBD_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn.h"

/* Raw/conditioned health gate: pool_gate with the sampler's published
 * health state and failure epoch. Returns 0, PBD_EAGAIN (the start-up
 * test runs) or PBD_EHEALTH. */
int request_gate(struct server *srv);

/* When a read asking to wait wait_ms (0: --wait-ms) gives up: now_ms()
 * plus that wait, at most --max-wait-ms. */
uint64_t request_deadline(const struct server *srv, uint32_t wait_ms);

/* Whether c may read raw samples: root, our own uid, and the --raw-uid
 * list, or anyone when the list is empty and !listed. Capture (which takes
 * every new sample from everyone else) asks with listed: an empty list
 * then lets only root and our own uid in. */
bool request_raw_allowed(const struct conn *c, bool listed);

/* The size of a reply carrying n entropy bytes in dialect how (egd_cmd:
 * the EGD command), and in *at where in it the n bytes go: binary has a
 * header first, EGD no-wait a count byte, text is hex made from a scratch
 * area at the end of the same buffer. */
size_t request_reply_size(enum dialect how, uint8_t egd_cmd, size_t n,
                          size_t *at);
/* Turns w, whose n bytes sit where request_reply_size() said, into the
 * reply as it goes on the wire (text: the scratch bytes are wiped). */
void request_reply_finish(struct wreq *w, enum dialect how, uint8_t egd_cmd,
                          size_t n);

/* Puts c's request (R_WAITING) at the back of the waiter queue, or takes
 * it off (a no-op when it is not on it). */
void request_enqueue(struct conn *c);
void request_dequeue(struct conn *c);

/* Cancels c's request without a reply: off the waiter queue, c->p cleared,
 * its reply buffer wiped and freed. Idempotent. */
void request_cancel(struct conn *c);
/* Ends c's request with its one reply: the error err in c's dialect or,
 * err == 0, the reply buffer c->p.w (filled: its need bytes in place).
 * Then c->p is clear, and c is scheduled if the pass has work for it. */
void request_finish(struct conn *c, int err);

#endif

/*
 * fuzz-proto.c - libFuzzer harness for the daemon's frame decoder,
 * proto_parse_request(). Besides "no crash, no overread" (ASan) it checks
 * the decoder's contract: consumption bounded by the input, READ fields in
 * range, the same answer twice, a parsed READ re-encodes to the exact input
 * bytes, and a verdict reached on a prefix never changes with more bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pbd.h"
#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond))                                                           \
            abort();                                                           \
    } while (0)

static long parse_exact(const uint8_t *data, size_t size,
                        struct proto_req *req)
{
    /* An exact-size copy, so ASan sees any read past avail. */
    uint8_t *copy = malloc(size ? size : 1);
    CHECK(copy);
    if (size)
        memcpy(copy, data, size);
    memset(req, 0xA5, sizeof(*req));
    long rc = proto_parse_request(copy, size, req);
    free(copy);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct proto_req req, again;
    long rc = parse_exact(data, size, &req);
    long rc2 = parse_exact(data, size, &again);
    CHECK(rc == rc2);

    if (rc > 0) {
        CHECK((size_t)rc <= size);
        CHECK(rc == (long)(PROTO_HDR_LEN + (req.type == PROTO_T_READ
                                                ? PROTO_READ_PAYLOAD
                                                : 0)));
        CHECK(req.type == again.type);
        CHECK(req.type == PROTO_T_READ || req.type == PROTO_T_STATS ||
              req.type == PROTO_T_HEALTH || req.type == PROTO_T_VERSION ||
              req.type == PROTO_T_RESEED);
        if (req.type == PROTO_T_READ) {
            CHECK(memcmp(&req.rd, &again.rd, sizeof(req.rd)) == 0);
            CHECK(req.rd.len >= 1 && req.rd.len <= proto_max_read(req.rd.mode));
            CHECK((req.rd.flags & ~(PROTO_READ_NOWAIT | PROTO_READ_RESTART))
                  == 0);
            /* Restart only for capture reads, which never take no-wait. */
            CHECK(!(req.rd.flags & PROTO_READ_RESTART) ||
                  req.rd.mode == PBD_MODE_CAPTURE);
            CHECK(!(req.rd.mode == PBD_MODE_CAPTURE &&
                    (req.rd.flags & PROTO_READ_NOWAIT)));
            uint8_t enc[PROTO_HDR_LEN + PROTO_READ_PAYLOAD];
            CHECK(proto_encode_read(enc, &req.rd) == sizeof(enc));
            CHECK(memcmp(enc, data, sizeof(enc)) == 0);
        } else {
            uint8_t enc[PROTO_HDR_LEN];
            proto_encode_hdr(enc, req.type, 0);
            CHECK(memcmp(enc, data, sizeof(enc)) == 0);
        }
    } else if (rc < 0) {
        CHECK(rc == PBD_EPROTO || rc == PBD_EVERSION || rc == PBD_ETOOBIG ||
              rc == PBD_EINVAL);
    }

    /* Prefixes: a complete frame is "need more" on every shorter prefix; an
     * error, once decided, stays the same error with more bytes. */
    size_t lim = size < 40 ? size : 40;
    long first_err = 0;
    for (size_t n = 0; n <= lim; n++) {
        struct proto_req r;
        long p = parse_exact(data, n, &r);
        if (rc > 0 && n < (size_t)rc)
            CHECK(p == 0);
        if (first_err != 0)
            CHECK(p == first_err);
        else if (p < 0)
            first_err = p;
    }
    if (first_err != 0)
        CHECK(rc == first_err);
    return 0;
}

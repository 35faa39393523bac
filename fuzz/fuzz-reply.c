/*
 * fuzz-reply.c - libFuzzer harness for the client's reply checks,
 * proto_decode_hdr() + proto_check_reply(): what libpbd trusts before it
 * reads a payload. Input: byte 0 picks the request type, bytes 1..4 the
 * expected length (all ones: "any text"), the rest is the reply header.
 * Checks that an accepted header really is the reply asked for, with a
 * length the client can afford, and that decode re-encodes to the input.
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 5 + PROTO_HDR_LEN)
        return 0;
    uint8_t req_type = (uint8_t)(1 + data[0] % 4);
    uint32_t e = proto_get_u32(data + 1);
    long expect = e == UINT32_MAX ? -1 : (long)(e % (PROTO_MAX_REPLY + 1));
    uint8_t in[PROTO_HDR_LEN];
    memcpy(in, data + 5, sizeof(in));

    struct proto_hdr h, h2;
    int rc = proto_decode_hdr(in, &h);
    CHECK(rc == proto_decode_hdr(in, &h2));
    CHECK(memcmp(&h, &h2, sizeof(h)) == 0);
    CHECK(rc == 0 || rc == PBD_EPROTO || rc == PBD_EVERSION);
    if (rc != 0) {
        CHECK(h.magic != PROTO_MAGIC || h.version != PROTO_VERSION ||
              h.flags != 0);
        return 0;
    }
    CHECK(h.magic == PROTO_MAGIC && h.version == PROTO_VERSION && h.flags == 0);
    uint8_t enc[PROTO_HDR_LEN];
    proto_encode_hdr(enc, h.type, h.len);
    CHECK(memcmp(enc, in, sizeof(enc)) == 0);

    int ok = proto_check_reply(&h, req_type, expect);
    CHECK(ok == proto_check_reply(&h, req_type, expect));
    switch (ok) {
    case 0:
        CHECK(h.type == (req_type | PROTO_T_REPLY));
        if (expect >= 0)
            CHECK(h.len == (uint32_t)expect);
        else
            CHECK(h.len <= PROTO_MAX_TEXT);
        CHECK(h.len <= PROTO_MAX_REPLY);
        break;
    case 1:
        CHECK(h.type == PROTO_T_ERROR);
        CHECK(h.len >= 4 && h.len <= PROTO_MAX_TEXT);
        break;
    default:
        CHECK(ok == PBD_EPROTO);
        break;
    }
    return 0;
}

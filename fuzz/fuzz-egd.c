/*
 * fuzz-egd.c - libFuzzer harness for egd_parse(). Checks that a parsed
 * command spans exactly its encoding, never more than arrived, that reads
 * ask for 1..255 bytes, that "need more" only happens on a true prefix, and
 * that walking a buffer command by command terminates.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "egd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond))                                                           \
            abort();                                                           \
    } while (0)

static long parse_exact(const uint8_t *data, size_t size, struct egd_req *req)
{
    uint8_t *copy = malloc(size ? size : 1);
    CHECK(copy);
    if (size)
        memcpy(copy, data, size);
    long rc = egd_parse(copy, size, req);
    free(copy);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;
    while (off <= size) {
        const uint8_t *b = data + off;
        size_t avail = size - off;
        struct egd_req req, again;
        long rc = parse_exact(b, avail, &req);
        CHECK(rc == parse_exact(b, avail, &again));
        if (rc == 0) {
            /* Only a command that has not fully arrived waits. */
            if (avail > 0) {
                if (b[0] == EGD_READ || b[0] == EGD_READ_NB)
                    CHECK(avail < 2);
                else
                    CHECK(b[0] == EGD_WRITE &&
                          (avail < 4 || avail < 4u + b[3]));
            }
            break;
        }
        if (rc < 0) {
            CHECK(rc == -1);
            CHECK(b[0] > EGD_PID ||
                  ((b[0] == EGD_READ || b[0] == EGD_READ_NB) && b[1] == 0));
            break;
        }
        CHECK((size_t)rc <= avail);
        CHECK(req.cmd == again.cmd && req.n == again.n);
        CHECK((unsigned)req.cmd == b[0]);
        switch (req.cmd) {
        case EGD_LEVEL:
        case EGD_PID:
            CHECK(rc == 1);
            break;
        case EGD_READ:
        case EGD_READ_NB:
            CHECK(rc == 2 && req.n >= 1 && req.n == b[1]);
            break;
        case EGD_WRITE:
            CHECK(rc == 4 + (long)b[3] && req.n == b[3]);
            break;
        default:
            CHECK(0);
        }
        /* Every shorter prefix of a complete command waits for more. */
        for (size_t n = 1; n < (size_t)rc && n < 6; n++) {
            struct egd_req r;
            CHECK(parse_exact(b, n, &r) == 0);
        }
        off += (size_t)rc;
    }
    return 0;
}

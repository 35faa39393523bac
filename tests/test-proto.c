/* test-proto.c - framed protocol, text commands and EGD parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "egd.h"
#include "pbd.h"
#include "proto.h"
#include "textcmd.h"

static void test_u32_roundtrip(void **state)
{
    (void)state;
    uint8_t b[4];
    proto_put_u32(b, 0x01020304u);
    assert_memory_equal(b, "\x01\x02\x03\x04", 4);
    assert_int_equal(proto_get_u32(b), 0x01020304u);
    proto_put_u32(b, UINT32_MAX);
    assert_int_equal(proto_get_u32(b), UINT32_MAX);
}

static void test_read_roundtrip(void **state)
{
    (void)state;
    const uint8_t modes[] = {PBD_MODE_CONDITIONED, PBD_MODE_RAW, PBD_MODE_DRBG};
    for (size_t m = 0; m < 3; m++) {
        struct proto_read r = {.len = 32, .wait_ms = 1234, .mode = modes[m],
                               .flags = PROTO_READ_NOWAIT};
        uint8_t buf[PROTO_HDR_LEN + PROTO_READ_PAYLOAD];
        size_t n = proto_encode_read(buf, &r);
        assert_int_equal(n, 20);
        assert_int_equal(buf[0], PROTO_MAGIC);
        /* Every prefix is "need more", the whole is one request. */
        struct proto_req q;
        for (size_t k = 0; k < n; k++)
            assert_int_equal(proto_parse_request(buf, k, &q), 0);
        assert_int_equal(proto_parse_request(buf, n, &q), (long)n);
        assert_int_equal(q.type, PROTO_T_READ);
        assert_int_equal(q.rd.len, 32);
        assert_int_equal(q.rd.wait_ms, 1234);
        assert_int_equal(q.rd.mode, modes[m]);
        assert_int_equal(q.rd.flags, PROTO_READ_NOWAIT);
    }
}

/* Capture mode and the restart flag: restart only with capture, capture
 * never with no-wait, and any other flag bit is still reserved. */
static void test_capture_flags(void **state)
{
    (void)state;
    static const struct {
        uint8_t mode, flags;
        long want; /* 0: accepted */
    } cases[] = {
        {PBD_MODE_CAPTURE, 0, 0},
        {PBD_MODE_CAPTURE, PROTO_READ_RESTART, 0},
        {PBD_MODE_CAPTURE, PROTO_READ_NOWAIT, PBD_EINVAL},
        {PBD_MODE_CAPTURE, PROTO_READ_NOWAIT | PROTO_READ_RESTART,
         PBD_EINVAL},
        {PBD_MODE_RAW, PROTO_READ_RESTART, PBD_EINVAL},
        {PBD_MODE_DRBG, PROTO_READ_RESTART, PBD_EINVAL},
        {PBD_MODE_CAPTURE, 0x04, PBD_EPROTO},
        {4, 0, PBD_EINVAL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct proto_read r = {.len = 1000, .mode = cases[i].mode,
                               .flags = cases[i].flags};
        uint8_t buf[PROTO_HDR_LEN + PROTO_READ_PAYLOAD];
        size_t n = proto_encode_read(buf, &r);
        struct proto_req q;
        long got = proto_parse_request(buf, n, &q);
        assert_int_equal(got, cases[i].want ? cases[i].want : (long)n);
        if (cases[i].want == 0)
            assert_int_equal(q.rd.flags, cases[i].flags);
    }
    /* Capture reads are bounded like the other entropy modes. */
    assert_int_equal(proto_max_read(PBD_MODE_CAPTURE), PROTO_MAX_READ_ENTROPY);
}

static void test_simple_requests(void **state)
{
    (void)state;
    const uint8_t types[] = {PROTO_T_STATS, PROTO_T_HEALTH, PROTO_T_VERSION,
                             PROTO_T_RESEED};
    for (size_t i = 0; i < sizeof(types); i++) {
        uint8_t buf[PROTO_HDR_LEN + 3];
        proto_encode_hdr(buf, types[i], 0);
        memcpy(buf + PROTO_HDR_LEN, "\xBD\x01\x02", 3); /* pipelined next */
        struct proto_req q;
        assert_int_equal(proto_parse_request(buf, sizeof(buf), &q), 8);
        assert_int_equal(q.type, types[i]);
    }
}

static long parse_hdr(uint8_t magic, uint8_t ver, uint8_t type, uint8_t flags,
                      uint32_t len)
{
    uint8_t buf[64] = {magic, ver, type, flags};
    proto_put_u32(buf + 4, len);
    struct proto_req q;
    return proto_parse_request(buf, sizeof(buf), &q);
}

static void test_rejects_bad_headers(void **state)
{
    (void)state;
    assert_int_equal(parse_hdr(0xBC, 1, PROTO_T_STATS, 0, 0), PBD_EPROTO);
    assert_int_equal(parse_hdr(PROTO_MAGIC, 2, PROTO_T_STATS, 0, 0), PBD_EVERSION);
    assert_int_equal(parse_hdr(PROTO_MAGIC, 0, PROTO_T_STATS, 0, 0), PBD_EVERSION);
    assert_int_equal(parse_hdr(PROTO_MAGIC, 1, PROTO_T_STATS, 1, 0), PBD_EPROTO);
    assert_int_equal(parse_hdr(PROTO_MAGIC, 1, 0x77, 0, 0), PBD_EPROTO);
    assert_int_equal(parse_hdr(PROTO_MAGIC, 1, PROTO_T_STATS, 0, 1), PBD_EPROTO);
    assert_int_equal(parse_hdr(PROTO_MAGIC, 1, PROTO_T_READ, 0, 11), PBD_EPROTO);
    assert_int_equal(parse_hdr(PROTO_MAGIC, 1, PROTO_T_READ, 0, UINT32_MAX), PBD_EPROTO);
    assert_int_equal(parse_hdr(PROTO_MAGIC, 1, PROTO_T_ERROR, 0, 4), PBD_EPROTO);
    /* One byte is enough to reject garbage; two for a version. */
    struct proto_req q;
    assert_int_equal(proto_parse_request((const uint8_t *)"G", 1, &q), PBD_EPROTO);
    assert_int_equal(proto_parse_request((const uint8_t *)"\xBD\x09", 2, &q),
                     PBD_EVERSION);
}

static long parse_read(uint32_t len, uint8_t mode, uint8_t flags,
                       uint16_t reserved)
{
    struct proto_read r = {.len = len, .mode = mode, .flags = flags};
    uint8_t buf[20];
    proto_encode_read(buf, &r);
    buf[18] = (uint8_t)(reserved >> 8);
    buf[19] = (uint8_t)reserved;
    struct proto_req q;
    return proto_parse_request(buf, sizeof(buf), &q);
}

static void test_read_bounds(void **state)
{
    (void)state;
    assert_int_equal(parse_read(0, PBD_MODE_RAW, 0, 0), PBD_ETOOBIG);
    assert_int_equal(parse_read(1, PBD_MODE_RAW, 0, 0), 20);
    assert_int_equal(parse_read(PROTO_MAX_READ_ENTROPY, PBD_MODE_CONDITIONED, 0, 0), 20);
    assert_int_equal(parse_read(PROTO_MAX_READ_ENTROPY + 1, PBD_MODE_CONDITIONED, 0, 0),
                     PBD_ETOOBIG);
    assert_int_equal(parse_read(PROTO_MAX_READ_DRBG, PBD_MODE_DRBG, 0, 0), 20);
    assert_int_equal(parse_read(PROTO_MAX_READ_DRBG + 1, PBD_MODE_DRBG, 0, 0),
                     PBD_ETOOBIG);
    assert_int_equal(parse_read(UINT32_MAX, PBD_MODE_DRBG, 0, 0), PBD_ETOOBIG);
    assert_int_equal(parse_read(16, 4, 0, 0), PBD_EINVAL);
    assert_int_equal(parse_read(16, PBD_MODE_RAW, 0x04, 0), PBD_EPROTO);
    assert_int_equal(parse_read(16, PBD_MODE_RAW, 0, 1), PBD_EPROTO);
}

static void test_check_reply(void **state)
{
    (void)state;
    struct proto_hdr h = {PROTO_MAGIC, 1, PROTO_T_READ | PROTO_T_REPLY, 0, 32};
    assert_int_equal(proto_check_reply(&h, PROTO_T_READ, 32), 0);
    assert_int_equal(proto_check_reply(&h, PROTO_T_READ, 31), PBD_EPROTO);
    assert_int_equal(proto_check_reply(&h, PROTO_T_STATS, -1), PBD_EPROTO);
    h.type = PROTO_T_ERROR;
    h.len = 3;
    assert_int_equal(proto_check_reply(&h, PROTO_T_READ, 32), PBD_EPROTO);
    h.len = 20;
    assert_int_equal(proto_check_reply(&h, PROTO_T_READ, 32), 1);
    h.type = PROTO_T_STATS | PROTO_T_REPLY;
    h.len = PROTO_MAX_TEXT + 1;
    assert_int_equal(proto_check_reply(&h, PROTO_T_STATS, -1), PBD_EPROTO);
    uint8_t raw[8];
    proto_encode_hdr(raw, PROTO_T_HEALTH | PROTO_T_REPLY, 5);
    struct proto_hdr d;
    assert_int_equal(proto_decode_hdr(raw, &d), 0);
    assert_int_equal(d.type, PROTO_T_HEALTH | PROTO_T_REPLY);
    assert_int_equal(d.len, 5);
}

static int text(const char *line, struct text_req *r)
{
    const char *err;
    return textcmd_parse(line, strlen(line), r, &err);
}

static void test_text_commands(void **state)
{
    (void)state;
    struct text_req r;
    assert_int_equal(text("read 16", &r), 0);
    assert_int_equal(r.cmd, TEXT_READ);
    assert_int_equal(r.n, 16);
    assert_int_equal(r.mode, PBD_MODE_CONDITIONED);
    assert_false(r.nowait);
    assert_int_equal(text("  READ\t4096   Raw  NoWait ", &r), 0);
    assert_int_equal(r.n, 4096);
    assert_int_equal(r.mode, PBD_MODE_RAW);
    assert_true(r.nowait);
    assert_int_equal(text("read 1 drbg", &r), 0);
    assert_int_equal(r.mode, PBD_MODE_DRBG);
    assert_int_equal(text("Stats", &r), 0);
    assert_int_equal(r.cmd, TEXT_STATS);
    assert_int_equal(text("health", &r), 0);
    assert_int_equal(r.cmd, TEXT_HEALTH);
    assert_int_equal(text("quit", &r), 0);
    assert_int_equal(r.cmd, TEXT_QUIT);
    assert_int_equal(text("ReSeed", &r), 0);
    assert_int_equal(r.cmd, TEXT_RESEED);
    const char *bad[] = {"reseed now", "", "   ", "read", "read 0", "read 4097", "read 10000",
                         "read -1", "read 1x", "read 16 raw raw", "read 16 foo",
                         "stats now", "rea 16", "read 16 raw drbg", "read\x01 1",
                         "read 16 nowait nowait"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(text(bad[i], &r), -1);
}

static void test_text_lines(void **state)
{
    (void)state;
    size_t len;
    assert_int_equal(textcmd_find_line("read 1\nstats\n", 13, &len), 7);
    assert_int_equal(len, 6);
    assert_int_equal(textcmd_find_line("read 1\r\n", 8, &len), 8);
    assert_int_equal(len, 6);
    assert_int_equal(textcmd_find_line("read 1", 6, &len), 0);
    char big[300];
    memset(big, 'a', sizeof(big));
    assert_int_equal(textcmd_find_line(big, 256, &len), 0);  /* may still fit */
    assert_int_equal(textcmd_find_line(big, 258, &len), -1); /* cannot */
    big[256] = '\n';
    assert_int_equal(textcmd_find_line(big, 300, &len), 257); /* exactly 256 */
    big[256] = 'a';
    big[257] = '\n';
    assert_int_equal(textcmd_find_line(big, 300, &len), -1);  /* 257 */
}

static void test_egd(void **state)
{
    (void)state;
    struct egd_req r;
    assert_int_equal(egd_parse((const uint8_t *)"\x00", 1, &r), 1);
    assert_int_equal(r.cmd, EGD_LEVEL);
    assert_int_equal(egd_parse((const uint8_t *)"\x01", 1, &r), 0);
    assert_int_equal(egd_parse((const uint8_t *)"\x01\x20", 2, &r), 2);
    assert_int_equal(r.cmd, EGD_READ_NB);
    assert_int_equal(r.n, 32);
    assert_int_equal(egd_parse((const uint8_t *)"\x02\xff", 2, &r), 2);
    assert_int_equal(r.n, 255);
    assert_int_equal(egd_parse((const uint8_t *)"\x02\x00", 2, &r), -1);
    assert_int_equal(egd_parse((const uint8_t *)"\x03\x00\x10\x02\xaa", 5, &r), 0);
    assert_int_equal(egd_parse((const uint8_t *)"\x03\x00\x10\x02\xaa\xbb", 6, &r), 6);
    assert_int_equal(r.cmd, EGD_WRITE);
    assert_int_equal(egd_parse((const uint8_t *)"\x04", 1, &r), 1);
    assert_int_equal(r.cmd, EGD_PID);
    assert_int_equal(egd_parse((const uint8_t *)"\x05", 1, &r), -1);
}

static void test_errors_table(void **state)
{
    (void)state;
    assert_string_equal(pbd_errname(PBD_EHEALTH), "PBD_EHEALTH");
    assert_string_equal(pbd_strerror(PBD_OK), "success");
    assert_string_equal(pbd_strerror(-999), "unknown error");
    for (int c = -1; c >= PBD_EINUSE; c--)
        assert_string_not_equal(pbd_strerror(c), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_u32_roundtrip),
        cmocka_unit_test(test_read_roundtrip),
        cmocka_unit_test(test_capture_flags),
        cmocka_unit_test(test_simple_requests),
        cmocka_unit_test(test_rejects_bad_headers),
        cmocka_unit_test(test_read_bounds),
        cmocka_unit_test(test_check_reply),
        cmocka_unit_test(test_text_commands),
        cmocka_unit_test(test_text_lines),
        cmocka_unit_test(test_egd),
        cmocka_unit_test(test_errors_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

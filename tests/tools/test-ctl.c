/* test-ctl.c - preemptctl's pure helpers: the JSON lookups (over jansson)
 * and size parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ctl-json.h"
#include "ctl.h"

/* Shaped like the daemon's stats. The parsing itself is jansson's; these
 * check what ctl-json.c adds: paths, type checks, bounds, failure modes. */
static const char doc[] =
    " {\"version\":\"0.1.0\",\"uptime_s\":12.5,"
    "\"counter\":{\"name\":\"rdtsc\",\"hz\":2600003899,\"cpu\":-1},"
    "\"esc\":\"a\\\"b\\u00e9\","
    "\"sampler\":{\"events\":9223372036854775807,\"sleeping\":false,"
    "\"jump_log2_hist\":[0, 3 ,17,0]},"
    "\"entropy\":{\"mcv\":-1.000},\"t\":true,\"empty\":{},\"ea\":[],"
    "\"mixed\":[1,-2],\"e3\":1e3}\n";

static void test_paths_and_types(void **state)
{
    (void)state;
    double d;
    uint64_t u;
    char s[64];
    assert_int_equal(ctl_json_number(doc, "uptime_s", &d), 0);
    assert_true(d == 12.5);
    assert_int_equal(ctl_json_u64(doc, "counter.hz", &u), 0);
    assert_true(u == 2600003899ull);
    assert_int_equal(ctl_json_number(doc, "counter.hz", &d), 0);
    assert_true(d == 2600003899.0);
    assert_int_equal(ctl_json_number(doc, "counter.cpu", &d), 0);
    assert_true(d == -1.0);
    assert_int_equal(ctl_json_string(doc, "counter.name", s, sizeof(s)), 5);
    assert_string_equal(s, "rdtsc");
    assert_int_equal(ctl_json_string(doc, "esc", s, sizeof(s)), 5);
    assert_string_equal(s, "a\"b\xc3\xa9");
    assert_int_equal(ctl_json_u64(doc, "sampler.events", &u), 0);
    assert_true(u == (uint64_t)INT64_MAX);
    /* A key is found only at its own level and by its whole name. */
    assert_int_equal(ctl_json_u64(doc, "events", &u), -1);
    assert_int_equal(ctl_json_number(doc, "counter.nope", &d), -1);
    assert_int_equal(ctl_json_number(doc, "uptime_s.x", &d), -1);
    assert_int_equal(ctl_json_bool(doc, "empty.x"), -1);
    assert_int_equal(ctl_json_number(doc, "count", &d), -1);
    assert_int_equal(ctl_json_number(doc, "", &d), -1);
    assert_int_equal(ctl_json_bool(doc, "t"), 1);
    assert_int_equal(ctl_json_bool(doc, "sampler.sleeping"), 0);
    assert_int_equal(ctl_json_bool(doc, "uptime_s"), -1);
    assert_int_equal(ctl_json_number(doc, "entropy.mcv", &d), 0);
    assert_true(d == -1.0);
    /* Wrong types are refused, never converted. */
    assert_int_equal(ctl_json_u64(doc, "uptime_s", &u), -1);    /* 12.5 */
    assert_int_equal(ctl_json_u64(doc, "counter.cpu", &u), -1); /* -1 */
    assert_int_equal(ctl_json_u64(doc, "e3", &u), -1);          /* a real */
    assert_int_equal(ctl_json_u64(doc, "t", &u), -1);
    assert_int_equal(ctl_json_number(doc, "version", &d), -1);
    assert_int_equal(ctl_json_number(doc, "t", &d), -1);
    assert_int_equal(ctl_json_string(doc, "uptime_s", s, sizeof(s)), -1);
    assert_int_equal(ctl_json_string(doc, "counter", s, sizeof(s)), -1);
    /* Too long for the buffer: refused, buf untouched. */
    char tiny[5] = "xxxx";
    assert_int_equal(ctl_json_string(doc, "counter.name", tiny, 5), -1);
    assert_string_equal(tiny, "xxxx");
    assert_int_equal(ctl_json_string(doc, "counter.name", s, 6), 5);
}

static void test_array(void **state)
{
    (void)state;
    uint64_t v[8];
    assert_int_equal(ctl_json_u64_array(doc, "sampler.jump_log2_hist", v, 8),
                     4);
    assert_true(v[0] == 0 && v[1] == 3 && v[2] == 17 && v[3] == 0);
    /* More elements than room: the count is still reported. */
    v[2] = 99;
    assert_int_equal(ctl_json_u64_array(doc, "sampler.jump_log2_hist", v, 2),
                     4);
    assert_true(v[2] == 99);
    assert_int_equal(ctl_json_u64_array(doc, "ea", v, 8), 0);
    assert_int_equal(ctl_json_u64_array(doc, "mixed", v, 8), -1);
    assert_int_equal(ctl_json_u64_array(doc, "uptime_s", v, 8), -1);
    assert_int_equal(ctl_json_u64_array(doc, "counter", v, 8), -1);
}

/* Whatever answers on the socket: every lookup fails, none crashes. */
static void test_hostile(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "{", "{\"a\":1", "{\"a\":1,}", "{\"a\":01}", "{\"a\":NaN}",
        "{\"a\":1}}", "{\"a\":1,\"a\":2}", "{\"a\":\"x\\u0000y\"}",
        "{\"a\":18446744073709551615}", "{\"a\":-9223372036854775809}",
        "{\"a\":1e999}", "{'a':1}", "\xff\xfe{\"a\":1}", "1",
    };
    double d;
    uint64_t u, v[4];
    char s[16];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(ctl_json_validate(bad[i]), -1);
        assert_int_equal(ctl_json_number(bad[i], "a", &d), -1);
        assert_int_equal(ctl_json_u64(bad[i], "a", &u), -1);
        assert_int_equal(ctl_json_string(bad[i], "a", s, sizeof(s)), -1);
        assert_int_equal(ctl_json_bool(bad[i], "a"), -1);
        assert_int_equal(ctl_json_u64_array(bad[i], "a", v, 4), -1);
    }
    assert_int_equal(ctl_json_validate(doc), 0);
    assert_int_equal(ctl_json_validate(" [1, {\"a\": null}] "), 0);
    /* A truncated document (the daemon's buffer ran out) hides it all. */
    assert_int_equal(ctl_json_number("{\"a\":1,\"b\":{\"c\":2", "a", &d), -1);
    /* Deep nesting is refused by jansson's depth limit, not a crash. */
    static char deep[8192 + 1];
    memset(deep, '[', 4096);
    memset(deep + 4096, ']', 4096);
    assert_int_equal(ctl_json_validate(deep), -1);
    assert_int_equal(ctl_json_validate(NULL), -1);
    assert_int_equal(ctl_json_number(NULL, "a", &d), -1);
    assert_int_equal(ctl_json_number(doc, NULL, &d), -1);
    char key[100];
    memset(key, 'k', 99);
    key[99] = '\0';
    assert_int_equal(ctl_json_number(doc, key, &d), -1); /* over 63 bytes */
}

static void test_sizes(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(ctl_parse_size("4096", UINT64_MAX, &v), 0);
    assert_true(v == 4096);
    assert_int_equal(ctl_parse_size("64K", UINT64_MAX, &v), 0);
    assert_true(v == 65536);
    assert_int_equal(ctl_parse_size("1M", UINT64_MAX, &v), 0);
    assert_true(v == 1048576);
    assert_int_equal(ctl_parse_size("2g", UINT64_MAX, &v), 0);
    assert_true(v == 2147483648ull);
    assert_int_equal(ctl_parse_size("3KiB", UINT64_MAX, &v), 0);
    assert_true(v == 3072);
    assert_int_equal(ctl_parse_size("5MB", UINT64_MAX, &v), 0);
    assert_true(v == 5u << 20);
    static const char *const bad[] = {"", "0", "0K", "-1", "1.5M", "K",
                                      "12Q", "1 K", "1KiBx", "1T",
                                      "99999999999999999999",
                                      "17179869184G"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(ctl_parse_size(bad[i], UINT64_MAX, &v), -1);
    assert_int_equal(ctl_parse_size("1025", 1024, &v), -1);
    assert_int_equal(ctl_parse_size("1K", 1024, &v), 0);
}

static void test_fmt_bytes(void **state)
{
    (void)state;
    char b[32];
    assert_string_equal(ctl_fmt_bytes(0, b, sizeof(b)), "0 B");
    assert_string_equal(ctl_fmt_bytes(1023, b, sizeof(b)), "1023 B");
    assert_string_equal(ctl_fmt_bytes(65536, b, sizeof(b)), "64.0 KiB");
    assert_string_equal(ctl_fmt_bytes(3u << 20, b, sizeof(b)), "3.0 MiB");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paths_and_types),
        cmocka_unit_test(test_array),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_fmt_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

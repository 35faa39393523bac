/* test-ctl.c - preemptctl's pure helpers: the JSON lookups and size parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ctl-json.h"
#include "ctl.h"

/* Shaped like the daemon's stats, with the awkward cases mixed in. */
static const char doc[] =
    " {\"version\":\"0.1.0\",\"uptime_s\":12.5,"
    "\"counter\":{\"name\":\"rdtsc\",\"hz\":2600003899,\"cpu\":-1},"
    "\"esc\":\"a\\\"b\\\\c\\u0041\\u00e9\\n\","
    "\"skip\":[{\"x\":[1,2,{\"y\":\"}]\"}]},null,true,-1.5e3],"
    "\"sampler\":{\"events\":18446744073709551615,\"sleeping\":false,"
    "\"jump_log2_hist\":[0, 3 ,17,0]},"
    "\"entropy\":{\"mcv\":-1.000},\"t\":true,\"empty\":{},\"ea\":[]}\n";

static void test_find_nested(void **state)
{
    (void)state;
    double d;
    uint64_t u;
    char s[64];
    assert_int_equal(ctl_json_number(doc, "uptime_s", &d), 0);
    assert_true(d == 12.5);
    assert_int_equal(ctl_json_u64(doc, "counter.hz", &u), 0);
    assert_true(u == 2600003899ull);
    assert_int_equal(ctl_json_number(doc, "counter.cpu", &d), 0);
    assert_true(d == -1.0);
    assert_int_equal(ctl_json_string(doc, "counter.name", s, sizeof(s)), 5);
    assert_string_equal(s, "rdtsc");
    /* A key is found only at its own level, after skipping nested values
     * whose strings contain brackets. */
    assert_int_equal(ctl_json_u64(doc, "sampler.events", &u), 0);
    assert_true(u == UINT64_MAX);
    assert_null(ctl_json_find(doc, "events"));
    assert_null(ctl_json_find(doc, "y"));
    assert_null(ctl_json_find(doc, "counter.nope"));
    assert_null(ctl_json_find(doc, "uptime_s.x")); /* not an object */
    assert_null(ctl_json_find(doc, "empty.x"));
    assert_null(ctl_json_find(doc, "count")); /* prefix of a key */
    assert_int_equal(ctl_json_bool(doc, "t"), 1);
    assert_int_equal(ctl_json_bool(doc, "sampler.sleeping"), 0);
    assert_int_equal(ctl_json_bool(doc, "uptime_s"), -1);
    assert_int_equal(ctl_json_number(doc, "entropy.mcv", &d), 0);
    assert_true(d == -1.0);
}

static void test_types_checked(void **state)
{
    (void)state;
    uint64_t u;
    double d;
    char s[8];
    assert_int_equal(ctl_json_u64(doc, "uptime_s", &u), -1);   /* 12.5 */
    assert_int_equal(ctl_json_u64(doc, "counter.cpu", &u), -1); /* -1 */
    assert_int_equal(ctl_json_number(doc, "version", &d), -1);
    assert_int_equal(ctl_json_string(doc, "uptime_s", s, sizeof(s)), -1);
    /* Too long for the buffer: refused, not truncated silently. */
    char tiny[4];
    assert_int_equal(ctl_json_string(doc, "counter.name", tiny, 4), -1);
    assert_int_equal(ctl_json_u64("{\"a\":18446744073709551616}", "a", &u),
                     -1);
}

static void test_string_escapes(void **state)
{
    (void)state;
    char s[32];
    assert_int_equal(ctl_json_string(doc, "esc", s, sizeof(s)), 8);
    assert_string_equal(s, "a\"b\\cA?\n");
}

static void test_array(void **state)
{
    (void)state;
    uint64_t v[8];
    assert_int_equal(ctl_json_u64_array(doc, "sampler.jump_log2_hist", v, 8),
                     4);
    assert_true(v[0] == 0 && v[1] == 3 && v[2] == 17 && v[3] == 0);
    /* More elements than room: the count is still reported. */
    assert_int_equal(ctl_json_u64_array(doc, "sampler.jump_log2_hist", v, 2),
                     4);
    assert_int_equal(ctl_json_u64_array(doc, "ea", v, 8), 0);
    assert_int_equal(ctl_json_u64_array(doc, "skip", v, 8), -1);
    assert_int_equal(ctl_json_u64_array(doc, "uptime_s", v, 8), -1);
}

static void test_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "{", "{\"a\":1", "{\"a\":1,}", "{\"a\" 1}", "{\"a\":01}",
        "{\"a\":1.}", "{\"a\":-}", "{\"a\":tru}", "{\"a\":\"x}",
        "{\"a\":\"\\x\"}", "{\"a\":[1,]}", "{\"a\":1}}", "{\"a\":\"\x01\"}",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(ctl_json_validate(bad[i]), -1);
    assert_int_equal(ctl_json_validate(doc), 0);
    assert_int_equal(ctl_json_validate(" [1, {\"a\": null}] "), 0);
    /* A truncated document (the daemon's buffer ran out) hides the values
     * past the cut and the incomplete one at the cut. */
    char cut[64];
    memcpy(cut, "{\"a\":1,\"b\":{\"c\":2", 18);
    cut[18] = '\0';
    double d;
    assert_int_equal(ctl_json_number(cut, "a", &d), 0);
    assert_null(ctl_json_find(cut, "b"));
    assert_null(ctl_json_find(cut, "b.d"));
    assert_null(ctl_json_find(NULL, "a"));
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
        cmocka_unit_test(test_find_nested),
        cmocka_unit_test(test_types_checked),
        cmocka_unit_test(test_string_escapes),
        cmocka_unit_test(test_array),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_fmt_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

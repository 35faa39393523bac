/* test-config.c - option parsing and the cross-option check (config.c):
 * --mode is octal with or without the leading 0, every other number and
 * every id decimal, an empty --socket and a ring too small for four
 * conditioning blocks are refused, and max_clients fits the fd limit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "conditioner.h"
#include "config.h"
#include "osdep.h"

static char msg[512];

/* Parses the given options (argv[0] added) into a fresh config. */
#define PARSE(c, ...)                                                        \
    parse_argv((c), (char *[]){"preemptd", __VA_ARGS__, NULL})

static int parse_argv(struct config *c, char **argv)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    config_defaults(c);
    msg[0] = '\0';
    return config_parse(c, argc, argv, msg, sizeof(msg));
}

static void test_defaults(void **state)
{
    (void)state;
    struct config c;
    char *argv[] = {"preemptd", NULL};
    config_defaults(&c);
    assert_int_equal(config_parse(&c, 1, argv, msg, sizeof(msg)), CONFIG_OK);
    assert_int_equal(c.srv.sock_mode, 0660);
    assert_int_equal(c.srv.max_clients, 1024);
    assert_int_equal(c.srv.max_memory, 64u << 20);
    assert_int_equal(c.srv.max_queued, 4u << 20);
    assert_int_equal(c.ring_size, 65536);
    assert_int_equal(c.srv.activated_fd, -1);
    assert_int_equal(c.srv.sock_gid, (gid_t)-1);
    assert_int_equal(c.log_level, LOG_LVL_INFO);
    assert_non_null(c.srv.socket_path);
}

static void test_mode_octal(void **state)
{
    (void)state;
    struct config c;
    assert_int_equal(PARSE(&c, "--mode", "640"), CONFIG_OK);
    assert_int_equal(c.srv.sock_mode, 0640);
    assert_int_equal(PARSE(&c, "--mode", "0660"), CONFIG_OK);
    assert_int_equal(c.srv.sock_mode, 0660);
    assert_int_equal(PARSE(&c, "--mode", "500"), CONFIG_OK);
    assert_int_equal(c.srv.sock_mode, 0500); /* base 0 made this 0764 */
    assert_int_equal(PARSE(&c, "--mode", "0"), CONFIG_OK);
    assert_int_equal(c.srv.sock_mode, 0);
    const char *bad[] = {"0999", "8", "1000", "0x1b6", "-1", "", " 660", "66o"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(PARSE(&c, "--mode", (char *)bad[i]), CONFIG_USAGE);
        assert_non_null(strstr(msg, "--mode: expected an octal mode"));
    }
}

static void test_numbers_decimal(void **state)
{
    (void)state;
    struct config c;
    assert_int_equal(PARSE(&c, "--max-clients", "010"), CONFIG_OK);
    assert_int_equal(c.srv.max_clients, 10); /* not 8 */
    assert_int_equal(PARSE(&c, "--idle-ms", "0100"), CONFIG_OK);
    assert_int_equal(c.srv.idle_ms, 100);
    assert_int_equal(PARSE(&c, "--max-clients", "0x10"), CONFIG_USAGE);
    assert_non_null(strstr(msg, "expected a decimal number"));
    assert_int_equal(PARSE(&c, "--max-clients", "+5"), CONFIG_USAGE);
    assert_int_equal(PARSE(&c, "--max-clients", "0"), CONFIG_USAGE);
    assert_int_equal(PARSE(&c, "--max-clients", "65537"), CONFIG_USAGE);
    assert_int_equal(PARSE(&c, "--ring-size", "3000"), CONFIG_USAGE);
    assert_non_null(strstr(msg, "not a power of two"));
    assert_int_equal(PARSE(&c, "--ring-size", "4096", "--reseed-s", "2"),
                     CONFIG_OK);
    assert_int_equal(c.ring_size, 4096);
    assert_int_equal(c.srv.reseed_ms, 2000);
    assert_int_equal(PARSE(&c, "--wait-ms", "120001"), CONFIG_USAGE);
}

/* The sampler's policy: demand by default, within a budget of % of a CPU. */
static void test_policy(void **state)
{
    (void)state;
    struct config c;
    assert_int_equal(PARSE(&c, "--log-level", "info"), CONFIG_OK);
    assert_int_equal(c.smp.priority, OSDEP_PRIO_DEMAND);
    assert_true(c.smp.max_cpu_pct == CONFIG_DEFAULT_MAX_CPU);
    assert_int_equal(PARSE(&c, "--priority", "idle"), CONFIG_OK);
    assert_int_equal(c.smp.priority, OSDEP_PRIO_IDLE);
    assert_int_equal(PARSE(&c, "--priority", "normal"), CONFIG_OK);
    assert_int_equal(c.smp.priority, OSDEP_PRIO_NORMAL);
    assert_int_equal(PARSE(&c, "--priority", "demand", "--max-cpu", "12.5"),
                     CONFIG_OK);
    assert_int_equal(c.smp.priority, OSDEP_PRIO_DEMAND);
    assert_true(c.smp.max_cpu_pct == 12.5);
    assert_int_equal(PARSE(&c, "--priority", "high"), CONFIG_USAGE);
    assert_non_null(strstr(msg, "demand, idle or normal"));
    const char *bad[] = {"0", "0.05", "101", "x", "", "5%"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(PARSE(&c, "--max-cpu", (char *)bad[i]), CONFIG_USAGE);
        assert_non_null(strstr(msg, "--max-cpu"));
    }
}

static void test_ids_decimal(void **state)
{
    (void)state;
    struct config c;
    assert_int_equal(PARSE(&c, "--allow-uid", "0100", "--allow-gid", "010",
                           "--raw-uid", "1000"),
                     CONFIG_OK);
    assert_int_equal(c.srv.n_allow_uid, 1);
    assert_int_equal(c.srv.allow_uid[0], 100);
    assert_int_equal(c.srv.n_allow_gid, 1);
    assert_int_equal(c.srv.allow_gid[0], 10);
    assert_int_equal(c.srv.raw_uid[0], 1000);
    assert_int_equal(PARSE(&c, "--allow-gid", "0x10"), CONFIG_USAGE);
    assert_non_null(strstr(msg, "--allow-gid"));
    assert_int_equal(PARSE(&c, "--allow-uid", "4294967295"), CONFIG_USAGE);
    assert_int_equal(PARSE(&c, "--allow-uid", "-1"), CONFIG_USAGE);
}

static void test_id_list_full(void **state)
{
    (void)state;
    struct config c;
    char *argv[2 * SERVER_MAX_IDS + 4];
    int n = 0;
    argv[n++] = "preemptd";
    for (int i = 0; i <= SERVER_MAX_IDS; i++) {
        argv[n++] = "--allow-gid";
        argv[n++] = "7";
    }
    argv[n] = NULL;
    config_defaults(&c);
    assert_int_equal(config_parse(&c, n, argv, msg, sizeof(msg)), CONFIG_USAGE);
    assert_non_null(strstr(msg, "at most 16 ids"));
}

static void test_socket(void **state)
{
    (void)state;
    struct config c;
    assert_int_equal(PARSE(&c, "--socket", ""), CONFIG_USAGE);
    assert_non_null(strstr(msg, "--socket: the path must not be empty"));
    assert_int_equal(PARSE(&c, "-s", ""), CONFIG_USAGE);
    assert_int_equal(PARSE(&c, "--socket", "/tmp/x.sock"), CONFIG_OK);
    assert_string_equal(c.srv.socket_path, "/tmp/x.sock");
}

static void test_ring_holds_blocks(void **state)
{
    (void)state;
    struct config c;
    /* 320 raw bytes per block at credit 1: 256 bytes hold none. */
    assert_int_equal(PARSE(&c, "--ring-size", "256", "--credit", "1"),
                     CONFIG_USAGE);
    assert_non_null(strstr(msg, "--ring-size 256 is too small for --credit 1"));
    assert_non_null(strstr(msg, "use --ring-size 2048 or more"));
    /* 1024 holds three: still refused. 2048 holds six. */
    assert_int_equal(PARSE(&c, "--ring-size", "1024", "--credit", "1"),
                     CONFIG_USAGE);
    assert_int_equal(PARSE(&c, "--ring-size", "2048", "--credit", "1"),
                     CONFIG_OK);
    /* Option order does not matter: the check runs after all of them. */
    assert_int_equal(PARSE(&c, "--credit", "0.1", "--ring-size", "8192"),
                     CONFIG_USAGE);
    assert_non_null(strstr(msg, "use --ring-size 16384 or more"));
    assert_int_equal(PARSE(&c, "--credit", "8", "--ring-size", "256"),
                     CONFIG_OK);
    /* Every credit the parser accepts works with the default ring. */
    assert_int_equal(PARSE(&c, "--credit", "0.1"), CONFIG_OK);
}

static void test_cross_checks(void **state)
{
    (void)state;
    struct config c;
    config_defaults(&c);
    assert_int_equal(config_check(&c, msg, sizeof(msg)), 0);
    c.srv.wait_ms = c.srv.max_wait_ms + 1;
    assert_int_equal(config_check(&c, msg, sizeof(msg)), -1);
    assert_non_null(strstr(msg, "--wait-ms"));

    assert_int_equal(PARSE(&c, "--max-memory", "1048575"), CONFIG_USAGE);
    assert_int_equal(PARSE(&c, "--max-memory", "17179869184"), CONFIG_OK);
    assert_int_equal(c.srv.max_memory, (size_t)16 << 30);
    /* Alone, a small budget brings the default per-client cap down... */
    assert_int_equal(PARSE(&c, "--max-memory", "2097152"), CONFIG_OK);
    assert_int_equal(c.srv.max_memory, 2u << 20);
    assert_int_equal(c.srv.max_queued, 2u << 20);
    /* ... but a cap given above the budget is refused. */
    assert_int_equal(PARSE(&c, "--max-memory", "2097152", "--max-queued",
                           "4194304"),
                     CONFIG_USAGE);
    assert_non_null(strstr(msg, "--max-queued 4194304 is more than "
                                "--max-memory 2097152"));
}

static void test_other_results(void **state)
{
    (void)state;
    struct config c;
    assert_int_equal(PARSE(&c, "--help"), CONFIG_HELP);
    assert_int_equal(PARSE(&c, "-V"), CONFIG_VERSION);
    assert_int_equal(PARSE(&c, "extra"), CONFIG_USAGE);
    assert_non_null(strstr(msg, "unexpected argument 'extra'"));
    assert_int_equal(PARSE(&c, "--log-level", "loud"), CONFIG_USAGE);
    assert_int_equal(PARSE(&c, "--log-level", "debug"), CONFIG_OK);
    assert_int_equal(c.log_level, LOG_LVL_DEBUG);
    assert_int_equal(PARSE(&c, "--fault", "stuck"), CONFIG_USAGE);
    assert_non_null(strstr(msg, "only in test builds"));
    assert_int_equal(PARSE(&c, "--credit", "8.5"), CONFIG_USAGE);
}

static void test_fit_clients(void **state)
{
    (void)state;
    assert_int_equal(config_fit_clients(1024, 1048576), 1024);
    assert_int_equal(config_fit_clients(1024, 1024), 1024 - 32 - 64);
    /* prlimit --nofile=64: 32 for us, a quarter of the rest for refusals */
    assert_int_equal(config_fit_clients(1024, 64), 24);
    assert_int_equal(config_fit_clients(10, 64), 10);
    assert_int_equal(config_fit_clients(1024, 34), 2);
    assert_int_equal(config_fit_clients(1024, 33), 1);
    assert_int_equal(config_fit_clients(1024, 32), 0);
    assert_int_equal(config_fit_clients(1024, 0), 0);
    assert_int_equal(config_fit_clients(65536, UINT64_MAX), 65536);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_mode_octal),
        cmocka_unit_test(test_numbers_decimal),
        cmocka_unit_test(test_policy),
        cmocka_unit_test(test_ids_decimal),
        cmocka_unit_test(test_id_list_full),
        cmocka_unit_test(test_socket),
        cmocka_unit_test(test_ring_holds_blocks),
        cmocka_unit_test(test_cross_checks),
        cmocka_unit_test(test_other_results),
        cmocka_unit_test(test_fit_clients),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

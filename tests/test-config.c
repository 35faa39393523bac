/* test-config.c - option parsing and the cross-option check (config.c):
 * --mode is octal with or without the leading 0, every other number and
 * every id decimal, an empty --socket and a ring too small for four
 * conditioning blocks are refused, and max_clients fits the fd limit.
 * The configuration file: every long option is a key, the command line
 * overrides it, errors name file and line. The credit file (credit.c,
 * conffile.c): whole lines, regular files only, decimal credits, and the
 * check runs on the credit it gives. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "conditioner.h"
#include "config.h"
#include "conffile.h"
#include "credit.h"
#include "osdep.h"

static char msg[512];
static char dir[64];          /* a fresh temporary directory */
static char conf[128];        /* dir/preemptd.conf */
static char credit[128];      /* dir/credit */
static char nowhere[128];     /* dir/missing: the default paths in tests */

/* Parses the given options (argv[0] added) into a fresh config. */
#define PARSE(c, ...)                                                        \
    parse_argv((c), (char *[]){"preemptd", __VA_ARGS__, NULL})

static int parse_argv(struct config *c, char **argv)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    config_defaults(c);
    c->config_path = nowhere; /* not the host's /etc or /var/lib */
    c->credit_default = nowhere;
    msg[0] = '\0';
    return config_parse(c, argc, argv, msg, sizeof(msg));
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static void test_defaults(void **state)
{
    (void)state;
    struct config c;
    char *argv[] = {"preemptd", NULL};
    config_defaults(&c);
    assert_string_equal(c.config_path, CONFIG_DEFAULT_PATH);
    assert_string_equal(c.credit_default, CREDIT_DEFAULT_PATH);
    c.config_path = c.credit_default = nowhere;
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
    /* Fresh OS bytes before every drbg reply unless told otherwise. */
    assert_int_equal(PARSE(&c, "--reseed-s", "60"), CONFIG_OK);
    assert_int_equal(c.srv.os_mix, POOL_MIX_REQUEST);
    assert_int_equal(PARSE(&c, "--drbg-os-mix", "events"), CONFIG_OK);
    assert_int_equal(c.srv.os_mix, POOL_MIX_EVENTS);
    assert_int_equal(PARSE(&c, "--drbg-os-mix", "Request"), CONFIG_USAGE);
    assert_non_null(strstr(msg, "request or events"));
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
    assert_int_equal(parse_argv(&c, argv), CONFIG_USAGE);
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

/* The long options --help names, in order, each once or more. */
static size_t usage_keys(char keys[][64], size_t max)
{
    char *text = NULL;
    size_t len = 0, n = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    config_usage(f);
    fclose(f);
    for (char *p = text; n < max && (p = strstr(p, "--")) != NULL;) {
        size_t k = 0;
        p += 2;
        while (k + 1 < 64 && ((p[k] >= 'a' && p[k] <= 'z') ||
                              (k > 0 && ((p[k] >= '0' && p[k] <= '9') ||
                                         p[k] == '-'))))
            k++;
        if (k > 0 && p[k - 1] != '-') {
            memcpy(keys[n], p, k);
            keys[n++][k] = '\0';
        }
        p += k;
    }
    free(text);
    return n;
}

/* --config, --no-config, --help and --version are no keys of the file. */
static bool command_line_only(const char *key)
{
    return strcmp(key, "config") == 0 || strcmp(key, "no-config") == 0 ||
           strcmp(key, "help") == 0 || strcmp(key, "version") == 0;
}

/* --- the configuration file -------------------------------------------- */

/* Every setting a file can make, and where it lands. */
static void test_file_every_option(void **state)
{
    (void)state;
    struct config c;
    write_file(conf,
               "# every option but --fault (test builds only)\n"
               "foreground = yes\n"
               "socket = /tmp/from-file.sock\n"
               "cpu = 3\n"
               "priority = normal\n"
               "ring-size = 131072\n"
               "threshold = 77\n"
               "credit = 1.5\n"
               "credit-file = /nonexistent/credit\n"
               "alpha-log2 = -40\n"
               "stall-ms = 1234\n"
               "max-clients = 99\n"
               "max-queued = 65536\n"
               "max-memory = 2097152\n"
               "idle-ms = 4321\n"
               "wait-ms = 999\n"
               "reseed-s = 7\n"
               "user = nobody\n"
               "group = nogroup\n"
               "mode = 640\n"
               "allow-uid = 5\n"
               "allow-uid = 6\n"
               "allow-gid = 7\n"
               "raw-uid = 8\n"
               "no-egd = yes\n"
               "feed-kernel = yes\n"
               "feed-interval-ms = 2500\n"
               "log-level = debug\n");
    assert_int_equal(PARSE(&c, "--config", conf), CONFIG_OK);
    assert_string_equal(c.srv.socket_path, "/tmp/from-file.sock");
    assert_int_equal(c.smp.cpu, 3);
    assert_int_equal(c.smp.priority, OSDEP_PRIO_NORMAL);
    assert_int_equal(c.ring_size, 131072);
    assert_int_equal(c.smp.threshold, 77);
    /* credit = wins over the credit file, which is then never read */
    assert_true(c.credit == 1.5 && c.smp.h_bits == 1.5 && c.srv.h_bits == 1.5);
    assert_string_equal(c.credit_file, "/nonexistent/credit");
    assert_true(c.smp.alpha_log2 == -40);
    assert_int_equal(c.smp.stall_ms, 1234);
    assert_int_equal(c.srv.max_clients, 99);
    assert_int_equal(c.srv.max_queued, 65536);
    assert_int_equal(c.srv.max_memory, 2u << 20);
    assert_int_equal(c.srv.idle_ms, 4321);
    assert_int_equal(c.srv.wait_ms, 999);
    assert_int_equal(c.srv.reseed_ms, 7000);
    assert_string_equal(c.user, "nobody");
    assert_string_equal(c.group, "nogroup");
    assert_int_equal(c.srv.sock_mode, 0640);
    assert_int_equal(c.srv.n_allow_uid, 2);
    assert_int_equal(c.srv.allow_uid[1], 6);
    assert_int_equal(c.srv.n_allow_gid, 1);
    assert_int_equal(c.srv.allow_gid[0], 7);
    assert_int_equal(c.srv.raw_uid[0], 8);
    assert_false(c.srv.egd);
    assert_true(c.srv.feed_kernel);
    assert_int_equal(c.srv.feed_interval_ms, 2500);
    assert_int_equal(c.log_level, LOG_LVL_DEBUG);
    /* "no" leaves a flag as it is */
    write_file(conf, "no-egd = no\nfeed-kernel = no\n");
    assert_int_equal(PARSE(&c, "--config", conf), CONFIG_OK);
    assert_true(c.srv.egd);
    assert_false(c.srv.feed_kernel);
}

/* Every option --help names is a key of the file, with no second list:
 * a bad value for it is refused as a bad value, never as an unknown key.
 * An option added to the table (and --help) is covered here at once. */
static void test_file_keys_are_the_options(void **state)
{
    (void)state;
    static char keys[128][64];
    size_t n = usage_keys(keys, 128);
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        char line[128];
        struct config c;
        snprintf(line, sizeof(line), "\n%.63s = \x01" "bad\n", keys[i]);
        write_file(conf, line);
        int rc = PARSE(&c, "--config", conf);
        if (command_line_only(keys[i])) {
            assert_non_null(strstr(msg, "unknown key"));
            continue;
        }
        found++;
        /* socket, user and group take any string; credit-file is read
         * after the file */
        if (rc != CONFIG_OK && strstr(msg, "unknown key") != NULL)
            fail_msg("key '%s': %s", keys[i], msg);
    }
    assert_true(found >= 25);
}

static void test_file_precedence(void **state)
{
    (void)state;
    struct config c;
    write_file(conf, "ring-size = 4096\nidle-ms = 5000\nallow-uid = 5\n"
                     "allow-uid = 6\nlog-level = warn\n");
    /* the command line wins, option by option */
    assert_int_equal(PARSE(&c, "--config", conf, "--ring-size", "8192"),
                     CONFIG_OK);
    assert_int_equal(c.ring_size, 8192);
    assert_int_equal(c.srv.idle_ms, 5000);
    assert_int_equal(c.log_level, LOG_LVL_WARN);
    assert_int_equal(c.srv.n_allow_uid, 2);
    /* a list on the command line replaces the file's list */
    assert_int_equal(PARSE(&c, "--allow-uid", "7", "--config", conf,
                           "--allow-uid", "9"),
                     CONFIG_OK);
    assert_int_equal(c.srv.n_allow_uid, 2);
    assert_int_equal(c.srv.allow_uid[0], 7);
    assert_int_equal(c.srv.allow_uid[1], 9);
    /* the default path is read when it exists... */
    struct config d;
    char *argv[] = {"preemptd", NULL};
    config_defaults(&d);
    d.config_path = conf;
    d.credit_default = nowhere;
    assert_int_equal(config_parse(&d, 1, argv, msg, sizeof(msg)), CONFIG_OK);
    assert_int_equal(d.ring_size, 4096);
    /* ... and --no-config reads none, even a broken one */
    write_file(conf, "bogus = 1\n");
    char *none[] = {"preemptd", "--no-config", NULL};
    config_defaults(&d);
    d.config_path = conf;
    d.credit_default = nowhere;
    assert_int_equal(config_parse(&d, 2, none, msg, sizeof(msg)), CONFIG_OK);
    assert_int_equal(d.ring_size, CONFIG_DEFAULT_RING);
    config_defaults(&d);
    d.config_path = conf;
    d.credit_default = nowhere;
    assert_int_equal(config_parse(&d, 1, argv, msg, sizeof(msg)),
                     CONFIG_USAGE);
    /* --help needs no readable file */
    assert_int_equal(PARSE(&c, "--config", conf, "--help"), CONFIG_HELP);
    /* a missing default is fine (PARSE's default is missing), a missing
     * --config is not */
    assert_int_equal(PARSE(&c, "--config", nowhere), CONFIG_USAGE);
    assert_non_null(strstr(msg, "No such file"));
    assert_int_equal(PARSE(&c, "--config", ""), CONFIG_USAGE);
}

/* Each error names the file and the line. */
static void test_file_errors(void **state)
{
    (void)state;
    struct config c;
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"# ok\n\nbogus = 1\n", ":3: unknown key 'bogus'"},
        {"idle-ms = 5000\nring-size = 3000\n",
         ":2: --ring-size: 3000 is not a power of two"},
        {"idle-ms = 5000\n  ring-size = 4096\nwait-ms\n",
         ":3: expected 'key = value'"},
        {"[preemptd]\nidle-ms = 5000\n", ":1: sections ([name]) are not used"},
        {"idle-ms = 5000\nno-egd = maybe\n", ":2: no-egd: yes or no"},
        {"credit = 0x1p1\n", ":1: --credit: expected a number"},
        {"credit = inf\n", ":1: --credit: expected a number"},
        {"help = yes\n", ":1: unknown key 'help'"},
        {"mode = 0999\n", ":1: --mode: expected an octal mode"},
        {"socket =\n", ":1: --socket: the path must not be empty"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        write_file(conf, cases[i].text);
        assert_int_equal(PARSE(&c, "--config", conf), CONFIG_USAGE);
        char want[256];
        snprintf(want, sizeof(want), "%s%s", conf, cases[i].want);
        if (strstr(msg, want) == NULL)
            fail_msg("case %zu: want '%s', got '%s'", i, want, msg);
    }
    /* a line longer than the parser's buffer: refused at its own line,
     * never split into a second line */
    char big[1200];
    snprintf(big, sizeof(big), "idle-ms = 5000\nsocket = /%0900d\n"
             "ring-size = 4096\n", 0);
    write_file(conf, big);
    assert_int_equal(PARSE(&c, "--config", conf), CONFIG_USAGE);
    assert_non_null(strstr(msg, ":2: socket: the value is too long"));
    snprintf(big, sizeof(big), "#%0900d\nring-size = 3000\n", 0);
    write_file(conf, big);
    assert_int_equal(PARSE(&c, "--config", conf), CONFIG_USAGE);
    assert_non_null(strstr(msg, ":2: --ring-size"));
}

/* --- the credit file ---------------------------------------------------- */

/* Issue 23, defect 6: the check runs against the credit the file gives,
 * not the default it had before the file was read. */
static void test_check_after_credit_file(void **state)
{
    (void)state;
    struct config c;
    write_file(credit, "credit = 4.0\n");
    /* 320 / 4 = 80 bytes a block: 512 holds 6; at 2.0 (160) only 3 */
    assert_int_equal(PARSE(&c, "--ring-size", "512", "--credit-file", credit),
                     CONFIG_OK);
    assert_true(c.credit == 4.0 && c.smp.h_bits == 4.0 && c.srv.h_bits == 4.0);
    assert_non_null(strstr(c.credit_source, credit));
    assert_ptr_equal(c.srv.credit_source, c.credit_source);
    /* and the other way: a low credit from the file is checked too */
    write_file(credit, "credit = 1\n");
    assert_int_equal(PARSE(&c, "--ring-size", "1024", "--credit-file", credit),
                     CONFIG_USAGE);
    assert_non_null(strstr(msg, "too small for --credit 1 (from credit file"));
    /* credit-file given in the configuration file */
    char text[256];
    write_file(credit, "credit = 4.0\n");
    snprintf(text, sizeof(text), "ring-size = 512\ncredit-file = %s\n",
             credit);
    write_file(conf, text);
    assert_int_equal(PARSE(&c, "--config", conf), CONFIG_OK);
    assert_true(c.credit == 4.0);
}

static int load(const char *text, double *h)
{
    char date[64];
    write_file(credit, text);
    *h = 0;
    return credit_load(credit, h, date, sizeof(date), msg, sizeof(msg));
}

/* Issue 23, defect 7: whole lines and the right line numbers. */
static void test_credit_whole_lines(void **state)
{
    (void)state;
    char text[2048];
    double h;
    /* a comment of 511 characters, then "credit = 8": still a comment (a
     * 512-byte fgets buffer made the tail a line of its own) */
    snprintf(text, sizeof(text), "credit = 3\n#%0510dcredit = 8\n", 0);
    assert_int_equal(load(text, &h), 0);
    assert_true(h == 3.0);
    /* a calibrate file with a long samples path: loads; an error after it
     * names its own line */
    snprintf(text, sizeof(text), "credit = 3\ndate = 2026-12-07\n"
             "samples_file = /%01000d\nh_min = 7\n", 0);
    assert_int_equal(load(text, &h), 0);
    assert_true(h == 3.0);
    snprintf(text, sizeof(text), "credit = 3\nsamples_file = /%01000d\n"
             "not a setting\n", 0);
    assert_int_equal(load(text, &h), -EINVAL);
    assert_non_null(strstr(msg, ":3: expected 'key = value'"));
    /* a credit that is cut is refused, not taken in part */
    snprintf(text, sizeof(text), "credit = 3%0600d\n", 0);
    assert_int_equal(load(text, &h), -EINVAL);
    assert_non_null(strstr(msg, ":1: credit must be a number"));
    /* decimal only */
    assert_int_equal(load("credit = 0x1p1\n", &h), -EINVAL);
    assert_int_equal(load("credit = nan\n", &h), -EINVAL);
    assert_int_equal(load("credit = 2.5e0\n", &h), 0);
    assert_true(h == 2.5);
}

/* Issue 23, defect 7 and 10: only a regular file of bounded size, refused
 * at once (no spin on /dev/zero, no wait on a FIFO), and a directory is
 * called a directory. */
static void test_credit_regular_file_only(void **state)
{
    (void)state;
    double h = 0;
    char date[64], fifo[160];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(credit_load("/dev/zero", &h, date, sizeof(date), msg,
                                 sizeof(msg)),
                     -EINVAL);
    assert_non_null(strstr(msg, "not a regular file"));
    snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(credit_load(fifo, &h, date, sizeof(date), msg,
                                 sizeof(msg)),
                     -EINVAL);
    assert_non_null(strstr(msg, "not a regular file"));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true(t1.tv_sec - t0.tv_sec < 5); /* bounded, not a measurement */
    unlink(fifo);
    assert_int_equal(credit_load(dir, &h, date, sizeof(date), msg,
                                 sizeof(msg)),
                     -EISDIR);
    assert_non_null(strstr(msg, "is a directory"));
    /* too big: refused by size, before any parsing */
    char *text = malloc(CONFFILE_MAX_BYTES + 64);
    assert_non_null(text);
    memset(text, '#', CONFFILE_MAX_BYTES + 63);
    memcpy(text, "credit = 3\n", 11);
    text[CONFFILE_MAX_BYTES + 63] = '\0';
    assert_int_equal(load(text, &h), -EFBIG);
    assert_non_null(strstr(msg, "larger than 65536 bytes"));
    free(text);
    /* the daemon refuses to start on each, naming the file */
    struct config c;
    assert_int_equal(PARSE(&c, "--credit-file", "/dev/zero"), CONFIG_USAGE);
    assert_non_null(strstr(msg, "credit file /dev/zero: not a regular file"));
    assert_int_equal(PARSE(&c, "--credit-file", dir), CONFIG_USAGE);
    assert_non_null(strstr(msg, "is a directory"));
    assert_int_equal(PARSE(&c, "--credit", "0x1p1"), CONFIG_USAGE);
    assert_int_equal(PARSE(&c, "--config", "/dev/zero"), CONFIG_USAGE);
    assert_non_null(strstr(msg, "not a regular file"));
}

/* The shipped preemptd.conf names every option of --help, and with every
 * setting uncommented it is a valid configuration. */
static void test_shipped_file(void **state)
{
    (void)state;
    FILE *in = fopen(PBD_SOURCE_ROOT "/daemon/preemptd.conf", "r");
    assert_non_null(in);
    char shipped[8192], line[256];
    size_t n = 0;
    FILE *out = fopen(conf, "w");
    assert_non_null(out);
    while (fgets(line, sizeof(line), in)) {
        /* "#key = value": a setting; "# words": prose */
        const char *l = line[0] == '#' && line[1] >= 'a' && line[1] <= 'z'
                        ? line + 1 : line;
        fputs(l, out);
        n += (size_t)snprintf(shipped + n, sizeof(shipped) - n, "%s", line);
        assert_true(n < sizeof(shipped));
    }
    fclose(in);
    fclose(out);
    struct config c;
    assert_int_equal(PARSE(&c, "--config", conf), CONFIG_OK);
    assert_int_equal(c.ring_size, CONFIG_DEFAULT_RING);
    assert_int_equal(c.srv.max_memory, CONFIG_DEFAULT_MAX_MEMORY);

    static char keys[128][64];
    size_t nkeys = usage_keys(keys, 128);
    assert_true(nkeys >= 25);
    for (size_t i = 0; i < nkeys; i++) {
        char want[80];
        if (command_line_only(keys[i]) || strcmp(keys[i], "fault") == 0)
            continue;
        snprintf(want, sizeof(want), "\n#%.63s = ", keys[i]);
        if (strstr(shipped, want) == NULL)
            fail_msg("daemon/preemptd.conf lacks '#%s = '", keys[i]);
    }
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/pbd-config-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(conf, sizeof(conf), "%s/preemptd.conf", dir);
    snprintf(credit, sizeof(credit), "%s/credit", dir);
    snprintf(nowhere, sizeof(nowhere), "%s/missing", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(conf);
    unlink(credit);
    return rmdir(dir);
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
        cmocka_unit_test(test_file_every_option),
        cmocka_unit_test(test_file_keys_are_the_options),
        cmocka_unit_test(test_file_precedence),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_shipped_file),
        cmocka_unit_test(test_check_after_credit_file),
        cmocka_unit_test(test_credit_whole_lines),
        cmocka_unit_test(test_credit_regular_file_only),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

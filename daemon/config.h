/*
 * config.h - preemptd's options: defaults, the configuration file, the
 * command line, the credit file and the one cross-option check, apart from
 * main() so main() reads as the start-up order. Nothing here logs or
 * exits: every function returns a code and writes what went wrong into the
 * caller's buffer; main() decides.
 *
 * One table of long options serves both the command line and the
 * configuration file: every long option (but --config, --no-config,
 * --help and --version) is a key of the file, "ring-size = 4096".
 */
#ifndef PBD_CONFIG_H
#define PBD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "log.h"
#include "sampler.h"
#include "server.h"

#define CONFIG_DEFAULT_RING (1u << 16)
#define CONFIG_DEFAULT_CREDIT 2.0
/* The demand policy's CPU budget, % of one CPU: docs/benchmarks.md,
 * "Host cost" says why. */
#define CONFIG_DEFAULT_MAX_CPU 5.0
#define CONFIG_DEFAULT_ALPHA_LOG2 (-30.0)
#define CONFIG_DEFAULT_MAX_MEMORY ((size_t)64 << 20)
#define CONFIG_MAX_WAIT_MS 120000u
/* Conditioning blocks the ring must hold at least: with fewer, the ring's
 * high-water mark (3/4 full) may never reach one block, and conditioned
 * output and DRBG seeding stop while the source is healthy. */
#define CONFIG_RING_MIN_BLOCKS 4u
/* Descriptors max_clients must leave free: the daemon's own (stdio, lock,
 * listener, libuv's epoll, signal pipe, async and EMFILE reserve, kernel
 * feed) with room to spare, and slots for accepting a client only to tell
 * it the server is full. */
#define CONFIG_NOFILE_OWN 32u
#define CONFIG_NOFILE_REFUSE 64u
/* The configuration file read by default; meson sets it from sysconfdir
 * (/etc for a .deb, $(brew --prefix)/etc under Homebrew). */
#ifndef CONFIG_DEFAULT_PATH
#define CONFIG_DEFAULT_PATH "/etc/preemptd/preemptd.conf"
#endif
/* Room for the strings the configuration file gives (socket, user, group,
 * credit-file), which must outlive the parse. */
#define CONFIG_STORE 4096u

struct config {
    struct server_config srv;
    struct sampler_config smp;
    size_t ring_size;
    const char *user, *group;  /* --user/--group, NULL when not given */
    const char *state_dir;     /* --state-dir: the calibration cache */
    /* The credit, one value: set by --credit (command line or file), else
     * the credit file, else the default; config_parse() copies it into
     * srv and smp once, when it is final. */
    double credit;
    bool credit_given;         /* --credit was given: it wins over a file */
    const char *credit_file;   /* --credit-file, NULL: credit_default */
    const char *credit_default; /* CREDIT_DEFAULT_PATH (tests change it) */
    char credit_source[300];   /* where the credit came from */
    /* The configuration file: config_path unless --config or --no-config;
     * its absence is fine only at the default path. */
    const char *config_path;   /* CONFIG_DEFAULT_PATH (tests change it) */
    const char *config_used;   /* the file read, NULL for none */
    bool queued_given;         /* --max-queued was given */
    enum log_level log_level;
    size_t store_used;
    char store[CONFIG_STORE];
};

enum config_result {
    CONFIG_OK = 0,
    CONFIG_HELP = 1,      /* --help: print config_usage(stdout), exit 0 */
    CONFIG_VERSION = 2,   /* --version: print the version, exit 0 */
    CONFIG_USAGE = -1,    /* bad option: msg says why; exit 2 */
};

/* Fills c with every default (socket path from pbd_default_socket()). */
void config_defaults(struct config *c);

/* Resolves the whole configuration into c (which config_defaults() has
 * filled), in this order, each overriding the one before: the defaults,
 * the configuration file (--config FILE, none with --no-config, else
 * c->config_path if it exists), the command line (a list option given
 * there replaces the file's list), then the credit file unless --credit
 * was given. Then runs config_check() once, on the final values. Returns
 * a config_result; on CONFIG_USAGE msg holds one line without "preemptd: "
 * or a newline ("FILE:LINE: ..." for the configuration file). Strings in c
 * point into argv or c->store. Resets getopt, so it may be called more
 * than once (tests do). Not thread-safe (getopt's globals). */
int config_parse(struct config *c, int argc, char **argv, char *msg,
                 size_t cap);

/* The cross-option check: the ring holds CONFIG_RING_MIN_BLOCKS
 * conditioning blocks at the given credit, the default wait is within the
 * longest, one client's queue fits in the memory budget. Returns 0, or -1
 * with msg saying which options disagree and what would do. Pure. */
int config_check(const struct config *c, char *msg, size_t cap);

/* Fits max_clients to an open-file limit of nofile descriptors, leaving
 * CONFIG_NOFILE_OWN for the daemon and up to CONFIG_NOFILE_REFUSE (at most
 * a quarter of what is left) for refusals. Returns the number of clients to
 * serve (<= max_clients), or 0 when nofile leaves no room for even one.
 * Pure. */
unsigned config_fit_clients(unsigned max_clients, uint64_t nofile);

/* Writes --help to f. */
void config_usage(FILE *f);

#endif

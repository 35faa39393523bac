/*
 * config.h - preemptd's options: defaults, command-line parsing and the one
 * cross-option check, apart from main() so main() reads as the start-up
 * order. Nothing here logs or exits: every function returns a code and
 * writes what went wrong into the caller's buffer; main() decides.
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

struct config {
    struct server_config srv;
    struct sampler_config smp;
    size_t ring_size;
    const char *user, *group;  /* --user/--group, NULL when not given */
    const char *credit_file;   /* --credit-file, NULL: credit.h's default */
    const char *state_dir;     /* --state-dir: the calibration cache */
    bool credit_given;         /* --credit was given: it wins over a file */
    enum log_level log_level;
};

enum config_result {
    CONFIG_OK = 0,
    CONFIG_HELP = 1,      /* --help: print config_usage(stdout), exit 0 */
    CONFIG_VERSION = 2,   /* --version: print the version, exit 0 */
    CONFIG_USAGE = -1,    /* bad option: msg says why; exit 2 */
};

/* Fills c with every default (socket path from pbd_default_socket()). */
void config_defaults(struct config *c);

/* Parses argv into c (which config_defaults() has filled), then runs
 * config_check(). Returns a config_result; on CONFIG_USAGE msg holds one
 * line without "preemptd: " or a newline. Strings in c point into argv.
 * Resets getopt, so it may be called more than once (tests do). Not
 * thread-safe (getopt's globals). */
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

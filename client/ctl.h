/*
 * ctl.h - what the preemptctl subcommands share: exit codes, connecting,
 * fetching stats, sizes and wiping. Each subcommand lives in its own file
 * and is entered as ctl_<name>(argc, argv, socket) with argv[0] the
 * subcommand's name; it returns the process exit status.
 */
#ifndef PBD_CTL_H
#define PBD_CTL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "assess.h"
#include "pbd.h"

/* Exit statuses. health adds 1 (degraded) and 2 (failed); every other
 * subcommand uses 1 for any failure after connecting. */
#define CTL_EXIT_OK 0
#define CTL_EXIT_FAIL 1
#define CTL_EXIT_NOCONN 3 /* cannot connect, or no answer */
#define CTL_EXIT_USAGE 64 /* as EX_USAGE in sysexits.h */

/* Largest stats object accepted; the daemon's is under 4 KiB. */
#define CTL_STATS_CAP 16384

/* Connects to sock, printing "preemptctl: cannot connect to SOCK: why" on
 * failure. Returns 0 with *out set, or a negative PBD_E* code. */
int ctl_connect(pbd_t **out, const char *sock);

/* Fetches the stats JSON into buf (cap bytes) and checks it is one
 * well-formed object. Returns 0, or a negative PBD_E* code (PBD_EPROTO
 * for malformed JSON) after printing why. */
int ctl_fetch_stats(pbd_t *p, char *buf, size_t cap);

/* Parses a byte count: decimal digits, optionally followed by K, M or G
 * (powers of 1024; "KiB"/"KB" spellings accepted). Returns 0 with *out set,
 * or -1 for junk, zero, or a value above max. */
int ctl_parse_size(const char *s, uint64_t max, uint64_t *out);

/* Formats n bytes as "512 B", "64.0 KiB", "1.0 MiB"... into buf. Returns
 * buf. */
const char *ctl_fmt_bytes(uint64_t n, char *buf, size_t cap);

/* Zeroes len bytes at p in a way the compiler may not drop. */
void ctl_wipe(void *p, size_t len);

/* Progress on stderr for long transfers: a bar redrawn in place. */
struct ctl_progress {
    int on;          /* draw at all (stderr is a terminal, transfer large) */
    uint64_t total;
    double t0;       /* monotonic seconds at start */
    double last;     /* last redraw */
};

/* Starts progress for total units; on when stderr is a tty and enabled. */
void ctl_progress_start(struct ctl_progress *pg, uint64_t total, int enabled);
/* Redraws (at most ~10 times a second) for done of total units. */
void ctl_progress_update(struct ctl_progress *pg, uint64_t done);
/* Erases the bar's line. */
void ctl_progress_end(struct ctl_progress *pg);

/* Monotonic seconds. */
double ctl_now(void);

/* Makes the next getopt_long() call start afresh on a new argv. */
void ctl_getopt_reset(void);

/* Options of a subcommand that takes only --socket and --help: updates
 * *sock, prints usage on --help or a bad option. Returns -1 to go on, or the
 * exit status to return (CTL_EXIT_OK after --help, CTL_EXIT_USAGE). */
int ctl_socket_only_opts(int argc, char **argv, const char **sock,
                         void (*usage)(FILE *));

/* Subcommands. */
int ctl_read(int argc, char **argv, const char *sock);
int ctl_stats(int argc, char **argv, const char *sock);
int ctl_health(int argc, char **argv, const char *sock);
int ctl_metrics(int argc, char **argv, const char *sock);
int ctl_top(int argc, char **argv, const char *sock);
int ctl_assess(int argc, char **argv, const char *sock);
int ctl_calibrate(int argc, char **argv, const char *sock);

/* Reads a whole samples file (1..ASSESS_MAX_SAMPLES bytes) into a malloc'd
 * buffer the caller frees. Returns 0, or -1 after printing why. */
int ctl_read_samples(const char *path, uint8_t **out, size_t *n);
/* Captures n consecutive samples from the daemon on p (PBD_MODE_CAPTURE),
 * with a progress bar. Returns 0, or an exit status after saying why. */
int ctl_capture(pbd_t *p, uint8_t *buf, size_t n);
/* Has the daemon restart its noise source `restarts` times and stores the
 * first ASSESS_RESTART_N samples after each as a row of m. Returns 0, or an
 * exit status after saying why. */
int ctl_restart_matrix(pbd_t *p, uint8_t *m, unsigned restarts);
/* Parses --restart-compat's argument (strict, nist) into *def. Returns 0,
 * or -1 after saying why. */
int ctl_restart_def(const char *arg, enum assess_restart_def *def);
/* Says on stderr why the restart sanity check failed on r (the matrix
 * named matrix): which row or column, its count against the cutoff, the
 * likely cause, and what to do, with the largest H_I the matrix passes and
 * the credit that allows at fraction. */
void ctl_restart_explain(const struct assess_restart *r, const char *matrix,
                         double fraction);

#endif

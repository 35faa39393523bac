/*
 * bench.h - pbd-bench: shared pieces of the benchmark (issue 7).
 *
 * The benchmark starts preemptd on a temporary socket (or uses a running one)
 * and measures harvest, entropy yield, socket throughput, latency and cost,
 * each beside a baseline taken in the same run. Nothing here asserts a
 * target: it reports.
 */
#ifndef PBD_BENCH_H
#define PBD_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sched.h>
#include <sys/types.h>

/* ---- bench-daemon.c: the daemon under test and /proc readers ----------- */

struct bench_daemon {
    pid_t pid;          /* daemon process */
    bool owned;         /* we started it: stop it and remove dir */
    char dir[64];       /* temp dir holding socket and log, when owned */
    char sock[108];
    char log[96];
};

/* Starts binary on a fresh temp socket with ring bytes of ring and waits up
 * to 60 s for health "ok". Returns 0, or -1 after printing why (the daemon
 * is then already stopped). */
int bench_daemon_start(struct bench_daemon *d, const char *binary,
                       size_t ring);

/* Starts binary as bench_daemon_start does, with --priority prio (NULL: the
 * daemon's default) and confined to cpus (NULL: not confined), and returns
 * at once without waiting for it. Its calibration cache is kept in state
 * (NULL: its own temporary directory, so a first start's calibration and
 * never the host's /var/lib/preemptd/cache). Returns 0 or -1 after printing why. */
int bench_daemon_spawn(struct bench_daemon *d, const char *binary,
                       size_t ring, const char *prio, const cpu_set_t *cpus,
                       const char *state);

/* Removes the calibration cache a daemon left in the state directory dir,
 * and its temporary files (the directory itself stays). */
void bench_state_remove(const char *dir);

/* Adopts a running daemon at path (its pid from SO_PEERCRED). Returns 0 or
 * -1 after printing why. */
int bench_daemon_attach(struct bench_daemon *d, const char *path);

/* Stops a daemon we started (SIGTERM, wait) and removes its temp dir.
 * Attached daemons are left alone. */
void bench_daemon_stop(struct bench_daemon *d);

/* Fetches the stats JSON into buf. Returns 0 or a negative PBD_E* code. */
int bench_stats(const struct bench_daemon *d, char *buf, size_t cap);

/* Returns the number following "key": in json (after section's "section":
 * when section is not NULL), or NAN when absent. true/false read as 1/0. */
double bench_json_num(const char *json, const char *section, const char *key);

/* Returns the first numeric entry N of dir_path (/proc, /proc/PID/task)
 * whose N/comm is comm, or -1. */
pid_t bench_find_comm(const char *dir_path, const char *comm);

/* Returns the tid of pid's thread named comm, or -1. */
pid_t bench_find_thread(pid_t pid, const char *comm);

/* Returns the sum of /proc/interrupts column cpu over every per-CPU row. */
uint64_t bench_cpu_interrupts(int cpu);

/* Returns utime+stime in seconds of pid (tid < 0) or of one thread. */
double bench_cpu_seconds(pid_t pid, pid_t tid);

/* Returns a numeric field (e.g. "nonvoluntary_ctxt_switches", "VmHWM") of
 * /proc/pid[/task/tid]/status, or -1. kB fields are returned in kB. */
long long bench_status_field(pid_t pid, pid_t tid, const char *field);

/* ---- bench-base.c: baselines measured in the same run ------------------ */

/* Returns monotonic time in nanoseconds. */
uint64_t bench_now_ns(void);

/* Returns MiB/s of getrandom() in 1 MiB calls over about secs seconds. */
double bench_getrandom_mibps(double secs);

/* Returns MiB/s of crypto_stream_chacha20 output written in 1 MiB chunks
 * by one thread into a socketpair and read by another, over about secs
 * seconds; *mem_mibps gets the same keystream generated into memory alone. */
double bench_chacha_pipe_mibps(double secs, double *mem_mibps);

/* Bare 32-byte ping-pong over a Unix socketpair between the caller and an
 * echo, pinned to cpu_a and cpu_b (-1: unpinned), iters round trips. The
 * echo is a thread, or with procs a forked process: a daemon and its client
 * are two processes, so that is the floor for our latency. Fills lat (iters
 * entries, ns). *shared gets the fraction of round trips where both ends
 * last ran on the same CPU. Returns 0 or -1. */
int bench_pingpong(int cpu_a, int cpu_b, bool procs, size_t iters,
                   uint64_t *lat, double *shared);

/* ---- bench-lat.c: concurrent clients ----------------------------------- */

enum bench_src { SRC_DRBG, SRC_COND, SRC_GETRANDOM };

struct bench_lat {
    /* in */
    enum bench_src src;
    const char *sock;
    unsigned clients;
    size_t reads_per_client;
    /* out */
    size_t n;           /* successful reads timed */
    uint64_t errors;    /* failed opens or reads (not stock-outs) */
    uint64_t stockout;  /* conditioned NOWAIT reads answered EAGAIN */
    double p50_us, p99_us, p999_us, max_us;
    double secs;        /* wall time of the timed part */
};

/* Runs r->clients threads, each with its own connection, doing
 * r->reads_per_client 32-byte reads after a common start. Returns 0, or -1
 * when the run could not be set up at all. */
int bench_latency(struct bench_lat *r);

/* Sorts v and returns its q-quantile (nearest rank) in microseconds. */
double bench_quantile_us(uint64_t *v, size_t n, double q, bool sorted);

/* ---- bench-host.c: what the host pays --------------------------------- */

#define BENCH_HOST_MAX_REPEAT 15

struct bench_host {
    const char *preemptd;   /* daemon binary */
    unsigned repeat;        /* trials per CPU set and policy, 1..MAX_REPEAT */
    double window_s;        /* each measurement window */
    double ttfb_cap_s;      /* give up on a first byte after this long */
    double (*put)(const char *key, double v); /* records a result */
};

/* Measures a CPU-bound job's throughput with and without a sampling daemon,
 * on CPU 0 alone and on every CPU, for --priority normal, idle and demand,
 * with and without one client reading conditioned bytes, with the
 * sampler's events/s (loaded and idle) and the time to the first conditioned
 * byte; prints the table. Returns 0, or -1 when a trial could not run. */
int bench_host_cost(const struct bench_host *h);

/* The time from a default daemon's fork to its first 32 conditioned bytes,
 * repeat times on the idle host and with a CPU-bound job on every CPU;
 * prints median [min-max]. Returns 0, or -1 when a trial could not run. */
int bench_first_byte(const struct bench_host *h);

#endif

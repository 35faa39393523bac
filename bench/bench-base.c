/* bench-base.c - baselines measured in the same run; see bench.h. */
#include "bench.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MIB (1u << 20)

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int pin_self(int cpu)
{
    if (cpu < 0)
        return 0;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static int write_all(int fd, const uint8_t *b, size_t len)
{
    while (len) {
        ssize_t n = write(fd, b, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        b += n;
        len -= (size_t)n;
    }
    return 0;
}

static int read_all(int fd, uint8_t *b, size_t len)
{
    while (len) {
        ssize_t n = read(fd, b, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        b += n;
        len -= (size_t)n;
    }
    return 0;
}

double bench_getrandom_mibps(double secs)
{
    uint8_t *buf = malloc(MIB);
    if (!buf)
        return 0;
    uint64_t t0 = bench_now_ns(), t;
    size_t mib = 0;
    do {
        size_t got = 0;
        while (got < MIB) {
            ssize_t n = getrandom(buf + got, MIB - got, 0);
            if (n < 0 && errno != EINTR) {
                free(buf);
                return 0;
            }
            if (n > 0)
                got += (size_t)n;
        }
        mib++;
        t = bench_now_ns();
    } while ((double)(t - t0) < secs * 1e9);
    free(buf);
    return (double)mib / ((double)(t - t0) / 1e9);
}

/* ---- ChaCha20 into a socketpair ---------------------------------------- */

struct pipe_arg {
    int fd;
    _Atomic bool stop;
};

static void *chacha_writer(void *arg)
{
    struct pipe_arg *a = arg;
    uint8_t key[crypto_stream_chacha20_KEYBYTES];
    uint8_t nonce[crypto_stream_chacha20_NONCEBYTES] = {0};
    uint8_t *buf = malloc(MIB);
    randombytes_buf(key, sizeof(key));
    /* Runs until the reader hangs up: the write then fails with EPIPE. */
    while (buf && !atomic_load(&a->stop)) {
        sodium_increment(nonce, sizeof(nonce));
        crypto_stream_chacha20(buf, MIB, nonce, key);
        if (write_all(a->fd, buf, MIB) != 0)
            break;
    }
    free(buf);
    return NULL;
}

double bench_chacha_pipe_mibps(double secs, double *mem_mibps)
{
    uint8_t key[crypto_stream_chacha20_KEYBYTES];
    uint8_t nonce[crypto_stream_chacha20_NONCEBYTES] = {0};
    uint8_t *buf = malloc(MIB);
    *mem_mibps = 0;
    if (!buf)
        return 0;
    randombytes_buf(key, sizeof(key));
    uint64_t t0 = bench_now_ns(), t;
    size_t n = 0;
    do {
        sodium_increment(nonce, sizeof(nonce));
        crypto_stream_chacha20(buf, MIB, nonce, key);
        n++;
        t = bench_now_ns();
    } while ((double)(t - t0) < secs * 0.5e9);
    *mem_mibps = (double)n / ((double)(t - t0) / 1e9);

    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
        free(buf);
        return 0;
    }
    struct pipe_arg a = {.fd = sv[0]};
    atomic_init(&a.stop, false);
    pthread_t th;
    double rate = 0;
    if (pthread_create(&th, NULL, chacha_writer, &a) == 0) {
        /* The first MiB fills both sides' pages: start the clock after. */
        if (read_all(sv[1], buf, MIB) == 0) {
            t0 = bench_now_ns();
            n = 0;
            do {
                if (read_all(sv[1], buf, MIB) != 0)
                    break;
                n++;
                t = bench_now_ns();
            } while ((double)(t - t0) < secs * 1e9);
            rate = (double)n / ((double)(t - t0) / 1e9);
        }
        atomic_store(&a.stop, true);
        shutdown(sv[1], SHUT_RDWR);
        pthread_join(th, NULL);
    }
    close(sv[0]);
    close(sv[1]);
    free(buf);
    return rate;
}

/* ---- bare ping-pong ----------------------------------------------------- */

struct pong_arg {
    int fd, cpu;
    size_t iters;
    _Atomic int last_cpu; /* where the echo thread last ran */
};

static void *pong_main(void *arg)
{
    struct pong_arg *a = arg;
    uint8_t b[32];
    pin_self(a->cpu);
    for (size_t i = 0; i < a->iters; i++) {
        if (read_all(a->fd, b, sizeof(b)) != 0 ||
            write_all(a->fd, b, sizeof(b)) != 0)
            break;
        atomic_store_explicit(&a->last_cpu, sched_getcpu(),
                              memory_order_relaxed);
    }
    return NULL;
}

int bench_pingpong(int cpu_a, int cpu_b, bool procs, size_t iters,
                   uint64_t *lat, double *shared)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return -1;
    /* Shared memory, so a forked echo can report its CPU as a thread does. */
    struct pong_arg *a = mmap(NULL, sizeof(*a), PROT_READ | PROT_WRITE,
                              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (a == MAP_FAILED) {
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    *a = (struct pong_arg){.fd = sv[1], .cpu = cpu_b, .iters = iters};
    atomic_init(&a->last_cpu, -1);
    pthread_t th;
    pid_t pid = -1;
    int started;
    if (procs) {
        pid = fork();
        if (pid == 0) {
            close(sv[0]);
            pong_main(a);
            _exit(0);
        }
        started = pid > 0;
    } else {
        started = pthread_create(&th, NULL, pong_main, a) == 0;
    }
    if (!started) {
        close(sv[0]);
        close(sv[1]);
        munmap(a, sizeof(*a));
        return -1;
    }
    /* Pin the caller for the run only, then give back its old mask. */
    cpu_set_t old;
    pthread_getaffinity_np(pthread_self(), sizeof(old), &old);
    pin_self(cpu_a);
    uint8_t b[32] = {0};
    size_t same = 0, i;
    int rc = 0;
    for (i = 0; i < iters; i++) {
        uint64_t t0 = bench_now_ns();
        if (write_all(sv[0], b, sizeof(b)) != 0 ||
            read_all(sv[0], b, sizeof(b)) != 0) {
            rc = -1;
            break;
        }
        lat[i] = bench_now_ns() - t0;
        if (sched_getcpu() ==
            atomic_load_explicit(&a->last_cpu, memory_order_relaxed))
            same++;
    }
    pthread_setaffinity_np(pthread_self(), sizeof(old), &old);
    close(sv[0]);
    if (procs)
        waitpid(pid, NULL, 0);
    else
        pthread_join(th, NULL);
    close(sv[1]);
    munmap(a, sizeof(*a));
    *shared = i ? (double)same / (double)i : 0;
    return rc;
}

/* bench-lat.c - many concurrent clients doing 32-byte reads; see bench.h. */
#include "bench.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "pbd.h"

#define READ_LEN 32
#define CLIENT_STACK (128u * 1024u) /* 1000 threads: keep stacks small */

struct lat_shared {
    struct bench_lat *r;
    pthread_barrier_t start, stop;
    uint64_t *lat;              /* clients x reads_per_client slots */
    _Atomic uint64_t errors, stockout;
};

struct lat_client {
    struct lat_shared *sh;
    size_t idx;
};

static int one_read(const struct bench_lat *r, pbd_t *p, uint8_t *buf)
{
    switch (r->src) {
    case SRC_DRBG:
        return pbd_read(p, buf, READ_LEN, PBD_MODE_DRBG);
    case SRC_COND:
        /* From stock only: a read that would wait says EAGAIN instead. */
        return pbd_read_ex(p, buf, READ_LEN, PBD_MODE_CONDITIONED,
                           PBD_READ_NOWAIT, 0);
    case SRC_GETRANDOM:
        return getrandom(buf, READ_LEN, 0) == READ_LEN ? 0 : PBD_EIO;
    }
    return PBD_EINVAL;
}

static void *client_main(void *arg)
{
    struct lat_client *cl = arg;
    struct lat_shared *sh = cl->sh;
    const struct bench_lat *r = sh->r;
    pbd_t *p = NULL;
    bool ok = true;
    if (r->src != SRC_GETRANDOM && pbd_open(&p, r->sock) != 0) {
        atomic_fetch_add(&sh->errors, 1);
        ok = false;
    }
    pthread_barrier_wait(&sh->start);
    uint64_t *slot = sh->lat + cl->idx * r->reads_per_client;
    size_t k = 0;
    uint8_t buf[READ_LEN];
    for (size_t i = 0; ok && i < r->reads_per_client; i++) {
        uint64_t t0 = bench_now_ns();
        int rc = one_read(r, p, buf);
        uint64_t t1 = bench_now_ns();
        if (rc == PBD_EAGAIN && r->src == SRC_COND) {
            atomic_fetch_add(&sh->stockout, 1);
            break; /* stock is gone for everyone */
        }
        if (rc != 0) {
            atomic_fetch_add(&sh->errors, 1);
            break;
        }
        slot[k++] = t1 - t0;
    }
    /* The main thread compacts the slots after the join: no locking. */
    pthread_barrier_wait(&sh->stop);
    pbd_close(p);
    return (void *)(uintptr_t)k;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

double bench_quantile_us(uint64_t *v, size_t n, double q, bool sorted)
{
    if (n == 0)
        return 0;
    if (!sorted)
        qsort(v, n, sizeof(*v), cmp_u64);
    /* Nearest rank: the smallest value with at least q of the samples at
     * or below it. With n < 1/(1-q) this is the maximum. */
    double want = q * (double)n;
    size_t rank = (size_t)want;
    if ((double)rank < want)
        rank++;
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return (double)v[rank - 1] / 1000.0;
}

int bench_latency(struct bench_lat *r)
{
    struct lat_shared sh;
    memset(&sh, 0, sizeof(sh));
    sh.r = r;
    r->n = 0;
    r->errors = r->stockout = 0;
    size_t slots = (size_t)r->clients * r->reads_per_client;
    sh.lat = calloc(slots ? slots : 1, sizeof(*sh.lat));
    struct lat_client *cl = calloc(r->clients, sizeof(*cl));
    pthread_t *th = calloc(r->clients, sizeof(*th));
    if (!sh.lat || !cl || !th ||
        pthread_barrier_init(&sh.start, NULL, r->clients + 1) != 0) {
        free(sh.lat);
        free(cl);
        free(th);
        return -1;
    }
    pthread_barrier_init(&sh.stop, NULL, r->clients + 1);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, CLIENT_STACK);
    unsigned started = 0;
    for (; started < r->clients; started++) {
        cl[started].sh = &sh;
        cl[started].idx = started;
        if (pthread_create(&th[started], &attr, client_main, &cl[started]))
            break;
    }
    pthread_attr_destroy(&attr);
    if (started < r->clients) {
        /* Cannot happen with the stack size above unless memory is short;
         * the barrier would never open, so give up loudly. */
        abort();
    }
    pthread_barrier_wait(&sh.start);
    uint64_t t0 = bench_now_ns();
    pthread_barrier_wait(&sh.stop);
    r->secs = (double)(bench_now_ns() - t0) / 1e9;
    size_t n = 0;
    for (unsigned i = 0; i < r->clients; i++) {
        void *ret;
        pthread_join(th[i], &ret);
        size_t k = (size_t)(uintptr_t)ret;
        memmove(sh.lat + n, sh.lat + i * r->reads_per_client,
                k * sizeof(*sh.lat));
        n += k;
    }
    pthread_barrier_destroy(&sh.start);
    pthread_barrier_destroy(&sh.stop);
    r->n = n;
    r->errors = atomic_load(&sh.errors);
    r->stockout = atomic_load(&sh.stockout);
    r->p50_us = bench_quantile_us(sh.lat, n, 0.50, false);
    r->p99_us = bench_quantile_us(sh.lat, n, 0.99, true);
    r->p999_us = bench_quantile_us(sh.lat, n, 0.999, true);
    r->max_us = n ? (double)sh.lat[n - 1] / 1000.0 : 0;
    free(sh.lat);
    free(cl);
    free(th);
    return 0;
}

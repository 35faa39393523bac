/* lat-ab.c - one client's 32-byte drbg latency against a running daemon,
 * for bench/lat-ab.sh, which builds it against each version's own libpbd
 * (the wire protocol changes between versions). With --pingpong instead of
 * a socket, the floor: the same 32-byte round trip between two processes
 * over a socketpair, nothing pinned.
 *   lat-ab SOCKET N | lat-ab --pingpong N
 * Prints "p50 X p99 Y" in microseconds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pbd.h"

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int pingpong(double *d, int n)
{
    int sv[2];
    unsigned char b[32] = {0};
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        close(sv[0]);
        while (read(sv[1], b, sizeof(b)) == (ssize_t)sizeof(b))
            if (write(sv[1], b, sizeof(b)) != (ssize_t)sizeof(b))
                break;
        _exit(0);
    }
    close(sv[1]);
    for (int i = -2000; i < n; i++) {
        double t = now_us();
        if (write(sv[0], b, sizeof(b)) != (ssize_t)sizeof(b) ||
            read(sv[0], b, sizeof(b)) != (ssize_t)sizeof(b))
            return -1;
        if (i >= 0)
            d[i] = now_us() - t;
    }
    close(sv[0]);
    waitpid(pid, NULL, 0);
    return 0;
}

static int drbg(const char *sock, double *d, int n)
{
    pbd_t *p;
    unsigned char b[32];
    if (pbd_open(&p, sock) != 0)
        return -1;
    /* Until the DRBG is seeded (at most 30 s), then 2000 warm-up reads. */
    for (int t = 0; pbd_read(p, b, sizeof(b), PBD_MODE_DRBG) != 0; t++) {
        if (t > 300)
            return -1;
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
    }
    for (int i = -2000; i < n; i++) {
        double t = now_us();
        if (pbd_read(p, b, sizeof(b), PBD_MODE_DRBG) != 0)
            return -1;
        if (i >= 0)
            d[i] = now_us() - t;
    }
    pbd_close(p);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: lat-ab SOCKET|--pingpong N\n");
        return 2;
    }
    int n = atoi(argv[2]);
    double *d = n > 0 ? malloc((size_t)n * sizeof(*d)) : NULL;
    if (!d)
        return 2;
    int rc = strcmp(argv[1], "--pingpong") == 0 ? pingpong(d, n)
                                                 : drbg(argv[1], d, n);
    if (rc != 0) {
        fprintf(stderr, "lat-ab: %s failed\n", argv[1]);
        return 1;
    }
    qsort(d, (size_t)n, sizeof(*d), cmp);
    printf("p50 %.2f p99 %.2f\n", d[n / 2], d[(size_t)n * 99 / 100]);
    free(d);
    return 0;
}

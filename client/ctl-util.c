/* ctl-util.c - see ctl.h: helpers shared by the preemptctl subcommands. */
#include "ctl.h"

#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <getopt.h>
#include <unistd.h>

#include "ctl-json.h"

int ctl_connect(pbd_t **out, const char *sock)
{
    int rc = pbd_open(out, sock);
    if (rc == 0)
        return 0;
    fprintf(stderr, "preemptctl: cannot connect to %s: %s\n", sock,
            pbd_strerror(rc));
    /* Permission denied: name the group that opens the socket. */
    struct stat st;
    struct group *gr;
    if (rc == PBD_EACCESS && stat(sock, &st) == 0 &&
        (gr = getgrgid(st.st_gid)) != NULL && st.st_gid != 0)
        fprintf(stderr, "preemptctl: the socket is for group %s: "
                        "sudo usermod -aG %s $USER, then log in again\n",
                gr->gr_name, gr->gr_name);
    return rc;
}

int ctl_fetch_stats(pbd_t *p, char *buf, size_t cap)
{
    int rc = pbd_stats(p, buf, cap);
    if (rc != 0) {
        fprintf(stderr, "preemptctl: stats: %s\n", pbd_strerror(rc));
        return rc;
    }
    if (ctl_json_validate(buf) != 0 || buf[0] != '{') {
        fprintf(stderr, "preemptctl: stats: the daemon sent malformed JSON\n");
        return PBD_EPROTO;
    }
    return 0;
}

int ctl_parse_size(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    const char *p = s;
    if (!(*p >= '0' && *p <= '9'))
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    unsigned shift = 0;
    switch (*p) {
    case 'k': case 'K': shift = 10; p++; break;
    case 'm': case 'M': shift = 20; p++; break;
    case 'g': case 'G': shift = 30; p++; break;
    default: break;
    }
    if (shift && (strcmp(p, "iB") == 0 || strcmp(p, "B") == 0))
        p += strlen(p);
    if (*p || v == 0 || v > (UINT64_MAX >> shift))
        return -1;
    v <<= shift;
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

const char *ctl_fmt_bytes(uint64_t n, char *buf, size_t cap)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
    if (n < 1024) {
        snprintf(buf, cap, "%llu B", (unsigned long long)n);
        return buf;
    }
    double v = (double)n / 1024.0;
    unsigned u = 0;
    while (v >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
        v /= 1024.0;
        u++;
    }
    snprintf(buf, cap, "%.1f %s", v, units[u]);
    return buf;
}

void ctl_wipe(void *p, size_t len)
{
    volatile unsigned char *v = p;
    while (len--)
        *v++ = 0;
}

double ctl_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void ctl_progress_start(struct ctl_progress *pg, uint64_t total, int enabled)
{
    pg->on = enabled && isatty(STDERR_FILENO);
    pg->total = total ? total : 1;
    pg->t0 = ctl_now();
    pg->last = 0;
    ctl_progress_update(pg, 0); /* at once: the first chunk may be slow */
}

void ctl_progress_update(struct ctl_progress *pg, uint64_t done)
{
    if (!pg->on)
        return;
    double now = ctl_now();
    if (now - pg->last < 0.1 && done < pg->total)
        return;
    pg->last = now;
    enum { WIDTH = 30 };
    char bar[WIDTH + 1];
    unsigned fill = (unsigned)(done * WIDTH / pg->total);
    for (unsigned i = 0; i < WIDTH; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[WIDTH] = '\0';
    double el = now - pg->t0;
    char a[32], b[32], r[32];
    fprintf(stderr, "\r[%s] %3u%% %s / %s  %s/s ", bar,
            (unsigned)(done * 100 / pg->total),
            ctl_fmt_bytes(done, a, sizeof(a)),
            ctl_fmt_bytes(pg->total, b, sizeof(b)),
            ctl_fmt_bytes(el > 0 ? (uint64_t)((double)done / el) : 0, r,
                          sizeof(r)));
    fflush(stderr);
}

void ctl_progress_end(struct ctl_progress *pg)
{
    if (pg->on)
        fputs("\r\033[K", stderr);
}

int ctl_socket_only_opts(int argc, char **argv, const char **sock,
                         void (*usage)(FILE *))
{
    static const struct option opts[] = {
        {"socket", required_argument, 0, 's'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int c;
    ctl_getopt_reset();
    while ((c = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
        switch (c) {
        case 's': *sock = optarg; break;
        case 'h': usage(stdout); return CTL_EXIT_OK;
        default: usage(stderr); return CTL_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return CTL_EXIT_USAGE;
    }
    return -1;
}

void ctl_getopt_reset(void)
{
#if defined(__APPLE__) || defined(__FreeBSD__) || defined(__OpenBSD__)
    optreset = 1;
    optind = 1;
#else
    optind = 0; /* glibc: 0 also resets its internal state */
#endif
}

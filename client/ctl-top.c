/*
 * ctl-top.c - `preemptctl top`: a live view of the daemon, redrawn each
 * second, with a histogram of recent jump sizes from the difference of two
 * stats snapshots. Plain characters and a handful of ANSI sequences (home,
 * clear to end of line, alternate screen), which every terminal since the
 * VT100 understands; no curses dependency.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "ctl-json.h"
#include "ctl.h"

#define TOP_BUCKETS 64      /* the daemon sends 40 */
#define TOP_WINDOW 10       /* seconds of history in the histogram */

static void usage_top(FILE *f)
{
    fputs(
"usage: preemptctl top [--iterations N]\n"
"Live view, refreshed every second: event rate, credited and estimated\n"
"entropy, ring fill, health, clients, bytes served by mode, and a\n"
"histogram of the jump sizes of the last 10 seconds. q (or Ctrl-C) quits.\n"
"When stdout is not a terminal, frames are printed one after another.\n"
"  -i, --iterations N  quit after N frames (default: run until q)\n"
"  -s, --socket PATH   daemon socket\n", f);
}

static volatile sig_atomic_t top_quit;

static void top_signal_cb(int sig)
{
    (void)sig;
    top_quit = 1;
}

struct snapshot {
    int valid;
    double t;
    uint64_t hist[TOP_BUCKETS];
    long nb;
    uint64_t served[3];
};

struct top {
    const char *sock;
    pbd_t *p;
    int tty;               /* stdout is a terminal: draw in place */
    int raw_in;            /* stdin switched to non-canonical mode */
    struct termios saved;
    struct snapshot hist[TOP_WINDOW + 1]; /* ring of snapshots, one a second */
    unsigned nsnap;
    char js[CTL_STATS_CAP];
    char err[128];
};

/* Lines of the frame go through here so that the terminal variant can
 * clear each line's tail and stop at the bottom of the screen. */
struct frame {
    int tty;
    int rows, cols, used;
};

static void line(struct frame *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void line(struct frame *f, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    if (f->tty && f->used >= f->rows - 1)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (f->tty && f->cols > 0 && (int)strlen(buf) > f->cols)
        buf[f->cols] = '\0';
    fputs(buf, stdout);
    fputs(f->tty ? "\033[K\n" : "\n", stdout);
    f->used++;
}

static uint64_t js_u64(const char *js, const char *path)
{
    uint64_t v;
    return ctl_json_u64(js, path, &v) == 0 ? v : 0;
}

static double js_num(const char *js, const char *path)
{
    double v;
    return ctl_json_number(js, path, &v) == 0 ? v : -1.0;
}

static int fetch(struct top *t)
{
    int rc = 0;
    if (!t->p)
        rc = pbd_open(&t->p, t->sock);
    if (rc == 0)
        rc = pbd_stats(t->p, t->js, sizeof(t->js));
    if (rc == 0 && ctl_json_validate(t->js) != 0)
        rc = PBD_EPROTO;
    if (rc != 0) {
        snprintf(t->err, sizeof(t->err), "%s", pbd_strerror(rc));
        pbd_close(t->p);
        t->p = NULL; /* reconnect next second: the daemon may come back */
    }
    return rc;
}

static void ring_bar(char *out, size_t cap, double frac, int width)
{
    int fill = (int)(frac * width + 0.5);
    size_t k = 0;
    if (width <= 0 || cap < (size_t)width + 3)
        return;
    out[k++] = '[';
    for (int i = 0; i < width; i++)
        out[k++] = i < fill ? '#' : '.';
    out[k++] = ']';
    out[k] = '\0';
}

static void draw(struct top *t, struct frame *f, int ok)
{
    const char *js = t->js;
    char a[32], b[32], c[32], s1[256];
    struct snapshot *now = &t->hist[(t->nsnap - 1) % (TOP_WINDOW + 1)];
    if (!ok) {
        line(f, "preemptd on %s", t->sock);
        line(f, "%s", "");
        line(f, "cannot reach the daemon: %s (retrying every second)", t->err);
        return;
    }
    if (ctl_json_string(js, "version", s1, sizeof(s1)) < 0)
        snprintf(s1, sizeof(s1), "?");
    line(f, "preemptd %s on %s   up %.0f s   (q quits)", s1, t->sock,
         js_num(js, "uptime_s"));
    line(f, "%s", "");
    if (ctl_json_string(js, "health.message", s1, sizeof(s1)) < 0)
        snprintf(s1, sizeof(s1), "?");
    line(f, "Health      %s", s1);
    double rate = js_num(js, "sampler.event_rate");
    double cred = js_num(js, "entropy.credited_bits_per_byte");
    double mcv = js_num(js, "entropy.mcv_estimate_bits_per_byte");
    line(f, "Events      %.1f/s   (%llu total)", rate,
         (unsigned long long)js_u64(js, "sampler.events"));
    char pol[48], why[48];
    if (ctl_json_string(js, "policy.name", pol, sizeof(pol)) >= 0) {
        if (ctl_json_string(js, "policy.demand", why, sizeof(why)) < 0)
            snprintf(why, sizeof(why), "nothing");
        line(f, "Policy      %s: %s (needed: %s)   boosted %.1f s for %.2f "
             "CPU-s   budget %.0f%% of one CPU, %.0f%% used",
             pol, ctl_json_bool(js, "policy.boosted") == 1 ? "boosted"
                                                          : "at rest",
             why, js_num(js, "policy.boosted_s"),
             js_num(js, "policy.boost_cpu_s"),
             js_num(js, "policy.max_cpu_pct"),
             js_num(js, "policy.budget_used_pct"));
    }
    char est[48];
    if (mcv < 0)
        snprintf(est, sizeof(est), "none yet");
    else
        snprintf(est, sizeof(est), "%.3f bits/byte", mcv);
    line(f, "Entropy     credited %.3f bits/byte (%.0f bits/s)   estimated "
         "(online MCV) %s", cred, rate > 0 && cred > 0 ? rate * cred : 0.0,
         est);
    uint64_t rb = js_u64(js, "ring.bytes"), rc = js_u64(js, "ring.capacity");
    double frac = rc ? (double)rb / (double)rc : 0.0;
    char bar[64];
    ring_bar(bar, sizeof(bar), frac, 30);
    line(f, "Ring        %s %llu / %llu bytes (%.0f%%)%s", bar,
         (unsigned long long)rb, (unsigned long long)rc, frac * 100,
         ctl_json_bool(js, "sampler.sleeping") == 1 ? "  sampler sleeping"
                                                     : "");
    line(f, "Clients     %llu connected, %llu waiting, %llu accepted",
         (unsigned long long)js_u64(js, "clients.connected"),
         (unsigned long long)js_u64(js, "clients.waiting"),
         (unsigned long long)js_u64(js, "clients.accepted"));
    /* Per-second serving rates from the previous snapshot. */
    double dt = 0;
    struct snapshot *prev = NULL;
    if (t->nsnap >= 2) {
        prev = &t->hist[(t->nsnap - 2) % (TOP_WINDOW + 1)];
        dt = now->t - prev->t;
    }
    static const char *const names[] = {"conditioned", "raw", "drbg"};
    char served[3][64];
    for (int i = 0; i < 3; i++) {
        uint64_t d = prev && now->served[i] >= prev->served[i]
                         ? now->served[i] - prev->served[i] : 0;
        snprintf(served[i], sizeof(served[i]), "%s %s (%s/s)", names[i],
                 ctl_fmt_bytes(now->served[i], a, sizeof(a)),
                 ctl_fmt_bytes(dt > 0 ? (uint64_t)((double)d / dt) : 0, b,
                               sizeof(b)));
    }
    line(f, "Served      %s   %s   %s", served[0], served[1], served[2]);
    line(f, "Kernel fed  %s",
         ctl_fmt_bytes(js_u64(js, "kernel_fed_bytes"), c, sizeof(c)));
    line(f, "%s", "");

    /* Histogram: newest snapshot minus the oldest one kept. */
    unsigned span = t->nsnap - 1 < TOP_WINDOW ? t->nsnap - 1 : TOP_WINDOW;
    struct snapshot *old = &t->hist[(t->nsnap - 1 - span) % (TOP_WINDOW + 1)];
    uint64_t d[TOP_BUCKETS] = {0}, total = 0, max = 0;
    int lo = -1, hi = -1;
    long nb = now->nb < old->nb ? now->nb : old->nb;
    for (long i = 0; i < nb && i < TOP_BUCKETS; i++) {
        /* The first frame has no earlier snapshot: show the totals. */
        d[i] = span ? (now->hist[i] >= old->hist[i]
                           ? now->hist[i] - old->hist[i] : 0)
                    : now->hist[i];
        total += d[i];
        if (d[i] > max)
            max = d[i];
        if (d[i]) {
            if (lo < 0)
                lo = (int)i;
            hi = (int)i;
        }
    }
    if (span)
        line(f, "Jump sizes, last %.0f s: %llu events (log2 of the jump in "
             "ticks)", now->t - old->t, (unsigned long long)total);
    else
        line(f, "Jump sizes since start: %llu events (log2 of the jump in "
             "ticks)", (unsigned long long)total);
    if (lo < 0) {
        line(f, "  (no events in this window)");
        return;
    }
    double hz = (double)js_u64(js, "counter.hz");
    int width = (f->cols > 0 ? f->cols : 80) - 40;
    if (width > 60)
        width = 60;
    if (width < 10)
        width = 10;
    for (int i = lo; i <= hi; i++) {
        char hashes[64];
        int n = (int)((double)d[i] * width / (double)max + 0.999);
        if (n > width)
            n = width;
        memset(hashes, '#', (size_t)n);
        hashes[n] = '\0';
        char when[24] = "";
        if (hz > 0) {
            double us = (double)(1ull << (i < 63 ? i : 63)) / hz * 1e6;
            if (us >= 1000)
                snprintf(when, sizeof(when), ">=%.1f ms", us / 1000);
            else
                snprintf(when, sizeof(when), ">=%.1f us", us);
        }
        line(f, "  2^%-2d %11s |%-*s %llu", i, when, width, hashes,
             (unsigned long long)d[i]);
    }
}

static void snap(struct top *t)
{
    struct snapshot *s = &t->hist[t->nsnap % (TOP_WINDOW + 1)];
    memset(s, 0, sizeof(*s));
    s->valid = 1;
    s->t = ctl_now();
    s->nb = ctl_json_u64_array(t->js, "sampler.jump_log2_hist", s->hist,
                               TOP_BUCKETS);
    if (s->nb > TOP_BUCKETS)
        s->nb = TOP_BUCKETS;
    if (s->nb < 0)
        s->nb = 0;
    s->served[0] = js_u64(t->js, "served.conditioned");
    s->served[1] = js_u64(t->js, "served.raw");
    s->served[2] = js_u64(t->js, "served.drbg");
    t->nsnap++;
}

static void term_enter(struct top *t)
{
    if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &t->saved) == 0) {
        struct termios raw = t->saved;
        raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
        raw.c_cc[VMIN] = 0;
        raw.c_cc[VTIME] = 0;
        if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0)
            t->raw_in = 1;
    }
    if (t->tty) {
        fputs("\033[?1049h\033[?25l\033[H\033[2J", stdout); /* alt screen */
        fflush(stdout);
    }
}

static void term_leave(struct top *t)
{
    if (t->tty) {
        fputs("\033[?25h\033[?1049l", stdout);
        fflush(stdout);
    }
    if (t->raw_in)
        tcsetattr(STDIN_FILENO, TCSANOW, &t->saved);
}

/* Waits up to ms for a key; returns 1 when the user asked to quit. */
static int wait_key(struct top *t, int ms)
{
    double end = ctl_now() + ms / 1000.0;
    for (;;) {
        double left = end - ctl_now();
        if (top_quit)
            return 1;
        if (left <= 0)
            return 0;
        if (!t->raw_in) {
            poll(NULL, 0, (int)(left * 1000) + 1);
            continue;
        }
        struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
        int r = poll(&pfd, 1, (int)(left * 1000) + 1);
        if (r > 0) {
            char ch;
            ssize_t n = read(STDIN_FILENO, &ch, 1);
            if (n == 1 && (ch == 'q' || ch == 'Q' || ch == 3))
                return 1;
            if (n == 0) {
                t->raw_in = 0; /* end of input: keep running, stop polling */
                tcsetattr(STDIN_FILENO, TCSANOW, &t->saved);
            }
        } else if (r < 0 && errno != EINTR) {
            return 0;
        }
    }
}

int ctl_top(int argc, char **argv, const char *sock)
{
    static const struct option opts[] = {
        {"iterations", required_argument, 0, 'i'},
        {"socket", required_argument, 0, 's'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    long iterations = -1;
    int c;
    ctl_getopt_reset();
    while ((c = getopt_long(argc, argv, "i:s:h", opts, NULL)) != -1) {
        switch (c) {
        case 'i': {
            char *end;
            errno = 0;
            iterations = strtol(optarg, &end, 10);
            if (errno || *end || end == optarg || iterations < 1) {
                fprintf(stderr, "preemptctl top: bad --iterations '%s'\n",
                        optarg);
                return CTL_EXIT_USAGE;
            }
            break;
        }
        case 's': sock = optarg; break;
        case 'h': usage_top(stdout); return CTL_EXIT_OK;
        default: usage_top(stderr); return CTL_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        usage_top(stderr);
        return CTL_EXIT_USAGE;
    }
    static struct top t;
    memset(&t, 0, sizeof(t));
    t.sock = sock;
    t.tty = isatty(STDOUT_FILENO);
    if (ctl_connect(&t.p, sock) != 0)
        return CTL_EXIT_NOCONN;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = top_signal_cb;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    term_enter(&t);
    for (long frame_no = 0; iterations < 0 || frame_no < iterations;
         frame_no++) {
        int ok = fetch(&t) == 0;
        if (ok)
            snap(&t);
        struct frame f = {.tty = t.tty, .rows = 24, .cols = 80};
        struct winsize ws;
        if (t.tty && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 &&
            ws.ws_row > 0) {
            f.rows = ws.ws_row;
            f.cols = ws.ws_col;
        }
        if (t.tty)
            fputs("\033[H", stdout);
        else if (frame_no > 0)
            fputs("\n", stdout);
        draw(&t, &f, ok && t.nsnap > 0);
        if (t.tty)
            fputs("\033[J", stdout);
        fflush(stdout);
        if (iterations > 0 && frame_no + 1 >= iterations)
            break;
        if (wait_key(&t, 1000))
            break;
    }
    term_leave(&t);
    pbd_close(t.p);
    return CTL_EXIT_OK;
}

/*
 * ctl-assess.c - `preemptctl assess`: SP 800-90B non-IID estimates
 * (common/assess*.c, every estimator of NIST's ea_non_iid) on raw samples
 * read from the daemon or from a file; with samples from the daemon, or
 * when asked (--credit), printed beside the entropy the daemon credits.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "assess.h"
#include "ctl-json.h"
#include "ctl.h"
#include "proto.h"

static void usage_assess(FILE *f)
{
    fputs(
"usage: preemptctl assess -n SAMPLES [-o FILE] [-v]\n"
"       preemptctl assess --file FILE [--credit] [-v]\n"
"       preemptctl assess --restart --h-initial H [-o FILE] [--restarts N]\n"
"                         [--restart-compat strict|nist]\n"
"       preemptctl assess --restart-file FILE --h-initial H\n"
"                         [--restart-compat strict|nist]\n"
"Runs the SP 800-90B section 6.3 (non-IID) estimators on raw samples (one\n"
"folded jump byte each): MCV, collision, Markov, compression, t-tuple, LRS\n"
"and the MultiMCW, Lag, MultiMMC and LZ78Y predictors, as NIST's ea_non_iid\n"
"does with 8 bits per symbol, and prints each estimate and the minimum.\n"
"  -n, --samples N    capture N consecutive samples from the daemon (K, M:\n"
"                     x1024) and compare with its credit; 90B asks for\n"
"                     1000000. Every sample the sampler makes meanwhile\n"
"                     comes here, none to other clients; for root, the\n"
"                     daemon's uid and --raw-uid\n"
"  -o, --output FILE  also write the samples (or the restart matrix) to\n"
"                     FILE, for `ea_non_iid FILE 8`\n"
"  -R, --restart      have the daemon restart its noise source 1000 times\n"
"                     (new sampler thread, re-calibrated) and take the first\n"
"                     1000 samples after each, then run the restart tests\n"
"                     (90B 3.1.4) on them; exit 1 if they fail\n"
"      --restarts N   with --restart: fewer restarts, to try it (no\n"
"                     assessment below 1000)\n"
"  -f, --file FILE    assess FILE (any bytes) instead; no daemon needed\n"
"  -c, --credit       with --file: also show the credit of the daemon on\n"
"                     the socket (it need not be where FILE came from)\n"
"  -v, --verbose      the predictors' counts: N, C, r, P_global', P_local\n"
"  -r, --restart-file FILE  the restart tests (90B 3.1.4) on a 1000 x 1000\n"
"                     matrix, row i the first 1000 samples after restart i\n"
"                     (bench/pbd-capture restart makes one); exit 1 if it\n"
"                     fails\n"
"  -H, --h-initial H  the initial estimate they test (bits/sample), e.g.\n"
"                     the minimum of an assessment of 1000000 samples\n"
"      --restart-compat strict|nist  how H_r and H_c are taken: strict\n"
"                     (default) min(H_original, 8 x H_bitstring) as\n"
"                     ea_non_iid; nist: literal estimates only, as\n"
"                     ea_restart. Both are printed\n"
"  -s, --socket PATH  daemon socket\n", f);
}

/* Capture calls of this size: one request each (libpbd's raw chunk), so a
 * read the daemon times out is the only one in flight, took no sample and
 * leaves the connection, and the capture on it, in place. (With requests
 * still owed libpbd drops the connection, and the capture with it.) */
#define ASSESS_CHUNK 512u
/* Consecutive timeouts before giving up: a minute without progress. */
#define ASSESS_MAX_TIMEOUTS 6

int ctl_read_samples(const char *path, uint8_t **out, size_t *n)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        fprintf(stderr, "preemptctl assess: %s: %s\n", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (st.st_size <= 0 || (uint64_t)st.st_size > ASSESS_MAX_SAMPLES) {
        fprintf(stderr, "preemptctl assess: %s: size must be 1..%zu bytes\n",
                path, ASSESS_MAX_SAMPLES);
        close(fd);
        return -1;
    }
    size_t len = (size_t)st.st_size, got = 0;
    uint8_t *buf = malloc(len);
    if (!buf) {
        fputs("preemptctl assess: out of memory\n", stderr);
        close(fd);
        return -1;
    }
    while (got < len) {
        ssize_t r = read(fd, buf + got, len - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            fprintf(stderr, "preemptctl assess: %s: %s\n", path,
                    r == 0 ? "file shrank while reading" : strerror(errno));
            free(buf);
            close(fd);
            return -1;
        }
        got += (size_t)r;
    }
    close(fd);
    *out = buf;
    *n = len;
    return 0;
}

int ctl_restart_def(const char *arg, enum assess_restart_def *def)
{
    if (strcmp(arg, "strict") == 0)
        *def = ASSESS_RESTART_STRICT;
    else if (strcmp(arg, "nist") == 0)
        *def = ASSESS_RESTART_NIST;
    else {
        fprintf(stderr, "preemptctl: bad --restart-compat '%s' (strict or "
                "nist)\n", arg);
        return -1;
    }
    return 0;
}

static const char *capture_hint(int rc)
{
    switch (rc) {
    case PBD_EPERM:
        return " (capture is for root, the daemon's uid and --raw-uid)";
    case PBD_EINVAL:
    case PBD_EPROTO:
        return " (a daemon older than capture mode?)";
    case PBD_EOVERRUN:
        return " (this client fell behind: run it again)";
    default:
        return "";
    }
}

/* Where the daemon's capture bookkeeping stands: captures begun, samples
 * captured ever, and whether one is running. Returns 0, or -1 when the
 * daemon's stats do not say (a daemon older than capture mode). */
struct capture_mark {
    uint64_t sessions, samples;
    int active;
};

static int capture_mark(pbd_t *p, struct capture_mark *m)
{
    static char js[CTL_STATS_CAP];
    if (pbd_stats(p, js, sizeof(js)) != 0 ||
        ctl_json_u64(js, "capture.sessions", &m->sessions) != 0 ||
        ctl_json_u64(js, "capture.samples", &m->samples) != 0)
        return -1;
    m->active = ctl_json_bool(js, "capture.active") == 1;
    return 0;
}

static void capture_lost(struct ctl_progress *pg, size_t done, size_t n,
                         const char *why)
{
    ctl_progress_end(pg);
    fprintf(stderr, "preemptctl assess: the capture session was lost after "
            "%zu of %zu samples (%s): the samples would have a gap, so "
            "nothing more is captured; run it again, on a quieter host if "
            "this repeats\n", done, n, why);
}

/*
 * One capture from the first sample to the last: the daemon counts the
 * captures it began and the samples it captured, and only one capture
 * runs at a time, so while ours lasts the first stays put and the second
 * grows by exactly what we were sent. Checked after every chunk and every
 * timeout, so a session lost with its connection (a client-side deadline
 * that dropped it, a library that opened another, a daemon restarted on
 * the same socket) ends the capture at once, not after the rest of it.
 */
int ctl_capture(pbd_t *p, uint8_t *buf, size_t n)
{
    struct ctl_progress pg;
    ctl_progress_start(&pg, n, n > 8 * ASSESS_CHUNK);
    size_t done = 0;
    int timeouts = 0, checked = 0;
    struct capture_mark first = {0}, now;
    while (done < n) {
        size_t k = n - done < ASSESS_CHUNK ? n - done : ASSESS_CHUNK;
        /* An explicit wait, so the daemon (whatever its --wait-ms) times a
         * read out before libpbd gives up on it and drops the capture. */
        int rc = pbd_read_ex(p, buf + done, k, PBD_MODE_CAPTURE, 0,
                             PBD_WAIT_DEFAULT_MS);
        if (rc == PBD_ETIMEDOUT && done > 0 && checked) {
            /* The daemon's timeout keeps the session; the library's
             * deadline drops the connection, and the session with it.
             * Asked twice: the daemon may answer the first request on a
             * new connection before it sees the old one close, never the
             * second (it reads both in one turn of its loop). */
            if (capture_mark(p, &now) != 0 || capture_mark(p, &now) != 0 ||
                !now.active ||
                now.sessions != first.sessions ||
                now.samples != first.samples + done) {
                capture_lost(&pg, done, n, "a read timed out and its "
                             "connection was dropped");
                return CTL_EXIT_FAIL;
            }
        }
        if (rc == PBD_ELOST) { /* libpbd saw the connection go */
            capture_lost(&pg, done, n, "its connection went away");
            return CTL_EXIT_FAIL;
        }
        if (rc == PBD_ETIMEDOUT && ++timeouts < ASSESS_MAX_TIMEOUTS)
            continue; /* a slow source: keep asking while it is healthy */
        if (rc == PBD_EINUSE && timeouts > 0 && done > 0) {
            capture_lost(&pg, done, n, "a read timed out and the daemon "
                         "still holds the old connection's capture");
            return CTL_EXIT_FAIL;
        }
        if (rc != 0) {
            ctl_progress_end(&pg);
            fprintf(stderr, "preemptctl assess: capture after %zu of %zu "
                    "samples: %s%s\n", done, n, pbd_strerror(rc),
                    capture_hint(rc));
            return CTL_EXIT_FAIL;
        }
        if (done == 0) {
            checked = capture_mark(p, &first) == 0;
            first.samples -= checked ? k : 0;
        } else if (checked && (capture_mark(p, &now) != 0 ||
                               now.sessions != first.sessions ||
                               now.samples != first.samples + done + k)) {
            capture_lost(&pg, done, n, "a new capture began: the connection "
                         "was lost and opened again");
            return CTL_EXIT_FAIL;
        }
        done += k;
        timeouts = 0;
        ctl_progress_update(&pg, done);
    }
    ctl_progress_end(&pg);
    return 0;
}

static int write_samples(const char *path, const uint8_t *buf, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "preemptctl assess: %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, buf + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            fprintf(stderr, "preemptctl assess: %s: %s\n", path,
                    strerror(errno));
            close(fd);
            unlink(path);
            return -1;
        }
        off += (size_t)w;
    }
    if (close(fd) != 0) {
        fprintf(stderr, "preemptctl assess: %s: %s\n", path, strerror(errno));
        unlink(path);
        return -1;
    }
    return 0;
}

/* One row: an estimate in its own unit, and per 8-bit sample. */
static void row(const char *name, const char *sect, double v, int bits)
{
    if (v < 0) {
        printf("  %-30s %-7s %10s   (could not run on this input)\n", name,
               sect, "-");
        return;
    }
    if (bits)
        printf("  %-30s %-7s %10.6f / 1 bit    = %8.6f bits/sample\n", name,
               sect, v, 8 * v);
    else
        printf("  %-30s %-7s %10.6f / 8 bits   = %8.6f bits/sample\n", name,
               sect, v, v);
}

static const char *const pred_row[ASSESS_NPRED][2] = {
    { "MultiMCW prediction", "6.3.7" },
    { "Lag prediction", "6.3.8" },
    { "MultiMMC prediction", "6.3.9" },
    { "LZ78Y prediction", "6.3.10" },
};

static void pred_rows(const struct assess_pred *pr, int bits, int verbose)
{
    for (int j = 0; j < ASSESS_NPRED; j++) {
        const struct assess_pred *p = &pr[j];

        row(pred_row[j][0], pred_row[j][1], p->h, bits);
        if (!verbose || p->h < 0)
            continue;
        printf("      N = %llu, C = %llu, r = %llu, P_global' = %.9f, ",
               (unsigned long long)p->n, (unsigned long long)p->c,
               (unsigned long long)p->r, p->p_global);
        if (p->p_local >= 0)
            printf("P_local = %.9f\n", p->p_local);
        else
            printf("P_local cannot change the result\n");
    }
}

/* credited < -1.5: not asked for; in [-1.5, 0): asked, daemon unreachable. */
static void report(const struct assess_result *r, size_t n, const char *from,
                   double credited, int verbose)
{
    printf("samples: %zu 8-bit samples from %s\n", n, from);
    if (n < 1000000)
        printf("warning: SP 800-90B asks for at least 1000000 samples; "
               "these estimates are less meaningful\n");
    printf("\nliteral (8-bit symbols)\n");
    row("Most Common Value", "6.3.1", r->mcv, 0);
    row("t-Tuple", "6.3.5", r->tuple, 0);
    row("Longest Repeated Substring", "6.3.6", r->lrs, 0);
    pred_rows(r->pred, 0, verbose);
    printf("bit string (8 bits per sample, MSB first)\n");
    row("Most Common Value", "6.3.1", r->mcv_bits, 1);
    row("Collision", "6.3.2", r->collision, 1);
    row("Markov", "6.3.3", r->markov, 1);
    row("Compression", "6.3.4", r->compression, 1);
    row("t-Tuple", "6.3.5", r->tuple_bits, 1);
    row("Longest Repeated Substring", "6.3.6", r->lrs_bits, 1);
    pred_rows(r->pred_bits, 1, verbose);
    printf("\n");
    printf("H_original:  %.6f bits/sample\n", r->h_original);
    printf("H_bitstring: %.6f bits/bit\n", r->h_bitstring);
    printf("min(H_original, 8 X H_bitstring): %.6f bits/sample\n", r->h_min);
    printf("limited by: %s\n", assess_limiting(r, 0));
    if (credited >= 0)
        printf("credited by preemptd: %.3f bits/sample (%s the minimum)\n",
               credited, credited <= r->h_min ? "at or below" : "ABOVE");
    else if (credited > -1.5)
        printf("credited by preemptd: n/a (daemon not reachable)\n");
    printf("\nnote: the IID tests are not run; the restart tests (90B 3.1.4) "
           "are `preemptctl assess --restart --h-initial %.6f`.\n",
           r->h_min);
}

/* The credit from the daemon's stats, or -1 when it cannot be had. */
static double credited_from(pbd_t *p)
{
    static char js[CTL_STATS_CAP];
    double h;
    if (!p || pbd_stats(p, js, sizeof(js)) != 0 ||
        ctl_json_number(js, "entropy.credited_bits_per_byte", &h) != 0)
        return -1.0;
    return h;
}

/* The largest H_I (to 0.001) for which a matrix whose largest count is
 * max passes the sanity check: the cutoff falls as H_I grows. */
static double sanity_h_limit(unsigned max, unsigned k, double h_i)
{
    double lo = 0.0, hi = h_i;

    if (assess_restart_cutoff_k(0.001, k) < max)
        return 0.0;
    while (hi - lo > 0.0005) {
        double mid = (lo + hi) / 2;

        if (assess_restart_cutoff_k(mid, k) >= max)
            lo = mid;
        else
            hi = mid;
    }
    return floor(lo * 1000) / 1000;
}

void ctl_restart_explain(const struct assess_restart *r, const char *matrix,
                         double fraction)
{
    unsigned k = r->k < 2 ? 2 : r->k;

    fprintf(stderr, "the restart sanity check (SP 800-90B 3.1.4.3) failed "
            "for H_I = %.6f: no row or column may hold one value more than "
            "%u times (the cutoff for that H_I and the %u values seen), "
            "but\n", r->h_i, r->cutoff, r->k);
    if (r->max_row > r->cutoff) {
        fprintf(stderr, "  row %u (restart %u) holds the value 0x%02x %u "
                "times in its %u samples (%u row%s over the cutoff",
                r->worst_row, r->worst_row + 1, r->row_value, r->max_row,
                ASSESS_RESTART_N, r->rows_over, r->rows_over == 1 ? "" : "s");
        const char *sep = "; the value in the restarts beside it:";
        for (int i = 0; i < 2; i++)
            if (r->row_value_near[i] >= 0) {
                unsigned row = i ? r->worst_row + 1 : r->worst_row - 1;
                fprintf(stderr, "%s row %u (restart %u) %d times", sep, row,
                        row + 1, r->row_value_near[i]);
                sep = ",";
            }
        fprintf(stderr, ").\n  Likely cause: the host did one thing "
                "again and again for a while during that restart (on a "
                "loaded host most events are the same timer tick or "
                "preemption; on a VM, even a quiet one, the hypervisor's "
                "work can do the same for seconds, and then the restarts "
                "beside it show the value often too).\n");
    }
    if (r->max_col > r->cutoff)
        fprintf(stderr, "  column %u (sample %u after each restart) holds "
                "the value 0x%02x %u times over the %u restarts (%u "
                "column%s over the cutoff).\n"
                "  Likely cause: the source starts the same way after "
                "each restart (the first events after a restart are "
                "alike).\n", r->worst_col, r->worst_col + 1, r->col_value,
                r->max_col, ASSESS_RESTART_N, r->cols_over,
                r->cols_over == 1 ? "" : "s");
    unsigned max = r->max_row > r->max_col ? r->max_row : r->max_col;
    double h = sanity_h_limit(max, k, r->h_i);
    fprintf(stderr, "What to do: calibrate again, on as quiet a host as "
            "you have (the load average, `uptime`, near 0; %sdocs/entropy.md "
            "shows how load moves the figures), or accept a lower credit: ",
            r->max_row > r->cutoff ? "a spell like that need not come back; "
                                   : "");
    if (h > 0)
        fprintf(stderr, "this matrix passes the sanity check for H_I up "
                "to %.3f (`preemptctl assess --restart-file %s "
                "--h-initial %.3f` runs the rest of the test), which "
                "would allow at most --credit %.3f at fraction %.2f; or "
                "keep preemptd's default credit.\n", h, matrix, h,
                floor(fraction * h * 1000) / 1000, fraction);
    else
        fprintf(stderr, "this matrix passes the sanity check for no H_I; "
                "keep preemptd's default credit.\n");
}

/* The sanity check and the restart assessment on the matrix m. */
static int assess_restart_matrix(const uint8_t *m, const char *what,
                                 double h_i, enum assess_restart_def def)
{
    struct assess_restart r;
    int status;

    if (assess_restart_as(m, h_i, def, &r) != 0) {
        fputs("preemptctl assess: the restart tests could not run (out of "
              "memory?)\n", stderr);
        return CTL_EXIT_FAIL;
    }
    printf("restart tests (SP 800-90B 3.1.4) on %s, H_I = %.6f\n", what,
           r.h_i);
    printf("  sanity check: largest MCV count %u in a row (row %u), %u in a "
           "column (column %u); cutoff %u: %s\n", r.max_row, r.worst_row,
           r.max_col, r.worst_col, r.cutoff, r.sanity_ok ? "pass" : "FAIL");
    if (r.sanity_ok) {
        printf("  row dataset H_r = %.6f (%s), column dataset H_c = %.6f "
               "(%s); H_I / 2 = %.6f: %s\n", r.h_r, r.h_r_by, r.h_c,
               r.h_c_by, r.h_i / 2, r.validation_ok ? "pass" : "FAIL");
        printf("  H_r, H_c as %s: %s; the other definition (%s) gives "
               "H_r = %.6f, H_c = %.6f\n",
               def == ASSESS_RESTART_NIST ? "NIST's ea_restart"
                                          : "preemptd (strict)",
               def == ASSESS_RESTART_NIST
                   ? "min(8, the literal estimates)"
                   : "min(H_original, 8 x H_bitstring)",
               def == ASSESS_RESTART_NIST ? "strict" : "nist",
               def == ASSESS_RESTART_NIST ? r.h_r_strict : r.h_r_nist,
               def == ASSESS_RESTART_NIST ? r.h_c_strict : r.h_c_nist);
        if (r.validation_ok)
            printf("min(H_r, H_c, H_I): %.6f bits/sample\n", r.h_min);
    }
    status = r.sanity_ok && r.validation_ok ? CTL_EXIT_OK : CTL_EXIT_FAIL;
    printf("restart tests: %s\n", status == CTL_EXIT_OK ? "pass" : "FAIL");
    if (!r.sanity_ok) {
        fflush(stdout);
        ctl_restart_explain(&r, what, 0.5);
    }
    return status;
}

/* --restart-file: the restart tests on a matrix recorded earlier. */
static int assess_restart_file(const char *path, double h_i,
                               enum assess_restart_def def)
{
    uint8_t *m = NULL;
    size_t len = 0;

    if (ctl_read_samples(path, &m, &len) != 0)
        return CTL_EXIT_FAIL;
    if (len != (size_t)ASSESS_RESTART_N * ASSESS_RESTART_N) {
        fprintf(stderr, "preemptctl assess: %s: a restart matrix is %u x %u "
                "= %u bytes, not %zu\n", path, ASSESS_RESTART_N,
                ASSESS_RESTART_N, ASSESS_RESTART_N * ASSESS_RESTART_N, len);
        free(m);
        return CTL_EXIT_FAIL;
    }
    int status = assess_restart_matrix(m, path, h_i, def);
    free(m);
    return status;
}

/* Row r of the restart matrix: the daemon restarts its noise source and
 * sends the first ASSESS_RESTART_N samples of the new sampler thread. */
static int restart_row(pbd_t *p, uint8_t *row)
{
    int rc, timeouts = 0;
    do
        rc = pbd_read_ex(p, row, ASSESS_RESTART_N, PBD_MODE_CAPTURE,
                         PBD_READ_RESTART, 0);
    while (rc == PBD_ETIMEDOUT && ++timeouts < ASSESS_MAX_TIMEOUTS);
    return rc;
}

int ctl_restart_matrix(pbd_t *p, uint8_t *m, unsigned restarts)
{
    struct ctl_progress pg;
    ctl_progress_start(&pg, restarts, 1);
    for (unsigned r = 0; r < restarts; r++) {
        int rc = restart_row(p, m + (size_t)r * ASSESS_RESTART_N);
        if (rc != 0) {
            ctl_progress_end(&pg);
            fprintf(stderr, "preemptctl assess: restart %u of %u: %s%s\n",
                    r + 1, restarts, pbd_strerror(rc), capture_hint(rc));
            return CTL_EXIT_FAIL;
        }
        ctl_progress_update(&pg, r + 1);
    }
    ctl_progress_end(&pg);
    return 0;
}

static int assess_restart_daemon(const char *sock, unsigned restarts,
                                 double h_i, const char *outpath,
                                 enum assess_restart_def def)
{
    size_t len = (size_t)restarts * ASSESS_RESTART_N;
    uint8_t *m = malloc(len);
    pbd_t *p = NULL;

    if (!m) {
        fputs("preemptctl assess: out of memory\n", stderr);
        return CTL_EXIT_FAIL;
    }
    if (ctl_connect(&p, sock) != 0) {
        free(m);
        return CTL_EXIT_NOCONN;
    }
    double t0 = ctl_now();
    int status = ctl_restart_matrix(p, m, restarts);
    double secs = ctl_now() - t0;
    pbd_close(p);
    if (status == 0) {
        fprintf(stderr, "%u restarts x %u samples in %.1f s\n", restarts,
                ASSESS_RESTART_N, secs);
        if (outpath && write_samples(outpath, m, len) != 0)
            status = CTL_EXIT_FAIL;
    }
    if (status == 0 && restarts == ASSESS_RESTART_N)
        status = assess_restart_matrix(m, outpath ? outpath :
                                       "preemptd (restarted)", h_i, def);
    else if (status == 0)
        printf("%u restarts recorded; the restart tests need %u: not "
               "assessed\n", restarts, ASSESS_RESTART_N);
    ctl_wipe(m, len);
    free(m);
    return status;
}

int ctl_assess(int argc, char **argv, const char *sock)
{
    static const struct option opts[] = {
        {"samples", required_argument, 0, 'n'},
        {"output", required_argument, 0, 'o'},
        {"file", required_argument, 0, 'f'},
        {"socket", required_argument, 0, 's'},
        {"credit", no_argument, 0, 'c'},
        {"verbose", no_argument, 0, 'v'},
        {"restart-file", required_argument, 0, 'r'},
        {"h-initial", required_argument, 0, 'H'},
        {"restart", no_argument, 0, 'R'},
        {"restarts", required_argument, 0, 'N'},
        {"restart-compat", required_argument, 0, 'D'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    uint64_t n = 0;
    const char *outpath = NULL, *inpath = NULL, *restart = NULL;
    double h_i = -1.0;
    int c, want_credit = 0, verbose = 0, restart_daemon = 0;
    uint64_t restarts = ASSESS_RESTART_N;
    enum assess_restart_def def = ASSESS_RESTART_STRICT;
    ctl_getopt_reset();
    while ((c = getopt_long(argc, argv, "n:o:f:s:cvr:H:Rh", opts, NULL)) !=
           -1) {
        switch (c) {
        case 'n':
            if (ctl_parse_size(optarg, ASSESS_MAX_SAMPLES, &n) != 0) {
                fprintf(stderr, "preemptctl assess: bad sample count '%s' "
                        "(1..%zu)\n", optarg, ASSESS_MAX_SAMPLES);
                return CTL_EXIT_USAGE;
            }
            break;
        case 'o': outpath = optarg; break;
        case 'f': inpath = optarg; break;
        case 's': sock = optarg; break;
        case 'c': want_credit = 1; break;
        case 'v': verbose = 1; break;
        case 'r': restart = optarg; break;
        case 'R': restart_daemon = 1; break;
        case 'N':
            if (ctl_parse_size(optarg, ASSESS_RESTART_N, &restarts) != 0) {
                fprintf(stderr, "preemptctl assess: bad --restarts '%s' "
                        "(1..%u)\n", optarg, ASSESS_RESTART_N);
                return CTL_EXIT_USAGE;
            }
            break;
        case 'H': {
            char *end;
            h_i = strtod(optarg, &end);
            if (*end != '\0' || !(h_i > 0.0 && h_i <= 8.0)) {
                fprintf(stderr, "preemptctl assess: bad --h-initial '%s' "
                        "(0..8 bits/sample)\n", optarg);
                return CTL_EXIT_USAGE;
            }
            break;
        }
        case 'D':
            if (ctl_restart_def(optarg, &def) != 0)
                return CTL_EXIT_USAGE;
            break;
        case 'h': usage_assess(stdout); return CTL_EXIT_OK;
        default: usage_assess(stderr); return CTL_EXIT_USAGE;
        }
    }
    if (def != ASSESS_RESTART_STRICT && !restart_daemon && !restart) {
        fputs("preemptctl assess: --restart-compat goes with --restart or "
              "--restart-file\n", stderr);
        return CTL_EXIT_USAGE;
    }
    if (restart_daemon) {
        if (optind != argc || inpath || n || restart ||
            (h_i < 0 && restarts == ASSESS_RESTART_N)) {
            fputs("preemptctl assess: --restart takes --h-initial H (the "
                  "minimum of `preemptctl assess -n 1000000`), and -o FILE "
                  "or --restarts N\n", stderr);
            return CTL_EXIT_USAGE;
        }
        return assess_restart_daemon(sock, (unsigned)restarts, h_i, outpath,
                                     def);
    }
    if (restart) {
        if (optind != argc || inpath || n || h_i < 0) {
            fputs("preemptctl assess: --restart-file FILE takes "
                  "--h-initial H and nothing else\n", stderr);
            return CTL_EXIT_USAGE;
        }
        return assess_restart_file(restart, h_i, def);
    }
    if (optind != argc || (!inpath) == (n == 0) || (inpath && outpath)) {
        fputs("preemptctl assess: give either -n SAMPLES [-o FILE] or "
              "--file FILE\n", stderr);
        usage_assess(stderr);
        return CTL_EXIT_USAGE;
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    pbd_t *p = NULL;
    int status = CTL_EXIT_OK;
    double credited = -2.0; /* -2: not asked for */
    if (inpath) {
        if (ctl_read_samples(inpath, &buf, &len) != 0)
            return CTL_EXIT_FAIL;
        /* A file need not come from the daemon on the socket: its credit
         * is shown only when asked for. */
        if (want_credit && pbd_open(&p, sock) != 0)
            p = NULL;
    } else {
        if (ctl_connect(&p, sock) != 0)
            return CTL_EXIT_NOCONN;
        len = (size_t)n;
        buf = malloc(len);
        if (!buf) {
            fputs("preemptctl assess: out of memory\n", stderr);
            pbd_close(p);
            return CTL_EXIT_FAIL;
        }
        status = ctl_capture(p, buf, len);
        if (status == 0)
            credited = credited_from(p);
        /* The capture lasts as long as the connection, and every new
         * sample goes to it: end it now, not after writing and assessing
         * (minutes for a million samples), so others get samples again. */
        pbd_close(p);
        p = NULL;
        if (status == 0 && outpath && write_samples(outpath, buf, len) != 0)
            status = CTL_EXIT_FAIL;
    }
    if (status == 0) {
        struct assess_result r;
        if (assess_run(buf, len, &r) != 0) {
            fputs("preemptctl assess: the estimators could not run (out of "
                  "memory?)\n", stderr);
            status = CTL_EXIT_FAIL;
        } else {
            if (inpath && want_credit)
                credited = credited_from(p);
            report(&r, len, inpath ? inpath : "preemptd (capture)",
                   credited, verbose);
        }
    }
    pbd_close(p);
    /* Raw samples are not secret like key material, but they are what the
     * daemon's output was made from: wipe them anyway. */
    ctl_wipe(buf, len);
    free(buf);
    return status;
}

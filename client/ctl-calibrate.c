/*
 * ctl-calibrate.c - `preemptctl calibrate`: from at least 1,000,000
 * consecutive samples and a restart matrix of this machine, the SP 800-90B
 * non-IID assessment and the restart tests; if both pass, a credit file
 * (daemon/credit.h) with the credit, a stated fraction of the evidence,
 * and the evidence itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "assess.h"
#include "ctl-json.h"
#include "ctl.h"

#define CALIBRATE_MIN_SAMPLES 1000000u
#define CALIBRATE_FRACTION 0.5  /* of the assessed min-entropy, at most */
#define CALIBRATE_CAP 4.0       /* bits/byte; the start-up test shows ~5.7 */
#define CALIBRATE_DEFAULT_OUT "/var/lib/preemptd/credit"
/* The data sets, kept beside the credit file: CREDIT_FILE + these. */
#define CALIBRATE_SAMPLES_SUFFIX ".samples.bin"
#define CALIBRATE_RESTART_SUFFIX ".restart.bin"

static void usage_calibrate(FILE *f)
{
    fputs(
"usage: preemptctl calibrate [--file SAMPLES] [--restart-file MATRIX]\n"
"                            [-o CREDIT_FILE] [--fraction F] [--cap H]\n"
"                            [--restart-compat strict|nist]\n"
"Assesses >= 1000000 consecutive raw samples (SP 800-90B 6.3, every non-IID\n"
"estimator), runs the restart tests (3.1.4) on a 1000 x 1000 restart matrix\n"
"for that estimate, and if both pass writes a credit file for preemptd\n"
"--credit-file: credit = min(F x min(H, H_r, H_c), cap), rounded down to\n"
"0.001, with the figures, the estimator that set them, the date, counter,\n"
"kernel and CPU model it rests on. The samples and the matrix are kept as\n"
"CREDIT_FILE" CALIBRATE_SAMPLES_SUFFIX " and CREDIT_FILE" CALIBRATE_RESTART_SUFFIX
", their SHA-256 in the\n"
"credit file, pass or fail: `ea_non_iid FILE 8` and `ea_restart FILE 8 H`\n"
"re-check them. Without files, both come\n"
"from the daemon on the socket: a capture of 1000000 samples, then 1000\n"
"restarts of its noise source (root, its uid or --raw-uid only).\n"
"  -f, --file FILE          the consecutive samples, recorded earlier\n"
"                           (`preemptctl assess -n 1000000 -o FILE`)\n"
"  -r, --restart-file FILE  the restart matrix, recorded earlier\n"
"                           (`preemptctl assess --restart -o FILE`)\n"
"  -o, --output FILE        where to write (default " CALIBRATE_DEFAULT_OUT ")\n"
"      --fraction F         of the evidence credited, 0 < F <= 0.5 (0.5)\n"
"      --cap H              largest credit written, 0.1..5 (4.0)\n"
"      --restart-compat strict|nist  H_r, H_c as preemptd (default, with\n"
"                           the bit-string estimates) or as ea_restart\n"
"  -s, --socket PATH        daemon to ask for the counter's name and rate\n", f);
}

/* "model name" of the first CPU, or "unknown". */
static void cpu_model(char *buf, size_t cap)
{
    FILE *f = fopen("/proc/cpuinfo", "re");
    char line[512];

    snprintf(buf, cap, "unknown");
    if (f == NULL)
        return;
    while (fgets(line, sizeof(line), f) != NULL) {
        char *c = strchr(line, ':');

        if (strncmp(line, "model name", 10) == 0 && c != NULL) {
            c++;
            while (*c == ' ')
                c++;
            c[strcspn(c, "\n")] = '\0';
            snprintf(buf, cap, "%s", c);
            break;
        }
    }
    fclose(f);
}

/* Counter name, rate and grain from the daemon on sock, if it answers. */
static void counter_from(const char *sock, char *buf, size_t cap)
{
    static char js[CTL_STATS_CAP];
    pbd_t *p = NULL;
    char name[32];
    double hz = 0, grain = 0;

    snprintf(buf, cap, "unknown (no daemon on the socket)");
    if (pbd_open(&p, sock) != 0)
        return;
    if (pbd_stats(p, js, sizeof(js)) == 0 &&
        ctl_json_string(js, "counter.name", name, sizeof(name)) >= 0 &&
        ctl_json_number(js, "counter.hz", &hz) == 0) {
        ctl_json_number(js, "counter.grain", &grain);
        snprintf(buf, cap, "%s at %.0f Hz, grain %.0f", name, hz, grain);
    }
    pbd_close(p);
}

/* Writes len bytes to path by way of a new temporary file beside it
 * (path.XXXXXX, created O_EXCL by mkostemp: never an existing file, nor a
 * link planted at a predictable name in a shared directory, which a
 * fixed path.tmp opened O_CREAT|O_TRUNC followed), fsynced and renamed,
 * so a reader sees the old file or the whole new one, mode 0644.
 * Returns 0 or -errno. */
static int write_atomic(const char *path, const void *data, size_t len)
{
    const char *text = data;
    char tmp[4096];
    size_t off = 0;
    int fd;

    if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (fchmod(fd, 0644) != 0)
        goto fail;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            goto fail;
        off += (size_t)w;
    }
    if (fsync(fd) != 0)
        goto fail;
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    if (rename(tmp, path) != 0) {
        fd = -1;
        goto fail;
    }
    return 0;
fail:;
    int e = errno;
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return -e;
}

/* Whether s holds a control character: a newline in a name written into
 * the credit file would start a line of its own (a second credit). */
static bool has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

/* The same for text from elsewhere (the daemon, the kernel): each control
 * character becomes '?'. */
static void one_line(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = '?';
}

/* A data set kept beside the credit file, for anyone to re-check. */
struct kept {
    char path[1024];
    char sha256[crypto_hash_sha256_BYTES * 2 + 1];
    const char *from;   /* where it came from, for the credit file */
};

/* Keeps buf (n bytes) as out + suffix and records its SHA-256. Returns 0,
 * or -1 after saying why. */
static int keep(const char *out, const char *suffix, const uint8_t *buf,
                size_t n, struct kept *k)
{
    unsigned char h[crypto_hash_sha256_BYTES];

    if (snprintf(k->path, sizeof(k->path), "%s%s", out, suffix) >=
        (int)sizeof(k->path)) {
        fprintf(stderr, "preemptctl calibrate: %s: name too long\n", out);
        return -1;
    }
    crypto_hash_sha256(h, buf, n);
    sodium_bin2hex(k->sha256, sizeof(k->sha256), h, sizeof(h));
    int rc = write_atomic(k->path, buf, n);
    if (rc != 0) {
        fprintf(stderr, "preemptctl calibrate: %s: %s\n", k->path,
                strerror(-rc));
        return -1;
    }
    return 0;
}

/* The credit for h: fraction x h, at most cap, rounded down to the 0.001
 * the file carries, so it never exceeds either. */
static double credit_for(double fraction, double h, double cap)
{
    double c = fraction * h;

    if (c > cap)
        c = cap;
    return floor(c * 1000.0) / 1000.0;
}

static double num_opt(const char *name, const char *s, double lo, double hi,
                      int *bad)
{
    char *end;
    double v = strtod(s, &end);

    if (end == s || *end != '\0' || !(v > lo && v <= hi)) {
        fprintf(stderr, "preemptctl calibrate: bad --%s '%s' (%g..%g)\n",
                name, s, lo, hi);
        *bad = 1;
    }
    return v;
}

int ctl_calibrate(int argc, char **argv, const char *sock)
{
    static const struct option opts[] = {
        {"file", required_argument, 0, 'f'},
        {"restart-file", required_argument, 0, 'r'},
        {"output", required_argument, 0, 'o'},
        {"fraction", required_argument, 0, 'F'},
        {"cap", required_argument, 0, 'C'},
        {"restart-compat", required_argument, 0, 'D'},
        {"socket", required_argument, 0, 's'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *file = NULL, *mfile = NULL, *out = CALIBRATE_DEFAULT_OUT;
    double fraction = CALIBRATE_FRACTION, cap = CALIBRATE_CAP;
    enum assess_restart_def def = ASSESS_RESTART_STRICT;
    int c, bad = 0;

    ctl_getopt_reset();
    while ((c = getopt_long(argc, argv, "f:r:o:s:h", opts, NULL)) != -1) {
        switch (c) {
        case 'f': file = optarg; break;
        case 'r': mfile = optarg; break;
        case 'o': out = optarg; break;
        case 'F': fraction = num_opt("fraction", optarg, 0, 0.5, &bad); break;
        case 'C': cap = num_opt("cap", optarg, 0.099, 5.0, &bad); break;
        case 'D': bad |= ctl_restart_def(optarg, &def) != 0; break;
        case 's': sock = optarg; break;
        case 'h': usage_calibrate(stdout); return CTL_EXIT_OK;
        default: usage_calibrate(stderr); return CTL_EXIT_USAGE;
        }
    }
    if (bad || optind != argc) {
        usage_calibrate(stderr);
        return CTL_EXIT_USAGE;
    }
    if ((file && has_ctl(file)) || (mfile && has_ctl(mfile)) ||
        has_ctl(out)) {
        fputs("preemptctl calibrate: a file name with a control character "
              "(a newline?) cannot be recorded in the credit file\n", stderr);
        return CTL_EXIT_USAGE;
    }
    if (sodium_init() < 0) {
        fputs("preemptctl calibrate: libsodium failed to start\n", stderr);
        return CTL_EXIT_FAIL;
    }

    double t0 = ctl_now();
    uint8_t *s = NULL, *m = NULL;
    size_t n = 0, mn = 0;
    int status = CTL_EXIT_FAIL;
    struct assess_result r;
    struct assess_restart rs;
    struct kept ks, km;
    pbd_t *p = NULL;
    if ((!file || !mfile) && ctl_connect(&p, sock) != 0)
        return CTL_EXIT_NOCONN;
    if (file) {
        if (ctl_read_samples(file, &s, &n) != 0)
            goto out;
        ks.from = file;
    } else {
        n = CALIBRATE_MIN_SAMPLES;
        s = malloc(n);
        fprintf(stderr, "capturing %zu consecutive samples\n", n);
        if (!s || ctl_capture(p, s, n) != 0)
            goto out;
        ks.from = "a capture from the daemon";
    }
    if (n < CALIBRATE_MIN_SAMPLES) {
        fprintf(stderr, "preemptctl calibrate: %s: %zu samples; SP 800-90B "
                "asks for at least %u\n", ks.from, n, CALIBRATE_MIN_SAMPLES);
        goto out;
    }
    /* Kept at once: the evidence of a run that fails is what says why. */
    if (keep(out, CALIBRATE_SAMPLES_SUFFIX, s, n, &ks) != 0)
        goto out;
    if (mfile) {
        if (ctl_read_samples(mfile, &m, &mn) != 0)
            goto out;
        km.from = mfile;
    } else {
        mn = (size_t)ASSESS_RESTART_N * ASSESS_RESTART_N;
        m = malloc(mn);
        fprintf(stderr, "restarting the noise source %u times\n",
                ASSESS_RESTART_N);
        if (!m || ctl_restart_matrix(p, m, ASSESS_RESTART_N) != 0)
            goto out;
        km.from = "restarts of the daemon's noise source";
    }
    pbd_close(p);
    p = NULL;
    if (mn != (size_t)ASSESS_RESTART_N * ASSESS_RESTART_N) {
        fprintf(stderr, "preemptctl calibrate: %s: a restart matrix is %u "
                "bytes, not %zu\n", km.from,
                ASSESS_RESTART_N * ASSESS_RESTART_N, mn);
        goto out;
    }
    if (keep(out, CALIBRATE_RESTART_SUFFIX, m, mn, &km) != 0)
        goto out;
    fprintf(stderr, "kept %s and %s\n", ks.path, km.path);
    if (assess_run(s, n, &r) != 0 || r.h_min <= 0 ||
        assess_restart_as(m, r.h_min, def, &rs) != 0) {
        fputs("preemptctl calibrate: the assessment could not run\n", stderr);
        goto out;
    }
    double secs = ctl_now() - t0;
    printf("samples: %zu from %s: H_original %.6f, H_bitstring %.6f, "
           "min %.6f bits/sample (%s)\n", n, ks.from, r.h_original,
           r.h_bitstring, r.h_min, assess_limiting(&r, 0));
    printf("restart: sanity check %u/%u rows, %u/%u columns (cutoff): %s",
           rs.max_row, rs.cutoff, rs.max_col, rs.cutoff,
           rs.sanity_ok ? "pass" : "FAIL");
    if (rs.sanity_ok)
        printf("; H_r %.6f, H_c %.6f vs H_I/2 %.6f: %s", rs.h_r, rs.h_c,
               r.h_min / 2, rs.validation_ok ? "pass" : "FAIL");
    printf("\n");
    fflush(stdout);
    if (!rs.sanity_ok)
        ctl_restart_explain(&rs, km.path, fraction);
    if (!rs.sanity_ok || !rs.validation_ok) {
        fprintf(stderr, "preemptctl calibrate: the restart tests failed; no "
                "credit file written (the data sets are kept: %s, %s)\n",
                ks.path, km.path);
        goto out;
    }

    double credit = credit_for(fraction, rs.h_min, cap);
    const char *limit = rs.h_min == r.h_min ? "H (the samples)"
                        : rs.h_min == rs.h_r ? "H_r (the rows)"
                                             : "H_c (the columns)";
    const char *by = rs.h_min == r.h_min ? assess_limiting(&r, 0)
                     : rs.h_min == rs.h_r ? rs.h_r_by : rs.h_c_by;
    char date[40], kernel[300], cpu[200], counter[200], text[4096];
    time_t now = time(NULL);
    struct tm tm;
    struct utsname u;
    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    if (uname(&u) == 0)
        snprintf(kernel, sizeof(kernel), "%s %s %s", u.sysname, u.release,
                 u.machine);
    else
        snprintf(kernel, sizeof(kernel), "unknown");
    cpu_model(cpu, sizeof(cpu));
    counter_from(sock, counter, sizeof(counter));
    one_line(kernel);
    one_line(cpu);
    one_line(counter);
    /* Every line stays well under the 512 bytes preemptd reads a line
     * in: names are cut at 300. */
    int len = snprintf(text, sizeof(text),
             "# preemptd credit file, written by preemptctl calibrate.\n"
             "# preemptd reads 'credit' and 'date'; the rest is the evidence.\n"
             "# Re-check with NIST's tools (SP800-90B_EntropyAssessment):\n"
             "#   ea_non_iid %.300s 8\n"
             "#   ea_restart %.300s 8 %.6f\n"
             "# or preemptctl assess --file / --restart-file --h-initial.\n"
             "credit = %.3f\n"
             "date = %s\n"
             "rule = min(%g x min(H, H_r, H_c), %g), rounded down\n"
             "limited_by = %s, %s\n"
             "samples = %zu\n"
             "samples_file = %.300s\n"
             "samples_sha256 = %s\n"
             "samples_from = %.300s\n"
             "h_original = %.6f\n"
             "h_bitstring = %.6f\n"
             "h_min = %.6f\n"
             "h_min_estimator = %s\n"
             "restart_file = %.300s\n"
             "restart_sha256 = %s\n"
             "restart_from = %.300s\n"
             "restart_sanity = max row %u (row %u), max column %u "
             "(column %u), cutoff %u, %u values\n"
             "restart_compat = %s\n"
             "h_r = %.6f\n"
             "h_r_estimator = %s\n"
             "h_c = %.6f\n"
             "h_c_estimator = %s\n"
             "h_r_other = %.6f\n"
             "h_c_other = %.6f\n"
             "h_restart_min = %.6f\n"
             "counter = %s\n"
             "kernel = %s\n"
             "cpu = %s\n"
             "assessment_seconds = %.1f\n",
             ks.path, km.path, r.h_min, credit, date, fraction, cap, limit,
             by, n, ks.path, ks.sha256, ks.from, r.h_original,
             r.h_bitstring, r.h_min, assess_limiting(&r, 0), km.path,
             km.sha256, km.from, rs.max_row, rs.worst_row, rs.max_col,
             rs.worst_col, rs.cutoff, rs.k,
             def == ASSESS_RESTART_NIST ? "nist" : "strict", rs.h_r,
             rs.h_r_by, rs.h_c, rs.h_c_by,
             def == ASSESS_RESTART_NIST ? rs.h_r_strict : rs.h_r_nist,
             def == ASSESS_RESTART_NIST ? rs.h_c_strict : rs.h_c_nist,
             rs.h_min, counter, kernel, cpu, secs);
    int rc = len > 0 && (size_t)len < sizeof(text)
                 ? write_atomic(out, text, (size_t)len) : -ENAMETOOLONG;
    if (rc != 0) {
        fprintf(stderr, "preemptctl calibrate: %s: %s\n", out, strerror(-rc));
        goto out;
    }
    printf("credit %.3f bits/byte (%g x %.6f, cap %g, rounded down; "
           "limited by %s: %s) written to %s; %.1f s\n", credit, fraction,
           rs.h_min, cap, limit, by, out, secs);
    status = CTL_EXIT_OK;
out:
    pbd_close(p);
    if (s)
        ctl_wipe(s, n);
    if (m)
        ctl_wipe(m, mn);
    free(s);
    free(m);
    return status;
}

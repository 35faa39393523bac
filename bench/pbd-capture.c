/*
 * pbd-capture.c - the evidence behind the extractor (issue 12): records
 * consecutive events exactly as the sampler sees them, then assesses
 * candidate extractors on the same events with the full SP 800-90B non-IID
 * suite (common/assess*.c).
 *
 *   pbd-capture record N FILE [CPU]   N consecutive event deltas, as
 *                                     little-endian uint64, after the
 *                                     sampler's own calibration
 *   pbd-capture assess FILE STEP [GRAIN [OUTDIR]]
 *                                     each extractor's bytes assessed;
 *                                     OUTDIR gets them for ea_non_iid
 *   pbd-capture restart FILE [CPU]    the 3.1.4 restart matrix: 1000 times
 *                                     re-calibrate, start a pinned sampling
 *                                     thread, keep its first 1000 bytes
 *   pbd-capture restart-assess FILE H_I   the restart tests on it
 *
 * Not installed.  The recording runs the sampler's loop on this thread
 * (same counter, threshold and suspend filter, pinned the same way), not
 * the daemon, so no consumer or reseed can take samples from under it.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "assess.h"
#include "counter.h"
#include "fold.h"
#include "osdep.h"
#include "sampler.h"

/* The sampler's configuration for calibration only: no ring is used. */
static void capture_config(struct sampler_config *cfg, struct ring *dummy,
                           int cpu)
{
    memset(cfg, 0, sizeof(*cfg));
    memset(dummy, 0, sizeof(*dummy));
    cfg->cpu = cpu;
    cfg->h_bits = 2.0;
    cfg->alpha_log2 = -20.0;
    cfg->permanent_after = 3;
}

static int record(uint64_t n, const char *path, int cpu)
{
    struct sampler s;
    struct sampler_config cfg;
    struct ring dummy;
    char note[96];
    uint64_t *d = malloc(n * sizeof(*d));
    FILE *f;

    if (d == NULL)
        return 1;
    capture_config(&cfg, &dummy, cpu);
    if (sampler_init(&s, &cfg, &dummy) != 0) {
        free(d);
        return 1;
    }
    osdep_sampler_thread_setup(s.setup.cpu, s.setup.cfg.priority, note,
                               sizeof(note));
    fprintf(stderr, "counter %s %.3f MHz, median %llu, step %llu, grain "
            "%llu, threshold %llu ticks; %s\n", COUNTER_NAME,
            s.setup.freq / 1e6, (unsigned long long)s.setup.median_delta,
            (unsigned long long)s.setup.step,
            (unsigned long long)s.setup.grain,
            (unsigned long long)s.setup.threshold, note);

    time_t t0 = time(NULL);
    uint64_t got = 0, prev = counter_read(), skipped = 0;
    while (got < n) {
        uint64_t cur = counter_read(), delta = cur - prev;
        prev = cur;
        if (delta < s.setup.threshold)
            continue;
        if (delta > s.setup.freq) {   /* a suspend, as the sampler skips it */
            skipped++;
            continue;
        }
        d[got++] = delta;
    }
    fprintf(stderr, "%llu events in %lld s (%llu gaps skipped)\n",
            (unsigned long long)n, (long long)(time(NULL) - t0),
            (unsigned long long)skipped);
    f = fopen(path, "wb");
    if (f == NULL || fwrite(d, sizeof(*d), n, f) != n || fclose(f) != 0) {
        perror(path);
        free(d);
        return 1;
    }
    free(d);
    sampler_destroy(&s);
    return 0;
}

struct extractor {
    const char *name;
    uint8_t (*fn)(uint64_t delta, uint64_t step);
};

static uint8_t ex_fold(uint64_t d, uint64_t step)
{
    (void)step;
    return xor_fold_u64(d);
}

static uint8_t ex_low8(uint64_t d, uint64_t step)
{
    (void)step;
    return (uint8_t)d;
}

static uint8_t ex_fold_step(uint64_t d, uint64_t step)
{
    return xor_fold_u64(d / step);
}

static uint8_t ex_low8_step(uint64_t d, uint64_t step)
{
    return (uint8_t)(d / step);
}

static uint64_t grain_g = 1;

static uint8_t ex_fold_grain(uint64_t d, uint64_t step)
{
    (void)step;
    return xor_fold_u64(d / grain_g);
}

static uint8_t ex_low8_grain(uint64_t d, uint64_t step)
{
    (void)step;
    return (uint8_t)(d / grain_g);
}

static const struct extractor extractors[] = {
    { "fold(delta)", ex_fold },
    { "low8(delta)", ex_low8 },
    { "fold(delta/step)", ex_fold_step },
    { "low8(delta/step)", ex_low8_step },
    { "fold(delta/grain)", ex_fold_grain },
    { "low8(delta/grain)", ex_low8_grain },
};

static int assess_file(const char *path, uint64_t step, uint64_t grain,
                       const char *outdir)
{
    FILE *f = fopen(path, "rb");
    long len;
    uint64_t *d, n, multiples = 0;
    uint8_t *b;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 8) {
        perror(path);
        return 1;
    }
    rewind(f);
    n = (uint64_t)len / 8;
    d = malloc(n * 8);
    b = malloc(n);
    if (d == NULL || b == NULL || fread(d, 8, n, f) != n) {
        perror(path);
        return 1;
    }
    fclose(f);
    if (step == 0)
        step = 1;
    grain_g = grain ? grain : 1;
    for (uint64_t i = 0; i < n; i++)
        multiples += d[i] % step == 0;
    printf("%llu events; %llu (%.2f%%) are multiples of the step %llu; "
           "grain %llu\n", (unsigned long long)n,
           (unsigned long long)multiples,
           100.0 * (double)multiples / (double)n, (unsigned long long)step,
           (unsigned long long)grain_g);
    printf("| extractor | MCV | t-Tuple | LRS | MultiMCW | Lag | MultiMMC | "
           "LZ78Y | H_original | 8 x H_bitstring | **min** | s |\n"
           "|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (size_t e = 0; e < sizeof(extractors) / sizeof(extractors[0]); e++) {
        struct assess_result r;
        struct timespec a, z;

        for (uint64_t i = 0; i < n; i++)
            b[i] = extractors[e].fn(d[i], step);
        if (outdir != NULL) {
            char out[512];
            FILE *o;

            snprintf(out, sizeof(out), "%s/%s.bin", outdir, extractors[e].name);
            for (char *p = out + strlen(outdir) + 1; *p; p++)
                if (*p == '/' || *p == '(' || *p == ')')
                    *p = '_';
            o = fopen(out, "wb");
            if (o == NULL || fwrite(b, 1, n, o) != n || fclose(o) != 0)
                perror(out);
        }
        clock_gettime(CLOCK_MONOTONIC, &a);
        if (assess_run(b, n, &r) != 0) {
            fprintf(stderr, "%s: assessment failed\n", extractors[e].name);
            return 1;
        }
        clock_gettime(CLOCK_MONOTONIC, &z);
        printf("| %s | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | "
               "%.3f | %.3f | **%.3f** | %.0f |\n", extractors[e].name,
               r.mcv, r.tuple, r.lrs, r.pred[ASSESS_MULTIMCW].h,
               r.pred[ASSESS_LAG].h, r.pred[ASSESS_MULTIMMC].h,
               r.pred[ASSESS_LZ78Y].h, r.h_original, 8 * r.h_bitstring,
               r.h_min, (double)(z.tv_sec - a.tv_sec) +
                            (double)(z.tv_nsec - a.tv_nsec) / 1e9);
        fflush(stdout);
    }
    free(d);
    free(b);
    return 0;
}

struct restart_job {
    struct sampler *s;
    uint8_t *row;
};

/* One restart's sampling thread: pinned as the sampler pins itself, the
 * first ASSESS_RESTART_N events folded as the sampler folds them. */
static void *restart_thread(void *arg)
{
    struct restart_job *j = arg;
    struct sampler *s = j->s;
    char note[96];
    unsigned got = 0;

    osdep_sampler_thread_setup(s->setup.cpu, s->setup.cfg.priority, note,
                               sizeof(note));
    uint64_t prev = counter_read();
    while (got < ASSESS_RESTART_N) {
        uint64_t cur = counter_read(), delta = cur - prev;

        prev = cur;
        if (delta >= s->setup.threshold && delta <= s->setup.freq)
            j->row[got++] = fold_delta(delta, s->setup.grain);
    }
    return NULL;
}

static int restart_record(const char *path, int cpu)
{
    const size_t n = ASSESS_RESTART_N;
    uint8_t *m = malloc(n * n);
    struct sampler s;
    struct sampler_config cfg;
    struct ring dummy;
    time_t t0 = time(NULL);
    FILE *f;

    if (m == NULL)
        return 1;
    capture_config(&cfg, &dummy, cpu);
    for (size_t r = 0; r < n; r++) {
        struct restart_job j;
        pthread_t th;

        if (sampler_init(&s, &cfg, &dummy) != 0)
            return 1;
        j.s = &s;
        j.row = m + r * n;
        if (pthread_create(&th, NULL, restart_thread, &j) != 0 ||
            pthread_join(th, NULL) != 0)
            return 1;
        sampler_destroy(&s);
        if (r % 100 == 99)
            fprintf(stderr, "%zu restarts, %lld s; last: step %llu, grain "
                    "%llu, threshold %llu\n", r + 1,
                    (long long)(time(NULL) - t0),
                    (unsigned long long)s.setup.step,
                    (unsigned long long)s.setup.grain,
                    (unsigned long long)s.setup.threshold);
    }
    f = fopen(path, "wb");
    if (f == NULL || fwrite(m, 1, n * n, f) != n * n || fclose(f) != 0) {
        perror(path);
        return 1;
    }
    fprintf(stderr, "%zu restarts x %zu samples in %lld s\n", n, n,
            (long long)(time(NULL) - t0));
    free(m);
    return 0;
}

static int restart_assess(const char *path, double h_i)
{
    const size_t n = ASSESS_RESTART_N;
    uint8_t *m = malloc(n * n);
    struct assess_restart r;
    FILE *f = fopen(path, "rb");

    if (m == NULL || f == NULL || fread(m, 1, n * n, f) != n * n) {
        perror(path);
        return 1;
    }
    fclose(f);
    if (assess_restart(m, h_i, &r) != 0)
        return 1;
    printf("H_I %.6f; sanity check: max row count %u, max column count %u, "
           "cutoff %u: %s\n", r.h_i, r.max_row, r.max_col, r.cutoff,
           r.sanity_ok ? "pass" : "FAIL");
    if (r.sanity_ok)
        printf("H_r %.6f, H_c %.6f (must be >= H_I/2 = %.6f): %s; "
               "min(H_r, H_c, H_I) = %.6f\n", r.h_r, r.h_c, r.h_i / 2,
               r.validation_ok ? "pass" : "FAIL", r.h_min);
    free(m);
    return r.sanity_ok && r.validation_ok ? 0 : 2;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "record") == 0)
        return record(strtoull(argv[2], NULL, 10), argv[3],
                      argc > 4 ? atoi(argv[4]) : -1);
    if (argc >= 4 && strcmp(argv[1], "assess") == 0)
        return assess_file(argv[2], strtoull(argv[3], NULL, 10),
                           argc > 4 ? strtoull(argv[4], NULL, 10) : 1,
                           argc > 5 ? argv[5] : NULL);
    if (argc >= 3 && strcmp(argv[1], "restart") == 0)
        return restart_record(argv[2], argc > 3 ? atoi(argv[3]) : -1);
    if (argc >= 4 && strcmp(argv[1], "restart-assess") == 0)
        return restart_assess(argv[2], strtod(argv[3], NULL));
    fputs("usage: pbd-capture record N FILE [CPU]\n"
          "       pbd-capture restart FILE [CPU]\n"
          "       pbd-capture restart-assess FILE H_I\n"
          "       pbd-capture assess FILE STEP [GRAIN [OUTDIR]]\n", stderr);
    return 64;
}

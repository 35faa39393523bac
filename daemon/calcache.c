/* calcache.c - see calcache.h. */
#include "calcache.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "counter.h"
#include "osdep.h"

void calcache_key(char *buf, size_t cap, int cpu)
{
    char model[160];
    osdep_cpu_model(model, sizeof(model));
    /* The key is one line: no newline may come from the model string. */
    model[strcspn(model, "\r\n")] = '\0';
    snprintf(buf, cap, "counter=%s;cpu=%d;model=%s", COUNTER_NAME, cpu,
             model);
}

int calcache_load(const char *path, const char *key, struct calcache *c)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    char line[512];
    unsigned have = 0;
    bool key_ok = false;
    memset(c, 0, sizeof(*c));
    static const char *const names[5] = {"hz", "median_delta", "step",
                                         "grain", "threshold"};
    uint64_t *fields[5] = {&c->hz, &c->cal.median_delta, &c->cal.step,
                           &c->cal.grain, &c->cal.threshold};
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        if (strncmp(line, "key=", 4) == 0) {
            key_ok = strcmp(line + 4, key) == 0;
            continue;
        }
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = '\0';
        for (int i = 0; i < 5; i++) {
            if (strcmp(line, names[i]) != 0)
                continue;
            char *end;
            errno = 0;
            unsigned long long v = strtoull(eq + 1, &end, 10);
            if (eq[1] >= '0' && eq[1] <= '9' && !*end && !errno && v > 0) {
                *fields[i] = v;
                have |= 1u << i;
            }
        }
    }
    fclose(f);
    return key_ok && have == 31u ? 0 : -1;
}

int calcache_save(const char *path, const char *key, const struct calcache *c)
{
    /* A new name of our own, never a fixed one: O_CREAT|O_TRUNC on a fixed
     * PATH.tmp followed whatever link was planted there (a --state-dir
     * others may write to), and wrote through it. */
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= sizeof(tmp))
        return ENAMETOOLONG;
    int fd = mkostemp(tmp, O_CLOEXEC); /* mode 0600: only we read it */
    if (fd < 0)
        return errno;
    FILE *f = fdopen(fd, "w");
    if (!f) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return e;
    }
    fprintf(f,
            "# preemptd's calibration cache: measured afresh when the key,\n"
            "# or a quick check on start, disagrees. Safe to delete.\n"
            "key=%s\nhz=%" PRIu64 "\nmedian_delta=%" PRIu64 "\nstep=%" PRIu64
            "\ngrain=%" PRIu64 "\nthreshold=%" PRIu64 "\n",
            key, c->hz, c->cal.median_delta, c->cal.step, c->cal.grain,
            c->cal.threshold);
    int e = ferror(f) ? EIO : 0;
    if (fclose(f) != 0 && !e)
        e = errno;
    if (!e && rename(tmp, path) != 0)
        e = errno;
    if (e)
        unlink(tmp);
    return e;
}

static bool within_2x(uint64_t a, uint64_t b)
{
    return a <= 2 * b && 2 * a >= b;
}

bool calcache_agrees(const struct calcache *c, uint64_t quick_hz,
                     const struct sampler_cal *quick, char *why, size_t cap)
{
    double dev = ((double)quick_hz - (double)c->hz) / (double)c->hz;
    if (!(dev > -0.005 && dev < 0.005))
        snprintf(why, cap, "frequency %" PRIu64 " Hz, cached %" PRIu64,
                 quick_hz, c->hz);
    else if (quick->grain != c->cal.grain)
        snprintf(why, cap, "grain %" PRIu64 ", cached %" PRIu64,
                 quick->grain, c->cal.grain);
    else if (!within_2x(quick->step, c->cal.step))
        snprintf(why, cap, "step %" PRIu64 ", cached %" PRIu64, quick->step,
                 c->cal.step);
    else if (!within_2x(quick->median_delta, c->cal.median_delta))
        snprintf(why, cap, "median delta %" PRIu64 ", cached %" PRIu64,
                 quick->median_delta, c->cal.median_delta);
    else
        return true;
    return false;
}

void calcache_calibrate(const char *dir, const struct sampler_config *cfg,
                        int cpu, struct sampler_cal *cal, char *note,
                        size_t cap)
{
    char path[4096], key[256];
    struct stat st;
    bool use = dir && *dir && stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
    struct calcache c;
    char why[128] = "";
    if (use) {
        snprintf(path, sizeof(path), "%s/%s", dir, CALCACHE_FILE);
        calcache_key(key, sizeof(key), cpu);
        if (calcache_load(path, key, &c) == 0) {
            struct sampler_cal quick;
            uint64_t qhz = counter_frequency_quick();
            sampler_calibrate_quick(cfg, c.hz, &quick);
            if (calcache_agrees(&c, qhz, &quick, why, sizeof(why))) {
                counter_set_frequency(c.hz);
                *cal = c.cal;
                /* The threshold is derived, never read: a cache written
                 * under --threshold (or by hand) must not carry it over. */
                sampler_cal_threshold(cfg, cal, c.hz);
                snprintf(note, cap, "from the cache %s (checked)", path);
                return;
            }
        }
    }
    c.hz = counter_frequency();
    sampler_calibrate(cfg, &c.cal);
    *cal = c.cal;
    struct sampler_config rule = *cfg;
    rule.threshold = 0; /* the file holds the calibrated threshold */
    sampler_cal_threshold(&rule, &c.cal, c.hz);
    if (!use) {
        snprintf(note, cap, "measured (no state directory %s)",
                 dir && *dir ? dir : "given");
        return;
    }
    int e = calcache_save(path, key, &c);
    if (e)
        snprintf(note, cap, "measured; cannot write the cache %s: %s", path,
                 strerror(e));
    else if (*why)
        snprintf(note, cap, "measured; cached in %s (the cache disagreed: %s)",
                 path, why);
    else
        snprintf(note, cap, "measured; cached in %s", path);
}

/*
 * calcache.h - the calibration cache: what calibration found (counter
 * frequency, ordinary delta, step, grain, threshold), kept in the state
 * directory so a restart skips the 150 ms frequency measurement, keyed by
 * what identifies the counter and CPU (counter kind, sampler CPU, CPU
 * model) and reused only after a quick check agrees with it. The cached
 * threshold is the calibrated one, and informative only: a hit derives it
 * again from the cached figures (or takes --threshold).
 *
 * The file is a few "name=value" lines, written whole to a temporary file
 * and renamed; a missing, foreign or malformed file is measured afresh.
 * Nothing here logs: calcache_calibrate() says what it did.
 */
#ifndef PBD_CALCACHE_H
#define PBD_CALCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sampler.h"

#define CALCACHE_DEFAULT_DIR "/var/lib/preemptd/cache"
#define CALCACHE_FILE "calibration"

struct calcache {
    uint64_t hz;
    struct sampler_cal cal;
};

/* The key for the sampler's CPU cpu: "counter=...;cpu=N;model=...". */
void calcache_key(char *buf, size_t cap, int cpu);

/* Reads path. Returns 0 with c filled when it holds key and every field;
 * -1 otherwise. */
int calcache_load(const char *path, const char *key, struct calcache *c);

/* Writes c under key to path (through a new path.XXXXXX, made by
 * mkostemp, and rename; mode 0600: only the daemon reads it). Returns 0 or
 * an errno value. */
int calcache_save(const char *path, const char *key, const struct calcache *c);

/* Whether a quick measurement (quick_hz from counter_frequency_quick(),
 * quick from sampler_calibrate_quick()) agrees with the cached figures:
 * frequency within 0.5%, the same grain, the step and the median delta
 * each within a factor of two (4096 reads see a smaller spread than the
 * full calibration's, and a busy host a larger). Pure. If not, says which
 * figure disagreed in why. */
bool calcache_agrees(const struct calcache *c, uint64_t quick_hz,
                     const struct sampler_cal *quick, char *why, size_t cap);

/* Calibrates for cfg, through the cache in dir (NULL or a directory that
 * does not exist: no cache): on a hit that the quick check confirms, puts
 * the cached frequency in effect (counter_set_frequency) and returns the
 * cached figures; else measures (sampler_calibrate) and, with a dir,
 * writes them. Writes what happened into note. Call before anything asks
 * counter_frequency(). */
void calcache_calibrate(const char *dir, const struct sampler_config *cfg,
                        int cpu, struct sampler_cal *cal, char *note,
                        size_t cap);

#endif

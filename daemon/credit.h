/*
 * credit.h - where the credited min-entropy comes from: --credit, a credit
 * file written by `preemptctl calibrate` (docs/entropy.md, "Calibration"),
 * or the default.
 *
 * A credit file is text, one "key = value" a line, '#' comments. The
 * daemon reads only "credit" (bits per folded byte, 0.1..8) and "date";
 * the other keys are the evidence, for people.
 */
#ifndef PBD_CREDIT_H
#define PBD_CREDIT_H

#include <stdbool.h>
#include <stddef.h>

#define CREDIT_DEFAULT_PATH "/var/lib/preemptd/credit"

/*
 * Reads the credit from the file at path into *h, and its "date" (or "")
 * into date. Returns 0; -ENOENT when there is no such file; another
 * negative errno for one that cannot be read; -EINVAL for one without a
 * valid "credit" line, with the reason in err. Not thread-safe (stdio).
 */
int credit_load(const char *path, double *h, char *date, size_t datecap,
                char *err, size_t errcap);

/*
 * Decides the credit at start-up: --credit (given) wins; else the file at
 * path (CREDIT_DEFAULT_PATH when path is NULL), whose absence is fine only
 * for the default path; else *h stays as it is (the default). Writes where
 * the credit came from into source, for the log and stats. Returns 0, or
 * -1 with the reason in source (the daemon then refuses to start).
 */
int credit_resolve(bool given, const char *path, double *h, char *source,
                   size_t cap);

#endif

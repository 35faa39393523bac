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
 * Parses a credit, "H" of "credit = H" or of --credit: a decimal number in
 * 0.1..8 (no hex float, inf or nan). Returns 0 with *h set, or -1.
 */
int credit_parse(const char *s, double *h);

/*
 * Reads the credit from the file at path into *h, and its "date" (or "")
 * into date, with conffile.h's rules (a regular file of bounded size).
 * Returns 0; -ENOENT when there is no such file; another negative errno
 * for one that cannot be read or is no regular file; -EINVAL for one
 * without a valid "credit" line. The reason is in err in every case.
 */
int credit_load(const char *path, double *h, char *date, size_t datecap,
                char *err, size_t errcap);

/*
 * Decides the credit at start-up: a credit given (given_by names where:
 * "--credit", or the configuration file) wins; else the file at
 * path (default_path, normally CREDIT_DEFAULT_PATH, when path is NULL),
 * whose absence is fine only for the default path; else *h stays as it is
 * (the default). Writes where the credit came from into source, for the
 * log and stats. Returns 0, or -1 with the reason in source (the daemon
 * then refuses to start).
 */
int credit_resolve(const char *given_by, const char *path,
                   const char *default_path, double *h, char *source,
                   size_t cap);

#endif

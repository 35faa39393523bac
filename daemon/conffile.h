/*
 * conffile.h - the one reader of preemptd's "key = value" files: the
 * configuration file (config.c) and the credit file (credit.c).
 *
 * A file is read whole before it is parsed, and only if it is a regular
 * file of at most CONFFILE_MAX_BYTES: a directory, a FIFO or a device
 * (/dev/zero) is refused at once instead of blocking or spinning. libinih
 * splits the lines; a line reaches it whole or not at all, so a long line
 * is never cut into a second one, and every error names the right line.
 */
#ifndef PBD_CONFFILE_H
#define PBD_CONFFILE_H

#include <stddef.h>

#define CONFFILE_MAX_BYTES 65536

/*
 * Called once per "key = value" line, in file order, with the line's
 * number. value is NULL when the line is longer than the parser takes
 * (the key is whole): a caller that ignores the key may accept that.
 * Returns 0, or -1 after writing the reason (without the line number)
 * into err.
 */
typedef int (*conffile_fn)(void *arg, int lineno, const char *key,
                           const char *value, char *err, size_t errcap);

/*
 * Reads the file at path and calls fn for each setting. Returns 0; a
 * negative errno when the file cannot be read (-ENOENT: no such file),
 * with "PATH: reason" in err; or -EINVAL with "PATH:N: reason" in err for
 * the first line that is not a setting or that fn refused (fn may have
 * seen later lines; the read fails all the same).
 */
int conffile_read(const char *path, conffile_fn fn, void *arg, char *err,
                  size_t errcap);

#endif

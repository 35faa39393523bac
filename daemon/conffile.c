/* conffile.c - bounded "key = value" files through libinih; see
 * conffile.h. libinih reads through our reader, one whole line per call:
 * we count the lines (its handler is not told the line number), strip the
 * leading blanks (an indented line is then never a continuation of the
 * previous value) and turn what it must not see (a line longer than its
 * buffer, a [section], a NUL byte) into an error at that line. */
#include "conffile.h"

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct reader {
    const char *p, *end;   /* what is left of the file */
    int lineno;            /* the line last handed to libinih */
    int cut;               /* that line's value did not fit */
    int err_line;          /* first line we refused, 0 for none */
    char err[256];
    conffile_fn fn;
    void *arg;
};

static void refuse(struct reader *r, const char *what)
{
    if (r->err_line == 0) {
        r->err_line = r->lineno;
        snprintf(r->err, sizeof(r->err), "%s", what);
    }
}

/* Hands the next line to libinih in str (num bytes). A line it must not
 * parse becomes "]", which it reports as an error at this line number;
 * after our first error it is given nothing more. */
static char *next_line(char *str, int num, void *stream)
{
    struct reader *r = stream;
    if (r->err_line || r->p >= r->end)
        return NULL;
    const char *nl = memchr(r->p, '\n', (size_t)(r->end - r->p));
    const char *s = r->p, *e = nl ? nl : r->end;
    r->p = nl ? nl + 1 : r->end;
    r->lineno++;
    r->cut = 0;
    while (s < e && (*s == ' ' || *s == '\t'))
        s++;
    size_t len = (size_t)(e - s);
    const char *eq = memchr(s, '=', len);
    if (memchr(s, '\0', len) != NULL) {
        refuse(r, "contains a NUL byte");
    } else if (len > 0 && *s == '[') {
        refuse(r, "sections ([name]) are not used");
    } else if (len + 3 <= (size_t)num) {
        memcpy(str, s, len);
        memcpy(str + len, "\n", 2);
        return str;
    } else if (*s == '#' || *s == ';') {
        return memcpy(str, "#\n", 3); /* a comment may be any length */
    } else if (eq && (size_t)(eq - s) + 4 <= (size_t)num) {
        memcpy(str, s, (size_t)(eq - s) + 1); /* "key =": the value did */
        memcpy(str + (eq - s) + 1, "\n", 2);  /* not fit; fn decides */
        r->cut = 1;
        return str;
    } else {
        char what[64];
        snprintf(what, sizeof(what), "longer than %d bytes", num - 3);
        refuse(r, what);
    }
    return memcpy(str, "]\n", 3);
}

static int on_setting(void *user, const char *section, const char *key,
                      const char *value)
{
    struct reader *r = user;
    char why[sizeof(r->err)];
    (void)section; /* always "": next_line lets no [section] through */
    if (r->err_line)
        return 0;
    why[0] = '\0';
    if (r->fn(r->arg, r->lineno, key, r->cut ? NULL : value, why,
              sizeof(why)) != 0) {
        refuse(r, why);
        return 0;
    }
    return 1;
}

/* Reads all of a regular file of at most CONFFILE_MAX_BYTES into a new
 * buffer. O_NONBLOCK: opening a FIFO must not wait for a writer. */
static int slurp(const char *path, char **out, size_t *outlen, char *err,
                 size_t errcap)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errcap, "%s", strerror(e));
        return -e;
    }
    int rc = 0;
    char *buf = NULL;
    size_t n = 0;
    if (fstat(fd, &st) != 0) {
        rc = -errno;
        snprintf(err, errcap, "%s", strerror(-rc));
    } else if (S_ISDIR(st.st_mode)) {
        rc = -EISDIR;
        snprintf(err, errcap, "is a directory, not a file");
    } else if (!S_ISREG(st.st_mode)) {
        rc = -EINVAL;
        snprintf(err, errcap, "not a regular file");
    } else if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
        /* Whoever may write it sets the daemon's options or its credit:
         * only its owner may (the owner is not checked: a Homebrew prefix
         * belongs to the admin user, who owns the binary too). */
        rc = -EPERM;
        snprintf(err, errcap,
                 "writable by %s (mode %04o); refused: chmod go-w it",
                 (st.st_mode & S_IWOTH) ? "others" : "its group",
                 (unsigned)(st.st_mode & 07777));
    } else if (st.st_size > CONFFILE_MAX_BYTES) {
        rc = -EFBIG;
    } else if ((buf = malloc(CONFFILE_MAX_BYTES + 1)) == NULL) {
        rc = -ENOMEM;
        snprintf(err, errcap, "out of memory");
    }
    while (rc == 0) { /* the file may have grown since fstat */
        ssize_t got = read(fd, buf + n, CONFFILE_MAX_BYTES + 1 - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = -errno;
            snprintf(err, errcap, "%s", strerror(-rc));
        } else if (got == 0) {
            break;
        } else if ((n += (size_t)got) > CONFFILE_MAX_BYTES) {
            rc = -EFBIG;
        }
    }
    if (rc == -EFBIG)
        snprintf(err, errcap, "larger than %d bytes", CONFFILE_MAX_BYTES);
    close(fd);
    if (rc != 0) {
        free(buf);
        return rc;
    }
    *out = buf;
    *outlen = n;
    return 0;
}

int conffile_read(const char *path, conffile_fn fn, void *arg, char *err,
                  size_t errcap)
{
    char *buf = NULL, why[128] = "";
    size_t len = 0;
    int rc = slurp(path, &buf, &len, why, sizeof(why));
    if (rc != 0) {
        snprintf(err, errcap, "%s: %s", path, why);
        return rc;
    }
    struct reader r = {.p = buf, .end = buf + len, .fn = fn, .arg = arg};
    int bad = ini_parse_stream(next_line, &r, on_setting, &r);
    free(buf);
    if (bad == 0)
        return 0;
    if (bad < 0) {
        snprintf(err, errcap, "%s: out of memory", path);
        return -ENOMEM;
    }
    if (bad == r.err_line)
        snprintf(err, errcap, "%s:%d: %s", path, bad, r.err);
    else
        snprintf(err, errcap, "%s:%d: expected 'key = value'", path, bad);
    return -EINVAL;
}

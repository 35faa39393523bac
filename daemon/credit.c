/* credit.c - --credit, a credit file, or the default; see credit.h. */
#include "credit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conffile.h"

struct credit_read {
    double h;
    int have;
    char *date;
    size_t datecap;
};

static int on_credit_key(void *arg, int lineno, const char *key,
                         const char *val, char *err, size_t errcap)
{
    struct credit_read *c = arg;
    (void)lineno;
    if (strcmp(key, "credit") == 0) {
        /* Two credits: which is meant? A name with a newline written into
         * the evidence lines below the first could add one. */
        if (c->have) {
            snprintf(err, errcap, "a second 'credit' line");
            return -1;
        }
        if (val == NULL || credit_parse(val, &c->h) != 0) {
            snprintf(err, errcap, "credit must be a number in "
                     "0.1..8, not '%.40s'", val ? val : "(too long)");
            return -1;
        }
        c->have = 1;
    } else if (strcmp(key, "date") == 0 && c->datecap) {
        snprintf(c->date, c->datecap, "%s", val ? val : "");
    } /* the rest is evidence for people, of any length */
    return 0;
}

int credit_parse(const char *s, double *h)
{
    char *end;
    /* Decimal only: strtod also takes hex floats, "inf" and "nan". */
    if (s[0] == '\0' || s[strspn(s, "0123456789.eE+-")] != '\0')
        return -1;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !(v >= 0.1 && v <= 8.0))
        return -1;
    *h = v;
    return 0;
}

int credit_load(const char *path, double *h, char *date, size_t datecap,
                char *err, size_t errcap)
{
    struct credit_read c = {.date = date, .datecap = datecap};
    if (datecap)
        date[0] = '\0';
    int rc = conffile_read(path, on_credit_key, &c, err, errcap);
    if (rc != 0)
        return rc;
    if (!c.have) {
        snprintf(err, errcap, "%s: no 'credit = H' line", path);
        return -EINVAL;
    }
    *h = c.h;
    return 0;
}

/* The source goes into JSON and log lines: no quotes, backslashes or
 * control characters from a path or a file survive into it. */
static void tame(char *s)
{
    for (; *s; s++)
        if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20)
            *s = '?';
}

static int resolve(const char *given_by, const char *path,
                   const char *default_path, double *h, char *source,
                   size_t cap)
{
    const char *p = path ? path : default_path;
    char date[64], err[300] = "";
    double v = 0;
    int rc;

    if (given_by) {
        snprintf(source, cap, "%s", given_by);
        return 0;
    }
    rc = credit_load(p, &v, date, sizeof(date), err, sizeof(err));
    if (rc == -ENOENT && path == NULL) {
        snprintf(source, cap, "default (no credit file at %s)", p);
        return 0;
    }
    if (rc != 0) {
        snprintf(source, cap, "credit file %s", err);
        return -1;
    }
    *h = v;
    snprintf(source, cap, "credit file %s%s%s%s", p, date[0] ? " (" : "",
             date, date[0] ? ")" : "");
    return 0;
}

int credit_resolve(const char *given_by, const char *path,
                   const char *default_path, double *h, char *source,
                   size_t cap)
{
    int rc = resolve(given_by, path, default_path, h, source, cap);

    tame(source);
    return rc;
}

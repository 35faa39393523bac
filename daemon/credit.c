/* credit.c - --credit, a credit file, or the default; see credit.h. */
#include "credit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Trims spaces (and a newline) from both ends of s, in place. */
static char *trim(char *s)
{
    char *e;

    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' ||
                     e[-1] == '\r'))
        *--e = '\0';
    return s;
}

int credit_load(const char *path, double *h, char *date, size_t datecap,
                char *err, size_t errcap)
{
    FILE *f = fopen(path, "re");
    char line[512];
    int have = 0, lineno = 0;

    if (datecap)
        date[0] = '\0';
    if (f == NULL)
        return -errno;
    while (fgets(line, sizeof(line), f) != NULL) {
        char *eq, *key, *val, *end;

        lineno++;
        key = trim(line);
        if (*key == '#' || *key == '\0')
            continue;
        eq = strchr(key, '=');
        if (eq == NULL) {
            snprintf(err, errcap, "line %d: expected key = value", lineno);
            fclose(f);
            return -EINVAL;
        }
        *eq = '\0';
        val = trim(eq + 1);
        key = trim(key);
        if (strcmp(key, "credit") == 0) {
            double v = strtod(val, &end);

            if (end == val || *end != '\0' || !(v >= 0.1 && v <= 8.0)) {
                snprintf(err, errcap, "line %d: credit must be a number in "
                         "0.1..8, not '%s'", lineno, val);
                fclose(f);
                return -EINVAL;
            }
            *h = v;
            have = 1;
        } else if (strcmp(key, "date") == 0 && datecap) {
            snprintf(date, datecap, "%s", val);
        }
    }
    fclose(f);
    if (!have) {
        snprintf(err, errcap, "no 'credit = H' line");
        return -EINVAL;
    }
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

static int resolve(bool given, const char *path, double *h, char *source,
                   size_t cap)
{
    const char *p = path ? path : CREDIT_DEFAULT_PATH;
    char date[64], err[128] = "";
    double v = 0;
    int rc;

    if (given) {
        snprintf(source, cap, "--credit");
        return 0;
    }
    rc = credit_load(p, &v, date, sizeof(date), err, sizeof(err));
    if (rc == -ENOENT && path == NULL) {
        snprintf(source, cap, "default (no credit file at %s)", p);
        return 0;
    }
    if (rc == -EINVAL) {
        snprintf(source, cap, "credit file %s: %s", p, err);
        return -1;
    }
    if (rc != 0) {
        snprintf(source, cap, "credit file %s: %s", p, strerror(-rc));
        return -1;
    }
    *h = v;
    snprintf(source, cap, "credit file %s%s%s%s", p, date[0] ? " (" : "",
             date, date[0] ? ")" : "");
    return 0;
}

int credit_resolve(bool given, const char *path, double *h, char *source,
                   size_t cap)
{
    int rc = resolve(given, path, h, source, cap);

    tame(source);
    return rc;
}

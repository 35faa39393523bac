/* textcmd.c - parse text-mode lines; see textcmd.h. Pure. */
#include "textcmd.h"

#include <string.h>
#include <strings.h>

#include "pbd.h"

const char textcmd_help[] =
    "commands: read N [conditioned|raw|drbg] [nowait] (N 1..4096, hex reply)"
    " | stats | health | version | reseed | help | quit\n";

long textcmd_find_line(const char *buf, size_t avail, size_t *linelen)
{
    size_t scan = avail < TEXT_MAX_LINE + 2 ? avail : TEXT_MAX_LINE + 2;
    const char *lf = memchr(buf, '\n', scan);
    if (!lf)
        return avail >= TEXT_MAX_LINE + 2 ? -1 : 0;
    size_t len = (size_t)(lf - buf);
    if (len > 0 && buf[len - 1] == '\r')
        len--;
    if (len > TEXT_MAX_LINE)
        return -1;
    *linelen = len;
    return (long)(lf - buf) + 1;
}

#define MAX_WORDS 5

/* Splits line into blank-separated words; returns the count, or -1 when
 * there are too many or a byte is not printable ASCII. */
static int split(const char *line, size_t len, const char *w[],
                 size_t wl[])
{
    int n = 0;
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)line[i];
        if (c == ' ' || c == '\t') {
            i++;
            continue;
        }
        if (c < 0x21 || c > 0x7e)
            return -1;
        if (n == MAX_WORDS)
            return -1;
        w[n] = line + i;
        while (i < len && line[i] != ' ' && line[i] != '\t') {
            c = (unsigned char)line[i];
            if (c < 0x21 || c > 0x7e)
                return -1;
            i++;
        }
        wl[n] = (size_t)(line + i - w[n]);
        n++;
    }
    return n;
}

static bool word_is(const char *w, size_t len, const char *lit)
{
    return strlen(lit) == len && strncasecmp(w, lit, len) == 0;
}

int textcmd_parse(const char *line, size_t len, struct text_req *req,
                  const char **err)
{
    const char *w[MAX_WORDS];
    size_t wl[MAX_WORDS];
    memset(req, 0, sizeof(*req));
    int n = split(line, len, w, wl);
    if (n < 0) {
        *err = "malformed line";
        return -1;
    }
    if (n == 0) {
        *err = "empty line; try help";
        return -1;
    }
    static const struct {
        const char *name;
        enum text_cmd cmd;
    } simple[] = {
        {"stats", TEXT_STATS}, {"health", TEXT_HEALTH},
        {"version", TEXT_VERSION}, {"reseed", TEXT_RESEED},
        {"help", TEXT_HELP}, {"quit", TEXT_QUIT},
    };
    for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++) {
        if (word_is(w[0], wl[0], simple[i].name)) {
            if (n != 1) {
                *err = "this command takes no arguments";
                return -1;
            }
            req->cmd = simple[i].cmd;
            return 0;
        }
    }
    if (!word_is(w[0], wl[0], "read")) {
        *err = "unknown command; try help";
        return -1;
    }
    if (n < 2) {
        *err = "usage: read N [conditioned|raw|drbg] [nowait]";
        return -1;
    }
    uint32_t v = 0;
    if (wl[1] > 4) {
        *err = "N must be 1..4096";
        return -1;
    }
    for (size_t i = 0; i < wl[1]; i++) {
        if (w[1][i] < '0' || w[1][i] > '9') {
            *err = "N must be a decimal number";
            return -1;
        }
        v = v * 10 + (uint32_t)(w[1][i] - '0');
    }
    if (v < 1 || v > TEXT_MAX_READ) {
        *err = "N must be 1..4096";
        return -1;
    }
    req->cmd = TEXT_READ;
    req->n = v;
    req->mode = PBD_MODE_CONDITIONED;
    bool have_mode = false;
    for (int i = 2; i < n; i++) {
        if (!have_mode && word_is(w[i], wl[i], "conditioned")) {
            have_mode = true;
        } else if (!have_mode && word_is(w[i], wl[i], "raw")) {
            req->mode = PBD_MODE_RAW;
            have_mode = true;
        } else if (!have_mode && word_is(w[i], wl[i], "drbg")) {
            req->mode = PBD_MODE_DRBG;
            have_mode = true;
        } else if (!req->nowait && word_is(w[i], wl[i], "nowait")) {
            req->nowait = true;
        } else {
            *err = "usage: read N [conditioned|raw|drbg] [nowait]";
            return -1;
        }
    }
    return 0;
}

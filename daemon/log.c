/* log.c - see log.h. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __APPLE__
#include <syslog.h>
#endif

static enum log_level max_level = LOG_LVL_INFO;
static bool journal;

void log_init(enum log_level max)
{
    max_level = max;
    journal = getenv("JOURNAL_STREAM") != NULL;
#ifdef __APPLE__
    /* syslog(3) lands in the unified log, which rotates itself; launchd
     * sends a daemon's stderr nowhere unless told to, into a file that
     * would grow for ever. */
    openlog("preemptd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
#endif
}

int log_level_parse(const char *s)
{
    static const struct {
        const char *name;
        enum log_level lvl;
    } t[] = {{"error", LOG_LVL_ERR}, {"warn", LOG_LVL_WARN},
             {"info", LOG_LVL_INFO}, {"debug", LOG_LVL_DEBUG}};
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (strcmp(s, t[i].name) == 0)
            return (int)t[i].lvl;
    return -1;
}

static const char *level_name(enum log_level lvl)
{
    switch (lvl) {
    case LOG_LVL_ERR:
        return "error";
    case LOG_LVL_WARN:
        return "warn";
    case LOG_LVL_INFO:
        return "info";
    default:
        return "debug";
    }
}

/* The format attribute tells clang fmt is checked at log_msg()'s callers;
 * without it -Wformat-nonliteral (part of -Wformat=2) rejects the vsnprintf. */
static void vlog(enum log_level lvl, const char *suffix, const char *fmt,
                 va_list ap) __attribute__((format(printf, 3, 0)));

static void vlog(enum log_level lvl, const char *suffix, const char *fmt,
                 va_list ap)
{
    if (lvl > max_level)
        return;
    /* Large enough for the SIGUSR1 stats line (server.c formats up to 4 KiB
     * of JSON), which a shorter buffer would cut into invalid JSON. */
    char msg[4608];
    vsnprintf(msg, sizeof(msg), fmt, ap);
#ifdef __APPLE__
    /* info as NOTICE: the unified log keeps "Default" entries on disk but
     * Info ones only in memory. */
    syslog(lvl == LOG_LVL_INFO ? LOG_NOTICE : (int)lvl, "%s%s%s", msg,
           suffix ? ": " : "", suffix ? suffix : "");
#endif
    if (journal) {
        fprintf(stderr, "<%d>%s%s%s\n", (int)lvl, msg, suffix ? ": " : "",
                suffix ? suffix : "");
        return;
    }
    char ts[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", localtime_r(&now, &tm));
    fprintf(stderr, "%s preemptd %s: %s%s%s\n", ts, level_name(lvl), msg,
            suffix ? ": " : "", suffix ? suffix : "");
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(lvl, NULL, fmt, ap);
    va_end(ap);
}

void log_warn(const char *fmt, ...)
{
    const char *e = strerror(errno);
    va_list ap;
    va_start(ap, fmt);
    vlog(LOG_LVL_WARN, e, fmt, ap);
    va_end(ap);
}

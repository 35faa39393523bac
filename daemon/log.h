/*
 * log.h - leveled logging to stderr, which systemd captures. Under systemd
 * (JOURNAL_STREAM set) lines carry "<N>" priority prefixes; otherwise a
 * timestamp and the level name. On macOS every line also goes to syslog(3),
 * i.e. the unified log (`log show --predicate 'process == "preemptd"'`). Not for use on the sampler's hot
 * path. log_warn() appends strerror(errno); log_warnx() does not.
 */
#ifndef PBD_LOG_H
#define PBD_LOG_H

enum log_level { LOG_LVL_ERR = 3, LOG_LVL_WARN = 4, LOG_LVL_INFO = 6, LOG_LVL_DEBUG = 7 };

void log_init(enum log_level max);
/* Parses "error", "warn", "info", "debug"; returns -1 if unknown. */
int log_level_parse(const char *s);
void log_msg(enum log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define log_err(...) log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warnx(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif

/*
 * textcmd.h - the line protocol for people (nc -U). Pure.
 *
 * One command per line, LF or CRLF, words separated by blanks, case-blind:
 *   read N [conditioned|raw|drbg] [nowait]   N in 1..4096 -> 2N hex digits
 *   stats | health | version | reseed | help | quit
 * A line longer than TEXT_MAX_LINE bytes (terminator excluded) is an error
 * that closes the connection.
 */
#ifndef PBD_TEXTCMD_H
#define PBD_TEXTCMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TEXT_MAX_LINE 256u
#define TEXT_MAX_READ 4096u

enum text_cmd {
    TEXT_READ,
    TEXT_STATS,
    TEXT_HEALTH,
    TEXT_VERSION,
    TEXT_RESEED,
    TEXT_HELP,
    TEXT_QUIT,
};

struct text_req {
    enum text_cmd cmd;
    uint32_t n;
    uint8_t mode; /* pbd_mode */
    bool nowait;
};

/* Looks for one complete line at the front of buf. Returns the bytes it
 * spans including its LF (> 0) and stores the length without CR/LF in
 * *linelen; 0 when no LF has arrived yet and the line may still fit; -1 when
 * the line is already too long. */
long textcmd_find_line(const char *buf, size_t avail, size_t *linelen);

/* Parses one line (no terminator). Returns 0 and fills *req, or -1 and
 * points *err at a static message. An empty line is an error. */
int textcmd_parse(const char *line, size_t len, struct text_req *req,
                  const char **err);

/* The text sent for `help`, LF-terminated. */
extern const char textcmd_help[];

#endif

/*
 * fuzz-textcmd.c - libFuzzer harness for the text dialect:
 * textcmd_find_line() then textcmd_parse() on each line, as the server
 * does, plus textcmd_parse() on the raw input. Checks that a line never
 * spans past the input or over TEXT_MAX_LINE, that "need more" means no LF
 * and room left, that a parsed read is 1..TEXT_MAX_READ in a known mode,
 * that every error carries a message, and that commands are case-blind.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pbd.h"
#include "textcmd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond))                                                           \
            abort();                                                           \
    } while (0)

static void check_parse(const char *line, size_t len)
{
    char *copy = malloc(len ? len : 1);
    CHECK(copy);
    if (len)
        memcpy(copy, line, len);
    struct text_req req, again;
    const char *err = NULL, *err2 = NULL;
    int rc = textcmd_parse(copy, len, &req, &err);
    CHECK(rc == textcmd_parse(copy, len, &again, &err2));
    if (rc == 0) {
        CHECK(memcmp(&req, &again, sizeof(req)) == 0);
        CHECK(req.cmd >= TEXT_READ && req.cmd <= TEXT_QUIT);
        if (req.cmd == TEXT_READ) {
            CHECK(req.n >= 1 && req.n <= TEXT_MAX_READ);
            CHECK(req.mode <= PBD_MODE_DRBG);
        }
    } else {
        CHECK(rc == -1);
        CHECK(err && err[0] && err == err2);
    }
    /* Case-blind: the upper-cased line parses the same way. */
    for (size_t i = 0; i < len; i++)
        copy[i] = (char)toupper((unsigned char)copy[i]);
    struct text_req up;
    const char *err3 = NULL;
    int rc3 = textcmd_parse(copy, len, &up, &err3);
    CHECK(rc3 == rc);
    if (rc == 0)
        CHECK(memcmp(&req, &up, sizeof(req)) == 0);
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_parse((const char *)data, size);

    size_t off = 0;
    while (off < size) {
        const char *b = (const char *)data + off;
        size_t avail = size - off;
        char *copy = malloc(avail);
        CHECK(copy);
        memcpy(copy, b, avail);
        size_t linelen = (size_t)-1;
        long rc = textcmd_find_line(copy, avail, &linelen);
        free(copy);
        if (rc == 0) {
            CHECK(avail < TEXT_MAX_LINE + 2);
            CHECK(!memchr(b, '\n', avail));
            break;
        }
        if (rc < 0) {
            CHECK(rc == -1);
            /* Too long: no LF within TEXT_MAX_LINE + 2 bytes, or a line
             * over TEXT_MAX_LINE once a CR before the LF is dropped. */
            const char *lf = memchr(b, '\n', avail);
            if (!lf || (size_t)(lf - b) >= TEXT_MAX_LINE + 2) {
                CHECK(avail >= TEXT_MAX_LINE + 2);
            } else {
                size_t at = (size_t)(lf - b);
                if (at > 0 && b[at - 1] == '\r')
                    at--;
                CHECK(at > TEXT_MAX_LINE);
            }
            break;
        }
        CHECK((size_t)rc <= avail);
        CHECK(b[rc - 1] == '\n');
        CHECK(!memchr(b, '\n', (size_t)rc - 1));
        CHECK(linelen <= TEXT_MAX_LINE);
        CHECK(linelen == (size_t)rc - 1 ||
              (linelen == (size_t)rc - 2 && b[linelen] == '\r'));
        check_parse(b, linelen);
        off += (size_t)rc;
    }
    return 0;
}

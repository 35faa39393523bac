/* ctl-json.c - see ctl-json.h. */
#include "ctl-json.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Deeper nesting than the daemon ever writes is treated as malformed, which
 * also bounds the recursion. */
#define JSON_MAX_DEPTH 32

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Walks the string starting at the opening quote p. When out is not NULL,
 * writes the unescaped text there (at most cap - 1 bytes, *outlen set; a
 * longer string sets *outlen to cap). Returns the position after the
 * closing quote, or NULL if malformed. */
static const char *scan_string(const char *p, char *out, size_t cap,
                               size_t *outlen)
{
    size_t n = 0;
    if (*p++ != '"')
        return NULL;
    for (;;) {
        unsigned char c = (unsigned char)*p++;
        char ch;
        if (c == '"')
            break;
        if (c < 0x20) /* also catches the terminating NUL */
            return NULL;
        if (c == '\\') {
            char e = *p++;
            switch (e) {
            case '"': ch = '"'; break;
            case '\\': ch = '\\'; break;
            case '/': ch = '/'; break;
            case 'b': ch = '\b'; break;
            case 'f': ch = '\f'; break;
            case 'n': ch = '\n'; break;
            case 'r': ch = '\r'; break;
            case 't': ch = '\t'; break;
            case 'u': {
                unsigned v = 0;
                for (int i = 0; i < 4; i++) {
                    int h = hexval(*p++);
                    if (h < 0)
                        return NULL;
                    v = v * 16 + (unsigned)h;
                }
                ch = v < 0x80 ? (char)v : '?';
                break;
            }
            default:
                return NULL;
            }
        } else {
            ch = (char)c;
        }
        if (out) {
            if (n + 1 < cap)
                out[n] = ch;
            n++;
        }
    }
    if (out) {
        if (n + 1 <= cap) {
            out[n] = '\0';
            *outlen = n;
        } else {
            out[cap - 1] = '\0';
            *outlen = cap;
        }
    }
    return p;
}

/* JSON number grammar; returns the position after it or NULL. */
static const char *scan_number(const char *p)
{
    if (*p == '-')
        p++;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (*p >= '0' && *p <= '9')
            p++;
    else
        return NULL;
    if (*p == '.') {
        p++;
        if (!(*p >= '0' && *p <= '9'))
            return NULL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return NULL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return p;
}

/* Returns the position after the value starting at p (no leading white
 * space), or NULL if it is malformed. */
static const char *skip_value(const char *p, int depth)
{
    if (depth > JSON_MAX_DEPTH)
        return NULL;
    switch (*p) {
    case '"':
        return scan_string(p, NULL, 0, NULL);
    case '{':
        p = skip_ws(p + 1);
        if (*p == '}')
            return p + 1;
        for (;;) {
            p = scan_string(p, NULL, 0, NULL);
            if (!p)
                return NULL;
            p = skip_ws(p);
            if (*p++ != ':')
                return NULL;
            p = skip_value(skip_ws(p), depth + 1);
            if (!p)
                return NULL;
            p = skip_ws(p);
            if (*p == '}')
                return p + 1;
            if (*p++ != ',')
                return NULL;
            p = skip_ws(p);
        }
    case '[':
        p = skip_ws(p + 1);
        if (*p == ']')
            return p + 1;
        for (;;) {
            p = skip_value(p, depth + 1);
            if (!p)
                return NULL;
            p = skip_ws(p);
            if (*p == ']')
                return p + 1;
            if (*p++ != ',')
                return NULL;
            p = skip_ws(p);
        }
    case 't':
        return strncmp(p, "true", 4) == 0 ? p + 4 : NULL;
    case 'f':
        return strncmp(p, "false", 5) == 0 ? p + 5 : NULL;
    case 'n':
        return strncmp(p, "null", 4) == 0 ? p + 4 : NULL;
    default:
        return scan_number(p);
    }
}

/* Does the key string at p (opening quote) equal key[0..klen)? Keys with
 * escapes never match: the daemon writes none. */
static bool key_is(const char *p, const char *key, size_t klen)
{
    return p[0] == '"' && strncmp(p + 1, key, klen) == 0 && p[1 + klen] == '"';
}

const char *ctl_json_find(const char *json, const char *path)
{
    if (!json || !path)
        return NULL;
    const char *p = skip_ws(json);
    while (*path) {
        const char *dot = strchr(path, '.');
        size_t klen = dot ? (size_t)(dot - path) : strlen(path);
        if (*p != '{')
            return NULL;
        p = skip_ws(p + 1);
        if (*p == '}')
            return NULL;
        for (;;) {
            bool match = key_is(p, path, klen);
            p = scan_string(p, NULL, 0, NULL);
            if (!p)
                return NULL;
            p = skip_ws(p);
            if (*p++ != ':')
                return NULL;
            p = skip_ws(p);
            if (match)
                break;
            p = skip_value(p, 1);
            if (!p)
                return NULL;
            p = skip_ws(p);
            if (*p++ != ',')
                return NULL; /* '}' here: the key is not in this object */
            p = skip_ws(p);
        }
        path += klen + (dot ? 1 : 0);
    }
    /* The value itself must be complete, or it is not trusted. */
    return skip_value(p, 1) ? p : NULL;
}

int ctl_json_number(const char *json, const char *path, double *out)
{
    const char *p = ctl_json_find(json, path);
    if (!p || !(*p == '-' || (*p >= '0' && *p <= '9')))
        return -1;
    *out = strtod(p, NULL);
    return 0;
}

int ctl_json_u64(const char *json, const char *path, uint64_t *out)
{
    const char *p = ctl_json_find(json, path);
    if (!p || !(*p >= '0' && *p <= '9'))
        return -1;
    const char *end = scan_number(p);
    uint64_t v = 0;
    for (const char *q = p; q < end; q++) {
        if (*q < '0' || *q > '9')
            return -1; /* fraction or exponent */
        unsigned d = (unsigned)(*q - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int ctl_json_string(const char *json, const char *path, char *buf,
                    size_t cap)
{
    const char *p = ctl_json_find(json, path);
    size_t n;
    if (!p || *p != '"' || cap == 0)
        return -1;
    if (!scan_string(p, buf, cap, &n) || n >= cap)
        return -1;
    return (int)n;
}

int ctl_json_bool(const char *json, const char *path)
{
    const char *p = ctl_json_find(json, path);
    if (!p)
        return -1;
    if (strncmp(p, "true", 4) == 0)
        return 1;
    if (strncmp(p, "false", 5) == 0)
        return 0;
    return -1;
}

long ctl_json_u64_array(const char *json, const char *path, uint64_t *out,
                        size_t cap)
{
    const char *p = ctl_json_find(json, path);
    if (!p || *p != '[')
        return -1;
    p = skip_ws(p + 1);
    if (*p == ']')
        return 0;
    long n = 0;
    for (;;) {
        const char *end = scan_number(p);
        if (!end || !(*p >= '0' && *p <= '9'))
            return -1;
        uint64_t v = 0;
        for (const char *q = p; q < end; q++) {
            unsigned d = (unsigned)(*q - '0');
            if (*q < '0' || *q > '9' || v > (UINT64_MAX - d) / 10)
                return -1;
            v = v * 10 + d;
        }
        if ((size_t)n < cap)
            out[n] = v;
        n++;
        p = skip_ws(end);
        if (*p == ']')
            return n;
        if (*p++ != ',')
            return -1;
        p = skip_ws(p);
    }
}

int ctl_json_validate(const char *json)
{
    if (!json)
        return -1;
    const char *p = skip_value(skip_ws(json), 0);
    return p && *skip_ws(p) == '\0' ? 0 : -1;
}

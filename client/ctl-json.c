/* ctl-json.c - see ctl-json.h: path lookups over jansson. */
#include "ctl-json.h"

#include <string.h>

#include <jansson.h>

/* A key of a path step, with its NUL; the daemon's are under 32 bytes. */
#define CTL_JSON_KEY_MAX 64

/* Parses json and finds path in it. Returns the value (borrowed from
 * *root, which the caller json_decref()s, also when NULL is returned), or
 * NULL when json is NULL or malformed, a key is missing or a step is not
 * an object. */
static json_t *lookup(const char *json, const char *path, json_t **root)
{
    *root = json ? json_loads(json, JSON_REJECT_DUPLICATES, NULL) : NULL;
    json_t *v = *root;
    if (!v || !path)
        return NULL;
    for (;;) {
        char key[CTL_JSON_KEY_MAX];
        const char *dot = strchr(path, '.');
        size_t klen = dot ? (size_t)(dot - path) : strlen(path);
        if (klen >= sizeof(key) || !json_is_object(v))
            return NULL;
        memcpy(key, path, klen);
        key[klen] = '\0';
        v = json_object_get(v, key);
        if (!v || !dot)
            return v;
        path = dot + 1;
    }
}

int ctl_json_number(const char *json, const char *path, double *out)
{
    json_t *root;
    json_t *v = lookup(json, path, &root);
    int rc = -1;
    if (json_is_number(v)) {
        *out = json_number_value(v);
        rc = 0;
    }
    json_decref(root);
    return rc;
}

int ctl_json_u64(const char *json, const char *path, uint64_t *out)
{
    json_t *root;
    json_t *v = lookup(json, path, &root);
    int rc = -1;
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = (uint64_t)json_integer_value(v);
        rc = 0;
    }
    json_decref(root);
    return rc;
}

int ctl_json_string(const char *json, const char *path, char *buf,
                    size_t cap)
{
    json_t *root;
    json_t *v = lookup(json, path, &root);
    int rc = -1;
    /* No NUL inside: json_loads() refuses \u0000 without JSON_ALLOW_NUL. */
    if (json_is_string(v) && json_string_length(v) < cap) {
        size_t n = json_string_length(v);
        memcpy(buf, json_string_value(v), n + 1);
        rc = (int)n;
    }
    json_decref(root);
    return rc;
}

int ctl_json_bool(const char *json, const char *path)
{
    json_t *root;
    json_t *v = lookup(json, path, &root);
    int rc = json_is_boolean(v) ? json_is_true(v) : -1;
    json_decref(root);
    return rc;
}

long ctl_json_u64_array(const char *json, const char *path, uint64_t *out,
                        size_t cap)
{
    json_t *root;
    json_t *v = lookup(json, path, &root);
    long rc = -1;
    if (json_is_array(v)) {
        size_t i;
        json_t *e;
        rc = (long)json_array_size(v);
        json_array_foreach(v, i, e) {
            if (!json_is_integer(e) || json_integer_value(e) < 0) {
                rc = -1;
                break;
            }
            if (i < cap)
                out[i] = (uint64_t)json_integer_value(e);
        }
    }
    json_decref(root);
    return rc;
}

int ctl_json_validate(const char *json)
{
    json_t *root = json ? json_loads(json, JSON_REJECT_DUPLICATES, NULL) : NULL;
    int rc = root ? 0 : -1;
    json_decref(root);
    return rc;
}

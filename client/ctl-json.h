/*
 * ctl-json.h - read-only lookups in one JSON text, for preemptctl, over
 * jansson (docs/design.md, "Libraries": why jansson).
 *
 * Each call parses json with json_loads() and finds the value at a dotted
 * path of object keys ("sampler.event_rate"). The text must be exactly one
 * well-formed JSON object or array (RFC 8259: no trailing garbage, NaN,
 * leading zeros or duplicate keys; integers within int64_t, reals finite),
 * else every lookup fails: a truncated or hostile reply yields "not
 * found", never a wrong answer. Keys containing '.' or longer than 63 bytes cannot be
 * addressed (the daemon has none). Parsing anew per lookup is deliberate:
 * a stats document is ~2 KB and a command looks up a few dozen values.
 * No global state; json may be NULL (every lookup then fails).
 */
#ifndef PBD_CTL_JSON_H
#define PBD_CTL_JSON_H

#include <stddef.h>
#include <stdint.h>

/* Returns 0 and stores the number (integer or real) at path in *out, or -1
 * when it is missing or not a number. */
int ctl_json_number(const char *json, const char *path, double *out);

/* As ctl_json_number for a non-negative integer, exact (up to INT64_MAX:
 * jansson refuses a document with a larger integer). Returns 0, or -1
 * (missing, negative, real). */
int ctl_json_u64(const char *json, const char *path, uint64_t *out);

/* Copies the string at path, unescaped (UTF-8), NUL-terminated, into buf
 * (cap > 0). Returns its length, or -1 when missing, not a string, or
 * longer than cap - 1 (buf is then left unchanged). */
int ctl_json_string(const char *json, const char *path, char *buf,
                    size_t cap);

/* Returns 1 for true, 0 for false, -1 when missing or not a boolean. */
int ctl_json_bool(const char *json, const char *path);

/* Stores up to cap non-negative integers of the array at path into out.
 * Returns how many the array holds (which may exceed cap: only cap are
 * stored), or -1 when missing, not an array, or an element is not a
 * non-negative integer. */
long ctl_json_u64_array(const char *json, const char *path, uint64_t *out,
                        size_t cap);

/* Returns 0 when json is exactly one well-formed JSON object or array
 * (surrounding white space allowed), -1 otherwise. */
int ctl_json_validate(const char *json);

#endif

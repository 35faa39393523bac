/*
 * ctl-json.h - read-only lookups in one JSON text, for preemptctl.
 *
 * Not a general parser: it finds the value at a dotted path of object keys
 * ("sampler.event_rate") and converts it. Every skipped value is checked for
 * well-formedness on the way, so a truncated or malformed document yields
 * "not found" rather than a wrong answer. Keys containing '.' cannot be
 * addressed (the daemon has none). Pure: no allocation, no global state.
 */
#ifndef PBD_CTL_JSON_H
#define PBD_CTL_JSON_H

#include <stddef.h>
#include <stdint.h>

/* Returns a pointer to the first character of the value at path inside
 * json (NUL-terminated), or NULL when a key is missing, a step is not an
 * object, or the text before the value is malformed. */
const char *ctl_json_find(const char *json, const char *path);

/* Returns 0 and stores the number at path in *out, or -1 when it is
 * missing or not a number. */
int ctl_json_number(const char *json, const char *path, double *out);

/* As ctl_json_number for a non-negative integer, kept exact up to
 * UINT64_MAX. Returns 0, or -1 (missing, negative, fractional, too big). */
int ctl_json_u64(const char *json, const char *path, uint64_t *out);

/* Copies the string at path, unescaped, NUL-terminated, into buf (cap > 0);
 * \uXXXX escapes outside ASCII become '?'. Returns its length, or -1 when
 * missing, not a string, or longer than cap - 1. */
int ctl_json_string(const char *json, const char *path, char *buf,
                    size_t cap);

/* Returns 1 for true, 0 for false, -1 when missing or not a boolean. */
int ctl_json_bool(const char *json, const char *path);

/* Stores up to cap non-negative integers of the array at path into out.
 * Returns how many the array holds (which may exceed cap: only cap are
 * stored), or -1 when missing, malformed, or an element is not a
 * non-negative integer. */
long ctl_json_u64_array(const char *json, const char *path, uint64_t *out,
                        size_t cap);

/* Returns 0 when json is exactly one well-formed JSON value (surrounding
 * white space allowed), -1 otherwise. */
int ctl_json_validate(const char *json);

#endif

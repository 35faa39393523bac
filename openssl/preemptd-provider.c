/*
 * preemptd-provider.c - an OpenSSL 3 provider with one algorithm: the
 * EVP_RAND "PREEMPTD", a seed source for OpenSSL's primary DRBG.
 *
 * Every seed is HKDF-SHA256 over fresh OS bytes (getentropy) and, when the
 * daemon answers, as many fresh conditioned bytes from preemptd: libpbd's
 * draw (client/getentropy.c, client/seedmix.c), shared with
 * pbd_getentropy(), so it is never weaker than OpenSSL's own seed source.
 * When the daemon is away or its source has failed, the default is an
 * OS-only seed, quietly: one syslog line per process at most, stderr lines
 * only with `verbose = yes`; `strict = yes` in the provider's config section
 * refuses the seed instead. docs/openssl.md has the configuration and the
 * reasons.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>
#include <syslog.h>
#include <unistd.h>

#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <sodium.h>

#include "pbd-int.h"
#include "seedmix.h"

#define SEED_STRENGTH 256    /* bits; what the primary DRBG (AES-256) asks */
#define SEED_MIN_BYTES 32    /* entropy bytes drawn per seed, at least */
#define SEED_MAX_REQUEST 128 /* bytes per request, as OpenSSL's SEED-SRC */
#define TIMEOUT_MS_DEFAULT 1000
#define TIMEOUT_MS_MAX 120000

/* Reason codes for the OpenSSL error queue. */
enum {
    PREEMPTD_R_REFUSED = 1,
    PREEMPTD_R_OS_SOURCE,
    PREEMPTD_R_REQUEST,
    PREEMPTD_R_STATE,
    PREEMPTD_R_CONFIG,
    PREEMPTD_R_NOMEM,
};

static const OSSL_ITEM prov_reasons[] = {
    {PREEMPTD_R_REFUSED, "preemptd unavailable and strict = yes"},
    {PREEMPTD_R_OS_SOURCE, "the operating system's entropy source failed"},
    {PREEMPTD_R_REQUEST, "seed request out of range"},
    {PREEMPTD_R_STATE, "seed source not instantiated"},
    {PREEMPTD_R_CONFIG, "bad preemptd provider configuration"},
    {PREEMPTD_R_NOMEM, "out of memory"},
    {0, NULL},
};

/* Where the most recent seed came from. */
enum prov_source { SRC_NONE, SRC_DAEMON, SRC_OS_ONLY, SRC_REFUSED };
static const char *const prov_source_names[] = {"none", "preemptd+os",
                                                "os-only", "refused"};

/* One per loaded provider (per OSSL_LIB_CTX). The configuration is fixed at
 * init; the status below `lock` is shared by every seed context. */
struct prov {
    const OSSL_CORE_HANDLE *core;
    OSSL_FUNC_core_new_error_fn *new_error;
    OSSL_FUNC_core_set_error_debug_fn *set_error_debug;
    OSSL_FUNC_core_vset_error_fn *vset_error;
    char *socket; /* NULL: libpbd's default ($PBD_SOCKET, then built-in) */
    bool strict;
    bool verbose; /* a stderr line at each change of source */
    uint32_t timeout_ms;

    pthread_mutex_t lock;
    enum prov_source source;
    int last_err; /* PBD_E* of the last failed draw, 0 after a good one */
    uint64_t seeds, os_only, refused, daemon_bytes;
};

struct seed {
    struct prov *pv;
    int state; /* EVP_RAND_STATE_*; only instantiate/uninstantiate write it */
};

#define prov_raise(pv, reason, ...)                                            \
    prov_raise_at(pv, __FILE__, __LINE__, __func__, reason, __VA_ARGS__)

__attribute__((format(printf, 6, 7))) static void
prov_raise_at(const struct prov *pv, const char *file, int line,
              const char *func, int reason, const char *fmt, ...)
{
    if (!pv->new_error || !pv->vset_error)
        return;
    pv->new_error(pv->core);
    if (pv->set_error_debug)
        pv->set_error_debug(pv->core, file, line, func);
    va_list ap;
    va_start(ap, fmt);
    pv->vset_error(pv->core, reason, fmt, ap);
    va_end(ap);
}

static const char *prov_socket(const struct prov *pv)
{
    return pv->socket ? pv->socket : pbd_default_socket();
}

/* The process that wrote the syslog line, if one did: at most one per
 * process, for every provider in it (a forked child may write its own). */
static pid_t prov_logged_pid;

/* Says that seeds come from elsewhere now: on stderr with verbose = yes;
 * otherwise a fallback gets one syslog line per process, so the OpenSSL
 * programs of a host whose daemon is away (or of users without access to its
 * socket) print nothing, as OpenSSL's own seed sources print nothing. */
__attribute__((format(printf, 3, 4))) static void
prov_log(const struct prov *pv, int prio, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    pid_t me = getpid();
    if (pv->verbose)
        fprintf(stderr, "preemptd-provider[%ld]: %s\n", (long)me, msg);
    else if (prio <= LOG_NOTICE &&
             __atomic_exchange_n(&prov_logged_pid, me, __ATOMIC_RELAXED) != me)
        syslog(LOG_USER | prio, "preemptd-provider[%ld]: %s (no more such "
               "lines from this process)", (long)me, msg);
}

/* Records where a seed came from; says so when that changes. */
static void prov_record(struct prov *pv, enum prov_source src, int err,
                        size_t dbytes)
{
    pthread_mutex_lock(&pv->lock);
    enum prov_source was = pv->source;
    pv->source = src;
    pv->last_err = err;
    pv->seeds += src != SRC_REFUSED;
    pv->os_only += src == SRC_OS_ONLY;
    pv->refused += src == SRC_REFUSED;
    pv->daemon_bytes += dbytes;
    pthread_mutex_unlock(&pv->lock);
    if (src == was || (src == SRC_DAEMON && was == SRC_NONE))
        return;
    if (src == SRC_DAEMON)
        prov_log(pv, LOG_INFO, "daemon at %s answers again; seeding from "
                 "preemptd and the OS", prov_socket(pv));
    else
        prov_log(pv, src == SRC_OS_ONLY ? LOG_NOTICE : LOG_ERR,
                 "%s (%s): %s", pbd_strerror(err), prov_socket(pv),
                 src == SRC_OS_ONLY ? "seeding from the OS alone"
                                    : "strict = yes, refusing to seed");
}

/* Writes outlen seed bytes carrying nbytes bytes of entropy: nbytes from the
 * OS and, if the daemon serves them within timeout_ms, nbytes conditioned
 * bytes (pbd_mix_draw). Returns 1, or 0 with an error raised. */
static int prov_seed(struct prov *pv, uint8_t *out, size_t outlen,
                     size_t nbytes, const uint8_t *adin, size_t adinlen)
{
    int err;
    int rc = pbd_mix_draw(pv->socket, out, outlen, nbytes, adin, adinlen,
                          pv->strict ? PBD_GETENTROPY_STRICT : 0,
                          pv->timeout_ms, &err);
    if (rc == PBD_EOSRANDOM || rc == PBD_EINVAL) {
        prov_raise(pv, rc == PBD_EINVAL ? PREEMPTD_R_REQUEST
                                        : PREEMPTD_R_OS_SOURCE,
                   "%s (%zu seed bytes)", pbd_strerror(rc), outlen);
        return 0;
    }
    enum prov_source src = err == 0 ? SRC_DAEMON
                           : rc != 0 ? SRC_REFUSED
                                     : SRC_OS_ONLY;
    prov_record(pv, src, err, err == 0 ? nbytes : 0);
    if (src == SRC_REFUSED)
        prov_raise(pv, PREEMPTD_R_REFUSED, "%s (%s); strict = yes",
                   pbd_strerror(err), prov_socket(pv));
    return rc == 0;
}

/* Entropy bytes for a request of `bits`, or 0 (error raised) beyond our
 * strength. */
static size_t seed_entropy_bytes(const struct seed *s, int bits)
{
    if (s->state != EVP_RAND_STATE_READY) {
        prov_raise(s->pv, PREEMPTD_R_STATE, "state %d", s->state);
        return 0;
    }
    if (bits > SEED_STRENGTH) {
        prov_raise(s->pv, PREEMPTD_R_REQUEST, "%d bits asked, strength %d",
                   bits, SEED_STRENGTH);
        return 0;
    }
    size_t n = bits > 0 ? ((size_t)bits + 7) / 8 : 0;
    return n < SEED_MIN_BYTES ? SEED_MIN_BYTES : n;
}

/* --- the EVP_RAND dispatch table --- */

static OSSL_FUNC_rand_newctx_fn seed_new;
static OSSL_FUNC_rand_freectx_fn seed_free;
static OSSL_FUNC_rand_instantiate_fn seed_instantiate;
static OSSL_FUNC_rand_uninstantiate_fn seed_uninstantiate;
static OSSL_FUNC_rand_generate_fn seed_generate;
static OSSL_FUNC_rand_reseed_fn seed_reseed;
static OSSL_FUNC_rand_enable_locking_fn seed_enable_locking;
static OSSL_FUNC_rand_lock_fn seed_lock;
static OSSL_FUNC_rand_unlock_fn seed_unlock;
static OSSL_FUNC_rand_gettable_ctx_params_fn seed_gettable_ctx_params;
static OSSL_FUNC_rand_get_ctx_params_fn seed_get_ctx_params;
static OSSL_FUNC_rand_verify_zeroization_fn seed_verify_zeroization;
static OSSL_FUNC_rand_get_seed_fn seed_get_seed;
static OSSL_FUNC_rand_clear_seed_fn seed_clear_seed;

static void *seed_new(void *provctx, void *parent,
                      const OSSL_DISPATCH *parent_dispatch)
{
    struct prov *pv = provctx;
    if (parent) {
        prov_raise(pv, PREEMPTD_R_REQUEST, "a seed source has no parent");
        return NULL;
    }
    struct seed *s = calloc(1, sizeof(*s));
    if (!s) {
        prov_raise(pv, PREEMPTD_R_NOMEM, "seed context");
        return NULL;
    }
    s->pv = pv;
    s->state = EVP_RAND_STATE_UNINITIALISED;
    return s;
}

static void seed_free(void *vs)
{
    free(vs);
}

/* Instantiation does not touch the daemon: OpenSSL quietly falls back to
 * its own seed source when this fails, which would defeat strict = yes. */
static int seed_instantiate(void *vs, unsigned int strength, int pr,
                            const unsigned char *pstr, size_t pstr_len,
                            const OSSL_PARAM params[])
{
    struct seed *s = vs;
    s->state = EVP_RAND_STATE_READY;
    return 1;
}

static int seed_uninstantiate(void *vs)
{
    struct seed *s = vs;
    s->state = EVP_RAND_STATE_UNINITIALISED;
    return 1;
}

static int seed_generate(void *vs, unsigned char *out, size_t outlen,
                         unsigned int strength, int pr,
                         const unsigned char *adin, size_t adin_len)
{
    struct seed *s = vs;
    size_t n = seed_entropy_bytes(s, (int)strength);
    if (n == 0)
        return 0;
    if (outlen > SEED_MAX_REQUEST) {
        prov_raise(s->pv, PREEMPTD_R_REQUEST, "%zu bytes, at most %d",
                   outlen, SEED_MAX_REQUEST);
        return 0;
    }
    return outlen == 0 || prov_seed(s->pv, out, outlen, n, adin, adin_len);
}

static int seed_reseed(void *vs, int pr, const unsigned char *ent,
                       size_t ent_len, const unsigned char *adin,
                       size_t adin_len)
{
    struct seed *s = vs;
    return s->state == EVP_RAND_STATE_READY;
}

/* Each seed is drawn fresh and the shared status has its own mutex, so
 * OpenSSL's lock has nothing to guard (as for its own SEED-SRC). */
static int seed_enable_locking(void *vs)
{
    return 1;
}

static int seed_lock(void *vs)
{
    return 1;
}

static void seed_unlock(void *vs)
{
}

static const OSSL_PARAM seed_gettable[] = {
    OSSL_PARAM_int(OSSL_RAND_PARAM_STATE, NULL),
    OSSL_PARAM_uint(OSSL_RAND_PARAM_STRENGTH, NULL),
    OSSL_PARAM_size_t(OSSL_RAND_PARAM_MAX_REQUEST, NULL),
    OSSL_PARAM_utf8_string("source", NULL, 0),
    OSSL_PARAM_utf8_string("last_error", NULL, 0),
    OSSL_PARAM_utf8_string("socket", NULL, 0),
    OSSL_PARAM_int("strict", NULL),
    OSSL_PARAM_uint64("seeds", NULL),
    OSSL_PARAM_uint64("os_only_seeds", NULL),
    OSSL_PARAM_uint64("refused_seeds", NULL),
    OSSL_PARAM_uint64("daemon_bytes", NULL),
    OSSL_PARAM_END,
};

static const OSSL_PARAM *seed_gettable_ctx_params(void *vs, void *provctx)
{
    return seed_gettable;
}

static int seed_get_ctx_params(void *vs, OSSL_PARAM params[])
{
    struct seed *s = vs;
    struct prov *pv = s->pv;
    OSSL_PARAM *p;

    pthread_mutex_lock(&pv->lock);
    enum prov_source src = pv->source;
    int err = pv->last_err;
    uint64_t n[4] = {pv->seeds, pv->os_only, pv->refused, pv->daemon_bytes};
    pthread_mutex_unlock(&pv->lock);

    static const char *const counters[] = {"seeds", "os_only_seeds",
                                           "refused_seeds", "daemon_bytes"};
    for (size_t i = 0; i < 4; i++)
        if ((p = OSSL_PARAM_locate(params, counters[i])) &&
            !OSSL_PARAM_set_uint64(p, n[i]))
            return 0;
    if ((p = OSSL_PARAM_locate(params, OSSL_RAND_PARAM_STATE)) &&
        !OSSL_PARAM_set_int(p, s->state))
        return 0;
    if ((p = OSSL_PARAM_locate(params, OSSL_RAND_PARAM_STRENGTH)) &&
        !OSSL_PARAM_set_uint(p, SEED_STRENGTH))
        return 0;
    if ((p = OSSL_PARAM_locate(params, OSSL_RAND_PARAM_MAX_REQUEST)) &&
        !OSSL_PARAM_set_size_t(p, SEED_MAX_REQUEST))
        return 0;
    if ((p = OSSL_PARAM_locate(params, "source")) &&
        !OSSL_PARAM_set_utf8_string(p, prov_source_names[src]))
        return 0;
    if ((p = OSSL_PARAM_locate(params, "last_error")) &&
        !OSSL_PARAM_set_utf8_string(p, err ? pbd_errname(err) : ""))
        return 0;
    if ((p = OSSL_PARAM_locate(params, "socket")) &&
        !OSSL_PARAM_set_utf8_string(p, prov_socket(pv)))
        return 0;
    if ((p = OSSL_PARAM_locate(params, "strict")) &&
        !OSSL_PARAM_set_int(p, pv->strict))
        return 0;
    return 1;
}

static int seed_verify_zeroization(void *vs)
{
    return 1; /* nothing secret is kept between calls */
}

static size_t seed_get_seed(void *vs, unsigned char **pout, int entropy,
                            size_t min_len, size_t max_len, int pr,
                            const unsigned char *adin, size_t adin_len)
{
    struct seed *s = vs;
    size_t n = seed_entropy_bytes(s, entropy);
    if (n == 0)
        return 0;
    size_t outlen = n < min_len ? min_len : n;
    if (outlen > max_len || outlen > SEEDMIX_MAX_OUT) {
        prov_raise(s->pv, PREEMPTD_R_REQUEST, "%zu..%zu bytes", min_len,
                   max_len);
        return 0;
    }
    uint8_t *buf = malloc(outlen);
    if (!buf) {
        prov_raise(s->pv, PREEMPTD_R_NOMEM, "%zu seed bytes", outlen);
        return 0;
    }
    if (!prov_seed(s->pv, buf, outlen, n, adin, adin_len)) {
        free(buf);
        return 0;
    }
    *pout = buf;
    return outlen;
}

static void seed_clear_seed(void *vs, unsigned char *out, size_t outlen)
{
    if (!out)
        return;
    sodium_memzero(out, outlen);
    free(out);
}

static const OSSL_DISPATCH seed_functions[] = {
    {OSSL_FUNC_RAND_NEWCTX, (void (*)(void))seed_new},
    {OSSL_FUNC_RAND_FREECTX, (void (*)(void))seed_free},
    {OSSL_FUNC_RAND_INSTANTIATE, (void (*)(void))seed_instantiate},
    {OSSL_FUNC_RAND_UNINSTANTIATE, (void (*)(void))seed_uninstantiate},
    {OSSL_FUNC_RAND_GENERATE, (void (*)(void))seed_generate},
    {OSSL_FUNC_RAND_RESEED, (void (*)(void))seed_reseed},
    {OSSL_FUNC_RAND_ENABLE_LOCKING, (void (*)(void))seed_enable_locking},
    {OSSL_FUNC_RAND_LOCK, (void (*)(void))seed_lock},
    {OSSL_FUNC_RAND_UNLOCK, (void (*)(void))seed_unlock},
    {OSSL_FUNC_RAND_GETTABLE_CTX_PARAMS,
     (void (*)(void))seed_gettable_ctx_params},
    {OSSL_FUNC_RAND_GET_CTX_PARAMS, (void (*)(void))seed_get_ctx_params},
    {OSSL_FUNC_RAND_VERIFY_ZEROIZATION,
     (void (*)(void))seed_verify_zeroization},
    {OSSL_FUNC_RAND_GET_SEED, (void (*)(void))seed_get_seed},
    {OSSL_FUNC_RAND_CLEAR_SEED, (void (*)(void))seed_clear_seed},
    {0, NULL},
};

static const OSSL_ALGORITHM prov_rands[] = {
    {"PREEMPTD", "provider=preemptd", seed_functions,
     "seed source: preemptd's conditioned output mixed with the OS's"},
    {NULL, NULL, NULL, NULL},
};

/* --- the provider --- */

static const OSSL_ALGORITHM *prov_query(void *provctx, int operation_id,
                                        int *no_cache)
{
    *no_cache = 0;
    return operation_id == OSSL_OP_RAND ? prov_rands : NULL;
}

static const OSSL_PARAM prov_gettable[] = {
    OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_NAME, NULL, 0),
    OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_VERSION, NULL, 0),
    OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_BUILDINFO, NULL, 0),
    OSSL_PARAM_int(OSSL_PROV_PARAM_STATUS, NULL),
    OSSL_PARAM_END,
};

static const OSSL_PARAM *prov_gettable_params(void *provctx)
{
    return prov_gettable;
}

static int prov_get_params(void *provctx, OSSL_PARAM params[])
{
    OSSL_PARAM *p;
    if ((p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_NAME)) &&
        !OSSL_PARAM_set_utf8_ptr(p, "preemptd seed source"))
        return 0;
    if ((p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_VERSION)) &&
        !OSSL_PARAM_set_utf8_ptr(p, PBD_VERSION_STRING))
        return 0;
    if ((p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_BUILDINFO)) &&
        !OSSL_PARAM_set_utf8_ptr(p, "preemptd " PBD_VERSION_STRING))
        return 0;
    if ((p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_STATUS)) &&
        !OSSL_PARAM_set_int(p, 1))
        return 0;
    return 1;
}

static const OSSL_ITEM *prov_reason_strings(void *provctx)
{
    return prov_reasons;
}

static void prov_teardown(void *provctx)
{
    struct prov *pv = provctx;
    pthread_mutex_destroy(&pv->lock);
    free(pv->socket);
    free(pv);
}

static const OSSL_DISPATCH prov_functions[] = {
    {OSSL_FUNC_PROVIDER_TEARDOWN, (void (*)(void))prov_teardown},
    {OSSL_FUNC_PROVIDER_GETTABLE_PARAMS, (void (*)(void))prov_gettable_params},
    {OSSL_FUNC_PROVIDER_GET_PARAMS, (void (*)(void))prov_get_params},
    {OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*)(void))prov_query},
    {OSSL_FUNC_PROVIDER_GET_REASON_STRINGS,
     (void (*)(void))prov_reason_strings},
    {0, NULL},
};

/* "yes"/"no" and the usual spellings; -1 for anything else. */
static int prov_bool(const char *v)
{
    static const char *const yes[] = {"yes", "1", "true", "on"};
    static const char *const no[] = {"no", "0", "false", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0)
            return 1;
        if (strcasecmp(v, no[i]) == 0)
            return 0;
    }
    return -1;
}

/* Reads socket, strict, verbose and timeout_ms from the provider's config
 * section.
 * A value it cannot read is logged and the cautious choice taken (strict:
 * yes; timeout_ms: the default) rather than failing to load, because
 * OpenSSL quietly seeds from its own source when a provider fails to load.
 * Returns 0, or -1 (error raised) when the core or memory fails. */
static int prov_config(struct prov *pv, OSSL_FUNC_core_get_params_fn *get)
{
    const char *sock = NULL, *strict = NULL, *timeout = NULL, *verbose = NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_utf8_ptr("socket", (char **)&sock, 0),
        OSSL_PARAM_utf8_ptr("strict", (char **)&strict, 0),
        OSSL_PARAM_utf8_ptr("verbose", (char **)&verbose, 0),
        OSSL_PARAM_utf8_ptr("timeout_ms", (char **)&timeout, 0),
        OSSL_PARAM_END,
    };
    pv->timeout_ms = TIMEOUT_MS_DEFAULT;
    if (get && !get(pv->core, params)) {
        prov_raise(pv, PREEMPTD_R_CONFIG, "cannot read the parameters");
        return -1;
    }
    if (strict) {
        int v = prov_bool(strict);
        if (v < 0)
            fprintf(stderr, "preemptd-provider: strict = %s: want yes or no;"
                            " taking yes\n", strict);
        pv->strict = v != 0;
    }
    if (verbose) {
        int v = prov_bool(verbose);
        if (v < 0)
            fprintf(stderr, "preemptd-provider: verbose = %s: want yes or "
                            "no; taking no\n", verbose);
        pv->verbose = v == 1;
    }
    if (timeout) {
        char *end;
        errno = 0;
        unsigned long t = strtoul(timeout, &end, 10);
        if (errno || *end || end == timeout || t == 0 || t > TIMEOUT_MS_MAX)
            fprintf(stderr, "preemptd-provider: timeout_ms = %s: want "
                            "1..%d; taking %d\n", timeout, TIMEOUT_MS_MAX,
                    TIMEOUT_MS_DEFAULT);
        else
            pv->timeout_ms = (uint32_t)t;
    }
    if (sock && *sock && !(pv->socket = strdup(sock))) {
        prov_raise(pv, PREEMPTD_R_NOMEM, "socket path");
        return -1;
    }
    return 0;
}

int OSSL_provider_init(const OSSL_CORE_HANDLE *core, const OSSL_DISPATCH *in,
                       const OSSL_DISPATCH **out, void **provctx)
{
    OSSL_FUNC_core_get_params_fn *get_params = NULL;
    struct prov *pv = calloc(1, sizeof(*pv));
    if (!pv)
        return 0;
    pv->core = core;
    for (; in->function_id != 0; in++) {
        switch (in->function_id) {
        case OSSL_FUNC_CORE_GET_PARAMS:
            get_params = OSSL_FUNC_core_get_params(in);
            break;
        case OSSL_FUNC_CORE_NEW_ERROR:
            pv->new_error = OSSL_FUNC_core_new_error(in);
            break;
        case OSSL_FUNC_CORE_SET_ERROR_DEBUG:
            pv->set_error_debug = OSSL_FUNC_core_set_error_debug(in);
            break;
        case OSSL_FUNC_CORE_VSET_ERROR:
            pv->vset_error = OSSL_FUNC_core_vset_error(in);
            break;
        default:
            break;
        }
    }
    if (sodium_init() < 0 || pthread_mutex_init(&pv->lock, NULL) != 0) {
        free(pv);
        return 0;
    }
    if (prov_config(pv, get_params) != 0) {
        prov_teardown(pv);
        return 0;
    }
    *out = prov_functions;
    *provctx = pv;
    return 1;
}

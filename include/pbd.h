/*
 * pbd.h - client library for preemptd, the preemption-boundary entropy daemon.
 *
 * This is the only installed header. The library talks to the daemon over
 * a Unix domain socket; its calls block until done or until the deadline
 * below. It needs no event loop; it links libsodium for pbd_getentropy()'s
 * HKDF.
 *
 * Errors: every function that can fail returns 0 on success or a negative
 * PBD_E* code; pbd_strerror() turns a code into text. No function sets errno
 * as part of its contract.
 *
 * Threads: a pbd_t handle holds one connection and must not be used by two
 * threads at once; separate handles are independent. pbd_getentropy() opens
 * and closes its own connection and is safe to call from any thread.
 *
 * Reconnection: a handle outlives its connection. When the daemon closes it
 * (its --idle-ms, a restart) or it breaks, the call that finds out connects
 * again and sends its request anew, once, if no byte of that request's reply
 * had arrived; a reply that had begun is never taken again, so no byte is
 * returned twice and no reply is returned in part. A capture is bound to its
 * connection: a capture read whose connection went away returns PBD_ELOST
 * instead (see PBD_MODE_CAPTURE).
 *
 * Deadline: no call blocks forever on a daemon that stopped answering. A
 * call gives up with PBD_ETIMEDOUT once the daemon has been silent for its
 * wait limit (the timeout_ms asked for, PBD_WAIT_DEFAULT_MS when that is 0
 * or the call asks for no wait, at most PBD_WAIT_MAX_MS) plus
 * PBD_DEADLINE_MARGIN_MS, connecting included. The handle then drops its
 * connection, which may still carry a late reply, and opens a new one at its
 * next call.
 *
 * Processes: a handle belongs to the process that opened it. In a child
 * after fork() every call on an inherited handle fails with PBD_EFORKED and
 * leaves the connection alone, so the parent's stays in step; pbd_close()
 * there frees the child's copy and closes only the child's descriptor. The
 * library's sockets are close-on-exec.
 */
#ifndef PBD_H
#define PBD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version built against; pbd_version() gives the one running. Kept
 * here, not generated, so that tools compiling the sources without meson
 * (.ci's fuzz and macOS checks) see them; include/meson.build refuses to
 * configure unless they spell meson's project version. */
#define PBD_VERSION_MAJOR 0
#define PBD_VERSION_MINOR 1
#define PBD_VERSION_PATCH 0
#define PBD_VERSION_STRING "0.1.0"

/* Default socket path; the PBD_SOCKET environment variable overrides it for
 * both the daemon and the library. On macOS it sits directly in /var/run,
 * which exists at boot: launchd creates the socket but no directory. */
#if defined(__APPLE__)
#define PBD_DEFAULT_SOCKET "/var/run/preemptd.sock"
#else
#define PBD_DEFAULT_SOCKET "/run/preemptd/preemptd.sock"
#endif
#define PBD_SOCKET_ENV "PBD_SOCKET"

/* Largest single read request on the wire; pbd_read() splits larger reads. */
#define PBD_MAX_READ (1u << 20)

/* The daemon's default wait for entropy, which the client-side deadline
 * assumes for a wait of 0: a daemon started with a longer --wait-ms needs
 * that wait passed explicitly. */
#define PBD_WAIT_DEFAULT_MS 10000u
/* The longest wait the daemon grants; longer requests are cut to it. */
#define PBD_WAIT_MAX_MS 120000u
/* How long past its wait limit a call still waits for a reply: room for a
 * busy daemon and a loaded machine before the daemon is taken for hung. */
#define PBD_DEADLINE_MARGIN_MS 5000u

/* The library exports exactly the functions marked PBD_API; it is built
 * with hidden visibility, so its internals (the wire-format helpers it
 * shares with the daemon) are no part of its ABI. */
#if defined(__GNUC__) || defined(__clang__)
#define PBD_API __attribute__((visibility("default")))
#else
#define PBD_API
#endif

/*
 * Error codes: one table gives the enum, the name and the message.
 * The wire carries the positive value (-code).
 */
#define PBD_ERRNO_MAP(X)                                                       \
    X(EINVAL, -1, "invalid argument")                                          \
    X(ECONNECT, -2, "cannot connect to the daemon")                            \
    X(EIO, -3, "I/O error on the daemon connection")                           \
    X(ECLOSED, -4, "the daemon closed the connection")                         \
    X(EPROTO, -5, "protocol error")                                            \
    X(EVERSION, -6, "protocol version not supported")                          \
    X(EHEALTH, -7, "entropy source failed its health test; output withheld")  \
    X(EAGAIN, -8, "not enough entropy available now")                         \
    X(ETIMEDOUT, -9, "timed out waiting for entropy")                          \
    X(ETOOBIG, -10, "request too large")                                       \
    X(EPERM, -11, "not permitted")                                             \
    X(ENOMEM, -12, "out of memory")                                            \
    X(EBUSY, -13, "daemon busy: too many connections")                        \
    X(ENOTSEEDED, -14, "DRBG not yet seeded from the entropy source")          \
    X(EPATH, -15, "socket path too long")                                      \
    X(ESHUTDOWN, -16, "daemon is shutting down")                              \
    X(EFORKED, -17, "handle opened by another process (used after fork)")    \
    X(EOVERRUN, -18, "capture ended: samples were lost (read faster)")        \
    X(EINUSE, -19, "another client's capture is running")                    \
    X(EACCESS, -20, "permission denied on the daemon socket: add yourself "  \
                    "to its group (preemptd)")                                \
    X(ENOSOCKET, -21, "no daemon socket at that path: is preemptd running?") \
    X(EREFUSED, -22, "connection refused: a stale socket, preemptd is not "  \
                     "running")                                               \
    X(ELOST, -23, "capture lost with its connection: the samples would have " \
                  "a gap")                                                    \
    X(EOSRANDOM, -24, "the operating system's random source failed")

enum pbd_errno {
    PBD_OK = 0,
#define PBD_X_ENUM(name, val, msg) PBD_##name = (val),
    PBD_ERRNO_MAP(PBD_X_ENUM)
#undef PBD_X_ENUM
};

/* Output modes. */
typedef enum pbd_mode {
    /* Full-entropy 32-byte SHA-256 blocks over raw bytes credited with
     * >= 320 bits of min-entropy each. Limited by the entropy rate. */
    PBD_MODE_CONDITIONED = 0,
    /* Folded jump bytes as sampled and health-tested, for assessment only:
     * they are NOT uniformly random. */
    PBD_MODE_RAW = 1,
    /* ChaCha20 fast-key-erasure DRBG seeded from conditioned output. */
    PBD_MODE_DRBG = 2,
    /* Consecutive raw samples for assessment (SP 800-90B): while a
     * connection captures, every sample the sampler makes goes to it and
     * to nobody else, in order, with no gap: a sample that cannot be
     * delivered ends the capture with PBD_EOVERRUN (or PBD_EHEALTH), never
     * a hole. The capture is bound to its connection: once samples have
     * come, a connection lost (the daemon gone, a client-side timeout) ends
     * it, and the capture read that finds out returns PBD_ELOST; the next
     * capture read begins a new capture. A restart read is never sent
     * again either. The capture lasts until the handle is closed; one at a time
     * per daemon (PBD_EINUSE), for root, the daemon's uid and --raw-uid
     * (PBD_EPERM). Other clients get no new entropy meanwhile. NOT
     * uniformly random. */
    PBD_MODE_CAPTURE = 3,
} pbd_mode;

/* Flags for pbd_read_ex(). */
#define PBD_READ_NOWAIT 0x01u /* fail with PBD_EAGAIN rather than wait;
                               * not for PBD_MODE_CAPTURE */
/* PBD_MODE_CAPTURE only: restart the noise source (stop the sampler
 * thread, re-calibrate, start a new one) and return its first len samples
 * (len <= 65536); the capture then ends. SP 800-90B 3.1.4's restart data. */
#define PBD_READ_RESTART 0x02u

typedef struct pbd pbd_t;

/* Health as reported by pbd_health(). */
typedef enum pbd_health_state {
    PBD_HEALTH_OK = 0,       /* serving all modes */
    PBD_HEALTH_DEGRADED = 1, /* serving, but something needs attention */
    PBD_HEALTH_FAILED = 2,   /* raw and conditioned output withheld */
} pbd_health_state;

/* Returns the socket path the library uses: $PBD_SOCKET if set and
 * non-empty, else PBD_DEFAULT_SOCKET. The string is not owned by the caller. */
PBD_API const char *pbd_default_socket(void);

/* Connects to the daemon at path (NULL: pbd_default_socket()); the path is
 * copied. On success stores a new handle in *out, owned by the caller (free
 * with pbd_close), and returns 0. It never waits: when the socket cannot
 * take the connection at once (a daemon stopped, or busy, with its listen
 * backlog full) the handle connects at its first call, within that call's
 * deadline. Otherwise *out is NULL and the code is PBD_EINVAL, PBD_EPATH,
 * PBD_ENOMEM, PBD_EACCESS (the socket's mode or group keeps the caller
 * out), PBD_ENOSOCKET (nothing at path: the daemon is not running),
 * PBD_EREFUSED (a socket nobody listens on: a stale one, or on macOS a full
 * backlog) or PBD_ECONNECT (any other failure). Safe from any thread. */
PBD_API int pbd_open(pbd_t **out, const char *path);

/* Closes the connection and frees the handle, which must not be in use in
 * another thread. NULL is ignored. In a forked child it closes only the
 * child's descriptor: the parent's connection is not shut down. */
PBD_API void pbd_close(pbd_t *p);

/* Fills exactly len bytes of buf (owned by the caller) in the given mode,
 * waiting for the source if needed. Conditioned and raw reads go out as
 * small requests (64 and 512 bytes, up to four in flight), so a long read
 * proceeds as entropy arrives; each request fails with PBD_ETIMEDOUT if the
 * daemon cannot fill it within its wait limit (10 s by default). The
 * client-side deadline (see the top of this file) runs per reply, from the
 * reply before: a read that keeps receiving is never cut short, one whose
 * daemon goes silent ends within the wait limit plus the margin. The first
 * error ends the call; replies still owed are not waited for (the
 * connection is dropped and opened again at the next call). Returns 0, or a
 * negative PBD_E* code (PBD_EFORKED in a process that did not open p); on
 * failure the contents of buf are unspecified and have been wiped. Bytes
 * are never served twice, to this or any client. One thread per handle. */
PBD_API int pbd_read(pbd_t *p, void *buf, size_t len, pbd_mode mode);

/* As pbd_read() with flags (PBD_READ_NOWAIT) and a wait limit per request
 * in milliseconds (0: the daemon's default; the daemon cuts it to
 * PBD_WAIT_MAX_MS). The client gives up on a silent daemon timeout_ms (or
 * PBD_WAIT_DEFAULT_MS for 0) plus PBD_DEADLINE_MARGIN_MS after the last
 * reply. With PBD_READ_NOWAIT the read is sent whole (up to 64 KiB per
 * request in the entropy modes) and one that cannot be met in full from
 * stock fails with PBD_EAGAIN, consuming nothing. */
PBD_API int pbd_read_ex(pbd_t *p, void *buf, size_t len, pbd_mode mode,
                unsigned flags, uint32_t timeout_ms);

/* Writes the daemon's statistics as one NUL-terminated JSON object into buf.
 * Returns 0, or PBD_ETOOBIG if cap is too small (buf then holds a truncated,
 * NUL-terminated prefix), or another negative code; PBD_ETIMEDOUT after the
 * default deadline (PBD_WAIT_DEFAULT_MS + PBD_DEADLINE_MARGIN_MS). One
 * thread per handle. */
PBD_API int pbd_stats(pbd_t *p, char *buf, size_t cap);

/* Stores the daemon's health in *state and a NUL-terminated explanation in
 * msg (may be NULL when cap is 0). Returns 0 or a negative code, with the
 * same deadline as pbd_stats(). One thread per handle. */
PBD_API int pbd_health(pbd_t *p, pbd_health_state *state, char *msg, size_t cap);

/* Tells the daemon its DRBG's state may exist twice (this VM was restored
 * from a snapshot or cloned): it mixes fresh OS bytes into the DRBG key
 * before its next drbg byte and reseeds from the source as soon as it can.
 * For root and the daemon's own uid (else PBD_EPERM). Stores the daemon's
 * NUL-terminated account in msg (may be NULL when cap is 0). Returns 0 or a
 * negative code (PBD_EPROTO from a daemon that predates it), with the same
 * deadline as pbd_stats(). One thread per handle. */
PBD_API int pbd_reseed(pbd_t *p, char *msg, size_t cap);

/* The most pbd_getentropy() gives in one call, as getentropy(3). */
#define PBD_GETENTROPY_MAX 256u
/* pbd_getentropy()'s wait for the daemon, connecting included. */
#define PBD_GETENTROPY_TIMEOUT_MS 1000u
/* Flags for pbd_getentropy_ex(). */
#define PBD_GETENTROPY_STRICT 0x01u /* fail rather than use the OS alone */

/* A drop-in for getentropy(3): fills len (at most PBD_GETENTROPY_MAX) bytes
 * of buf with HKDF-SHA256 over n = min(len, 32) bytes from the OS's
 * getentropy() and, when the daemon on the default socket serves them in
 * time, n conditioned bytes from it. So the output is never weaker than the
 * OS's: the daemon adds a source and cannot take one away. When the daemon
 * cannot serve (not running, no access, failed source, no stock in time) the
 * output is HKDF over the OS's bytes alone, and the call still returns 0.
 * It ends within PBD_GETENTROPY_TIMEOUT_MS (plus scheduling delay). Returns
 * 0, PBD_ETOOBIG (len above PBD_GETENTROPY_MAX; buf untouched), PBD_EINVAL
 * or PBD_EOSRANDOM (the OS failed: no output at all). Opens and closes its
 * own connection: safe from any thread and in a forked child. */
PBD_API int pbd_getentropy(void *buf, size_t len);

/* As pbd_getentropy() with flags and a wait for the daemon in milliseconds,
 * connecting included (0: PBD_GETENTROPY_TIMEOUT_MS; at most
 * PBD_WAIT_MAX_MS). With PBD_GETENTROPY_STRICT the daemon's bytes are
 * required: when it cannot serve, the call fails with its PBD_E* code
 * (PBD_ENOSOCKET, PBD_EACCESS, PBD_EHEALTH, PBD_ETIMEDOUT, ...) and buf is
 * wiped. Without it, as pbd_getentropy(). */
PBD_API int pbd_getentropy_ex(void *buf, size_t len, unsigned flags,
                              uint32_t timeout_ms);

/* Returns the library's version, "MAJOR.MINOR.PATCH" (never NULL): the
 * one running, which may be newer than PBD_VERSION_STRING at build time. */
PBD_API const char *pbd_version(void);

/* Returns a static message for a PBD_E* code (never NULL). */
PBD_API const char *pbd_strerror(int code);

/* Returns the symbolic name ("PBD_EHEALTH") for a code (never NULL). */
PBD_API const char *pbd_errname(int code);

#ifdef __cplusplus
}
#endif
#endif

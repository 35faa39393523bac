/*
 * listener.h - the listening socket and the claim on its path.
 *
 * A socket preemptd binds itself is claimed in this order, so that no
 * moment exists in which a client is refused or a second daemon can take
 * the path from a live one:
 *   1. the directory exists (else "no such directory");
 *   2. <path>.lock, a regular file of our own (one owned by anyone else
 *      is not trusted: refuse and name its owner), is locked (flock) for
 *      the daemon's life: a second instance fails here at once;
 *   3. a socket already at the path is probed without blocking: one that
 *      accepts or whose backlog is full is in use (refuse), one that
 *      refuses connections is stale (removed);
 *   4. a new socket is bound under a random temporary name in the same
 *      directory (nobody can plant a file there first), born 0600, given
 *      --mode and --group, and listen()ed;
 *   5. it is renamed onto the path: from the moment the path exists,
 *      connects queue in the backlog until the loop accepts them.
 * At exit the path is removed only if it is still the inode we put there.
 * A socket handed over by systemd or launchd skips all of this: no lock,
 * never removed.
 */
#ifndef PBD_LISTENER_H
#define PBD_LISTENER_H

#include <stdbool.h>
#include <sys/types.h>
#include <uv.h>

#define LISTENER_BACKLOG 128

/* What we hold on the socket path; lives in struct server. */
struct listener_claim {
    int lock_fd;      /* <path>.lock, flock'ed; valid only when locked */
    bool locked;
    bool own_path;    /* the socket at the path is ours: remove it at exit */
    dev_t dev;        /* ... if the path still names this inode */
    ino_t ino;
};

struct server;
struct server_config;

/* Resets srv, copies cfg into it, and sets up srv->listener: adopts
 * cfg->activated_fd when the service manager handed one over, else claims
 * cfg->socket_path as above. On return 0 the socket is already listening
 * (server_start's uv_listen only adds the callback), so run this before the
 * slow parts of start-up. Returns -1 after log_err() saying why and what to
 * do. Call server_unlisten() on every path out, also after a failure. Run
 * before dropping privileges. Loop thread only. */
int server_listen(struct server *srv, uv_loop_t *loop,
                  const struct server_config *cfg);

/* Removes the socket path if we created it and it is still our inode, then
 * releases the lock (in that order: while we hold the lock no other
 * preemptd can have put its socket there). Does not close srv->listener.
 * Safe to call more than once, and on a zeroed srv. */
void server_unlisten(struct server *srv);

/* Whether a peer may use the socket: --allow-uid, or --allow-gid matching
 * its primary group or any supplementary one (as they were when it
 * connected; fd < 0: the primary group only). Root and our own uid always
 * pass; empty lists allow everyone. */
bool listener_peer_allowed(const struct server_config *cfg, int fd,
                           uid_t uid, gid_t gid);

/* Logs a failed accept (out of descriptors: libuv has already accepted and
 * closed the pending connection), at most once per 10 s with a count. */
void listener_accept_error(struct server *srv, int status);

#endif

/* listener.c - the listening socket and the claim on its path; see
 * listener.h for the order and why. */
#include "listener.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <sodium.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"
#include "osdep.h"
#include "server.h"

#ifndef SOCK_CLOEXEC
#define SOCK_CLOEXEC 0 /* macOS: set with fcntl below */
#endif

/* socket() with close-on-exec everywhere; nonblock for the probe. */
static int unix_socket(bool nonblock)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 ||
        (nonblock && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0)) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* path's length was checked against sun_path by the caller. */
static struct sockaddr_un unix_addr(const char *path)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    return sa;
}

/* Writes path's directory into dir ("." when it has none). Returns 0, or
 * -1 after logging when path names no file (ends in '/'). */
static int split_dir(const char *path, char *dir, size_t cap)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
        log_err("--socket %s names a directory; give a file name, e.g. "
                "%s%spreemptd.sock", path, path, slash && !*base ? "" : "/");
        return -1;
    }
    size_t n = slash ? (size_t)(slash - path) : 0;
    if (slash && n == 0)
        n = 1; /* "/x": the root directory */
    if (!slash)
        snprintf(dir, cap, ".");
    else
        snprintf(dir, cap, "%.*s", (int)n, path);
    return 0;
}

static int check_dir(const char *dir, const char *path)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (errno == ENOENT)
            log_err("no such directory %s: create it or choose --socket "
                    "(socket %s)", dir, path);
        else
            log_err("cannot reach the socket directory %s: %s; choose "
                    "--socket or run as a user who may", dir, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        log_err("%s is not a directory: choose --socket (socket %s)", dir,
                path);
        return -1;
    }
    return 0;
}

/* Takes <path>.lock. The file is never unlinked, not even at exit: if it
 * were, a second daemon could open the old file just before the unlink, a
 * third create a new one, and both would lock "the" lock. */
static int take_lock(struct listener_claim *cl, const char *path)
{
    char lock[PATH_MAX];
    if ((size_t)snprintf(lock, sizeof(lock), "%s.lock", path) >= sizeof(lock)) {
        log_err("socket path too long for its lock file: %s", path);
        return -1;
    }
    /* O_NOFOLLOW: in a shared directory, a planted symlink must not make
     * root create or lock some other file. 0600: whoever may open the lock
     * may hold it, and so keep preemptd from starting. */
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY,
                  0600);
    if (fd < 0) {
        log_err("cannot open the lock file %s: %s; run preemptd as the user "
                "that owns it or may create it, or choose --socket", lock,
                strerror(errno));
        return -1;
    }
    /* In a shared directory anyone may have created it first and may
     * hold it: trust only a regular file of our own (root's, for root). */
    struct stat st;
    const char *bad = NULL;
    if (fstat(fd, &st) != 0)
        bad = strerror(errno);
    else if (!S_ISREG(st.st_mode))
        bad = "not a regular file";
    if (bad || st.st_uid != geteuid()) {
        if (bad)
            log_err("cannot use the lock file %s: %s; remove it or choose "
                    "--socket", lock, bad);
        else
            log_err("the lock file %s is owned by uid %ld, not by us (uid "
                    "%ld): someone else may be keeping preemptd from "
                    "starting; remove it, or choose --socket in a directory "
                    "only trusted users may write to", lock,
                    (long)st.st_uid, (long)geteuid());
        close(fd);
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK)
            log_err("another preemptd is already serving %s (it holds %s)",
                    path, lock);
        else
            log_err("cannot lock %s: %s", lock, strerror(e));
        return -1;
    }
    cl->lock_fd = fd;
    cl->locked = true;
    return 0;
}

/* Returns 0 when the path is free (nothing there, or a stale socket now
 * removed), -1 after logging why we must not take it. The probe never
 * blocks: a daemon that is stopped with a full backlog answers EAGAIN. */
static int probe_path(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT)
            return 0;
        log_err("cannot look at %s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISSOCK(st.st_mode)) {
        log_err("%s exists and is not a socket; refusing to touch it", path);
        return -1;
    }
    int fd = unix_socket(true);
    if (fd < 0) {
        log_err("cannot create a socket to probe %s: %s", path, strerror(errno));
        return -1;
    }
    struct sockaddr_un sa = unix_addr(path);
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    int err = rc == 0 ? 0 : errno;
    close(fd);
    switch (err) {
    case 0:
    case EAGAIN:      /* Linux: listening, backlog full */
    case EINPROGRESS: /* BSD: listening, not yet accepted */
        log_err("%s is in use: another process accepts connections on it "
                "(an older preemptd, or a service manager's socket); stop it "
                "or choose --socket", path);
        return -1;
    case ENOENT:
        return 0; /* gone since lstat */
    case ECONNREFUSED:
        break;
    default:
        log_err("cannot tell whether %s is in use: %s; remove it if no "
                "daemon serves it, or choose --socket", path, strerror(err));
        return -1;
    }
    log_info("removing stale socket %s", path);
    if (unlink(path) != 0 && errno != ENOENT) {
        log_err("cannot remove the stale socket %s: %s; remove it by hand or "
                "choose --socket", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Binds tmp born 0600, gives it the configured mode and group and listens
 * on it. Returns the fd, or -1 after logging (tmp removed). */
static int bind_listen(const char *tmp, const char *dir,
                       const struct server_config *cfg)
{
    int fd = unix_socket(false);
    if (fd < 0) {
        log_err("socket: %s", strerror(errno));
        return -1;
    }
    struct sockaddr_un sa = unix_addr(tmp);
    mode_t old = umask(0177);
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    int err = errno;
    umask(old);
    if (rc != 0) {
        log_err("cannot create a socket in %s: %s; run preemptd as a user "
                "who may write there, or choose --socket", dir, strerror(err));
        close(fd);
        return -1;
    }
    const char *what = "chmod";
    if (chmod(tmp, (mode_t)cfg->sock_mode) != 0)
        goto fail;
    what = "chgrp";
    if (cfg->sock_gid != (gid_t)-1 && chown(tmp, (uid_t)-1, cfg->sock_gid) != 0)
        goto fail;
    what = "listen";
    if (listen(fd, LISTENER_BACKLOG) != 0)
        goto fail;
    return fd;
fail:
    err = errno;
    log_err("%s on the new socket %s: %s%s", what, tmp, strerror(err),
            err == EPERM ? " (--group: run as root or as a member of it)" : "");
    unlink(tmp);
    close(fd);
    return -1;
}

/* Claims cfg->socket_path (listener.h); returns a listening fd or -1. */
static int claim_path(struct listener_claim *cl,
                      const struct server_config *cfg)
{
    const char *path = cfg->socket_path;
    struct sockaddr_un sa;
    /* Checked before anything is created: bind() would truncate. */
    if (strlen(path) >= sizeof(sa.sun_path)) {
        log_err("socket path is %zu bytes; the limit is %zu: %s",
                strlen(path), sizeof(sa.sun_path) - 1, path);
        return -1;
    }
    char dir[sizeof(sa.sun_path)], tmp[sizeof(sa.sun_path) + 32];
    if (split_dir(path, dir, sizeof(dir)) != 0 || check_dir(dir, path) != 0 ||
        take_lock(cl, path) != 0 || probe_path(path) != 0)
        return -1;
    /* The temporary name is unpredictable: in a shared directory anyone
     * could plant a file at a name made of the pid alone. */
    uint8_t rnd[8];
    char hex[2 * sizeof(rnd) + 1];
    randombytes_buf(rnd, sizeof(rnd));
    sodium_bin2hex(hex, sizeof(hex), rnd, sizeof(rnd));
    int n = snprintf(tmp, sizeof(tmp), "%s/.preemptd-%s", dir, hex);
    if (n < 0 || (size_t)n >= sizeof(sa.sun_path)) {
        log_err("the directory of %s is too long for a temporary socket "
                "name beside it (%d bytes; the limit is %zu): choose a "
                "shorter --socket", path, n, sizeof(sa.sun_path) - 1);
        return -1;
    }
    struct stat st;
    int fd = bind_listen(tmp, dir, cfg);
    if (fd < 0)
        return -1;
    if (lstat(tmp, &st) != 0 || rename(tmp, path) != 0) {
        log_err("cannot move the new socket %s onto %s: %s", tmp, path,
                strerror(errno));
        unlink(tmp);
        close(fd);
        return -1;
    }
    cl->dev = st.st_dev;
    cl->ino = st.st_ino;
    cl->own_path = true;
    return fd;
}

int server_listen(struct server *srv, uv_loop_t *loop,
                  const struct server_config *cfg)
{
    memset(srv, 0, sizeof(*srv));
    srv->cfg = *cfg;
    srv->loop = loop;
    int rc = uv_pipe_init(loop, &srv->listener, 0);
    if (rc != 0) {
        log_err("uv_pipe_init: %s", uv_strerror(rc));
        return -1;
    }
    srv->listener.data = srv;
    if (cfg->activated_fd >= 0) {
        rc = uv_pipe_open(&srv->listener, cfg->activated_fd);
        if (rc != 0) {
            log_err("adopting the activation socket: %s", uv_strerror(rc));
            return -1;
        }
        log_info("using the socket handed over by the service manager");
        return 0;
    }
    int fd = claim_path(&srv->claim, cfg);
    if (fd < 0)
        return -1;
    rc = uv_pipe_open(&srv->listener, fd);
    if (rc != 0) {
        log_err("uv_pipe_open: %s", uv_strerror(rc));
        close(fd);
        return -1;
    }
    log_info("listening on %s (mode %04o)", cfg->socket_path, cfg->sock_mode);
    return 0;
}

void server_unlisten(struct server *srv)
{
    struct listener_claim *cl = &srv->claim;
    const char *path = srv->cfg.socket_path;
    if (cl->own_path) {
        struct stat st;
        cl->own_path = false;
        int e = lstat(path, &st) == 0 ? 0 : errno;
        if (e == EACCES || e == EPERM)
            /* --user: the directory is root's; we may not look, nor
             * unlink. The next start replaces the socket. */
            log_info("cannot remove %s as uid %ld (%s); the next start "
                     "replaces it", path, (long)geteuid(), strerror(e));
        else if (e == ENOENT || (e == 0 && (st.st_dev != cl->dev ||
                                            st.st_ino != cl->ino)))
            log_warnx("%s is no longer the socket we created; leaving it",
                      path);
        else if (e != 0)
            log_warnx("cannot look at %s: %s; leaving it", path, strerror(e));
        else if (unlink(path) != 0 && errno != ENOENT)
            log_warn("cannot remove %s (the next start replaces it)", path);
    }
    if (cl->locked) {
        close(cl->lock_fd);
        cl->locked = false;
    }
}

/* ---- accepting ---------------------------------------------------------- */

#define EMFILE_LOG_MS 10000u

static bool gid_listed(const gid_t *l, unsigned n, gid_t g)
{
    for (unsigned i = 0; i < n; i++)
        if (l[i] == g)
            return true;
    return false;
}

/* --allow-gid matches the peer's primary group or any supplementary one
 * (as they were when it connected); fd < 0: the primary group only. */
bool listener_peer_allowed(const struct server_config *cfg, int fd,
                           uid_t uid, gid_t gid)
{
    if (cfg->n_allow_uid == 0 && cfg->n_allow_gid == 0)
        return true;
    if (uid == 0 || uid == geteuid())
        return true;
    for (unsigned i = 0; i < cfg->n_allow_uid; i++)
        if (cfg->allow_uid[i] == uid)
            return true;
    if (gid_listed(cfg->allow_gid, cfg->n_allow_gid, gid))
        return true;
    if (cfg->n_allow_gid == 0 || fd < 0)
        return false;
    gid_t *groups = NULL;
    int n = osdep_peer_groups(fd, &groups);
    if (n < 0)
        log_debug("cannot read the peer's groups: %s", strerror(errno));
    bool found = false;
    for (int i = 0; i < n && !found; i++)
        found = gid_listed(cfg->allow_gid, cfg->n_allow_gid, groups[i]);
    free(groups);
    return found;
}

/* Out of descriptors: libuv has already accepted and closed the pending
 * connection. Say so, but not once per attempt. */
void listener_accept_error(struct server *srv, int status)
{
    uint64_t now = now_ms();
    srv->emfile_count++;
    if (srv->emfile_logged_ms && now - srv->emfile_logged_ms < EMFILE_LOG_MS)
        return;
    log_err("accept: %s (%" PRIu64 " connections dropped so far; raise the "
            "descriptor limit or lower --max-clients)",
            uv_strerror(status), srv->emfile_count);
    srv->emfile_logged_ms = now;
}

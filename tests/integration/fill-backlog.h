/* fill-backlog.h - for the client tests: fill a listener's backlog, as a
 * stopped daemon's fills up. Included by one file per test program. */
#ifndef FILL_BACKLOG_H
#define FILL_BACKLOG_H

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Connects to path, never accepted, until the backlog is full; returns how
 * many connections it made (their descriptors in fill), or -1 when the
 * system refuses at a full backlog (BSD, macOS: ECONNREFUSED) rather than
 * blocking, or max was reached first. */
static int fill_backlog(const char *path, int *fill, int max)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa.sun_path))
        return -1;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int n = 0;
    while (n < max) {
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd < 0 || fcntl(fd, F_SETFL, O_NONBLOCK) != 0)
            break;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
            int e = errno;
            close(fd);
            if (e == EAGAIN || e == EWOULDBLOCK)
                return n;
            break;
        }
        fill[n++] = fd;
    }
    while (n > 0)
        close(fill[--n]);
    return -1;
}

#endif

"""Socket lifecycle of preemptd when it binds the path itself: mode, clean
removal on SIGTERM/SIGINT, refusal of a non-socket file, of a second
instance and of an over-long path, replacement of a stale socket, SIGUSR1
stats, and dropping privileges after the bind."""
import json
import os
import shutil
import signal
import stat

import harness
from svcutil import Checks, Proc, is_hex, tmpdir


def t_bind_serve_sigterm(c):
    """One daemon: mode, serving, SIGUSR1, a refused second instance, and
    removal on SIGTERM."""
    d = tmpdir()
    sock = os.path.join(d, "s.sock")
    p = Proc(sock)
    try:
        p.wait_ready()
        st = os.lstat(sock)
        c.ok(stat.S_ISSOCK(st.st_mode), "path is a socket")
        c.ok(stat.S_IMODE(st.st_mode) == 0o660, "socket mode 0660",
             "got %04o" % stat.S_IMODE(st.st_mode))
        c.ok(is_hex(p.text("read 16"), 16), "serves")

        second = Proc(sock, logdir=d)
        rc = second.wait_exit()
        log = second.logtext()
        c.ok(rc != 0, "second instance exits non-zero", "rc %s" % rc)
        c.ok("another preemptd is already serving %s" % sock in log,
             "second instance says why", log)
        c.ok(os.lstat(sock).st_ino == st.st_ino, "socket not replaced")
        c.ok(is_hex(p.text("read 16"), 16), "first instance still serves")

        p.proc.send_signal(signal.SIGUSR1)
        c.ok(p.wait_log("stats: {"), "SIGUSR1 logs a stats line", p.logtext())
        line = [l for l in p.logtext().splitlines() if "stats: {" in l][0]
        js = json.loads(line.split("stats: ", 1)[1])
        c.ok(js["health"]["state"] == "ok" and js["requests"] >= 2 and
             "version" in js, "SIGUSR1 stats are the stats JSON", line)
        c.ok(p.proc.poll() is None, "SIGUSR1 does not stop the daemon")

        rc = p.stop(signal.SIGTERM)
        c.ok(rc == 0, "SIGTERM: exit status 0", "rc %s" % rc)
        c.ok(not os.path.lexists(sock), "SIGTERM: socket removed",
             p.logtext())
    finally:
        p.kill()
        shutil.rmtree(d, ignore_errors=True)


def t_stale_then_sigint(c):
    """kill -9 leaves a socket; the next daemon replaces it, honours --mode,
    and removes it on SIGINT."""
    d = tmpdir()
    sock = os.path.join(d, "s.sock")
    p = Proc(sock)
    q = None
    try:
        p.wait_socket()
        p.proc.kill()  # SIGKILL: no chance to clean up
        p.wait_exit()
        c.ok(stat.S_ISSOCK(os.lstat(sock).st_mode),
             "kill -9 leaves the socket behind")
        q = Proc(sock, "--mode", "0600", logdir=d)
        q.wait_ready()
        c.ok("removing stale socket %s" % sock in q.logtext(),
             "stale socket: logged", q.logtext())
        c.ok(is_hex(q.text("read 16"), 16), "stale socket: replaced, serves")
        mode = stat.S_IMODE(os.lstat(sock).st_mode)
        c.ok(mode == 0o600, "--mode 0600 honoured", "got %04o" % mode)
        rc = q.stop(signal.SIGINT)
        c.ok(rc == 0, "SIGINT: exit status 0", "rc %s" % rc)
        c.ok(not os.path.lexists(sock), "SIGINT: socket removed", q.logtext())
    finally:
        p.kill()
        if q:
            q.kill()
        shutil.rmtree(d, ignore_errors=True)


def t_regular_file(c):
    for kind in ("file", "directory"):
        d = tmpdir()
        path = os.path.join(d, "s.sock")
        if kind == "file":
            with open(path, "wb") as f:
                f.write(b"precious data\n")
        else:
            os.mkdir(path)
        os.utime(path, ns=(1_000_000_000_123_456_789,) * 2)
        before = os.lstat(path)
        p = Proc(path, logdir=d)
        try:
            rc = p.wait_exit()
            log = p.logtext()
            after = os.lstat(path)
            c.ok(rc != 0, "%s at path: exit non-zero" % kind, "rc %s" % rc)
            c.ok("%s exists and is not a socket; refusing to touch it" % path
                 in log, "%s at path: clear message" % kind, log)
            c.ok(after.st_ino == before.st_ino and
                 after.st_mtime_ns == before.st_mtime_ns and
                 after.st_mode == before.st_mode,
                 "%s at path: inode, mode and mtime untouched" % kind)
            if kind == "file":
                with open(path, "rb") as f:
                    c.ok(f.read() == b"precious data\n",
                         "file at path: content untouched")
        finally:
            p.kill()
            shutil.rmtree(d, ignore_errors=True)


def t_path_length(c):
    d = tmpdir()
    try:
        # 108 bytes: one more than sun_path holds with its NUL.
        long = os.path.join(d, "x" * (108 - len(d) - 1))
        assert len(long) == 108
        p = Proc(long, logdir=d)
        rc = p.wait_exit()
        log = p.logtext()
        c.ok(rc != 0, "108-byte path: exit non-zero", "rc %s" % rc)
        c.ok("socket path is 108 bytes; the limit is 107" in log,
             "108-byte path: clear message", log)
        c.ok(not os.path.lexists(long) and not os.path.lexists(long[:107]),
             "108-byte path: nothing created (no truncated socket)")
        # 107 bytes is the longest that works.
        edge = long[:107]
        p = Proc(edge, logdir=d)
        try:
            p.wait_socket()
            c.ok(stat.S_ISSOCK(os.lstat(edge).st_mode),
                 "107-byte path: bound")
            c.ok(p.stop() == 0 and not os.path.lexists(edge),
                 "107-byte path: removed on exit")
        finally:
            p.kill()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def status_ids(pid):
    ids = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("Uid", "Gid", "Groups"):
                ids[k] = v.split()
    return ids


def t_drop_privileges(c):
    if os.geteuid() != 0:
        harness.skip("not root: dropping privileges needs root")
    d = tmpdir()
    # The directory belongs to nobody, so nobody may remove its socket.
    os.chown(d, 65534, 65534)
    os.chmod(d, 0o755)
    sock = os.path.join(d, "s.sock")
    p = Proc(sock, "--user", "nobody", "--group", "nogroup")
    try:
        p.wait_ready()
        ids = status_ids(p.pid)
        c.ok(ids["Uid"] == ["65534"] * 4, "--user nobody: all four uids",
             str(ids))
        c.ok(ids["Gid"] == ["65534"] * 4, "--user nobody: all four gids",
             str(ids))
        c.ok(ids["Groups"] == ["65534"], "--user nobody: supplementary groups",
             str(ids))
        st = os.lstat(sock)
        c.ok(st.st_gid == 65534 and stat.S_IMODE(st.st_mode) == 0o660,
             "--group nogroup: socket root:nogroup 0660",
             "gid %d mode %04o" % (st.st_gid, stat.S_IMODE(st.st_mode)))
        c.ok(is_hex(p.text("read 16"), 16), "--user nobody: still serves")
        c.ok(p.stop() == 0 and not os.path.lexists(sock),
             "--user nobody: exits 0, removes its socket")
    finally:
        p.kill()
        shutil.rmtree(d, ignore_errors=True)
    d = tmpdir()
    sock = os.path.join(d, "s.sock")
    p = Proc(sock, "--user", "no-such-user-pbd")
    try:
        rc = p.wait_exit()
        c.ok(rc != 0 and "unknown user 'no-such-user-pbd'" in p.logtext(),
             "unknown --user: refused", p.logtext())
        c.ok(not os.path.lexists(sock), "unknown --user: nothing bound")
    finally:
        p.kill()
        shutil.rmtree(d, ignore_errors=True)


def main():
    c = Checks()
    for t in (t_bind_serve_sigterm, t_stale_then_sigint, t_regular_file,
              t_path_length, t_drop_privileges):
        c.run(t)
    c.finish()


if __name__ == "__main__":
    main()

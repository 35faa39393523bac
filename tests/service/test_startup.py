"""Start-up guarantees of preemptd's listener and options (issue 10, items 4
and 5): the socket listens before its path appears, a second instance never
takes the path from a live one (lock file, non-blocking probe; the two-way
start-up race is tests/reliability/test_startup_race.py), the path is
removed only while it is still our socket, and start-up errors say what is
wrong: octal --mode, an empty --socket, a missing directory, a ring too
small for conditioning, max_clients fitted to RLIMIT_NOFILE, and
supplementary groups honoured by --allow-gid."""
import os
import shutil
import signal
import socket
import stat
import time

from svcutil import Checks, Proc, is_hex, tmpdir


class Scratch:
    """A temporary directory with a socket path in it; every daemon started
    through it is killed, and the directory removed, on leaving."""

    def __init__(self):
        self.dir = tmpdir()
        self.sock = os.path.join(self.dir, "s.sock")
        self.procs = []

    def start(self, *args, sock=None, **kw):
        p = Proc(self.sock if sock is None else sock, *args, logdir=self.dir,
                 **kw)
        self.procs.append(p)
        return p

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
        return False


def t_mode_octal(c):
    with Scratch() as t:
        p = t.start("--mode", "640")
        p.wait_socket()
        mode = stat.S_IMODE(os.lstat(t.sock).st_mode)
        c.ok(mode == 0o640, "--mode 640 is octal: socket mode 0640",
             "got %04o\n%s" % (mode, p.logtext()))


def t_usage_errors(c):
    """Refused before anything is created, with exit status 2."""
    with Scratch() as t:
        cases = [
            (("--socket", ""), "--socket: the path must not be empty",
             "--socket '' refused (no abstract socket)"),
            (("--socket", t.sock, "--ring-size", "256", "--credit", "1"),
             "--ring-size 256 is too small for --credit 1",
             "--ring-size 256 --credit 1 refused"),
            (("--socket", t.sock, "--mode", "0999"),
             "--mode: expected an octal mode", "--mode 0999 refused"),
        ]
        for args, needle, name in cases:
            # prefix=("env",) keeps Proc from adding --socket itself.
            p = t.start(*args, prefix=("env",))
            try:
                rc = p.wait_exit(timeout=10)
            except RuntimeError as e:
                c.ok(False, name, "did not exit: %s" % e)
                continue
            log = p.logtext()
            c.ok(rc == 2 and needle in log, name, "rc %s\n%s" % (rc, log))
        made = [f for f in os.listdir(t.dir) if not f.startswith("log-")]
        c.ok(made == [], "usage errors create nothing", str(made))


def t_missing_dir(c):
    with Scratch() as t:
        sock = os.path.join(t.dir, "no-such-dir", "s.sock")
        p = t.start(sock=sock)
        rc = p.wait_exit()
        log = p.logtext()
        c.ok(rc == 1, "missing directory: exit status 1", "rc %s" % rc)
        c.ok("no such directory %s: create it or choose --socket"
             % os.path.dirname(sock) in log and "error:" in log,
             "missing directory: says so, as an error", log)


def t_nofile(c):
    """Under a 64-descriptor limit max_clients comes down, and says so."""
    with Scratch() as t:
        p = t.start("--socket", t.sock,
                    prefix=("prlimit", "--nofile=64", "--"))
        p.wait_ready()
        log = p.logtext()
        c.ok("max_clients lowered from 1024 to 24 to fit the open-file limit "
             "of 64" in log and " info: max_clients" in log,
             "RLIMIT_NOFILE 64: max_clients lowered, logged at info", log)
        c.ok(is_hex(p.text("read 16"), 16), "RLIMIT_NOFILE 64: serves")
        c.ok(p.stop() == 0, "RLIMIT_NOFILE 64: clean stop")


def fill_backlog(path, most=2000):
    """Connects without blocking until the listener's backlog is full;
    returns the sockets (keep them open)."""
    held = []
    for _ in range(most):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect(path)
        except BlockingIOError:
            s.close()
            return held
        held.append(s)
    raise RuntimeError("backlog never filled")


def exits_soon(t, name, c, needle):
    """Starts a second daemon on t.sock; it must exit 1 within 5 s saying
    needle, not hang on the first one."""
    t0 = time.monotonic()
    q = t.start()
    try:
        rc = q.wait_exit(timeout=10)
    except RuntimeError as e:
        rc = "hung: %s" % e
    took = time.monotonic() - t0
    c.ok(rc == 1 and took < 5 and needle in q.logtext(), name,
         "rc %s after %.1fs\n%s" % (rc, took, q.logtext()))


def t_stopped_daemon(c):
    """A SIGSTOPped first daemon with a full backlog: the second exits at
    once (the lock), and the probe alone does not hang either."""
    with Scratch() as t:
        p = t.start()
        p.wait_ready()
        p.proc.send_signal(signal.SIGSTOP)
        held = fill_backlog(t.sock)
        try:
            exits_soon(t, "stopped daemon, full backlog: second exits 1 at "
                       "once", c,
                       "another preemptd is already serving %s" % t.sock)
        finally:
            for s in held:
                s.close()
            p.proc.send_signal(signal.SIGCONT)

    # Without the lock (another program's socket): the probe must not block.
    with Scratch() as t, \
            socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as other:
        other.bind(t.sock)
        other.listen(1)
        held = fill_backlog(t.sock)
        try:
            exits_soon(t, "foreign listener, full backlog: probe says in use "
                       "at once", c, "%s is in use" % t.sock)
            c.ok(stat.S_ISSOCK(os.lstat(t.sock).st_mode),
                 "foreign socket left in place")
        finally:
            for s in held:
                s.close()


def t_connect_early(c):
    """From the moment the path exists a connect is accepted (queued until
    the loop runs), never refused: listen() comes before the path."""
    with Scratch() as t:
        p = t.start()
        end = time.time() + 20
        while not os.path.lexists(t.sock) and time.time() < end:
            if p.proc.poll() is not None:
                break
            time.sleep(0.0005)
        err, reply = None, b""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(30)
                s.connect(t.sock)
                s.sendall(b"health\n")
                reply = s.recv(256)
        except OSError as e:
            err = e
        c.ok(err is None and reply, "connect as soon as the path appears: "
             "accepted and answered", "%r %r" % (err, reply))


def t_early_sigterm(c):
    """SIGTERM as soon as the path appears (during calibration): a clean
    stop that removes the path, not death by the default action."""
    with Scratch() as t:
        p = t.start()
        end = time.time() + 20
        while not os.path.lexists(t.sock) and time.time() < end and \
                p.proc.poll() is None:
            time.sleep(0.0005)
        rc = p.stop()
        c.ok(rc == 0 and not os.path.lexists(t.sock),
             "SIGTERM during start-up: exit 0, socket removed",
             "rc %s, path %s\n%s" % (rc, os.path.lexists(t.sock),
                                     p.logtext()))


def t_not_our_inode(c):
    """A path that no longer names our socket is left alone at exit."""
    with Scratch() as t, \
            socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as other:
        p = t.start()
        p.wait_ready()
        os.unlink(t.sock)
        other.bind(t.sock)
        ino = os.lstat(t.sock).st_ino
        rc = p.stop()
        c.ok(rc == 0, "replaced path: clean stop", "rc %s" % rc)
        c.ok(os.path.lexists(t.sock) and os.lstat(t.sock).st_ino == ino,
             "replaced path: the other socket is not removed", p.logtext())
        c.ok("no longer the socket we created" in p.logtext(),
             "replaced path: logged", p.logtext())


def as_user(uid, gid, groups, sock):
    """Runs 'read 16' on sock as uid:gid with the given supplementary
    groups, in a child process; returns the reply line or an error."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.setgroups(groups)
            os.setgid(gid)
            os.setuid(uid)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(20)
            s.connect(sock)
            s.sendall(b"read 16\n")
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(256)
                if not chunk:
                    break
                buf += chunk
            os.write(w, buf)
        except Exception as e:
            os.write(w, ("exception: %r" % e).encode())
        os._exit(0)
    os.close(w)
    out = b""
    while True:
        chunk = os.read(r, 4096)
        if not chunk:
            break
        out += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return out.decode(errors="replace").strip()


def t_supplementary_groups(c):
    if os.geteuid() != 0:
        print("note: not root; supplementary groups are not checked")
        return
    # Numeric ids nobody uses: no user or group needs to exist, since the
    # daemon checks numbers and the client only needs setgroups().
    uid, prim, supp, other = 47011, 47012, 47013, 47014
    with Scratch() as t:
        os.chmod(t.dir, 0o755)
        p = t.start("--allow-gid", str(supp), "--mode", "0666")
        p.wait_ready()
        got = as_user(uid, prim, [prim, supp], t.sock)
        c.ok(is_hex(got, 16), "--allow-gid: supplementary group served",
             "%r\n%s" % (got, p.logtext()))
        got = as_user(uid, supp, [supp], t.sock)
        c.ok(is_hex(got, 16), "--allow-gid: primary group served", repr(got))
        got = as_user(uid, prim, [prim, other], t.sock)
        c.ok(got.startswith("error"), "--allow-gid: other groups refused",
             repr(got))


def main():
    c = Checks()
    for t in (t_mode_octal, t_usage_errors, t_missing_dir, t_nofile,
              t_stopped_daemon, t_connect_early, t_early_sigterm,
              t_not_our_inode, t_supplementary_groups):
        c.run(t)
    c.finish()


if __name__ == "__main__":
    main()

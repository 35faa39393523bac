"""What systemd does to preemptd, without systemd as PID 1: socket
activation through systemd-socket-activate (LISTEN_FDS, fd 3) and the
Type=notify protocol (READY=1 only once healthy, STOPPING=1 on SIGTERM)."""
import os
import shutil
import signal
import socket
import stat
import time

from svcutil import Checks, Proc, is_hex, tmpdir

ACTIVATE = shutil.which("systemd-socket-activate") or \
    "/usr/bin/systemd-socket-activate"
FAULT = os.environ.get("PREEMPTD_FAULT", "build/daemon/preemptd-fault")


def t_socket_activation(c):
    d = tmpdir()
    sock = os.path.join(d, "act.sock")
    # --socket names a path the daemon must NOT touch when activated.
    decoy = os.path.join(d, "decoy.sock")
    p = Proc(sock, "--socket", decoy, prefix=(ACTIVATE, "-l", sock))
    try:
        p.wait_ready()
        c.ok(os.path.realpath("/proc/%d/exe" % p.pid) ==
             os.path.realpath(p.binary),
             "systemd-socket-activate exec'd preemptd in place")
        c.ok("using the socket handed over by the service manager" in
             p.logtext(), "daemon adopted the activation socket", p.logtext())
        fd3 = os.readlink("/proc/%d/fd/3" % p.pid)
        c.ok(fd3.startswith("socket:"), "fd 3 is the listening socket", fd3)
        c.ok(is_hex(p.text("read 32"), 32), "reading works on the socket")
        c.ok(not os.path.lexists(decoy), "--socket path not bound")
        rc = p.stop(signal.SIGTERM)
        c.ok(rc == 0, "activated daemon exits 0 on SIGTERM", "rc %s" % rc)
        c.ok(os.path.lexists(sock) and stat.S_ISSOCK(os.lstat(sock).st_mode),
             "activation socket left in place (daemon did not create it)")
    finally:
        p.kill()
        shutil.rmtree(d, ignore_errors=True)


def t_activation_two_sockets(c):
    d = tmpdir()
    a, b = os.path.join(d, "a.sock"), os.path.join(d, "b.sock")
    p = Proc(a, prefix=(ACTIVATE, "-l", a, "-l", b))
    try:
        # systemd-socket-activate execs the daemon on the first connection.
        for _ in range(200):
            try:
                p.connect().close()
                break
            except OSError:
                time.sleep(0.05)
        rc = p.wait_exit()
        c.ok(rc != 0, "two activation sockets: exit non-zero", "rc %s" % rc)
        c.ok("LISTEN_FDS=2: expected exactly one socket" in p.logtext(),
             "two activation sockets: clear message", p.logtext())
    finally:
        p.kill()
        shutil.rmtree(d, ignore_errors=True)


class Notify:
    """The service manager's end of NOTIFY_SOCKET."""

    def __init__(self, path):
        self.path = path
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.s.bind(path if path[0] != "@" else "\0" + path[1:])
        self.msgs = []

    def wait_for(self, word, timeout):
        """Collects datagrams until one has the line word; returns it."""
        end = time.time() + timeout
        while time.time() < end:
            self.s.settimeout(max(0.01, end - time.time()))
            try:
                m = self.s.recv(4096).decode()
            except socket.timeout:
                break
            self.msgs.append(m)
            if word in m.split("\n"):
                return m
        return None

    def drain(self):
        self.s.setblocking(False)
        try:
            while True:
                self.msgs.append(self.s.recv(4096).decode())
        except BlockingIOError:
            pass
        self.s.setblocking(True)
        return self.msgs

    def close(self):
        self.s.close()


def t_notify(c):
    d = tmpdir()
    sock = os.path.join(d, "s.sock")
    n = Notify(os.path.join(d, "notify"))
    p = Proc(sock, env={"NOTIFY_SOCKET": n.path})
    try:
        ready = n.wait_for("READY=1", 60)
        c.ok(ready is not None, "READY=1 arrives", str(n.msgs))
        # Health cannot go back to the start-up test, so "ok" now means it
        # was ok when READY=1 was sent.
        h = p.text("health")
        c.ok(h.startswith("ok"), "health is ok once READY=1 arrived", h)
        log = p.logtext()
        c.ok("start-up health test passed" in log, "log says why it is ready",
             log)
        first_ready = [i for i, m in enumerate(n.msgs) if "READY=1" in m][0]
        c.ok(any("STATUS=running the start-up health test" in m
                 for m in n.msgs[:first_ready]),
             "STATUS reports the start-up test before READY=1", str(n.msgs))
        c.ok(is_hex(p.text("read 16"), 16), "serves after READY=1")
        p.proc.send_signal(signal.SIGTERM)
        stopping = n.wait_for("STOPPING=1", 15)
        c.ok(stopping is not None, "STOPPING=1 on SIGTERM", str(n.msgs))
        c.ok(p.wait_exit() == 0, "exit 0 after STOPPING=1")
        c.ok(sum("READY=1" in m.split("\n") for m in n.msgs) == 1,
             "READY=1 sent exactly once", str(n.msgs))
    finally:
        p.kill()
        n.close()
        shutil.rmtree(d, ignore_errors=True)


def t_notify_withheld_when_unhealthy(c):
    """A stuck counter never passes the start-up test: no READY=1."""
    d = tmpdir()
    sock = os.path.join(d, "s.sock")
    n = Notify("@pbd-svc-notify-%d" % os.getpid())  # abstract namespace
    p = Proc(sock, "--fault", "stuck", "--stall-ms", "300", binary=FAULT,
             env={"NOTIFY_SOCKET": n.path})
    try:
        p.wait_socket()
        seen = set()
        h = ""
        for _ in range(40):
            h = p.text("health")
            seen.add(h.split(":")[0])
            if h.startswith("failed"):
                break
            time.sleep(0.1)
        c.ok(h.startswith("failed") or h.startswith("degraded"),
             "stuck counter: health not ok", h)
        msgs = n.drain()
        c.ok(any("STATUS=" in m for m in msgs),
             "stuck counter: notifications do arrive (abstract socket)",
             str(msgs))
        c.ok(not any("READY=1" in m.split("\n") for m in msgs),
             "stuck counter: READY=1 withheld", str(msgs))
        p.proc.send_signal(signal.SIGTERM)
        c.ok(n.wait_for("STOPPING=1", 15) is not None,
             "stuck counter: STOPPING=1 on SIGTERM", str(n.msgs))
        c.ok(p.wait_exit() == 0, "stuck counter: exit 0")
    finally:
        p.kill()
        n.close()
        shutil.rmtree(d, ignore_errors=True)


def main():
    c = Checks()
    for t in (t_socket_activation, t_activation_two_sockets, t_notify,
              t_notify_withheld_when_unhealthy):
        c.run(t)
    c.finish()


if __name__ == "__main__":
    main()

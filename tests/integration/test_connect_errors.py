#!/usr/bin/env python3
"""preemptctl tells connect failures apart and says what to do (issue 22
item 3): no socket, a stale socket, a socket whose group keeps the caller
out. They all printed "cannot connect to the daemon" once."""
import grp
import os
import shutil
import socket
import subprocess
import tempfile

from checks import Checks

CTL = os.path.join(os.environ["PBD_BUILD_ROOT"], "client", "preemptctl")
t = Checks()
tmp = tempfile.mkdtemp(prefix="pbd-conn-")
os.chmod(tmp, 0o755)


# A copy uid 65534 may run: the build tree may sit where it cannot (root's
# home is 0700 on a fresh Debian, as in tools/fresh-debian-check.sh).
# preemptctl links libpbd statically, so the copy needs nothing else here.
CTL_ANY = os.path.join(tmp, "preemptctl")
shutil.copy2(CTL, CTL_ANY)
os.chmod(CTL_ANY, 0o755)


def health(sock, as_nobody=False):
    def drop():
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
    return subprocess.run([CTL_ANY if as_nobody else CTL, "-s", sock, "health"],
                          capture_output=True,
                          text=True, timeout=60,
                          preexec_fn=drop if as_nobody else None)


def no_socket():
    p = health(os.path.join(tmp, "none.sock"))
    print("    " + p.stderr.strip())
    assert p.returncode == 3, p
    assert "no daemon socket at that path: is preemptd running?" in p.stderr


def stale_socket():
    path = os.path.join(tmp, "stale.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)  # bound, never listening: what a dead daemon leaves
    s.close()
    p = health(path)
    print("    " + p.stderr.strip())
    assert p.returncode == 3, p
    assert "connection refused: a stale socket" in p.stderr, p.stderr


def permission_denied():
    path = os.path.join(tmp, "group.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(4)
    gid = 1 if os.getuid() == 0 else os.getgid()
    name = grp.getgrgid(gid).gr_name
    os.chown(path, -1, gid)
    os.chmod(path, 0o660 if os.getuid() == 0 else 0)
    try:
        p = health(path, as_nobody=os.getuid() == 0)
    finally:
        s.close()
    print("    " + p.stderr.strip().replace("\n", "\n    "))
    assert p.returncode == 3, p
    assert "permission denied on the daemon socket" in p.stderr, p.stderr
    if os.getuid() == 0:
        assert "the socket is for group %s: sudo usermod -aG %s" % (
            name, name) in p.stderr, p.stderr


t.check("no socket: says the daemon is not running", no_socket)
t.check("stale socket: says connection refused, stale", stale_socket)
t.check("socket of another group: permission denied, names the group",
        permission_denied)
shutil.rmtree(tmp)
t.finish()

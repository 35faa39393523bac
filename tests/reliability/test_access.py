#!/usr/bin/env python3
"""Access (issue 5): peer credentials (SO_PEERCRED) read on accept,
--allow-uid / --allow-gid and --raw-uid. A forked child drops to
nobody (65534) before it connects; we run as root."""
import harness
from harness import closed, read_req, recv_frame, recv_line
from rel import NOBODY, as_nobody, expect_error, open_up, read_ok
from checks import Checks

t = Checks()


def denied_binary(d):
    with d.connect(10) as s:
        s.sendall(read_req(16, "drbg"))
        expect_error(s, "EPERM")
        assert closed(s), "denied client left connected"
    return True


def capture_refused(d):
    """Capture mode is restricted like raw: EPERM, and the connection
    stays usable."""
    with d.connect(10) as s:
        s.sendall(read_req(16, "capture"))
        expect_error(s, "EPERM")
        s.sendall(read_req(16, "capture", flags=harness.F_RESTART))
        expect_error(s, "EPERM")
        assert len(read_ok(s, 16, "drbg", wait_ms=60000)) == 16
    return True


def denied_text(d):
    with d.connect(10) as s:
        s.sendall(b"read 8 drbg\n")
        line = recv_line(s)
        assert line == "error: not permitted", line
        assert closed(s)
    return True


def served(d):
    with d.connect(10) as s:
        return len(read_ok(s, 32, "drbg"))


def raw_refused_cond_ok(d):
    with d.connect(30) as s:
        s.sendall(read_req(16, "raw"))
        expect_error(s, "EPERM")
        # Not fatal: the same connection is still served.
        assert len(read_ok(s, 32, "conditioned", wait_ms=60000)) == 32
    with d.connect(30) as s:
        s.sendall(b"read 8 raw\n")
        assert recv_line(s) == "error: not permitted"
        s.sendall(b"read 8 drbg\n")
        assert len(recv_line(s)) == 16
    return True


def root_served(d, mode):
    with d.connect(30) as s:
        assert len(read_ok(s, 16, mode, wait_ms=60000)) == 16


with harness.Daemon("--mode", "0666", "--allow-uid", "0",
                    ring=2048) as d:
    open_up(d)
    t.check("not on --allow-uid: EPERM frame + close", as_nobody, denied_binary, d)
    t.check("not on --allow-uid: text error: not permitted + close", as_nobody, denied_text, d)
    t.check("root still served", root_served, d, "drbg")
    st = d.stats()
    t.ok("denied requests counted as errors", st["errors"] >= 2, st["errors"])
# nobody gets in through its gid, but is not on the raw list.
with harness.Daemon("--mode", "0666", "--allow-uid", "1234",
                    "--allow-gid", str(NOBODY), "--raw-uid", "1234",
                    ring=2048) as d:
    open_up(d)
    t.check("on --allow-gid: served", as_nobody, served, d)
    t.check("--raw-uid: raw -> EPERM (not fatal), conditioned and drbg fine",
            as_nobody, raw_refused_cond_ok, d)
    t.check("root may read raw despite --raw-uid", root_served, d, "raw")
    t.check("--raw-uid: capture and restart -> EPERM (not fatal)",
            as_nobody, capture_refused, d)
    t.check("root may capture despite --raw-uid", root_served, d, "capture")

# No --raw-uid: raw is open to anyone who may connect, but capture, which
# takes every new sample from everyone else, still needs to be root, the
# daemon's uid or listed.
with harness.Daemon("--mode", "0666", ring=2048) as d:
    open_up(d)
    t.check("no --raw-uid: raw served to nobody", as_nobody,
            lambda d: root_served(d, "raw") or True, d)
    t.check("no --raw-uid: capture and restart -> EPERM for nobody",
            as_nobody, capture_refused, d)
    t.check("no --raw-uid: root may capture", root_served, d, "capture")
t.finish()

#!/usr/bin/env python3
"""A short tour of every code path worth checking under valgrind: the three
dialects, all modes, a waiting request, bad frames, a vanishing client, and
a clean SIGTERM. Run by .ci/steps/40-valgrind.sh with $PREEMPTD_WRAPPER set;
also fine without it. Exit status: non-zero on any failure, including a
non-zero daemon exit (valgrind's --error-exitcode)."""
import harness
from harness import hdr, read_req, recv_exact, recv_frame, recv_line
from rel import expect_error, read_ok
from checks import Checks

t = Checks()


def tour(d):
    with d.connect(120) as s:
        for mode in ("conditioned", "raw", "drbg"):
            read_ok(s, 32, mode, wait_ms=120000)
        read_ok(s, 100000, "drbg")
        s.sendall(hdr(2, 0) + hdr(3, 0) + hdr(4, 0))
        for typ in (0x82, 0x83, 0x84):
            assert recv_frame(s)[0] == typ
    with d.connect(120) as s:
        s.sendall(b"read 16\nread 16 raw\nread 64 drbg\nstats\nhealth\nversion\n"
                  b"help\nbogus\nquit\n")
        for _ in range(8):
            assert recv_line(s)
    with d.connect(120) as s:  # EGD
        s.sendall(b"\x00\x02\x10\x03\x00\x08\x02ab\x04")
        recv_exact(s, 4)
        recv_exact(s, 16)
        n = recv_exact(s, 1)[0]
        recv_exact(s, n)
    for bad, code in ((hdr(1, 12, version=9), "EVERSION"), (hdr(7, 0), "EPROTO"),
                      (read_req(1 << 20, "raw"), "ETOOBIG")):
        with d.connect(120) as s:
            s.sendall(bad)
            expect_error(s, code)
    s = d.connect(120)  # gone mid-reply
    s.sendall(read_req(1 << 20, "drbg") + read_req(64, "conditioned"))
    s.close()
    with d.connect(120) as s:
        read_ok(s, 64, "drbg")


d = harness.Daemon(ring=2048, ready_timeout=300)
try:
    t.check("every dialect and mode, bad frames, vanishing client", tour, d)
finally:
    rc = d.stop(timeout=120)
t.ok("daemon exits 0 (valgrind: no errors)", rc == 0, rc)
t.finish()

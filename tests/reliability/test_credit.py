#!/usr/bin/env python3
"""No credit above the evidence (issue 12): `--credit 8` on a real source.
1024 start-up samples cannot show more than about 5.7 bits per byte even
for ideal bytes, so every start-up test fails its credit test, the source
ends permanent, raw and conditioned fail closed with EHEALTH, the DRBG is
never seeded, and the log and health say why."""
import time

import harness
from harness import read_req, recv_line
from rel import PREEMPTD, Tally, expect_error

t = Tally()


def wait_permanent(d, timeout=60):
    end = time.time() + timeout
    st = None
    while time.time() < end:
        st = d.stats()
        if st["health"]["source"] == "permanent":
            return st
        time.sleep(0.2)
    raise AssertionError("never permanent; last %r" % (st and st["health"]))


def credit_8_refused(d):
    st = wait_permanent(d)
    h = st["health"]
    assert h["state"] == "failed" and h["last_failure"] == "credit", h
    assert h["credit_failures"] == 3 and h["startup_passes"] == 0, h
    assert h["rct_failures"] == 0 and h["apt_failures"] == 0, h
    assert "credit test failed" in h["message"], h
    assert "below the credited 8.000" in h["message"], h
    with d.connect(10) as s:
        for mode in ("raw", "conditioned"):
            s.sendall(read_req(16, mode))
            expect_error(s, "EHEALTH")
        s.sendall(read_req(16, "drbg", nowait=True))
        expect_error(s, "ENOTSEEDED")  # never seeded from that claim
    with d.connect(10) as s:
        s.sendall(b"health\n")
        line = recv_line(s)
        assert line.startswith("failed: permanent: credit test failed"), line
    st = d.stats()
    assert st["served"]["raw"] == 0 and st["served"]["conditioned"] == 0
    log = d.logtext()
    assert "error: health: failed: permanent: credit test failed" in log, \
        log[-2000:]


def credit_default_serves(d):
    st = d.stats()
    assert st["health"]["state"] == "ok", st["health"]
    assert st["health"]["credit_failures"] == 0, st["health"]


with harness.Daemon("--credit", "8", binary=PREEMPTD, ring=2048,
                    wait_ready=False) as d:
    t.check("--credit 8: credit test fails, permanent, EHEALTH, logged",
            credit_8_refused, d)
    t.ok("exits 0", d.stop() == 0)
with harness.Daemon(binary=PREEMPTD, ring=2048) as d:
    t.check("default credit 2.0: start-up credit test passes",
            credit_default_serves, d)
t.finish()

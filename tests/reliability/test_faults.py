#!/usr/bin/env python3
"""Faults (issues 3 and 5), against the fault-injection build
($PREEMPTD_FAULT) and the real one: a source that fails its start-up test
(periodic), one that stalls (stuck), one that fails after a healthy start
(periodic-after=N: flushed ring, raw and conditioned fail closed with
EHEALTH, the DRBG keeps serving from its healthy seed), an unusable --cpu
(degraded, not fatal), SIGPIPE from vanishing clients, and kill -9 followed
by a restart on the stale socket."""
import os
import signal
import time

import harness
from harness import T_READ, T_REPLY, hdr, read_req, recv_frame, recv_line
from rel import EventWatch, alive, expect_error, read_ok, seen_gone
from checks import Checks

# periodic-after=N: more events than the start-up test (1024), a full ring
# (2048) and the conditioned stock take, so the source turns bad only once
# the test drains the ring (see after_healthy_start).
HEALTHY_EVENTS = 8000
# The fake counter of --fault periodic steps 20 ticks a read and jumps
# 5,020 every 1,000th: only a threshold at or below that sees its events.
# The calibrated one can exceed it (a counter over 5 GHz, a VM's slow reads)
# and so can $PBD_TEST_DAEMON_ARGS's; a test's own option wins over those.
FAKE_THRESHOLD = ("--threshold", "5000")

t = Checks()


def wait_stats(d, pred, timeout, what):
    end = time.time() + timeout
    st = None
    while time.time() < end:
        st = d.stats()
        if pred(st):
            return st
        time.sleep(0.2)
    raise AssertionError("%s never happened; last stats %r" % (
        what, st and st["health"]))


def fails_closed(d, failure):
    """raw and conditioned -> EHEALTH (frame and error: line), the
    connection stays open, stats and health say why."""
    with d.connect(10) as s:
        for mode in ("raw", "conditioned"):
            s.sendall(read_req(16, mode))
            expect_error(s, "EHEALTH")
        s.sendall(read_req(16, "raw", nowait=True))
        expect_error(s, "EHEALTH")
        s.sendall(hdr(3, 0))  # still open after the errors
        typ, p = recv_frame(s)
        assert typ == 0x83 and p[0] == 2, (typ, p)
        assert p[1:].decode().startswith("failed: "), p
    with d.connect(10) as s:
        s.sendall(b"read 8 raw\nread 8\nhealth\nstats\n")
        for _ in range(2):
            line = recv_line(s)
            assert line == ("error: entropy source failed its health test; "
                            "output withheld"), line
        assert recv_line(s).startswith("failed: ")
        st = harness.json.loads(recv_line(s))
    h = st["health"]
    assert h["state"] == "failed", h
    assert h["last_failure"] == failure, h
    assert h["%s_failures" % failure] >= 1, h
    assert h["last_failure_time"] > 0, h
    return st


def periodic(d):
    st = wait_stats(d, lambda s: s["health"]["source"] == "permanent", 60,
                    "permanent failure")
    st = fails_closed(d, "rct")
    h = st["health"]
    assert h["rct_failures"] >= 3 and h["startup_passes"] == 0, h
    assert st["served"]["raw"] == 0 and st["served"]["conditioned"] == 0, st["served"]
    with d.connect(10) as s:  # never seeded from a failed source
        s.sendall(read_req(16, "drbg", nowait=True))
        expect_error(s, "ENOTSEEDED")


def stuck(d):
    wait_stats(d, lambda s: s["health"]["stall_failures"] >= 1, 30, "stall")
    st = fails_closed(d, "stall")
    assert st["sampler"]["events"] == 0, st["sampler"]


def stopped_is_not_a_stall(d):
    """A daemon stopped past --stall-ms (SIGSTOP here, or an idle-priority
    sampler starved on a busy host) finds a jump of seconds
    when it runs again: a gap, not an event. The time away was not the
    source's: it used to count towards the stall test, so the daemon failed
    its own health check, flushed the ring and refused its clients. On the
    real source: the bug shows only when no event follows the stop within
    the batch, which an injected rate (or a fast host) would always give;
    PBD_TEST_DAEMON_ARGS="--threshold 100000" makes it fail before the
    fix here."""
    wait_stats(d, lambda s: s["sampler"]["events"] > 0, 60, "events")
    st0 = d.stats()
    d.proc.send_signal(signal.SIGSTOP)
    time.sleep(3.0)  # 3 x --stall-ms
    d.proc.send_signal(signal.SIGCONT)
    # The sampler saw the jump (the check is not blind) ...
    st = wait_stats(d, lambda s: s["sampler"]["gaps"] > st0["sampler"]["gaps"],
                    30, "the stop seen as a gap")
    time.sleep(0.5)  # ... and has run on past it
    st = d.stats()
    assert st["health"]["stall_failures"] == \
        st0["health"]["stall_failures"], st["health"]
    assert st["health"]["source"] == "ok", st["health"]


def stuck_permanent_is_quiet(d):
    """Once permanent, the stall check must not publish again: the failure
    time stood still (it moved every --stall-ms before), and the failure
    was logged at error level (it was never logged before)."""
    st = wait_stats(d, lambda s: s["health"]["source"] == "permanent", 30,
                    "permanent failure")
    first = st["health"]["last_failure_time"]
    time.sleep(2.5)  # 5 x --stall-ms, and over 2 s of the timestamp's grain
    st = d.stats()
    assert st["health"]["last_failure_time"] == first, st["health"]
    log = d.logtext()
    assert "error: health: failed" in log, log[-2000:]


def after_healthy_start(d):
    """The DRBG is seeded on the server's tick (200 ms). So that the healthy
    events last a tick at any event rate, they outnumber what fills the
    ring: the sampler sleeps with the source still good, the DRBG gets
    seeded, and only then does draining the ring drive it to the failure.
    No deadline in seconds (8,000 real events take 53 s at 150/s): it
    fails when the events stop coming for 30 s, or when the fake counter
    has had 1,000 events (its RCT trips after 16) with no failure."""
    watch = EventWatch(30)
    while True:
        st = d.stats()
        if st["health"]["last_failure"] != "none":
            break
        events = st["sampler"]["events"]
        assert events < HEALTHY_EVENTS + 1000, (
            "no failure %d events after the fault began: %r" % (
                events - HEALTHY_EVENTS, st))
        watch.check(st, "none failed, at %d of %d healthy events" %
                    (events, HEALTHY_EVENTS))
        # Half the ring: what stays is there to be flushed at the failure.
        if st["drbg"]["seeded"] and st["ring"]["bytes"] >= 2:
            d.text("read %d raw nowait" % (st["ring"]["bytes"] // 2))
        time.sleep(0.1)
    assert st["health"]["startup_passes"] >= 1, st["health"]
    assert st["drbg"]["seeded"], "drbg not seeded before the failure: %r" % st["drbg"]
    st = fails_closed(d, "rct")
    assert st["health"]["flushed_bytes"] > 0, st["health"]
    before = st["drbg"]["reseeds"]
    with d.connect(10) as s:  # documented: drbg keeps serving its healthy seed
        a = read_ok(s, 4096, "drbg")
        b = read_ok(s, 4096, "drbg")
        assert a != b
    with d.connect(10) as s:
        s.sendall(b"read 32 drbg\n")
        assert len(recv_line(s)) == 64
    st = d.stats()
    assert st["drbg"]["reseeds"] == before, "reseeded from a failed source"
    assert st["health"]["state"] == "failed"


def bad_cpu(d):
    wait_stats(d, lambda s: s["health"]["startup_passes"] >= 1, 90,
               "start-up test pass")
    msg = d.text("health")
    assert msg.startswith("degraded: sampler not pinned"), msg
    st = d.stats()
    assert "not pinned" in st["counter"]["pinning"], st["counter"]
    alive(d)


def online_cpus():
    """The online CPUs, from /sys/devices/system/cpu/online ("0-3,6")."""
    with open("/sys/devices/system/cpu/online") as f:
        spec = f.read().strip()
    cpus = []
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        cpus += range(int(lo), int(hi or lo) + 1)
    return cpus


def sampler_tid(pid):
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
            if f.read().strip() == "pbd-sampler":
                return int(tid)
    raise AssertionError("no pbd-sampler thread")


def off_cpu(d):
    # What the kernel does when the pinned CPU goes offline: the thread's
    # affinity is broken and it runs elsewhere. Done here from outside.
    st = d.stats()
    pinned = st["counter"]["cpu"]
    # Any other online CPU, not only those this test may use: under
    # `taskset -c 0` (the one-CPU CI pass) the machine still has CPU 1.
    other = [c for c in online_cpus() if c != pinned]
    if not other:
        harness.skip("moving the sampler off its CPU needs a second CPU")
    tid = sampler_tid(d.proc.pid)
    os.sched_setaffinity(tid, {other[0]})
    try:
        end = time.time() + 10
        msg = d.text("health")
        while time.time() < end and "off CPU" not in msg:
            time.sleep(0.1)
            msg = d.text("health")
        assert msg.startswith("degraded: sampler is running off CPU %d" %
                              pinned), msg
        assert d.stats()["sampler"]["migrations"] > 0
        alive(d)  # still serving
    finally:
        os.sched_setaffinity(tid, {pinned})
    d.wait_health("ok", 10)  # back on its CPU: healthy again


def sigpipe(d):
    connected = d.stats()["clients"]["connected"]
    for i in range(30):
        s = d.connect(10)
        s.sendall(read_req(1 << 20, "drbg") * 2)
        if i % 3 == 0:
            s.recv(10)
        s.close()
    seen_gone(d, connected)
    assert d.proc.poll() is None, "killed: rc %s" % d.proc.returncode
    alive(d)


def kill9_restart(d):
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait(10)
    assert os.path.exists(d.sock), "socket vanished with kill -9?"
    d.relaunch()
    alive(d)
    assert "removing stale socket" in d.logtext(), d.logtext()[-2000:]


with harness.Daemon("--fault", "periodic", *FAKE_THRESHOLD,
                    ring=2048, wait_ready=False) as d:
    t.check("--fault periodic: start-up test fails, permanent, EHEALTH", periodic, d)
    t.ok("daemon up after a failed source", d.proc.poll() is None)
    t.ok("exits 0", d.stop() == 0)
with harness.Daemon("--fault", "stuck", "--stall-ms", "500",
                    ring=2048, wait_ready=False) as d:
    t.check("--fault stuck: stall failure, EHEALTH", stuck, d)
    t.check("--fault stuck: permanent, logged, then quiet",
            stuck_permanent_is_quiet, d)
    t.ok("exits 0", d.stop() == 0)
with harness.Daemon("--fault", "periodic-after=%d" % HEALTHY_EVENTS,
                    *FAKE_THRESHOLD, ring=2048, wait_ready=False) as d:
    t.check("failure after a healthy start: flushed, EHEALTH, drbg serves",
            after_healthy_start, d)
    t.ok("exits 0", d.stop() == 0)
with harness.Daemon("--cpu", "4095", ring=2048,
                    wait_ready=False) as d:
    t.check("--cpu 4095: reported degraded, not fatal", bad_cpu, d)
with harness.Daemon(ring=1 << 20) as d:
    t.check("sampler moved off its CPU: degraded, still serving", off_cpu, d)
# A ring that does not fill: the sampler is sampling, not asleep, when
# the daemon is stopped. The real source: an injected event right after
# the stop would hide the bug (see stopped_is_not_a_stall).
with harness.Daemon("--stall-ms", "1000", real=True, ring=1 << 20) as d:
    t.check("stopped past --stall-ms: a gap, not a stall", stopped_is_not_a_stall, d)
with harness.Daemon(ring=2048) as d:
    t.check("SIGPIPE: clients closing mid-reply do not kill it", sigpipe, d)
    t.check("kill -9 then restart on the stale socket", kill9_restart, d)
    t.ok("exits 0", d.stop() == 0)
t.finish()

#!/usr/bin/env python3
"""DRBG output never repeats across a VM restore, a suspend, or a clone
(issue 25). preemptd-fault's hooks (daemon/faulthook.c) stand in for the
machine: SIGRTMIN snapshots the DRBG, SIGRTMIN+1 restores it (as a VM
restored from a snapshot finds it), SIGRTMIN+2 moves the time-asleep clock
5 s (a suspend). The daemon runs with --drbg-os-mix events, so only the
events protect it, and the first check shows the restore really repeats
output when nothing tells the daemon."""
import os
import signal
import subprocess
import time

import harness
from harness import read_req, recv_line
from rel import (PREEMPTD_FAULT, EventWatch, as_nobody, expect_error, open_up,
                 read_ok)
from checks import Checks

PREEMPTCTL = os.environ.get("PREEMPTCTL", "build/client/preemptctl")
SNAP, RESTORE, CLOCK = (signal.SIGRTMIN, signal.SIGRTMIN + 1,
                        signal.SIGRTMIN + 2)
t = Checks()


def blocks(data):
    return {data[i:i + 32] for i in range(0, len(data), 32)}


def served(d):
    """The bytes clients get: 4 binary reads of 64 KiB + 32 B, then a
    text read on a second connection, each its own drbg request."""
    out = b""
    with d.connect(30) as s:
        for n in (65536, 32, 65536, 32, 65536, 32, 65536, 32):
            out += read_ok(s, n, "drbg")
    with d.connect(30) as s:
        s.sendall(b"read 4096 drbg\n")
        out += bytes.fromhex(recv_line(s))
    return out


def total_events(st):
    return sum(st["drbg"]["events"].values())


def wait_log(d, text, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        if text in d.logtext():
            return
        time.sleep(0.05)
    raise AssertionError("log never said %r:\n%s" % (text, d.logtext()[-3000:]))


def wait_seeded(d):
    watch = EventWatch(60)
    while True:
        st = d.stats()
        if st["drbg"]["seeded"] and not st["drbg"]["reseed_pending"]:
            return st
        watch.check(st, "drbg never seeded")
        time.sleep(0.2)


def snapshot_restore(d, between):
    """Snapshot, serve, restore, call between(), serve again. Returns the
    two servings and whether any event came while they were made."""
    before_ev = total_events(d.stats())
    n = d.logtext().count("DRBG snapshot taken")
    d.proc.send_signal(SNAP)
    wait_log_count(d, "DRBG snapshot taken", n + 1)
    first = served(d)
    n = d.logtext().count("DRBG restored from the snapshot")
    d.proc.send_signal(RESTORE)
    wait_log_count(d, "DRBG restored from the snapshot", n + 1)
    between()
    second = served(d)
    return first, second, total_events(d.stats()) - before_ev


def wait_log_count(d, text, n, timeout=30):
    end = time.time() + timeout
    while d.logtext().count(text) < n:
        assert time.time() < end, "log never said %r %d times" % (text, n)
        time.sleep(0.02)


def restore_repeats_unless_told(d):
    """The control: with no event between, the restored DRBG serves the
    same bytes again, so the checks below could fail. A starved sampler's
    gap event may land inside the window: try again then."""
    wait_seeded(d)
    for _ in range(8):
        first, second, events = snapshot_restore(d, lambda: None)
        if events == 0:
            assert first == second, "restore did not repeat the output"
            return
    harness.skip("an event came during every attempt of the control")


def after_sighup_no_block_repeats(d):
    wait_seeded(d)
    st0 = d.stats()["drbg"]

    def sighup():
        d.proc.send_signal(signal.SIGHUP)
        wait_log(d, "drbg: signal event (SIGHUP)")

    first, second, _ = snapshot_restore(d, sighup)
    same = blocks(first) & blocks(second)
    assert not same, "%d of %d blocks served again" % (len(same),
                                                      len(blocks(first)))
    st = d.stats()["drbg"]
    assert st["events"]["signal"] == st0["events"]["signal"] + 1, st
    # The reseed from the source follows as soon as a block is in stock.
    watch = EventWatch(60)
    while d.stats()["drbg"]["event_reseeds"]["signal"] <= \
            st0["event_reseeds"]["signal"]:
        watch.check(d.stats(), "no reseed after SIGHUP")
        time.sleep(0.2)
    wait_log(d, "drbg: reseeded from the source after a signal event")


def clock_jump_no_block_repeats(d):
    """A suspend: the time-asleep clock moves 5 s. The check before each
    drbg chunk sees it before the first byte after the restore."""
    wait_seeded(d)
    c0 = d.stats()["drbg"]["events"]["clock"]

    def jump():
        n = d.logtext().count("the time-asleep clock moved 5 s")
        d.proc.send_signal(CLOCK)
        wait_log_count(d, "the time-asleep clock moved 5 s", n + 1)

    first, second, _ = snapshot_restore(d, jump)
    same = blocks(first) & blocks(second)
    assert not same, "%d blocks served again" % len(same)
    st = d.stats()["drbg"]
    assert st["events"]["clock"] == c0 + 1, st
    assert "drbg: clock event (5.0 s asleep)" in d.logtext()


def reseed_command(d):
    """preemptctl reseed, text `reseed` and the framed RESEED each count
    one request event and get one reply; the same uid is allowed."""
    wait_seeded(d)
    r0 = d.stats()["drbg"]["events"]["request"]
    p = subprocess.run([PREEMPTCTL, "--socket", d.sock, "reseed"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    assert p.stdout.startswith("ok: fresh OS bytes mixed in"), p.stdout
    assert d.stats()["drbg"]["events"]["request"] == r0 + 1
    wait_log(d, "drbg: request event (asked by uid %d)" % os.geteuid())
    with d.connect(10) as s:
        s.sendall(b"reseed\nversion\n")
        assert recv_line(s).startswith("ok: fresh OS bytes mixed in")
        assert recv_line(s).startswith("preemptd ")
    with d.connect(10) as s:
        s.sendall(harness.hdr(0x05, 0))
        typ, payload = harness.recv_frame(s)
        assert typ == 0x85, (typ, payload)
        assert payload.startswith(b"ok: fresh OS bytes mixed in"), payload
    assert d.stats()["drbg"]["events"]["request"] == r0 + 3
    m = subprocess.run([PREEMPTCTL, "--socket", d.sock, "metrics"],
                       capture_output=True, text=True, timeout=60)
    assert 'preemptd_drbg_events_total{kind="request"} %d' % (r0 + 3) \
        in m.stdout, m.stdout


def refused_as_nobody(d):
    """In the uid 65534 child: the text reseed is refused, the connection
    stays open; the framed one gets a (non-fatal) EPERM frame."""
    with d.connect(10) as s:
        s.sendall(b"reseed\nversion\n")
        line = recv_line(s)
        assert line == "error: not permitted", line
        assert recv_line(s).startswith("preemptd ")
    with d.connect(10) as s:
        s.sendall(harness.hdr(0x05, 0))
        expect_error(s, "EPERM")
        assert len(read_ok(s, 32)) == 32  # still open
    return True


def reseed_refused_for_others(d):
    """It costs a conditioned block and a log line: only root and the
    daemon's uid may ask. Another user is refused and nothing happens."""
    if os.geteuid() != 0:
        harness.skip("needs root to run a client as another uid")
    open_up(d)
    r0 = d.stats()["drbg"]["events"]["request"]
    as_nobody(refused_as_nobody, d)
    assert d.stats()["drbg"]["events"]["request"] == r0


def default_mix_protects_without_signal():
    """Defence in depth (the default, --drbg-os-mix request): fresh OS
    bytes go into the key before every drbg reply, so even a restore that
    nothing announces serves no block twice."""
    with harness.Daemon("--reseed-s", "3600", binary=PREEMPTD_FAULT,
                        ready_timeout=600) as d:
        wait_seeded(d)
        for _ in range(3):
            first, second, _ = snapshot_restore(d, lambda: None)
            same = blocks(first) & blocks(second)
            assert not same, "%d blocks served again" % len(same)
        st = d.stats()["drbg"]
        assert st["os_mix"] == "request" and st["os_mixes"] > 0, st


# --priority normal: a starved SCHED_IDLE sampler (CI's stress step) makes a
# gap event every few seconds, which would keep the control from ever
# seeing a quiet window.
with harness.Daemon("--drbg-os-mix", "events", "--reseed-s", "3600",
                    "--mode", "0666", "--priority", "normal",
                    binary=PREEMPTD_FAULT,
                    ready_timeout=600) as dmn:
    t.check("restore-repeats-unless-told", restore_repeats_unless_told, dmn)
    t.check("after-sighup-no-block-repeats", after_sighup_no_block_repeats,
            dmn)
    t.check("clock-jump-no-block-repeats", clock_jump_no_block_repeats, dmn)
    t.check("preemptctl-reseed", reseed_command, dmn)
    t.check("reseed-refused-for-others", reseed_refused_for_others, dmn)
t.check("default-mix-protects-without-signal",
        default_mix_protects_without_signal)
t.finish()

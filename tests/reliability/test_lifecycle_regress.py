#!/usr/bin/env python3
"""Issue 10's findings as fixed regression cases, each written against the
rebuilt request lifecycle:

- unsolicited ETIMEDOUT: raw pipeliners whose waits expire must not
  complete another client's request a second time;
- a source going permanent: every waiting request gets exactly one EHEALTH;
- dead waiters: clients that hang up while waiting leave `stats` within 1 s
  and a legitimate conditioned reader is served;
- slow readers: --max-memory bounds the daemon's RSS, stats reports the
  budget, and the memory goes back when they leave;
- over --max-clients: an EBUSY frame / `error: ...busy...` line, not a bare
  reset;
- SIGTERM with waiters: ESHUTDOWN before the daemon exits.
"""
import json
import os
import resource
import signal
import socket
import threading
import time

import harness
from harness import E, read_req, recv_frame, recv_line
from model import STRERROR, BinRead, BinSimple, Violation, exchange
from checks import Checks
from rel import seen_gone

t = Checks()


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def connect(d, timeout=30):
    """A blocking connect: with 200 at once the backlog may be full for a
    moment (the loop shares a loaded CPU), and a blocking connect waits."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(d.sock)
    s.settimeout(timeout)
    return s


def stats(d):
    """stats(d) over a blocking connect (see connect)."""
    with connect(d) as s:
        s.sendall(b"stats\n")
        return json.loads(recv_line(s))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


def sanitized(pid):
    """True when the daemon runs with AddressSanitizer's allocator."""
    with open("/proc/%d/maps" % pid) as f:
        return "libasan" in f.read()


def poll(pred, timeout, step=0.02):
    """Calls pred until it returns a true value or timeout passes; returns
    (value, seconds taken)."""
    t0 = time.monotonic()
    v = harness.until(pred, timeout, step)
    return v, time.monotonic() - t0


# ---- 1. replies to requests never sent -------------------------------------

def unsolicited_timeouts(d, seconds=4.0):
    """3 clients pipeline 4 raw 64 KiB reads with a 200 ms wait, 6 send one
    small raw read at a time with a 20 s wait. A 20 s read answered
    ETIMEDOUT in less than 20 s, or any frame beyond one per request, is a
    reply to a request never sent."""
    stop = threading.Event()
    bad, served, errors = [], [0], []

    def pipeliner():
        try:
            with d.connect(30) as s:
                while not stop.is_set():
                    exchange(s, [BinRead("raw", 1 << 16, False, 200, 0)
                                 for _ in range(4)], timeout=60, quiet=0)
        except Exception as e:  # noqa: BLE001
            errors.append("pipeliner: %r" % e)

    def single():
        try:
            with d.connect(30) as s:
                while not stop.is_set():
                    t0 = time.monotonic()
                    exp = BinRead("raw", 16, False, 20000, 0)
                    for _, r in exchange(s, [exp], timeout=60, quiet=0.05):
                        if r.error == "ETIMEDOUT" and \
                                time.monotonic() - t0 < 19.5:
                            bad.append("ETIMEDOUT after %.2f s" % (
                                time.monotonic() - t0))
                        served[0] += r.ok
        except Violation as v:
            bad.append(str(v))
        except Exception as e:  # noqa: BLE001
            errors.append("single: %r" % e)

    ths = [threading.Thread(target=pipeliner) for _ in range(3)] + \
        [threading.Thread(target=single) for _ in range(6)]
    for th in ths:
        th.start()
    time.sleep(seconds)
    stop.set()
    for th in ths:
        th.join(90)
    print("   single-request clients: %d reads served, %d unsolicited "
          "replies" % (served[0], len(bad)))
    assert not bad, "single-request clients got %d unsolicited replies " \
        "(first: %s)" % (len(bad), bad[:3])
    assert not errors, errors
    assert served[0] > 0, "no small raw read served"


def one_ehealth_each(d):
    """The source never passes its start-up test and goes permanent while
    reads wait. In the waiter list, clients that will wait again (their
    next read is drbg, never seeded: it waits, then ENOTSEEDED) alternate
    with clients that have nothing more to ask: completing the first
    re-enters serve_waiters, which completes the second, and the outer walk
    must not complete it again. The model allows exactly one reply to each
    request and no byte after the last."""
    conns = []
    try:
        for i in range(12):
            s = connect(d, 60)
            if i % 2 == 0:
                exps = [BinRead("conditioned", 64, False, 30000, 0),
                        BinRead("drbg", 32, False, 3000, 0), BinSimple(3)]
            else:
                exps = [BinRead("raw", 64, False, 30000, 0)]
            # All at once, so the next request is already read when the
            # first completes; one by one, so the waiter list is in order.
            s.sendall(b"".join(e.wire() for e in exps))
            poll(lambda: stats(d)["clients"]["waiting"] >= i + 1, 10)
            conns.append((s, exps))
        results, errors = [None] * len(conns), []

        def collect(i, s, exps):
            try:
                results[i] = [r.error or "ok" for _, r in exchange(
                    s, exps, timeout=60, quiet=0.5, send=False)]
            except (Violation, OSError) as e:
                errors.append("client %d: %s" % (i, e))
        # Side by side: each client's quiet half-second after its last
        # reply overlaps the others'.
        ths = [threading.Thread(target=collect, args=(i, s, exps))
               for i, (s, exps) in enumerate(conns)]
        for th in ths:
            th.start()
        for th in ths:
            th.join(120)
    finally:
        for s, _ in conns:
            s.close()
    assert not errors, "%d of %d clients got a wrong reply; first: %s" % (
        len(errors), len(conns), errors[0])
    for i, r in enumerate(results):
        want = ["EHEALTH", "ENOTSEEDED", "ok"] if i % 2 == 0 else ["EHEALTH"]
        assert r == want, (i, r)
    assert stats(d)["health"]["source"] == "permanent"


# ---- 2. dead waiters -------------------------------------------------------

def dead_waiters(d):
    raise_nofile()
    poll(lambda: stats(d)["clients"]["connected"] <= 1, 10)
    before = stats(d)["clients"]
    socks = []
    for _ in range(200):
        s = connect(d)
        s.sendall(read_req(1 << 16, "conditioned", wait_ms=30000))
        socks.append(s)
    # every one of them is waiting before they hang up
    waiting, _ = poll(lambda: stats(d)["clients"]["waiting"] >=
                      before["waiting"] + 200, 30, 0.1)
    assert waiting, "the 200 reads never all waited: %s" % stats(d)["clients"]
    for s in socks:
        s.close()

    def back():
        c = stats(d)["clients"]
        return (c["connected"] <= before["connected"] and
                c["waiting"] <= before["waiting"]) and c

    c, took = poll(back, 1.0)
    last = stats(d)["clients"]
    print("   clients before %s; %.2f s after the hang-ups: %s" % (
        before, took, last))
    assert c, "1 s after 200 waiters hung up, stats still shows %d " \
        "connected and %d waiting (before: %d and %d)" % (
            last["connected"], last["waiting"], before["connected"],
            before["waiting"])
    with d.connect(30) as s:
        r = exchange(s, [BinRead("conditioned", 32, False, 10000, 0)],
                     timeout=30)
        assert r[0][1].ok, "a 32-byte conditioned read got %s" % r[0][1].error


# ---- 3. slow readers against the memory budget -----------------------------

BUDGET = 16 << 20


def slow_readers(d, seconds=10):
    raise_nofile()
    mem = stats(d).get("memory")
    assert mem is not None, "stats has no \"memory\" object"
    assert mem["limit"] == BUDGET, mem
    connected = d.stats()["clients"]["connected"]
    with d.connect(30) as s:  # warm up: the reply path has been used
        exchange(s, [BinRead("drbg", 1 << 20, False, 0, 0)] * 2 +
                 [BinRead("conditioned", 32, False, 10000, 0)], timeout=30)
    seen_gone(d, connected)  # and the warm-up client's memory released
    base = rss_kib(d.proc.pid)
    socks = []
    for _ in range(200):
        s = connect(d)
        s.sendall(read_req(1 << 20, "drbg") * 4)
        socks.append(s)
    peak, peak_used, bystander = base, 0, []
    t_end = time.monotonic() + seconds
    while time.monotonic() < t_end:
        for s in socks:
            try:
                s.settimeout(0.001)
                s.recv(1)
            except OSError:
                pass
        peak = max(peak, rss_kib(d.proc.pid))
        m = stats(d)["memory"]
        assert m["used"] <= m["limit"], m
        peak_used = max(peak_used, m["used"])
        if not bystander:
            with d.connect(30) as s:
                for mode in ("drbg", "conditioned"):
                    r = exchange(s, [BinRead(mode, 32, False, 10000, 0)],
                                 timeout=30)
                    assert r[0][1].ok, "bystander's %s read: %s" % (
                        mode, r[0][1].error)
                bystander.append(1)
        time.sleep(max(0, 1 - (time.monotonic() % 1)))
    for s in socks:
        s.close()
    # ASan's allocator keeps what it released: that RSS is not the daemon's
    san = sanitized(d.proc.pid)
    after, took = poll(lambda: rss_kib(d.proc.pid) <= base + 8192 and
                       rss_kib(d.proc.pid), 0 if san else 15, 0.2)
    m = stats(d)["memory"]
    print("   RSS baseline %d KiB, peak %d KiB (budget %d KiB); memory.used "
          "peak %d; after %.1f s: %d KiB; stats %s" % (
              base, peak, BUDGET >> 10, peak_used, took,
              rss_kib(d.proc.pid), m))
    assert peak - base <= (BUDGET >> 10) + 8192, \
        "RSS grew %d KiB over the %d KiB baseline, budget %d KiB" % (
            peak - base, base, BUDGET >> 10)
    assert m["peak"] <= m["limit"], m
    if san:
        print("   under ASan: RSS coming back down is not checked")
        return
    assert after, "RSS still %d KiB 15 s after the slow readers left " \
        "(baseline %d KiB)" % (rss_kib(d.proc.pid), base)


# ---- 4. over --max-clients -------------------------------------------------

def over_max_clients(d):
    poll(lambda: stats(d)["clients"]["connected"] <= 1, 10)
    held = []
    for _ in range(3):
        s = d.connect(10)
        exchange(s, [BinSimple(4)], quiet=0)
        held.append(s)
    busy = STRERROR["EBUSY"]
    try:
        with d.connect(10) as s:
            try:
                s.sendall(read_req(16, "drbg"))
                typ, p = recv_frame(s)
            except (EOFError, OSError) as e:
                raise AssertionError("binary client over the limit: %r, "
                                     "no EBUSY frame" % e)
            assert typ == 0xFF and p[0] == E["EBUSY"], (typ, p)
            assert harness.closed(s, 5), "not closed after EBUSY"
        with d.connect(10) as s:
            try:
                s.sendall(b"version\n")
                line = recv_line(s)
            except (EOFError, OSError) as e:
                raise AssertionError("text client over the limit: %r, no "
                                     "error line" % e)
            assert line == "error: " + busy and "busy" in line, line
            assert harness.closed(s, 5), "not closed after the busy line"
        with d.connect(10) as s:
            s.settimeout(5)
            try:
                s.sendall(b"\x04")
                data = s.recv(64)
            except (BrokenPipeError, ConnectionResetError):
                data = b""
            assert data == b"", "EGD client over the limit got %r" % data
    finally:
        for s in held:
            s.close()


# ---- 5. SIGTERM with waiters -----------------------------------------------

def sigterm_waiters(d):
    b = d.connect(10)
    b.sendall(read_req(32, "conditioned", wait_ms=60000))
    tx = d.connect(10)
    tx.sendall(b"read 32\n")
    g = d.connect(10)
    g.sendall(bytes([2, 32]))
    poll(lambda: stats(d)["clients"]["waiting"] >= 3, 10)
    d.proc.send_signal(signal.SIGTERM)
    got = []
    try:
        try:
            typ, p = recv_frame(b)
            got.append("binary: 0x%02x %r" % (typ, p))
            assert typ == 0xFF and p[0] == E["ESHUTDOWN"], got[-1]
        except (EOFError, ConnectionResetError) as e:
            raise AssertionError("binary waiter: %r, no ESHUTDOWN frame" % e)
        try:
            line = recv_line(tx)
        except (EOFError, ConnectionResetError) as e:
            raise AssertionError("text waiter: %r, no error line" % e)
        assert line == "error: " + STRERROR["ESHUTDOWN"], line
        assert harness.closed(g, 10), "EGD waiter not hung up"
        rc = d.proc.wait(15)
        assert rc == 0, "exit status %d" % rc
    finally:
        for s in (b, tx, g):
            s.close()


with harness.Daemon(ring=2048) as d:
    t.check("raw pipeliners' expired waits: no unsolicited ETIMEDOUT",
            unsolicited_timeouts, d)
    t.ok("exits 0", d.stop() == 0)
with harness.Daemon("--fault", "stuck", "--stall-ms", "1000",
                    ring=2048, wait_ready=False) as d:
    t.check("source goes permanent: exactly one EHEALTH per request",
            one_ehealth_each, d)
    t.ok("exits 0", d.stop() == 0)
with harness.Daemon("--max-clients", "1000", ring=2048) as d:
    t.check("200 waiters hang up: gone from stats within 1 s, a reader is "
            "served", dead_waiters, d)
    t.ok("exits 0", d.stop() == 0)
# Under ASan the RSS would be the sanitizer's: freed buffers wait in its
# quarantine (256 MiB by default) and go back to the system only when told.
# This one daemon runs with a small quarantine and a prompt release, so its
# RSS means what it means without ASan; the other tests keep the defaults.
ASAN_RSS = os.environ.get("ASAN_OPTIONS", "") + \
    ":quarantine_size_mb=1:allocator_release_to_os_interval_ms=100"
try:
    d = harness.Daemon("--max-memory", str(BUDGET), "--max-clients", "1000",
                       ring=2048,
                       env={"ASAN_OPTIONS": ASAN_RSS.lstrip(":")})
except RuntimeError as e:
    why = [ln for ln in str(e).splitlines() if "max-memory" in ln]
    t.ok("--max-memory: 200 slow readers stay within the budget", False,
         "the daemon did not start: %s" % (why or [str(e)])[0])
else:
    with d:
        t.check("--max-memory: 200 slow readers stay within the budget",
                slow_readers, d)
        t.ok("exits 0", d.stop() == 0)
with harness.Daemon("--max-clients", "3", ring=2048) as d:
    t.check("over --max-clients: EBUSY frame, busy line, EGD hang-up",
            over_max_clients, d)
with harness.Daemon("--fault", "stuck", "--stall-ms", "100000",
                    "--wait-ms", "60000", ring=2048,
                    wait_ready=False) as d:
    t.check("SIGTERM with waiters: ESHUTDOWN first, exit 0",
            sigterm_waiters, d)
t.finish()

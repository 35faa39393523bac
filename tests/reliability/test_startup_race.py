#!/usr/bin/env python3
"""Start-up race (issue 10): two preemptd on one socket path, the second
started 0, 10 or 50 ms after the first, 20 times each. Exactly one serves;
the other exits non-zero saying another preemptd serves the path; every
connect after the path first appears is accepted, by one of the two (and in
the end only the one that serves: SO_PEERCRED and EGD pid); and stopping
either one, in turn, never leaves the other running unreachable: the path
reaches a live daemon, or is gone only when none runs.

The three delays run side by side (each its own directory): a round costs
two daemon start-ups, whatever the source, and the extra load is no harm to
a race test. This was also svc-startup's t_race; the two are one now."""
import errno
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import harness
from rel import PREEMPTD
from checks import Checks

t = Checks()
ROUNDS = int(os.environ.get("PBD_RACE_ROUNDS", "20"))


def start(path, log):
    f = open(log, "wb")
    p = subprocess.Popen([PREEMPTD, "--foreground", "--socket", path,
                          "--ring-size", "2048", "--log-level", "debug"]
                         + harness.daemon_args(), stdout=f, stderr=f)
    f.close()
    return p


def egd_pid(path, timeout=2.0):
    """The pid of the daemon the path reaches (EGD command 4), or None
    when nothing listens there."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        s.sendall(b"\x04")
        buf = b""
        while len(buf) < 1 or len(buf) < 1 + buf[0]:
            d = s.recv(64)
            if not d:
                raise AssertionError("EGD pid: closed after %r" % buf)
            buf += d
        return int(buf[1:1 + buf[0]])
    except (FileNotFoundError, ConnectionRefusedError):
        return None
    finally:
        s.close()


def text(path, line):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(path)
        s.sendall(line + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            d = s.recv(256)
            if not d:
                break
            buf += d
        return buf.decode(errors="replace")


def settle(procs, path, timeout=8.0):
    """Waits until one of the two has exited and the path answers, checking
    that every connect after the path first appeared was accepted by one of
    them. Returns the one still running (or None)."""
    end = time.time() + timeout
    seen = set()
    while time.time() < end:
        try:
            seen.add(harness.peer_pid(path))
        except OSError as e:
            assert e.errno == errno.ENOENT and not seen, \
                "a connect after the path appeared failed: %r" % e
        assert seen <= {p.pid for p in procs}, \
            "the path reached %s, not one of the two (%s)" % (
                seen, [p.pid for p in procs])
        alive = [p for p in procs if p.poll() is None]
        if len(alive) <= 1:
            try:
                if egd_pid(path) is not None or not alive:
                    return alive[0] if alive else None
            except (OSError, AssertionError):
                pass
        time.sleep(0.02)
    alive = [p for p in procs if p.poll() is None]
    raise AssertionError("after %.0f s %d instances still run (pids %s), "
                         "the path reaches %s" % (
                             timeout, len(alive), [p.pid for p in alive],
                             egd_pid(path)))


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            raise AssertionError("pid %d ignored SIGTERM" % p.pid)


def check_reach(procs, path, when):
    alive = [p for p in procs if p.poll() is None]
    got = egd_pid(path)
    if alive:
        assert got in [p.pid for p in alive], \
            "%s: pid %s still runs but the path reaches %s" % (
                when, [p.pid for p in alive], got)
    else:
        assert got is None and not os.path.exists(path), \
            "%s: none runs but the path is still there (reaches %s)" % (
                when, got)


def one_round(delay, n):
    d = tempfile.mkdtemp(prefix="pbd-race-")
    path = os.path.join(d, "s")
    logs = [os.path.join(d, "a.log"), os.path.join(d, "b.log")]
    procs = []
    try:
        procs.append(start(path, logs[0]))
        time.sleep(delay)
        procs.append(start(path, logs[1]))
        winner = settle(procs, path)
        assert winner is not None, "neither serves: exits %s" % [
            p.returncode for p in procs]
        loser = procs[1 - procs.index(winner)]
        loser.wait(15)
        with open(logs[procs.index(loser)], "rb") as f:
            llog = f.read().decode(errors="replace")
        assert loser.returncode != 0, \
            "the loser (pid %d) exited 0: %s" % (loser.pid, llog[-300:])
        assert "another preemptd" in llog, \
            "the loser's log does not say another preemptd serves: %s" % (
                llog[-300:])
        assert egd_pid(path) == winner.pid, \
            "the path reaches %s, the one that serves is %d" % (
                egd_pid(path), winner.pid)
        v = text(path, b"version")
        assert v.startswith("preemptd "), v
        # stop them in turn, first-started first on even rounds
        order = procs if n % 2 == 0 else procs[::-1]
        for i, p in enumerate(order):
            stop(p)
            check_reach(procs, path, "after stopping %s (pid %d)" % (
                "the first" if p is procs[0] else "the second", p.pid))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(d, ignore_errors=True)


def race(delay):
    fails = []
    n = 0
    for n in range(ROUNDS):
        try:
            one_round(delay, n)
        except AssertionError as e:
            fails.append("round %d: %s" % (n, e))
            if len(fails) == 3:
                break  # enough to show it; a failed round costs seconds
    print("   %d ms apart: %d of %d rounds failed" % (
        delay * 1000, len(fails), n + 1))
    assert not fails, "%d of %d rounds failed; first: %s" % (
        len(fails), n + 1, fails[0])


class Race(threading.Thread):
    """race(delay) on a thread; keeps what it raised."""

    def __init__(self, delay):
        super().__init__()
        self.delay, self.error = delay, None

    def run(self):
        try:
            race(self.delay)
        except AssertionError as e:
            self.error = e


def joined(th):
    th.join()
    if th.error:
        raise th.error


races = [Race(delay) for delay in (0.0, 0.010, 0.050)]
for th in races:
    th.start()
for th in races:
    t.check("two instances %d ms apart: one serves, none orphaned" % (
        th.delay * 1000), joined, th)
t.finish()

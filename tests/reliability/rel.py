"""Shared bits of the reliability tests: a bystander client that keeps
using the daemon while others misbehave, and small protocol helpers on top
of tests/integration/harness.py."""
import json
import os
import shutil
import socket
import struct
import subprocess
import threading
import time

import harness
from harness import (E, PREEMPTD, PREEMPTD_FAULT, T_ERROR, T_READ, T_REPLY,
                     hdr, read_req, recv_frame)


def expect_error(s, code):
    """Reads one frame from s and asserts it is an error frame with code."""
    typ, payload = recv_frame(s)
    assert typ == T_ERROR, "expected error frame, got type 0x%02x" % typ
    assert payload[0] == E[code], "expected %s, got code %d (%s)" % (
        code, payload[0], payload[1])
    return payload[1]


def read_ok(s, n, mode="drbg", wait_ms=0):
    """Sends a binary READ on s and returns the n bytes of its reply."""
    s.sendall(read_req(n, mode, wait_ms=wait_ms))
    typ, payload = recv_frame(s)
    assert typ == (T_READ | T_REPLY), "got 0x%02x %r" % (typ, payload)
    assert len(payload) == n
    return payload


class Load:
    """Every CPU kept busy for at most `secs` seconds: `stress-ng --cpu 1
    --taskset N` for each CPU N we may use, so a worker sits on each CPU
    (stress-ng --cpu 0's unpinned workers migrate and leave a CPU idle now
    and then, which an idle-priority sampler lives on). A context manager;
    without stress-ng a skip (a failure under CI)."""

    def __init__(self, secs):
        if not shutil.which("stress-ng"):
            harness.skip("stress-ng is not installed (./setup.sh test)")
        self.procs = [subprocess.Popen(
            ["stress-ng", "--cpu", "1", "--taskset", str(cpu), "--timeout",
             "%ds" % secs, "--quiet"]) for cpu in sorted(os.sched_getaffinity(0))]
        assert harness.until(self.workers_up, 30), "stress-ng's workers never started"

    def workers_up(self):
        """True once every stress-ng has forked its worker (a child; Linux
        only, as sched_getaffinity is)."""
        parents = set()
        for pid in os.listdir("/proc"):
            try:
                with open("/proc/%s/stat" % pid) as f:
                    parents.add(int(f.read().rsplit(")", 1)[1].split()[1]))
            except (OSError, ValueError, IndexError):
                continue  # not a process, or gone meanwhile
        return all(p.pid in parents for p in self.procs)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            p.wait()


class EventWatch:
    """For waits with no deadline in seconds (event rates range from 150
    to 3,500 a second): check(st) fails once the daemon's sampler has made
    no event for `stalled` seconds."""

    def __init__(self, stalled=30):
        self.stalled, self.last, self.moved = stalled, -1, time.time()

    def check(self, st, what):
        if st["sampler"]["events"] != self.last:
            self.last, self.moved = st["sampler"]["events"], time.time()
        assert time.time() - self.moved < self.stalled, (
            "no event in %d s, %s: %r" % (self.stalled, what, st["health"]))


def alive(d):
    """Asserts the daemon process is running and serves a fresh client."""
    assert d.proc.poll() is None, "preemptd exited %s" % d.proc.returncode
    with d.connect(10) as s:
        assert len(read_ok(s, 64)) == 64
    assert d.text("version").startswith("preemptd ")


def seen_gone(d, connected, timeout=30):
    """Waits until the daemon has seen the clients that closed go: no more
    connections than `connected` (as stats counted them, its own included)
    are left, or the daemon exited (for the caller to assert on)."""
    def seen():
        return (d.proc.poll() is not None or
                d.stats()["clients"]["connected"] <= connected)
    assert harness.until(seen, timeout), (
        "closed clients still connected after %d s: %r" % (
            timeout, d.stats()["clients"]))


def vmhwm_kib(pid):
    """Peak resident set of pid in KiB (VmHWM), or -1 when unreadable."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


class Bystander(threading.Thread):
    """One well-behaved client connected throughout: a drbg read and a
    health request on one connection every period. Records every failure."""

    def __init__(self, d, period=0.05):
        super().__init__(daemon=True)
        self.d = d
        self.period = period
        self.stop_ev = threading.Event()
        self.rounds = 0
        self.errors = []

    def run(self):
        try:
            s = self.d.connect(10)
        except OSError as e:
            self.errors.append("connect: %s" % e)
            return
        with s:
            while not self.stop_ev.is_set():
                try:
                    read_ok(s, 32)
                    s.sendall(hdr(3, 0))
                    typ, _ = recv_frame(s)
                    assert typ == 0x83, typ
                    self.rounds += 1
                except Exception as e:  # noqa: BLE001
                    self.errors.append(repr(e))
                    return
                time.sleep(self.period)

    def finish(self):
        """Stops the thread; asserts it never failed and did some work."""
        self.stop_ev.set()
        self.join(15)
        assert not self.errors, self.errors
        assert self.rounds > 0, "bystander made no progress"
        return self.rounds


NOBODY = 65534


def as_nobody(fn, d):
    """Runs fn(d) in a child that is uid/gid 65534; returns its result (a
    JSON-able value) or raises with the child's error."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        res = {}
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            res["ok"] = fn(d)
        except BaseException as e:  # noqa: BLE001 - report to the parent
            res["err"] = repr(e)
        os.write(w, json.dumps(res).encode())
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    res = json.loads(data)
    if "err" in res:
        raise AssertionError("in the uid %d child: %s" % (NOBODY, res["err"]))
    return res["ok"]


def open_up(d):
    # The temp dir is 0700 and the socket 0660: let nobody reach it.
    os.chmod(d.dir, 0o711)

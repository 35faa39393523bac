#!/usr/bin/env python3
"""The model test of the wire contract (issue 10).

Many clients pipeline random requests in all three dialects and all modes
(wait and no-wait, waits that expire, big and small) while others connect
and vanish mid-request, against preemptd-fault --fault toggle, whose source
a thread flips between healthy and failed with SIGUSR2 at random times.
Every connection is checked against a client-side model (model.py): exactly
one reply per request, in order, of the right type and exact length or an
error that request may get; no unsolicited byte (each client ends with a
quiet period); and no byte served twice across all clients.

    test_model.py [--seconds 30] [--long SECONDS] [--seed N] [--clients 20]

The source is harness.Daemon's injected event rate (`toggle,rate=R`): 30 s
of it serves every mode far more often than 60 s of a loaded host's own
events did (there the DRBG often never got its first seed), and a failed
spell recovers in milliseconds rather than seconds.
"""
import argparse
import collections
import os
import random
import selectors
import signal
import socket
import threading
import time

import harness
from checks import Checks
from model import (MAX_READ, TEXT_MAX_READ, BinRead, BinSimple, EgdExpect,
                   Stream, TextQuit, TextRead, TextSimple, Violation,
                   egd_write)

DEFAULT_WAIT_S = 2.0   # --wait-ms: what text and EGD reads wait
SLACK_S = 20.0         # a loaded machine under ASan, on top of a wait
QUIET_S = 0.5          # > the daemon's 200 ms tick, which expires waiters


class Seen:
    """Fingerprints of output served so far; a repeat is a byte served
    twice. Uniform output (conditioned, drbg, EGD): 16-byte windows, every
    offset for the entropy modes (a few KiB/s at most), for drbg only the
    aligned windows of each reply's first 1 KiB (a reused DRBG state or a
    reply sent twice repeats from the start; drbg is too plentiful to index
    whole). Raw output is folded jump bytes, not uniform: up to 15 equal
    bytes a failing source produced before the RCT tripped are served
    legitimately, and a dull stretch of a real source can repeat, so raw
    windows with fewer than 8 distinct values are left out. Two
    generations bound the memory of --long runs."""

    CAP = 3_000_000

    def __init__(self):
        self.old = set()
        self.cur = set()
        self.checked = 0
        self.skipped = 0

    def _add(self, w, what):
        if w in self.cur or w in self.old:
            raise Violation("%s: 16 bytes served twice: %s" % (what, w.hex()))
        self.cur.add(w)
        self.checked += 1
        if len(self.cur) > self.CAP:
            self.old, self.cur = self.cur, set()

    def add(self, mode, data, what):
        n = len(data)
        if n < 8:
            return
        if n < 16:
            if mode != "raw" or len(set(data)) >= 8:
                self._add(b"s" + data, what)
            return
        if mode == "drbg":
            for i in range(0, min(n, 1024) - 15, 16):
                self._add(data[i:i + 16], what)
            return
        for i in range(n - 15):
            w = data[i:i + 16]
            if mode == "raw" and len(set(w)) < 8:
                self.skipped += 1
                continue
            self._add(w, what)


class Stats:
    def __init__(self):
        self.requests = collections.Counter()
        self.outcomes = collections.Counter()   # (kind, ok|error name)
        self.violations = []
        self.conns = 0
        self.vanished = collections.Counter()
        self.toggles = 0
        self.quiet_checks = 0
        self.half_closes = 0
        self.bytes = collections.Counter()

    def violation(self, who, msg):
        if len(self.violations) < 1000:
            self.violations.append("%s: %s" % (who, msg))


class Client:
    """One model client: a dialect, a pipeline depth, a life time; then
    it drains its queue, waits QUIET_S for any unsolicited byte and
    closes (or ends with quit, or with shutdown(SHUT_WR))."""

    def __init__(self, run, cid):
        self.run, self.id, rng = run, cid, run.rng
        self.dialect = rng.choice(["binary"] * 5 + ["text"] * 3 + ["egd"] * 2)
        self.depth = rng.choice([1, 1, 2, 4, 8])
        self.think = rng.uniform(0, 0.05) if self.depth == 1 else 0
        self.end_at = time.monotonic() + rng.uniform(1.0, 8.0)
        self.quit = self.dialect == "text" and rng.random() < 0.2
        # or ends by shutting down its sending side (nc -N): it is owed
        # every reply, then the daemon closes
        self.half = not self.quit and rng.random() < 0.15
        self.state = "run"
        self.stream = Stream()
        self.out = bytearray()
        self.next_at = 0
        self.progress_at = time.monotonic()
        self.quiet_until = None
        self.sock = run.connect()
        run.sel.register(self.sock, selectors.EVENT_READ, self)
        run.st.conns += 1

    def name(self):
        return "client %d (%s, depth %d)" % (self.id, self.dialect, self.depth)

    def request(self):
        rng, run = self.run.rng, self.run
        if self.dialect == "binary":
            r = rng.random()
            if r < 0.65:
                mode = rng.choice(["conditioned", "raw", "drbg", "drbg"])
                exp = BinRead(mode, run.size(mode, MAX_READ[mode]),
                              rng.random() < 0.3,
                              rng.choice([0, 50, 200, 1000, 3000]),
                              DEFAULT_WAIT_S)
            else:
                exp = BinSimple(rng.choice([2, 3, 3, 4, 4]))
        elif self.dialect == "text":
            r = rng.random()
            if r < 0.65:
                mode = rng.choice(["conditioned", "raw", "drbg", "drbg"])
                exp = TextRead(mode, run.size(mode, TEXT_MAX_READ),
                               rng.random() < 0.3, DEFAULT_WAIT_S,
                               rng.choice(["read", "read", "READ"]))
            elif r < 0.68:
                exp = TextSimple("bad", rng.choice(
                    ["bogus", "read 0", "read 5000", "stats now"]))
            else:
                exp = TextSimple(rng.choice(
                    ["stats", "health", "health", "version", "help"]))
        else:
            r = rng.random()
            if r < 0.05:
                self.out += egd_write(rng.randint(1, 64))
                run.st.requests["egd-write"] += 1
                return
            cmd = ("level" if r < 0.25 else "read-nb" if r < 0.6
                   else "read" if r < 0.85 else "pid")
            exp = EgdExpect(cmd, rng.randint(1, 255) if "read" in cmd else 0,
                            DEFAULT_WAIT_S, run.d.proc.pid)
        self.send(exp)

    def send(self, exp):
        if self.stream.owed() == 0:
            self.progress_at = time.monotonic()
        exp.sent_at = time.monotonic()
        self.stream.push(exp)
        self.out += exp.wire()
        self.run.st.requests[exp.kind] += 1

    def fail(self, msg):
        self.run.st.violation(self.name(), msg)
        self.close()

    def close(self):
        if self.state != "done":
            self.state = "done"
            self.run.sel.unregister(self.sock)
            self.sock.close()

    def on_read(self):
        try:
            data = self.sock.recv(1 << 18)
        except BlockingIOError:
            return
        except ConnectionResetError:
            data = b""
        try:
            if not data:
                exp = self.stream.eof()
                if exp is None and self.state not in ("quit", "half"):
                    raise Violation("daemon closed an idle connection")
                if exp is not None:
                    self.run.st.outcomes[exp.kind, "hangup" if
                                         exp.hangup_ok else "closed"] += 1
                elif self.state == "half":
                    self.run.st.half_closes += 1
                self.close()
                return
            done = self.stream.feed(data)
        except Violation as v:
            self.fail(str(v))
            return
        if done:
            self.progress_at = time.monotonic()
            if not all(r.ok for _, r in done):
                # back off a little, as a real client would: a failed
                # source must not turn the run into an error storm
                self.next_at = self.progress_at + self.run.rng.uniform(0, 0.05)
        for exp, reply in done:
            st = self.run.st
            st.outcomes[exp.kind, "ok" if reply.ok else reply.error] += 1
            # Once seeded the DRBG stays seeded (it outlives a failed
            # source): a drbg read sent after one was served is served.
            if exp.mode == "drbg":
                if reply.ok and self.run.seeded_at is None:
                    self.run.seeded_at = time.monotonic()
                elif not reply.ok and self.run.seeded_at is not None and \
                        exp.sent_at > self.run.seeded_at:
                    self.fail("%s got %s after the DRBG served" % (
                        exp.label(), reply.error))
                    return
            if reply.ok and exp.mode and reply.data:
                st.bytes[exp.mode] += len(reply.data)
                try:
                    self.run.seen.add(exp.mode, reply.data, exp.label())
                except Violation as v:
                    self.fail(str(v))
                    return
        if self.state == "quiet" and done:
            self.quiet_until = time.monotonic() + QUIET_S

    def on_write(self):
        try:
            n = self.sock.send(self.out)
        except BlockingIOError:
            return
        except (BrokenPipeError, ConnectionResetError):
            n = len(self.out)  # the reply side tells whether it was fair
        del self.out[:n]

    def tick(self, now):
        """Issues requests, moves through the end states, checks deadlines.
        Returns False once the client is done."""
        if self.state == "done":
            return False
        if self.state == "run":
            if now >= self.end_at or self.run.ending:
                self.state = "drain"
                if self.quit:
                    self.send(TextQuit())
                    self.state = "quit"
                elif self.half:
                    self.state = "half"
            elif now >= self.next_at:
                while self.stream.owed() < self.depth:
                    self.request()
                self.next_at = now + self.think
        if self.state == "half" and not self.out and self.next_at >= 0:
            self.sock.shutdown(socket.SHUT_WR)
            self.next_at = -1  # shut once
            self.progress_at = now
        if self.state == "drain" and self.stream.owed() == 0 and not self.out:
            self.state = "quiet"
            self.quiet_until = now + QUIET_S
        if self.state == "quiet" and now >= self.quiet_until:
            self.run.st.quiet_checks += 1
            self.close()
            return False
        owed = self.stream.owed()
        head = self.stream.q[self.stream.head] if owed else None
        late = now - self.progress_at - (head.wait_s if head else 0) - SLACK_S
        if late > 0 and head and self.state not in ("quit", "half"):
            self.fail("no reply to %s in %.0f s (%d owed)" % (
                head.label(), now - self.progress_at, owed))
            return False
        if late > 0 and self.state in ("quit", "half"):
            self.fail("%s: the daemon never closed (%d owed)" % (
                self.state, owed))
            return False
        ev = selectors.EVENT_READ | (selectors.EVENT_WRITE if self.out else 0)
        self.run.sel.modify(self.sock, ev, self)
        return True


class Vanisher:
    """A client that connects, starts something and goes away: closes while
    a read waits, mid-frame, mid-line, or mid-reply; or pipelines big reads
    and never reads them."""
    KINDS = ["wait-conditioned", "wait-raw", "mid-frame", "mid-line",
             "egd-wait", "mid-reply", "unread"]

    def __init__(self, run):
        rng = run.rng
        self.kind = rng.choice(self.KINDS)
        self.sock = run.connect()
        self.close_at = time.monotonic() + rng.uniform(0, 0.4)
        msg = {
            "wait-conditioned": harness.read_req(1 << 16, "conditioned",
                                                 wait_ms=30000),
            "wait-raw": harness.read_req(rng.randint(1, 1 << 16), "raw",
                                         wait_ms=30000),
            "mid-frame": harness.read_req(64, "drbg")[:rng.randint(1, 19)],
            "mid-line": b"read 40",
            "egd-wait": bytes([2, 255]),
            "mid-reply": harness.read_req(1 << 20, "drbg"),
            "unread": harness.read_req(1 << 20, "drbg") * 3 +
            harness.read_req(4096, "conditioned", wait_ms=5000),
        }[self.kind]
        try:
            self.sock.send(msg)
        except OSError:
            pass
        run.st.vanished[self.kind] += 1

    def tick(self, now):
        if now < self.close_at:
            return True
        if self.kind == "mid-reply":
            try:
                self.sock.recv(4096)
            except OSError:
                pass
        self.sock.close()
        return False


class Run:
    def __init__(self, d, seconds, seed, nclients):
        self.d = d
        self.seconds = seconds
        self.rng = random.Random(seed)
        self.nclients = nclients
        self.sel = selectors.DefaultSelector()
        self.st = Stats()
        self.seen = Seen()
        self.ending = False
        self.seeded_at = None  # when a drbg read was first served

    def connect(self):
        """A non-blocking connection; a full backlog (EAGAIN) is retried,
        anything else is the daemon's fault."""
        end = time.monotonic() + 20
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.setblocking(False)
            try:
                s.connect(self.d.sock)
                return s
            except BlockingIOError:
                s.close()
                if time.monotonic() > end:
                    raise
                time.sleep(0.01)
            except OSError as e:
                s.close()
                raise AssertionError("connect: %r; daemon %s; log:\n%s" % (
                    e, "exited %s" % self.d.proc.poll() if self.d.proc.poll()
                    is not None else "running", self.d.logtext()[-3000:]))

    def size(self, mode, top):
        """Mostly small, some medium, a few up to the mode's maximum."""
        r = self.rng.random()
        if r < 0.7:
            return self.rng.randint(1, 64)
        if r < 0.97:
            return self.rng.randint(65, min(4096, top))
        if top <= 4096:
            return top
        return int(2 ** self.rng.uniform(12, top.bit_length() - 1))

    def toggler(self, stop):
        """Healthy for 1-6 s, failed for 0.2-3 s, again and again; leaves
        the source healthy (an even number of flips)."""
        rng = random.Random(self.rng.random())
        while not stop.wait(rng.uniform(1.0, 6.0)):
            os.kill(self.d.proc.pid, signal.SIGUSR2)
            self.st.toggles += 1
            stop.wait(rng.uniform(0.2, 3.0))
            os.kill(self.d.proc.pid, signal.SIGUSR2)
            self.st.toggles += 1

    def go(self):
        stop = threading.Event()
        tog = threading.Thread(target=self.toggler, args=(stop,))
        tog.start()
        clients, vanishers, cid = [], [], 0
        t_end = time.monotonic() + self.seconds
        next_vanish = 0
        try:
            while True:
                now = time.monotonic()
                if now >= t_end:
                    self.ending = True
                if not self.ending:
                    while len(clients) < self.nclients:
                        cid += 1
                        clients.append(Client(self, cid))
                    if now >= next_vanish:
                        vanishers.append(Vanisher(self))
                        next_vanish = now + self.rng.uniform(0.02, 0.2)
                clients = [c for c in clients if c.tick(now)]
                vanishers = [v for v in vanishers if v.tick(now)]
                if self.ending and not clients and not vanishers:
                    break
                if now > t_end + 120:
                    raise AssertionError("clients never finished: %s" % [
                        c.name() for c in clients])
                for key, ev in self.sel.select(0.02):
                    c = key.data
                    if ev & selectors.EVENT_WRITE and c.state != "done":
                        c.on_write()
                    if ev & selectors.EVENT_READ and c.state != "done":
                        c.on_read()
        finally:
            stop.set()
            tog.join()

    def summary(self):
        st = self.st
        ok = collections.Counter()
        errs = collections.Counter()
        for (kind, what), n in st.outcomes.items():
            if what == "ok":
                ok[kind] += n
            else:
                errs[what] += n
        print("model: %d requests on %d connections, %d vanished (%s); "
              "%d toggles; %d quiet checks, %d half-closes; %d fingerprints "
              "(%d raw windows skipped)" % (
                  sum(st.requests.values()), st.conns,
                  sum(st.vanished.values()),
                  ", ".join("%s %d" % kv for kv in sorted(st.vanished.items())),
                  st.toggles, st.quiet_checks, st.half_closes,
                  self.seen.checked, self.seen.skipped))
        print("requests: " + ", ".join(
            "%s %d/%d ok" % (k, ok[k], n) for k, n in
            sorted(st.requests.items())))
        print("errors: " + (", ".join("%s %d" % kv for kv in
                                      sorted(errs.items())) or "none"))
        print("bytes served: " + ", ".join("%s %d" % kv for kv in
                                           sorted(st.bytes.items())))
        print("violations: %d" % len(st.violations))
        for v in st.violations[:15]:
            print("  " + v)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--long", type=float, metavar="SECONDS",
                    help="run for hours: same as --seconds")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--clients", type=int, default=20)
    a = ap.parse_args()
    seconds = a.long or a.seconds
    seed = a.seed if a.seed is not None else random.SystemRandom().randrange(1 << 30)
    t = Checks()
    t.comment("seed %d, %.0f s, %d clients" % (seed, seconds, a.clients))
    d = harness.Daemon("--fault", "toggle", "--stall-ms", "1000",
                       "--wait-ms", str(int(DEFAULT_WAIT_S * 1000)),
                       "--idle-ms", "600000",
                       ring=16384, ready_timeout=60)
    try:
        run = Run(d, seconds, seed, a.clients)
        t0 = time.time()
        # An AssertionError: the daemon died or stopped answering.
        t.check("the daemon answers for %.0f s of model clients" % seconds,
                run.go)
        print("ran %.1f s" % (time.time() - t0))
        run.summary()
        t.ok("no contract violations", not run.st.violations,
             "%d contract violations" % len(run.st.violations))
        if seconds >= 30:
            t.ok("the source toggled at least twice", run.st.toggles >= 2,
                 "only %d toggles" % run.st.toggles)
        okd = sum(n for (k, w), n in run.st.outcomes.items() if w == "ok")
        t.ok("at least 100 requests served", okd >= 100,
             "only %d requests served" % okd)
        # Still serving once the source is back: health, stats, a read.
        t.check("serving at the end: health ok, stats, a conditioned read",
                serving_at_the_end, d)
    finally:
        rc = d.stop()
    t.ok("exit status 0 on SIGTERM", rc == 0, "exit status %s" % rc)
    t.finish()


def serving_at_the_end(d):
    d.wait_health("ok", 60)
    st = d.stats()
    print("daemon: clients %s, requests %d, errors %d, timeouts %d, "
          "health failures rct %d stall %d, passes %d" % (
              st["clients"], st["requests"], st["errors"],
              st["timeouts"], st["health"]["rct_failures"],
              st["health"]["stall_failures"],
              st["health"]["startup_passes"]))
    with d.connect(30) as s:
        s.sendall(harness.read_req(32, "conditioned", wait_ms=20000))
        typ, p = harness.recv_frame(s)
        assert typ == 0x81 and len(p) == 32, (typ, p)


if __name__ == "__main__":
    main()

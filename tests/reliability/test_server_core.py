#!/usr/bin/env python3
"""Issue 23's server-core defects as regression cases:

1. a peer that pipelines past the daemon's input buffer and closes is seen
   as gone: its waiting read is cancelled, its capture tap released;
2. clients that never read their replies, or that wait on large reads,
   cannot take the memory budget from others: drbg replies still flow;
3. capture and restart reads wait during the start-up test (no EAGAIN);
4. SIGTERM: every request parked for memory gets ESHUTDOWN too;
5. an internal fatal stop (the sampler cannot be restarted) exits non-zero;
8. a lock file planted by another user, or a file at the old predictable
   temporary name, does not stop the daemon silently;
9. SIGUSR2 and SIGALRM are logged, not fatal; the socket goes at exit;
10. after a --user drop, shutdown does not claim the socket was replaced.
"""
import fcntl
import os
import pwd
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import harness
from harness import (E, F_RESTART, T_ERROR, T_HEALTH, T_READ, T_REPLY, T_STATS,
                     hdr, read_req, recv_frame, until)
from rel import PREEMPTD, PREEMPTD_FAULT, EventWatch, read_ok
from checks import Checks

t = Checks()
# Arguments, if any, pick checks by the number their name starts with.
ONLY = sys.argv[1:]


def pipeline_and_close(d, req, count):
    s = d.connect(30)
    s.sendall(req * count)
    s.close()


# ---- 1 ----------------------------------------------------------------------

def dead_pipeliners_are_seen(d):
    """10 clients each send 17 framed 64 KiB conditioned reads (340 bytes,
    more than the daemon's 320-byte input) and close. All must leave
    `waiting` within seconds (the wait they asked for is 120 s)."""
    req = read_req(65536, "conditioned", wait_ms=120000)
    for _ in range(10):
        pipeline_and_close(d, req, 17)
    st = until(lambda: (lambda s: s if s["clients"]["waiting"] == 0
                        else None)(d.stats()), 5)
    last = d.stats()["clients"]
    assert st, "dead pipeliners still waiting after 5 s: %r" % last
    assert last["hangups"] >= 10, last
    with d.connect(30) as s:  # a live client is served
        assert len(read_ok(s, 64)) == 64


def dead_capture_pipeliner_releases_the_tap(d):
    """20 pipelined 64 KiB capture reads, then close: another client's
    capture read is served, not refused with EINUSE."""
    req = read_req(65536, "capture", wait_ms=120000)
    hangups = d.stats()["clients"]["hangups"]
    pipeline_and_close(d, req, 20)
    # The daemon has taken the dead client's first read (it waits on the
    # tap), or has already seen the hang-up.
    assert until(lambda: (lambda c: c["waiting"] or c["hangups"] > hangups)(
        d.stats()["clients"]), 30), d.stats()["clients"]
    watch = EventWatch()
    end = time.monotonic() + 5
    with d.connect(120) as s:
        while True:
            s.sendall(read_req(16, "capture", wait_ms=20000))
            typ, payload = recv_frame(s)
            if typ == (T_READ | T_REPLY):
                assert len(payload) == 16
                return
            assert typ == T_ERROR, typ
            if payload[0] == E["ETIMEDOUT"]:
                watch.check(d.stats(), "waiting for 16 samples")
                continue
            assert payload[0] == E["EINUSE"] and time.monotonic() < end, (
                "capture refused: %r (the dead owner still holds the tap)"
                % (payload,))
            time.sleep(0.2)


# ---- 2 ----------------------------------------------------------------------

def flooders_keep_within_their_share(d):
    """16 clients each send 4,000 STATS requests and never read. They must
    stop being read long before the budget fills, and a normal client's
    64 KiB and 1 MiB drbg reads are served meanwhile."""
    flooders = []
    for _ in range(16):
        s = d.connect(30)
        s.setblocking(False)
        data = hdr(T_STATS, 0) * 4000
        sent = 0
        end = time.monotonic() + 2
        while sent < len(data) and time.monotonic() < end:
            try:
                sent += s.send(data[sent:])
            except BlockingIOError:
                time.sleep(0.01)
        flooders.append(s)
    try:
        # The daemon reads no more of what they sent (flow control, or all
        # of it read): the requests it counts are only our stats requests.
        seen = [None]

        def no_more_read():
            n = d.stats()["requests"]
            quiet = seen[0] is not None and n == seen[0] + 1
            seen[0] = n
            return quiet
        assert until(no_more_read, 30, step=0.2), "still reading after 30 s"
        st = d.stats()
        used, limit = st["memory"]["used"], st["memory"]["limit"]
        print("     16 flooders: memory used %d of %d" % (used, limit))
        with d.connect(30) as s:
            assert len(read_ok(s, 65536)) == 65536
            assert len(read_ok(s, 1 << 20)) == 1 << 20
        st = d.stats()
        assert st["memory"]["peak"] < limit // 4, st["memory"]
    finally:
        for s in flooders:
            s.close()


def half_closed_pipeliner_gets_every_reply(d):
    """Flow control pauses a client, it never drops its requests: 2,000
    STATS requests (more replies than a socket buffer holds), then
    shutdown(SHUT_WR), then reading: 2,000 replies, then EOF."""
    with d.connect(60) as s:
        s.sendall(hdr(T_STATS, 0) * 2000)
        s.shutdown(socket.SHUT_WR)
        for i in range(2000):
            typ, _ = recv_frame(s)
            assert typ == (T_STATS | T_REPLY), (i, typ)
        assert s.recv(1) == b""


def big_waiters(d, n):
    """n connections, each with a 64 KiB conditioned read waiting 60 s."""
    out = []
    for _ in range(n):
        s = d.connect(30)
        s.sendall(read_req(65536, "conditioned", wait_ms=60000))
        out.append(s)
    return out


def waiters_leave_drbg_flowing(d):
    """100 clients each wait on a 64 KiB conditioned read with a 4 MiB
    budget (more than it holds): a drbg reader is still served."""
    waiters = big_waiters(d, 100)
    try:
        until(lambda: d.stats()["clients"]["connected"] >= 100, 10)
        st = d.stats()
        print("     100 waiters: memory used %d of %d, %d waiting" % (
            st["memory"]["used"], st["memory"]["limit"],
            st["clients"]["waiting"]))
        with d.connect(20) as s:
            assert len(read_ok(s, 65536)) == 65536
            assert len(read_ok(s, 1 << 20)) == 1 << 20
    finally:
        for s in waiters:
            s.close()


# ---- 3 ----------------------------------------------------------------------

def capture_waits_for_startup(flags):
    """A capture (or restart) read sent while the start-up test runs waits
    and is answered with samples, not PBD_EAGAIN. Tries fresh daemons until
    one is caught in its start-up test (the health reply says so)."""
    for _ in range(5):
        with harness.Daemon(wait_ready=False) as d:
            with d.connect(120) as s:
                s.sendall(hdr(T_HEALTH, 0) +
                          read_req(64, "capture", wait_ms=60000, flags=flags))
                typ, payload = recv_frame(s)
                assert typ == (T_HEALTH | T_REPLY), typ
                in_startup = b"start-up health test running" in payload[1:]
                typ, payload = recv_frame(s)
                assert typ == (T_READ | T_REPLY), (
                    "capture read during start-up: %r" % (payload,))
                assert len(payload) == 64
                if in_startup:
                    return
    raise AssertionError("never caught a daemon in its start-up test")


# ---- 4 ----------------------------------------------------------------------

def sigterm_reaches_parked(d_args):
    """20 clients each ask for 64 KiB conditioned with a 1 MiB budget: some
    wait for entropy, the others are parked for memory. On SIGTERM every one
    gets ESHUTDOWN."""
    d = harness.Daemon(*d_args)
    clients = []
    try:
        clients = big_waiters(d, 20)
        st = until(lambda: (lambda s: s if s["clients"]["connected"] >= 20
                            and s["clients"]["waiting"] >= 1 else None)(
                                d.stats()), 10)
        assert st, d.stats()["clients"]
        parked = 20 - st["clients"]["waiting"]
        assert parked > 0, "none parked for memory: %r" % st["memory"]
        d.proc.send_signal(signal.SIGTERM)
        got = []
        for s in clients:
            try:
                typ, payload = recv_frame(s)
                got.append(payload[0] if typ == T_ERROR else "data")
            except EOFError:
                got.append("EOF")
        bad = [g for g in got if g != E["ESHUTDOWN"]]
        assert not bad, "%d waiting, %d parked; replies %r" % (
            st["clients"]["waiting"], parked, got)
    finally:
        for s in clients:
            s.close()
        d.stop()


# ---- 5, 10 ------------------------------------------------------------------

def fatal_stop_exits_nonzero():
    """The fault build's PBD_FAULT_RESTART_FAILS=2: the second restart
    cannot start the sampler thread again, as when threads run out. The
    daemon stops, and says so with its exit status."""
    env = {"PBD_FAULT_RESTART_FAILS": "2"}
    d = harness.Daemon(binary=PREEMPTD_FAULT, env=env)
    try:
        with d.connect(120) as s:
            for _ in range(2):
                s.sendall(read_req(16, "capture", wait_ms=60000,
                                   flags=F_RESTART))
            typ, payload = recv_frame(s)
            assert typ == (T_READ | T_REPLY), payload
            try:
                typ, payload = recv_frame(s)
                assert typ == T_ERROR and payload[0] == E["ESHUTDOWN"], (
                    typ, payload)
            except (EOFError, ConnectionResetError):
                pass
        rc = d.proc.wait(30)
        log = d.logtext()
        assert "cannot restart the sampler thread" in log, log[-2000:]
        assert rc == 3, "exit status %d after a fatal stop" % rc
    finally:
        d.stop()


def user_drop_no_false_warning():
    """With --user and a socket directory only root may enter, shutdown
    cannot look at the path: it must not say the socket was replaced."""
    d = harness.Daemon("--user", "nobody")
    rc = d.proc.send_signal(signal.SIGTERM) or d.proc.wait(15)
    log = d.logtext()
    d.stop()
    assert rc == 0, rc
    assert "no longer the socket we created" not in log, log[-1500:]


# ---- 8 ----------------------------------------------------------------------

def as_nobody():
    pw = pwd.getpwnam("nobody")
    os.setgid(pw.pw_gid)
    os.setuid(pw.pw_uid)


def start(sock, preexec=None):
    log = tempfile.TemporaryFile()
    p = subprocess.Popen([PREEMPTD, "--foreground", "--socket", sock,
                          "--ring-size", "2048"] + harness.daemon_args(),
                         stdout=log, stderr=log, preexec_fn=preexec)
    return p, log


def logged(log):
    log.seek(0)
    return log.read().decode(errors="replace")


def shared_dir():
    d = tempfile.mkdtemp(prefix="pbd-shared-")
    os.chmod(d, 0o1777)
    return d


def foreign_lock_is_named():
    """nobody pre-creates <path>.lock in a world-writable directory and
    holds it: the daemon says whose lock it is, not that another preemptd
    serves the path."""
    d = shared_dir()
    sock = os.path.join(d, "preemptd.sock")
    holder = subprocess.Popen(
        ["python3", "-c",
         "import fcntl,os,sys,time\n"
         "fd=os.open(sys.argv[1],os.O_RDWR|os.O_CREAT,0o644)\n"
         "fcntl.flock(fd,fcntl.LOCK_EX)\nprint('held',flush=True)\n"
         "time.sleep(60)", sock + ".lock"],
        stdout=subprocess.PIPE, preexec_fn=as_nobody)
    try:
        assert holder.stdout.readline().strip() == b"held"
        p, log = start(sock)
        rc = p.wait(30)
        text = logged(log)
        assert rc != 0, text
        assert "another preemptd is already serving" not in text, text
        assert "owned by uid %d" % pwd.getpwnam("nobody").pw_uid in text, text
    finally:
        holder.kill()
        holder.wait()


def planted_temp_name_is_harmless():
    """A file at the old predictable temporary name (.preemptd-<pid>) in a
    shared directory does not stop the daemon."""
    d = shared_dir()
    sock = os.path.join(d, "preemptd.sock")

    def plant():
        path = os.path.join(d, ".preemptd-%d" % os.getpid())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        os.close(fd)
        os.chown(path, pwd.getpwnam("nobody").pw_uid, -1)

    p, log = start(sock, plant)
    try:
        ok = until(lambda: os.path.exists(sock) or p.poll() is not None, 30)
        assert ok and p.poll() is None, logged(log)
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(30)


# ---- 9 ----------------------------------------------------------------------

def stray_signals_are_logged(d):
    for sig in (signal.SIGUSR2, signal.SIGALRM):
        d.proc.send_signal(sig)
        name = signal.Signals(sig).name
        assert until(lambda: name in d.logtext(), 5), (
            "no log line for %s; exit %r" % (name, d.proc.poll()))
        assert d.proc.poll() is None, "%s killed the daemon" % name
    with d.connect(30) as s:
        assert len(read_ok(s, 32)) == 32
    sock = d.sock
    assert d.stop() == 0
    assert not os.path.exists(sock), "socket file left behind"


def wanted(*nums):
    return not ONLY or bool(set(nums) & set(ONLY))


def runs_as_root():
    if os.geteuid() != 0:
        harness.skip("needs root (--user, other users' files)")


def main():
    if not t.run(runs_as_root):
        t.finish()
    if wanted("1", "2"):
        with harness.Daemon() as d:
            t.check("1: dead pipeliners behind a full input are seen",
                    dead_pipeliners_are_seen, d)
            t.check("1: a dead capture pipeliner releases the tap",
                    dead_capture_pipeliner_releases_the_tap, d)
            t.check("2: flooders that never read stay within their share",
                    flooders_keep_within_their_share, d)
            t.check("2: a half-closed pipeliner gets every reply",
                    half_closed_pipeliner_gets_every_reply, d)
        with harness.Daemon("--max-memory", "4194304") as d:
            t.check("2: many large waiters leave drbg replies flowing",
                    waiters_leave_drbg_flowing, d)
    if wanted("3"):
        t.check("3: a capture read waits for the start-up test",
                capture_waits_for_startup, 0)
        t.check("3: a restart read waits for the start-up test",
                capture_waits_for_startup, F_RESTART)
    if wanted("4"):
        t.check("4: SIGTERM answers requests parked for memory",
                sigterm_reaches_parked, ["--max-memory", "1048576"])
    if wanted("5"):
        t.check("5: an internal fatal stop exits 3", fatal_stop_exits_nonzero)
    if wanted("8"):
        t.check("8: a foreign lock file is named, not trusted",
                foreign_lock_is_named)
        t.check("8: a planted temporary name does not stop the daemon",
                planted_temp_name_is_harmless)
    if wanted("9"):
        with harness.Daemon() as d:
            t.check("9: SIGUSR2 and SIGALRM are logged, not fatal",
                    stray_signals_are_logged, d)
    if wanted("10"):
        t.check("10: no false 'replaced' warning after --user",
                user_drop_no_false_warning)
    t.finish()


if __name__ == "__main__":
    main()

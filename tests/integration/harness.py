"""Start the real preemptd on a temporary socket with a small ring, and talk
to it in all three dialects. Shared by the integration tests.

The source (docs/reliability.md, "Tests that never wait on the host"): a
Daemon is the fault-injection build ($PREEMPTD_FAULT) with `--fault
rate=$PBD_TEST_RATE` (default RATE below): the real counter plus that many
injected events a second, so a test that needs events takes the same short
time on an idle host and a loaded one. A test's own `--fault` that reads the
real counter (sequence, toggle, periodic-after=N) gets `,rate=...` added;
stuck and periodic have no real counter to add to. Its sampler runs at
`--priority normal` (see fast_source). Daemon(real=True) is the
production build ($PREEMPTD) on the host's own events: only the few tests
that are about the real source use it, and they say why.

Readiness comes from the daemon itself: Daemon binds a datagram socket and
passes it as $NOTIFY_SOCKET; preemptd sends its first STATUS once it
listens and READY=1 once the start-up health test has passed.

$PBD_TEST_DAEMON_ARGS (optional, split like a shell would) is appended to
every test daemon's arguments, after the test's own: e.g.
PBD_TEST_DAEMON_ARGS="--threshold 40000" slows the real source to a few
hundred events a second, as on the slowest hosts seen (150 ev/s), so a
real-source test that silently counts on a fast source fails here too. An
option the test gives itself is not given again (the --fault tests' fake
counter needs a threshold below its 5,020-tick jumps). Tests that start
preemptd without Daemon take the extra arguments from daemon_args().
"""
import json
import os
import re
import select
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time

PREEMPTD = os.environ.get("PREEMPTD", "build/daemon/preemptd")
PREEMPTD_FAULT = os.environ.get("PREEMPTD_FAULT",
                                "build/daemon/preemptd-fault")
# Injected events a second (--fault rate=R): a 64 KiB capture in about a
# second, the start-up test in tens of ms, and well within what the sampler
# handles under ASan, TSan and valgrind.
RATE = int(os.environ.get("PBD_TEST_RATE", "50000"))


# ---- the wire constants, read from the headers that define them ----------

def _header(rel):
    root = os.environ.get("PBD_SOURCE_ROOT") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..")
    with open(os.path.join(root, rel)) as f:
        return f.read()


def _define(src, name):
    """The value of `#define NAME 0x1Fu` or of `NAME = 0x1F,` in src."""
    m = re.search(r"(?:#define\s+%s\s+|\b%s\s*=\s*)(0x[0-9A-Fa-f]+|\d+)u?\b"
                  % (name, name), src)
    if not m:
        raise RuntimeError("%s not found in the headers" % name)
    return int(m.group(1), 0)


_PBD_H = _header(os.path.join("include", "pbd.h"))
_PROTO_H = _header(os.path.join("common", "proto.h"))
MAGIC = _define(_PROTO_H, "PROTO_MAGIC")
VERSION = _define(_PROTO_H, "PROTO_VERSION")
T_READ, T_STATS, T_HEALTH, T_VERSION = (
    _define(_PROTO_H, "PROTO_T_" + t)
    for t in ("READ", "STATS", "HEALTH", "VERSION"))
T_REPLY, T_ERROR = _define(_PROTO_H, "PROTO_T_REPLY"), \
    _define(_PROTO_H, "PROTO_T_ERROR")
MODE = {m.lower(): _define(_PBD_H, "PBD_MODE_" + m)
        for m in ("CONDITIONED", "RAW", "DRBG", "CAPTURE")}
F_NOWAIT, F_RESTART = _define(_PROTO_H, "PROTO_READ_NOWAIT"), \
    _define(_PROTO_H, "PROTO_READ_RESTART")
# PBD_ERRNO_MAP's rows, X(NAME, -N, "text" "text"...): E has the positive
# wire code by name, STRERROR pbd_strerror()'s text.
_ROWS = [(m.group(1), -int(m.group(2)),
          "".join(re.findall(r'"([^"]*)"', m.group(3))))
         for m in re.finditer(r'X\((E[A-Z]+),\s*(-\d+),((?:\s*\\?\s*"[^"]*")+)\)',
                              _PBD_H)]
E = {name: code for name, code, _ in _ROWS}
STRERROR = {name: text for name, _, text in _ROWS}


class Skipped(Exception):
    """Raised by skip(): the check cannot run on this machine."""


def in_ci():
    """True under CI (CI set and not "false" or "0"; .ci/run has CI=true)."""
    return os.environ.get("CI", "") not in ("", "false", "0")


def skip(why):
    """Ends the calling check because this machine cannot run it, saying why.
    Outside CI that is a skip (Skipped, which checks.Checks reports as a
    TAP skip);
    under CI it is a failure (AssertionError): CI must not be green without
    every check having run. The same rule as skip() in .ci/lib.sh."""
    if in_ci():
        raise AssertionError("CI=%s, so this may not be skipped: %s" %
                             (os.environ["CI"], why))
    raise Skipped(why)


def until(pred, timeout, step=0.05):
    """Calls pred until it returns a true value or timeout seconds pass;
    returns its last value (false at the deadline). The wait for a
    condition: never a fixed sleep in its place."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > end:
            return v
        time.sleep(step)


def hdr(typ, length, magic=MAGIC, version=VERSION, flags=0):
    return struct.pack(">BBBBI", magic, version, typ, flags, length)


def read_req(n, mode="conditioned", nowait=False, wait_ms=0, flags=0):
    flags |= F_NOWAIT if nowait else 0
    return hdr(T_READ, 12) + struct.pack(">IIBBH", n, wait_ms, MODE[mode],
                                         flags, 0)


def daemon_args(own=()):
    """The extra daemon arguments of $PBD_TEST_DAEMON_ARGS, as a list, less
    any option the test gives itself in own (with its value): a test that
    needs, say, its own --threshold keeps it."""
    extra = shlex.split(os.environ.get("PBD_TEST_DAEMON_ARGS", ""))
    given = {a.split("=", 1)[0] for a in own
             if isinstance(a, str) and a.startswith("--")}
    out, i = [], 0
    while i < len(extra):
        a = extra[i]
        takes_value = ("=" not in a and i + 1 < len(extra)
                       and not extra[i + 1].startswith("-"))
        n = 2 if a.startswith("--") and takes_value else 1
        if a.split("=", 1)[0] not in given:
            out += extra[i:i + n]
        i += n
    return out


def fast_source(args, rate=None):
    """args for the fault build on the injected event rate: `--fault
    rate=R` when they name no fault, `,rate=R` after one that reads the real
    counter (and has none yet), stuck and periodic as they are; and
    `--priority normal` unless they give a priority: an idle-priority
    sampler makes no events at all while a loaded host has other work, and
    these tests are not about the sampler's manners (the real-source ones
    keep the default)."""
    rate = RATE if rate is None else rate
    args = list(args)
    if "--priority" not in args:
        args += ["--priority", "normal"]
    for i, a in enumerate(args):
        if a == "--fault" and i + 1 < len(args):
            f = args[i + 1]
            if ",rate=" not in f and not f.startswith("rate=") and (
                    f in ("sequence", "toggle") or
                    f.startswith("periodic-after=")):
                args[i + 1] = "%s,rate=%d" % (f, rate)
            return args
    return args + ["--fault", "rate=%d" % rate]


class Running:
    """What every test needs of a started preemptd: talk to it, read its
    log, wait for it. Subclasses set self.sock, self.log and self.proc."""

    def logtext(self):
        with open(self.log, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_socket(self, timeout=10.0):
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("preemptd exited %s:\n%s" %
                                   (self.proc.returncode, self.logtext()))
            try:
                self.connect().close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("socket never came up:\n" + self.logtext())

    def wait_health(self, word, timeout):
        end = time.time() + timeout
        last = None
        while time.time() < end:
            last = self.text("health")
            if last.startswith(word):
                return last
            time.sleep(0.1)
        raise RuntimeError("health never became %r (last %r):\n%s" %
                           (word, last, self.logtext()))

    def wait_stock(self, nbytes, timeout=30.0):
        """Waits until the ring holds at least nbytes raw bytes."""
        end = time.time() + timeout
        while time.time() < end:
            if self.stats()["ring"]["bytes"] >= nbytes:
                return
            time.sleep(0.1)
        raise RuntimeError("ring never reached %d bytes" % nbytes)

    def connect(self, timeout=30.0):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(self.sock)
        return s

    def text(self, line, timeout=30.0):
        """Sends one text command, returns the reply line without LF."""
        with self.connect(timeout) as s:
            s.sendall(line.encode() + b"\n")
            return recv_line(s)

    def stats(self):
        return json.loads(self.text("stats"))


class Daemon(Running):
    """A preemptd on a temporary socket. Use as a context manager.

    real=False (the default): the fault build on the injected rate (see the
    top of this file); real=True: the production build on the host's own
    events. binary overrides either (the aarch64 step's cross build); the
    injected rate is added only to the fault build ($PREEMPTD_FAULT)."""

    def __init__(self, *args, real=False, binary=None, ring=2048,
                 wait_ready=True, ready_timeout=None, env=None):
        self.binary = binary or (PREEMPTD if real else PREEMPTD_FAULT)
        self.real = real or self.binary != PREEMPTD_FAULT
        if not self.real:
            args = fast_source(args)
        self.dir = tempfile.mkdtemp(prefix="pbd-")
        self.sock = os.path.join(self.dir, "preemptd.sock")
        self.log = os.path.join(self.dir, "log")
        argv = [self.binary, "--foreground", "--socket", self.sock,
                "--ring-size", str(ring), "--log-level", "debug"] + list(args)
        argv += daemon_args(args)
        # $PREEMPTD_WRAPPER (e.g. "valgrind --error-exitcode=99") runs the
        # daemon under a tool; the tool keeps the daemon's pid.
        wrapper = os.environ.get("PREEMPTD_WRAPPER", "")
        if wrapper:
            argv = shlex.split(wrapper) + argv
        self.argv = argv
        self.env = dict(os.environ)
        self.env.update(env or {})
        self.env["NOTIFY_SOCKET"] = os.path.join(self.dir, "notify")
        self.notify = None
        self.logf = open(self.log, "wb")
        self.launch()
        if ready_timeout is None:
            # The injected rate passes the start-up test in milliseconds;
            # the host's own events may take a while on a loaded machine.
            ready_timeout = 120.0 if self.real or wrapper else 30.0
        try:
            self.wait_notify(ready=wait_ready, timeout=ready_timeout)
        except BaseException:
            # No context manager owns it yet: a daemon that never became
            # ready must not outlive the test (one ran on for an hour).
            self.proc.kill()
            self.proc.wait()
            self.logf.close()
            raise

    def launch(self):
        """Starts (or starts again, after a kill) the daemon process, with
        a fresh socket for its sd_notify messages."""
        path = self.env["NOTIFY_SOCKET"]
        if os.path.exists(path):
            os.unlink(path)
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(path)
        # A daemon that drops to --user must still reach it.
        os.chmod(self.dir, 0o711)
        os.chmod(path, 0o666)
        self.notified = self.ready = False
        self.proc = subprocess.Popen(self.argv, stdout=self.logf,
                                     stderr=self.logf, env=self.env)

    def wait_notify(self, ready=True, timeout=30.0):
        """Waits for the daemon's word: READY=1 (the start-up test passed)
        when ready, else any message (it listens by its first). Then
        closes the notify socket: nobody would drain it, and a full one
        would block the daemon's next sd_notify (its later messages get
        ECONNREFUSED instead, which it ignores)."""
        try:
            self._wait_notify(ready, timeout)
        finally:
            self.notify.close()

    def _wait_notify(self, ready, timeout):
        end = time.monotonic() + timeout
        while not (self.ready if ready else self.notified):
            if self.proc.poll() is not None:
                raise RuntimeError("preemptd exited %s:\n%s" %
                                   (self.proc.returncode, self.logtext()))
            left = end - time.monotonic()
            if left <= 0:
                raise RuntimeError("preemptd not %s after %.0f s:\n%s" % (
                    "ready" if ready else "listening", timeout,
                    self.logtext()))
            # A short timeout: an exit sends no message.
            r, _, _ = select.select([self.notify], [], [], min(left, 0.25))
            if r:
                msg = self.notify.recv(4096).decode(errors="replace")
                self.notified = True
                self.ready |= "READY=1" in msg.split("\n")

    def relaunch(self, timeout=120.0):
        """After the process was killed: the same daemon again, ready."""
        self.launch()
        self.wait_notify(ready=True, timeout=timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def stop(self, sig=signal.SIGTERM, timeout=15.0):
        """Stops the daemon; returns its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise RuntimeError("preemptd ignored signal %d" % sig)
        self.logf.close()
        rc = self.proc.returncode
        shutil.rmtree(self.dir, ignore_errors=True)
        return rc


def peer_pid(path, timeout=5.0):
    """The pid of the process listening on path (SO_PEERCRED names the
    listener even while the connection waits in its backlog)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        cred = s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                            struct.calcsize("3i"))
        return struct.unpack("3i", cred)[0]
    finally:
        s.close()


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def recv_line(s):
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(1)
        if not chunk:
            raise EOFError("closed mid-line: %r" % buf)
        buf += chunk
    return buf[:-1].decode()


def recv_frame(s):
    """Returns (type, payload). Error frames come back as (0xFF, (code, msg))."""
    magic, version, typ, flags, length = struct.unpack(">BBBBI", recv_exact(s, 8))
    assert magic == MAGIC and version == VERSION and flags == 0, (magic, version, flags)
    payload = recv_exact(s, length) if length else b""
    if typ == T_ERROR:
        code = struct.unpack(">I", payload[:4])[0]
        return typ, (code, payload[4:].decode())
    return typ, payload


def closed(s, timeout=5.0):
    """True when the peer has closed s (EOF or reset) within timeout."""
    s.settimeout(timeout)
    try:
        while True:
            d = s.recv(4096)
            if not d:
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False

"""Start the real preemptd on a temporary socket with a small ring, and talk
to it in all three dialects. Shared by the integration tests.

The binary comes from $PREEMPTD (meson sets it); $PREEMPTD_FAULT names the
fault-injection build.

$PBD_TEST_DAEMON_ARGS (optional, split like a shell would) is appended to
every test daemon's arguments, after the test's own: e.g.
PBD_TEST_DAEMON_ARGS="--threshold 40000" slows the sampler to a few hundred
events a second, as on the slowest hosts seen (150 ev/s), so a test that
silently counts on a fast source fails here too. An option the test gives
itself is not given again (the --fault tests' fake counter needs a
threshold below its 5,020-tick jumps). Tests that start preemptd without
Daemon take the extra arguments from daemon_args().
"""
import json
import os
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time

MAGIC = 0xBD
VERSION = 1
T_READ, T_STATS, T_HEALTH, T_VERSION = 1, 2, 3, 4
T_REPLY, T_ERROR = 0x80, 0xFF
MODE = {"conditioned": 0, "raw": 1, "drbg": 2, "capture": 3}
F_NOWAIT, F_RESTART = 0x01, 0x02
# positive wire codes of PBD_E* (see include/pbd.h)
E = {"EINVAL": 1, "ECONNECT": 2, "EIO": 3, "ECLOSED": 4, "EPROTO": 5,
     "EVERSION": 6, "EHEALTH": 7, "EAGAIN": 8, "ETIMEDOUT": 9, "ETOOBIG": 10,
     "EPERM": 11, "ENOMEM": 12, "EBUSY": 13, "ENOTSEEDED": 14, "EPATH": 15,
     "ESHUTDOWN": 16, "EFORKED": 17, "EOVERRUN": 18, "EINUSE": 19}


class Skipped(Exception):
    """Raised by skip(): the check cannot run on this machine."""


def in_ci():
    """True under CI (CI set and not "false" or "0"; .ci/run has CI=true)."""
    return os.environ.get("CI", "") not in ("", "false", "0")


def skip(why):
    """Ends the calling check because this machine cannot run it, saying why.
    Outside CI that is a skip (Skipped, which the runners count apart);
    under CI it is a failure (AssertionError): CI must not be green without
    every check having run. The same rule as skip() in .ci/lib.sh."""
    if in_ci():
        raise AssertionError("CI=%s, so this may not be skipped: %s" %
                             (os.environ["CI"], why))
    raise Skipped(why)


def summary(passed, failed, skipped=0):
    """Prints the closing line 'N passed, N failed[, N skipped]' and returns
    the exit status: 1 on a failure or when nothing ran, 77 (meson's skip)
    when all that ran was skipped, else 0."""
    print("%d passed, %d failed%s" % (passed, failed,
          ", %d skipped" % skipped if skipped else ""), flush=True)
    if failed or not (passed or skipped):
        return 1
    return 0 if passed else 77


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
    """A preemptd on a temporary socket. Use as a context manager."""

    def __init__(self, *args, binary=None, ring=2048, wait_ready=True,
                 ready_timeout=30.0, env=None):
        self.binary = binary or os.environ.get("PREEMPTD", "build/daemon/preemptd")
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
        e = dict(os.environ)
        e.update(env or {})
        self.logf = open(self.log, "wb")
        self.proc = subprocess.Popen(argv, stdout=self.logf, stderr=self.logf,
                                     env=e)
        try:
            self.wait_socket(10.0)
            if wait_ready:
                self.wait_health("ok", ready_timeout)
        except BaseException:
            # No context manager owns it yet: a daemon that never became
            # ready must not outlive the test (one ran on for an hour).
            self.proc.kill()
            self.proc.wait()
            self.logf.close()
            raise

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

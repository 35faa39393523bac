"""A client-side model of the wire contract (common/proto.h, textcmd.h,
egd.h), shared by the model test and the lifecycle regressions.

Each request, when sent, pushes an Expect on its connection's queue. Bytes
from the daemon are parsed incrementally against the head of the queue:
every request gets exactly one reply, in order, of the right type and exact
length, or an error the request may get. A byte that arrives while nothing
is expected is unsolicited. Violations are raised as Violation."""
import json
import re
import socket
import struct
import time

from harness import E, MAGIC, STRERROR, VERSION, hdr, read_req

E_NAME = {v: k for k, v in E.items()}
PROTO_MAX_TEXT = 65536
MAX_READ = {"conditioned": 1 << 16, "raw": 1 << 16, "drbg": 1 << 20}
TEXT_MAX_READ = 4096


TEXT_ERROR = {"error: " + msg: name for name, msg in STRERROR.items()}

# Errors a well-formed request may get. A no-wait read never times out and a
# waiting one never gets EAGAIN; drbg is never withheld for health (it runs
# on its healthy seed) and the entropy modes are never "not seeded".
# ENOMEM and EBUSY are the server-wide budget's answers.
ANY_TIME = {"ENOMEM", "EBUSY"}
READ_ERRORS = {
    ("drbg", True): {"ENOTSEEDED"} | ANY_TIME,
    ("drbg", False): {"ENOTSEEDED"} | ANY_TIME,
    ("raw", True): {"EAGAIN", "EHEALTH"} | ANY_TIME,
    ("raw", False): {"ETIMEDOUT", "EHEALTH"} | ANY_TIME,
    ("conditioned", True): {"EAGAIN", "EHEALTH"} | ANY_TIME,
    ("conditioned", False): {"ETIMEDOUT", "EHEALTH"} | ANY_TIME,
}
HEX = re.compile(rb"[0-9a-f]*")


class Violation(Exception):
    """The daemon broke the wire contract."""


class Reply:
    """What one request got: ok (with data for reads), or an error name."""

    def __init__(self, ok, data=b"", error=None):
        self.ok = ok
        self.data = data
        self.error = error


class Expect:
    """One request on the wire and the reply it must get. parse(buf)
    returns (consumed, Reply) or None when more bytes are needed; it raises
    Violation for anything else. hangup_ok: the daemon may hang up instead
    of replying (EGD's only way to refuse a blocking read)."""
    hangup_ok = False
    closes = False  # the daemon closes after this reply (text quit)
    mode = None
    size = 0

    def __init__(self, wait_s):
        self.wait_s = wait_s  # longest the daemon may take once it starts

    def label(self):
        return self.kind


# ---- framed binary ---------------------------------------------------------

class BinExpect(Expect):
    def parse(self, buf):
        if len(buf) < 8:
            return None
        magic, version, typ, flags, length = struct.unpack_from(">BBBBI", buf)
        if magic != MAGIC or version != VERSION or flags != 0:
            raise Violation("bad frame header %s for %s" % (
                bytes(buf[:8]).hex(), self.label()))
        if typ == 0xFF:
            if not 4 <= length <= 4 + PROTO_MAX_TEXT:
                raise Violation("error frame of %d bytes" % length)
            if len(buf) < 8 + length:
                return None
            code = struct.unpack_from(">I", buf, 8)[0]
            name = E_NAME.get(code, "code %d" % code)
            if name not in self.errors():
                raise Violation("%s got ERROR(%s) %r" % (
                    self.label(), name, bytes(buf[12:8 + length]).decode(
                        errors="replace")))
            return 8 + length, Reply(False, error=name)
        if typ != self.typ | 0x80:
            raise Violation("%s got a frame of type 0x%02x (%d bytes)" % (
                self.label(), typ, length))
        if not self.length_ok(length):
            raise Violation("%s got a reply of %d bytes" % (self.label(),
                                                             length))
        if len(buf) < 8 + length:
            return None
        payload = bytes(buf[8:8 + length])
        self.check(payload)
        return 8 + length, Reply(True, payload)

    def errors(self):
        return ANY_TIME

    def check(self, payload):
        pass


class BinRead(BinExpect):
    typ = 1

    def __init__(self, mode, n, nowait, wait_ms, default_wait_s):
        super().__init__(wait_ms / 1000.0 if wait_ms else default_wait_s)
        self.mode, self.size, self.nowait, self.wait_ms = mode, n, nowait, wait_ms
        self.kind = "bin-read-%s%s" % (mode, "-nowait" if nowait else "")

    def wire(self):
        return read_req(self.size, self.mode, nowait=self.nowait,
                        wait_ms=self.wait_ms)

    def label(self):
        return "%s(%d, wait %d ms)" % (self.kind, self.size, self.wait_ms)

    def errors(self):
        return READ_ERRORS[self.mode, self.nowait]

    def length_ok(self, length):
        return length == self.size


class BinSimple(BinExpect):
    def __init__(self, typ):
        super().__init__(0)
        self.typ = typ
        self.kind = {2: "bin-stats", 3: "bin-health", 4: "bin-version"}[typ]

    def wire(self):
        return hdr(self.typ, 0)

    def length_ok(self, length):
        return 1 <= length <= PROTO_MAX_TEXT

    def check(self, p):
        if self.typ == 2:
            json.loads(p.decode())
        elif self.typ == 3:
            text = p[1:].decode()
            if p[0] > 2 or not text.startswith(("ok", "degraded", "failed")):
                raise Violation("health reply %r" % p[:80])
        elif p[0] != 1 or not p[1:].startswith(b"preemptd "):
            raise Violation("version reply %r" % p[:80])


# ---- text lines ------------------------------------------------------------

class TextExpect(Expect):
    max_line = 65536 + 1

    def parse(self, buf):
        lf = buf.find(b"\n")
        if lf < 0:
            if len(buf) > self.max_line:
                raise Violation("%s: %d bytes and no LF" % (self.label(),
                                                            len(buf)))
            return None
        line = bytes(buf[:lf])
        if line.startswith(b"error: "):
            text = line.decode(errors="replace")
            name = TEXT_ERROR.get(text)
            if not self.error_ok(name):
                raise Violation("%s got %r" % (self.label(), text))
            return lf + 1, Reply(False, error=name or "text")
        return lf + 1, Reply(True, self.check(line))

    def error_ok(self, name):
        return name in ANY_TIME


class TextRead(TextExpect):
    def __init__(self, mode, n, nowait, default_wait_s, spelling):
        super().__init__(default_wait_s)
        self.mode, self.size, self.nowait = mode, n, nowait
        self.max_line = 2 * n
        self.kind = "text-read-%s%s" % (mode, "-nowait" if nowait else "")
        self.spelling = spelling

    def wire(self):
        words = [self.spelling, str(self.size)]
        if self.mode != "conditioned" or self.size % 3 == 0:
            words.append(self.mode)
        if self.nowait:
            words.append("nowait")
        return (" ".join(words) + ("\r\n" if self.size % 5 == 0 else "\n")).encode()

    def label(self):
        return "%s(%d)" % (self.kind, self.size)

    def error_ok(self, name):
        return name in READ_ERRORS[self.mode, self.nowait]

    def check(self, line):
        if len(line) != 2 * self.size or not HEX.fullmatch(line):
            raise Violation("%s got a line of %d bytes: %r" % (
                self.label(), len(line), line[:60]))
        return bytes.fromhex(line.decode())


class TextSimple(TextExpect):
    PREFIX = {"stats": b"{", "health": (b"ok", b"degraded", b"failed"),
              "version": b"preemptd ", "help": b"commands: "}

    def __init__(self, cmd, line=None):
        super().__init__(0)
        self.cmd = cmd
        self.line = line or cmd
        self.kind = "text-" + cmd

    def wire(self):
        return self.line.encode() + b"\n"

    def error_ok(self, name):
        # a bad command's `error: usage...` line is its reply
        return self.cmd == "bad" or name in ANY_TIME

    def check(self, line):
        if self.cmd == "bad":
            raise Violation("bad command %r answered %r" % (self.line,
                                                            line[:80]))
        if not line.startswith(self.PREFIX[self.cmd]):
            raise Violation("%s got %r" % (self.kind, line[:80]))
        if self.cmd == "stats":
            json.loads(line.decode())
        return b""


class TextQuit(TextExpect):
    kind = "text-quit"
    closes = True

    def __init__(self):
        super().__init__(0)

    def wire(self):
        return b"quit\n"

    def parse(self, buf):
        if buf:
            raise Violation("bytes after quit: %r" % bytes(buf[:40]))
        return None


# ---- EGD -------------------------------------------------------------------

class EgdExpect(Expect):
    def __init__(self, cmd, n=0, wait_s=0, pid=None):
        super().__init__(wait_s)
        self.cmd, self.size, self.pid = cmd, n, pid
        self.kind = "egd-" + cmd
        self.hangup_ok = cmd == "read"
        if cmd in ("read", "read-nb"):
            self.mode = "conditioned"

    def label(self):
        return "%s(%d)" % (self.kind, self.size) if self.size else self.kind

    def wire(self):
        if self.cmd == "level":
            return b"\x00"
        if self.cmd == "read-nb":
            return bytes([1, self.size])
        if self.cmd == "read":
            return bytes([2, self.size])
        return b"\x04"

    def parse(self, buf):
        if self.cmd == "level":
            if len(buf) < 4:
                return None
            return 4, Reply(True)
        if self.cmd == "read":
            if len(buf) < self.size:
                return None
            return self.size, Reply(True, bytes(buf[:self.size]))
        if not buf:
            return None
        k = buf[0]
        if self.cmd == "read-nb":
            if k > self.size:
                raise Violation("%s got a count of %d" % (self.label(), k))
            if len(buf) < 1 + k:
                return None
            if k == 0:
                return 1, Reply(False, error="zero")
            return 1 + k, Reply(True, bytes(buf[1:1 + k]))
        if not 1 <= k <= 20:
            raise Violation("egd-pid got a length of %d" % k)
        if len(buf) < 1 + k:
            return None
        if self.pid is not None and bytes(buf[1:1 + k]) != str(self.pid).encode():
            raise Violation("egd-pid got %r, daemon is %d" % (
                bytes(buf[1:1 + k]), self.pid))
        return 1 + k, Reply(True)


def egd_write(n):
    """An EGD write: accepted and discarded, no reply."""
    return bytes([3, 0, 8, n]) + bytes(n)


def describe(buf):
    """Names what buf starts with, for a message: an error frame by its
    code, else the first bytes in hex."""
    if len(buf) >= 12 and buf[0] == MAGIC and buf[2] == 0xFF:
        code = struct.unpack_from(">I", buf, 8)[0]
        return "ERROR(%s) frame" % E_NAME.get(code, code)
    if len(buf) >= 8 and buf[0] == MAGIC:
        return "frame of type 0x%02x" % buf[2]
    return "%d bytes (%s)" % (len(buf), bytes(buf[:24]).hex())


class Stream:
    """The model of one connection: the queue of replies it is owed."""

    def __init__(self):
        self.q = []
        self.head = 0
        self.buf = bytearray()

    def owed(self):
        return len(self.q) - self.head

    def push(self, exp):
        self.q.append(exp)

    def feed(self, data):
        """Adds bytes from the daemon; returns [(Expect, Reply)] completed.
        Raises Violation for a wrong or unsolicited reply."""
        self.buf += data
        done = []
        while self.buf:
            if self.head == len(self.q):
                raise Violation("unsolicited %s after %d replies" % (
                    describe(self.buf), self.head))
            exp = self.q[self.head]
            r = exp.parse(self.buf)
            if r is None:
                break
            n, reply = r
            del self.buf[:n]
            self.head += 1
            done.append((exp, reply))
        if self.head > 256:
            del self.q[:self.head]
            self.head = 0
        return done

    def eof(self):
        """The daemon closed. Returns the Expect that allowed it (or None
        when nothing was owed). Raises Violation when a reply was cut short
        or requests are left unanswered without a reason."""
        if self.head == len(self.q):
            if self.buf:
                raise Violation("closed mid-reply")
            return None
        exp = self.q[self.head]
        if (exp.hangup_ok or exp.closes) and not self.buf:
            return exp
        raise Violation("closed with %d requests unanswered (next %s, %d "
                        "bytes of it)" % (self.owed(), exp.label(),
                                          len(self.buf)))


def exchange(s, exps, timeout=30.0, quiet=0.3, send=True):
    """Sends exps (unless the caller already has: send=False) on the
    blocking socket s and reads until each has its
    reply, then for quiet seconds more to catch an unsolicited byte.
    Returns [(Expect, Reply)]; a hang-up the last Expect allows ends it
    early. Raises Violation or socket.timeout."""
    st = Stream()
    for e in exps:
        st.push(e)
    if send:
        s.sendall(b"".join(e.wire() for e in exps))
    got = []
    end = time.monotonic() + timeout
    while st.owed() or quiet > 0:
        if not st.owed():
            end = min(end, time.monotonic() + quiet)
            quiet = 0
        left = end - time.monotonic()
        if left <= 0:
            if st.owed():
                raise Violation("no reply to %s in %.0f s" % (
                    st.q[st.head].label(), timeout))
            break
        s.settimeout(left)
        try:
            data = s.recv(1 << 16)
        except socket.timeout:
            continue
        except ConnectionResetError:
            data = b""
        if not data:
            if st.eof() is None and st.owed() == 0:
                break
            return got
        got += st.feed(data)
    return got

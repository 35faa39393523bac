#!/usr/bin/env python3
"""Bad input against the real daemon (issue 5): malformed frames, bad text
and EGD input, slow, silent and vanishing clients. Each one must get a clear
error (an error frame with the right code, or an `error:` line) and lose at
most its own connection, while a bystander client keeps being served and
fresh clients are served afterwards."""
import os
import socket
import struct
import time

import harness
from harness import (E, T_READ, T_REPLY, closed, hdr, read_req, recv_frame,
                     recv_line, until)
from rel import Bystander, alive, expect_error, read_ok, seen_gone
from checks import Checks

IDLE_MS = 1000

t = Checks()


def fatal_frame(d, data, code, first=b""):
    """Sends data (after a good request `first`, if any) and asserts an error
    frame with code, then the connection is closed."""
    with d.connect(10) as s:
        if first:
            s.sendall(first)
            typ, _ = recv_frame(s)
            assert typ & T_REPLY, typ
        s.sendall(data)
        expect_error(s, code)
        assert closed(s), "connection left open after %s" % code


def read_len(mode, n):
    return hdr(T_READ, 12) + struct.pack(">IIBBH", n, 0, harness.MODE[mode], 0, 0)


def one_byte_writes(d):
    msg = read_req(48, "drbg") + hdr(2, 0) + read_req(16, "conditioned")
    with d.connect(10) as s:
        for b in msg:
            s.send(bytes([b]))
            time.sleep(0.002)
        typ, p = recv_frame(s)
        assert typ == T_READ | T_REPLY and len(p) == 48
        typ, p = recv_frame(s)
        assert typ == 0x82 and p.startswith(b"{")
        typ, p = recv_frame(s)
        assert typ == T_READ | T_REPLY and len(p) == 16


def truncated_then_close(d):
    with d.connect(10) as s:
        s.sendall(read_req(32)[:13])
        s.shutdown(socket.SHUT_WR)
        assert s.recv(100) == b"", "reply to a truncated frame"


def truncated_then_silent(d):
    with d.connect(10) as s:
        s.sendall(read_req(32)[:5])
        assert closed(s, 10), "half a frame kept the connection open"


def text_cases(d):
    with d.connect(10) as s:
        s.sendall(b"health\n\n\r\n   \n")
        assert not recv_line(s).startswith("error")
        for _ in range(3):
            assert recv_line(s) == "error: empty line; try help"
        s.sendall(b"read 0\nread 4097\nread 5 sideways\nfrobnicate\nstats x\n"
                  b"read 7 raw raw\nread \x01\n")
        for _ in range(7):
            line = recv_line(s)
            assert line.startswith("error: "), line
        # Still open and working after all of that.
        s.sendall(b"read 8 drbg\n")
        line = recv_line(s)
        assert len(line) == 16 and int(line, 16) >= 0, line
        # Exactly 256 bytes is still a line (an unknown command).
        s.sendall(b"x" * 256 + b"\n")
        assert recv_line(s).startswith("error: unknown command")
        s.sendall(b"x" * 257 + b"\n")
        assert recv_line(s) == "error: line too long"
        assert closed(s)


def text_long_no_lf(d):
    with d.connect(10) as s:
        s.sendall(b"read " + b"9" * 400)
        assert recv_line(s) == "error: line too long"
        assert closed(s)


def garbage(d):
    rnd = os.urandom(4096)
    with d.connect(10) as s:
        s.sendall(b"\xfe" + rnd)
        expect_error(s, "EPROTO")
        assert closed(s)
    with d.connect(10) as s:  # text dialect, then binary noise
        s.sendall(b"h" + bytes(range(0x80, 0x100)) + b"\n")
        assert recv_line(s) == "error: malformed line"
        s.sendall(b"read 4 drbg\n")
        assert len(recv_line(s)) == 8


def egd_bad(d):
    with d.connect(10) as s:
        s.sendall(b"\x04")  # pid: good
        n = s.recv(1)[0]
        assert harness.recv_exact(s, n).decode() == str(d.proc.pid)
        s.sendall(b"\x07\x00")  # unknown: EGD has no error reply, hang up
        assert closed(s)
    with d.connect(10) as s:
        s.sendall(b"\x02\x00")  # read of 0 bytes
        assert closed(s)


def never_reads(d):
    before = d.stats()["clients"]["cut_off"]
    s = d.connect(10)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    # 32 MiB asked for and never read: the daemon stops at --max-queued.
    for _ in range(32):
        s.sendall(read_req(1 << 20, "drbg"))
    assert until(lambda: d.stats()["clients"]["cut_off"] > before,
                 3 * IDLE_MS / 1000 + 1), "a client that never reads was not cut off"
    assert closed_draining(s), "cut off, but the connection is still open"
    s.close()


def closed_draining(s):
    """Drains s: True when the daemon had closed the connection (EOF or
    reset after its queued bytes)."""
    total = 0
    try:
        while True:
            b = s.recv(1 << 16)
            if not b:
                return True
            total += len(b)
            # The daemon never queues much over --max-queued for one client.
            assert total < (8 << 20), "%d bytes queued for a non-reader" % total
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def silent(d):
    with d.connect(10) as s:
        assert closed(s, 10), "a silent client was not closed after --idle-ms"


def vanish_mid_reply(d):
    connected = d.stats()["clients"]["connected"]
    for i in range(20):
        s = d.connect(10)
        s.sendall(read_req(1 << 20, "drbg") + read_req(32, "conditioned"))
        if i % 2:
            s.recv(100)
        s.close()
    seen_gone(d, connected)
    assert d.proc.poll() is None, "daemon died when clients vanished (SIGPIPE?)"


with harness.Daemon("--idle-ms", str(IDLE_MS), "--max-queued", "65536",
                    ring=2048) as d:
    by = Bystander(d)
    by.start()
    # A well-formed first frame decides the dialect; the bad one follows.
    good = hdr(4, 0)
    cases = [
        ("wrong magic (first byte)", b"\xbc\x01\x04\x00\x00\x00\x00\x00", "EPROTO", b""),
        ("wrong magic (second frame)", b"\xbc\x01\x04\x00\x00\x00\x00\x00", "EPROTO", good),
        ("wrong version", hdr(4, 0, version=2), "EVERSION", b""),
        ("wrong version (second frame)", hdr(1, 12, version=0), "EVERSION", good),
        ("unknown type", hdr(9, 0), "EPROTO", b""),
        ("reply type as request", hdr(0x81, 0), "EPROTO", good),
        ("READ length 0", read_len("conditioned", 0), "ETOOBIG", b""),
        ("READ conditioned max+1", read_len("conditioned", (1 << 16) + 1), "ETOOBIG", good),
        ("READ raw max+1", read_len("raw", (1 << 16) + 1), "ETOOBIG", b""),
        ("READ drbg max+1", read_len("drbg", (1 << 20) + 1), "ETOOBIG", b""),
        ("READ length 2^32-1", read_len("drbg", 0xFFFFFFFF), "ETOOBIG", good),
        ("READ unknown mode", hdr(1, 12) + struct.pack(">IIBBH", 8, 0, 4, 0, 0), "EINVAL", b""),
        ("READ restart flag on raw", hdr(1, 12) + struct.pack(">IIBBH", 8, 0, 1, 2, 0), "EINVAL", b""),
        ("READ capture no-wait", hdr(1, 12) + struct.pack(">IIBBH", 8, 0, 3, 1, 0), "EINVAL", b""),
        ("READ payload 11 bytes", hdr(1, 11) + b"\0" * 11, "EPROTO", b""),
        ("READ payload 2^32-1 bytes", hdr(1, 0xFFFFFFFF), "EPROTO", good),
        ("STATS with a payload", hdr(2, 4) + b"abcd", "EPROTO", b""),
        ("HEALTH with a payload", hdr(3, 1) + b"x", "EPROTO", good),
        ("header flags set", hdr(2, 0, flags=0x01), "EPROTO", b""),
        ("READ reserved u16 set", hdr(1, 12) + struct.pack(">IIBBH", 8, 0, 2, 0, 1), "EPROTO", b""),
        ("READ unknown flag bit", hdr(1, 12) + struct.pack(">IIBBH", 8, 0, 2, 0x80, 0), "EPROTO", good),
    ]
    for name, data, code, first in cases:
        t.check(name + " -> " + code + " + close", fatal_frame, d, data, code, first)
    t.check("frame split into 1-byte writes is served", one_byte_writes, d)
    t.check("truncated frame then EOF: closed, no reply", truncated_then_close, d)
    t.check("truncated header then silence: closed after --idle-ms", truncated_then_silent, d)
    t.check("text: empty lines and bad commands -> error:, stays open; 257-byte line closes", text_cases, d)
    t.check("text: 400 bytes without LF -> error: line too long + close", text_long_no_lf, d)
    t.check("garbage -> EPROTO / error: malformed line", garbage, d)
    t.check("EGD: unknown command and 0-byte read hang up", egd_bad, d)
    t.check("client that never reads is cut off (--max-queued, --idle-ms)", never_reads, d)
    t.check("silent client closed after --idle-ms", silent, d)
    t.check("clients vanishing mid-reply do not kill the daemon", vanish_mid_reply, d)
    t.check("bystander served throughout", by.finish)
    t.check("daemon serves new clients afterwards", alive, d)
    st = d.stats()
    print("stats: requests %d errors %d cut_off %d accepted %d" % (
        st["requests"], st["errors"], st["clients"]["cut_off"], st["clients"]["accepted"]))
    t.ok("errors were counted", st["errors"] >= len(cases), st["errors"])
    rc = d.stop()
    t.ok("daemon exits 0 on SIGTERM", rc == 0, rc)
t.finish()

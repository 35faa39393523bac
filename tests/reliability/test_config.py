#!/usr/bin/env python3
"""The configuration file and the credit file, end to end (issue 22 item 8,
issue 23 defects 6, 7 and 10): the daemon binary itself takes its settings
from --config FILE, the command line wins, a bad file stops it at once with
the file and line; the check runs on the credit the credit file gives; a
credit file is read by whole lines, and /dev/zero, a FIFO or a directory is
refused at once instead of spinning, blocking or being misnamed."""
import os
import subprocess
import tempfile

import harness
from rel import PREEMPTD
from checks import Checks

t = Checks()
tmp = tempfile.mkdtemp(prefix="pbd-config-")


def write(name, text):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def refused(*args):
    """Runs the daemon expecting it to refuse its options: exit 2 within
    the timeout (a spin or a block fails here), stderr returned."""
    r = subprocess.run([PREEMPTD, "--socket", os.path.join(tmp, "no.sock")]
                       + list(args), capture_output=True, text=True,
                       timeout=20)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert not os.path.exists(os.path.join(tmp, "no.sock"))
    return r.stderr


def entropy(d):
    return d.stats()["entropy"]


def config_file_used():
    conf = write("a.conf", "# test\nmax-clients = 77\ncredit = 3.5\n"
                 "max-memory = 2097152\nring-size = 4096\n")
    # the harness passes --ring-size 2048 on the command line: it wins
    # over the file's 4096; the file wins over the defaults
    with harness.Daemon("--config", conf, binary=PREEMPTD,
                        wait_ready=False) as d:
        e = entropy(d)
        assert e["credited_bits_per_byte"] == 3.5, e
        # Regression: it said "--credit", the file was not named.
        assert e["credit_source"] == "configuration file %s" % conf, e
        st = d.stats()
        assert st["clients"]["max"] == 77, st["clients"]
        assert st["memory"]["limit"] == 2097152, st["memory"]
        assert st["ring"]["capacity"] == 2048, st["ring"]
    with harness.Daemon("--config", conf, "--credit", "3", binary=PREEMPTD,
                        wait_ready=False) as d:
        e = entropy(d)
        assert e["credited_bits_per_byte"] == 3.0, e
        assert e["credit_source"] == "--credit", e


def config_file_errors():
    conf = write("b.conf", "idle-ms = 5000\n\nbogus = 1\n")
    err = refused("--config", conf)
    assert "%s:3: unknown key 'bogus'" % conf in err, err
    conf = write("c.conf", "idle-ms = 5000\nring-size = 3000\n")
    err = refused("--config", conf)
    assert "%s:2: --ring-size: 3000 is not a power of two" % conf in err, err
    err = refused("--config", os.path.join(tmp, "missing.conf"))
    assert "No such file" in err, err


def check_after_credit_file():
    # 80 raw bytes a block at credit 4: a 512-byte ring holds 6; at the
    # default 2.0 it would hold 3 and be refused
    cf = write("credit4", "credit = 4.0\n")
    with harness.Daemon("--credit-file", cf, binary=PREEMPTD, ring=512,
                        wait_ready=False) as d:
        e = entropy(d)
        assert e["credited_bits_per_byte"] == 4.0, e
        assert e["credit_source"] == "credit file %s" % cf, e


def credit_whole_lines():
    cf = write("credit-long", "credit = 3\n#" + "x" * 510 + "credit = 8\n")
    with harness.Daemon("--credit-file", cf, binary=PREEMPTD,
                        wait_ready=False) as d:
        assert entropy(d)["credited_bits_per_byte"] == 3.0, entropy(d)



def credit_line_numbers():
    cf = write("credit-path", "credit = 3\nsamples_file = /" + "p" * 1000 +
               "\nh_min = 7\nnot a setting\n")
    err = refused("--credit-file", cf)
    assert "%s:4: expected 'key = value'" % cf in err, err


def credit_not_a_file():
    err = refused("--credit-file", "/dev/zero")
    assert "credit file /dev/zero: not a regular file" in err, err
    fifo = os.path.join(tmp, "fifo")
    os.mkfifo(fifo)
    err = refused("--credit-file", fifo)
    assert "not a regular file" in err, err
    err = refused("--credit-file", tmp)
    assert "is a directory" in err, err


def writable_by_others_refused():
    """A configuration or credit file that its group or others may write
    is refused: whoever may write it sets the daemon's options (--user,
    the socket) or raises its credit. Before: read and used."""
    for opt, text in (("--credit-file", "credit = 8\n"),
                      ("--config", "credit = 8\n")):
        for mode, who in ((0o664, "its group"), (0o646, "others"),
                          (0o666, "others")):
            f = write("loose-%s-%o" % (opt.strip("-"), mode), text)
            os.chmod(f, mode)
            err = refused(opt, f)
            want = "%s: writable by %s (mode %04o); refused: chmod go-w it" \
                % (f, who, mode)
            assert want in err, (opt, mode, err)
        os.chmod(f, 0o644)
        with harness.Daemon(opt, f, binary=PREEMPTD,
                            wait_ready=False) as d:
            assert entropy(d)["credited_bits_per_byte"] == 8.0, entropy(d)


def credit_decimal_only():
    err = refused("--credit", "0x1p1")
    assert "--credit: expected a number" in err, err
    cf = write("credit-hex", "credit = 0x1p1\n")
    err = refused("--credit-file", cf)
    assert "credit must be a number" in err, err


t.check("a configuration or credit file others may write: refused",
        writable_by_others_refused)
t.check("--config FILE: its settings, the command line wins",
        config_file_used)
t.check("a bad configuration file: refused with file and line",
        config_file_errors)
t.check("the ring is checked against the credit file's credit",
        check_after_credit_file)
t.check("credit file: a long comment stays one comment",
        credit_whole_lines)
t.check("credit file: the right line number after a long line",
        credit_line_numbers)
t.check("credit file: /dev/zero, a FIFO, a directory refused at once",
        credit_not_a_file)
t.check("credit: decimal only, no hex float", credit_decimal_only)
t.finish()

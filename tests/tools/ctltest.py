"""Shared by the tools tests: preemptctl invocation and a strict parser for
the Prometheus text format.

$PREEMPTCTL names the binary (meson sets it, with $PREEMPTD and
$PREEMPTD_FAULT as for tests/integration).
"""
import os
import re
import subprocess

CTL = os.environ.get("PREEMPTCTL", "build/client/preemptctl")
SRC = os.environ.get("PBD_SOURCE_ROOT",
                     os.path.join(os.path.dirname(__file__), "..", ".."))


def ctl(sock, *args, timeout=120, binary_out=False, check=None):
    """Runs preemptctl --socket sock args...; returns CompletedProcess.
    check: expected exit status (asserted when not None)."""
    argv = [CTL] + (["--socket", sock] if sock else []) + list(args)
    r = subprocess.run(argv, capture_output=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    if not binary_out:
        r.stdout = r.stdout.decode()
    r.stderr = r.stderr.decode()
    if check is not None:
        assert r.returncode == check, "%s -> %d, wanted %d\nstdout: %r\nstderr: %s" % (
            argv, r.returncode, check, r.stdout[:2000], r.stderr)
    return r


NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')
VALUE_RE = re.compile(
    r"[+-]?(?:\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|Inf|NaN)\Z")


def parse_prometheus(text):
    """Strict parse of the text exposition format 0.0.4 as we write it.
    Returns {name: {"type", "help", "samples": [(labels dict, float)]}}.
    Raises AssertionError on: a sample before its HELP and TYPE, a HELP or
    TYPE given twice or after samples, a bad name, label or value, a type
    other than counter/gauge, a counter not ending in _total, a repeated
    series, a family split into two runs."""
    fams = {}
    current = None
    seen_series = set()
    assert text.endswith("\n"), "exposition must end with a newline"
    for n, line in enumerate(text.split("\n")[:-1], 1):
        where = "line %d: %r" % (n, line)
        assert line, "empty line at " + where
        if line.startswith("#"):
            parts = line.split(" ", 3)
            assert parts[0] == "#" and len(parts) >= 3, where
            kind, name = parts[1], parts[2]
            if kind not in ("HELP", "TYPE"):
                continue  # a plain comment
            assert NAME_RE.match(name), "bad name at " + where
            f = fams.setdefault(name, {"type": None, "help": None,
                                       "samples": []})
            assert not f["samples"], "%s after samples at %s" % (kind, where)
            key = kind.lower()
            assert f[key] is None, "second %s at %s" % (kind, where)
            assert len(parts) == 4 and parts[3], "empty %s at %s" % (kind, where)
            f[key] = parts[3]
            if kind == "TYPE":
                assert parts[3] in ("counter", "gauge"), where
            current = name
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)\Z", line)
        assert m, "not 'name{labels} value' at " + where
        name, labels_s, value = m.groups()
        assert name in fams, "sample without HELP/TYPE at " + where
        assert name == current, "family split at " + where
        f = fams[name]
        assert f["help"] and f["type"], "HELP/TYPE missing before " + where
        labels = {}
        if labels_s:
            body = labels_s[1:-1]
            pos = 0
            while pos < len(body):
                lm = LABEL_RE.match(body, pos)
                assert lm, "bad label at " + where
                assert lm.group(1) not in labels, "repeated label at " + where
                labels[lm.group(1)] = lm.group(2)
                pos = lm.end()
                if pos < len(body):
                    assert body[pos] == ",", "bad label separator at " + where
                    pos += 1
        assert VALUE_RE.match(value), "bad value at " + where
        series = (name, tuple(sorted(labels.items())))
        assert series not in seen_series, "repeated series at " + where
        seen_series.add(series)
        if f["type"] == "counter":
            assert name.endswith("_total"), "counter without _total: " + where
            assert float(value) >= 0, "negative counter at " + where
        f["samples"].append((labels, float(value)))
    for name, f in fams.items():
        assert f["samples"], "family %s has no samples" % name
    return fams


def metric(fams, name, **labels):
    """The value of one series."""
    for lab, v in fams[name]["samples"]:
        if lab == labels:
            return v
    raise KeyError("%s%r" % (name, labels))

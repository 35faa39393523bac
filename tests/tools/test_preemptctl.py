"""preemptctl against the real daemon: every subcommand's output format,
read sizes and files, health exit codes, assess vs NIST's figures, top in
tmux."""
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

import harness
from ctltest import CTL, SRC, ctl, metric, parse_prometheus
from checks import Checks

NOSOCK = "/nonexistent-preemptd-test/preemptd.sock"
DATA = os.path.join(SRC, "tests", "data")


def test_help():
    r = ctl(None, "--help", check=0)
    for cmd in ("read", "stats", "health", "metrics", "top", "assess",
                "wait"):
        assert "  " + cmd in r.stdout, cmd
        h = ctl(None, cmd, "--help", check=0)
        assert h.stdout.startswith("usage: preemptctl " + cmd), h.stdout
        # --help never needs the daemon
        assert h.stderr == ""
    ctl(None, "frobnicate", check=64)
    ctl(None, check=64)
    ctl(None, "stats", "--bogus", check=64)
    ctl(None, "read", check=64)                      # -n is required
    ctl(None, "read", "-n", "16", "--raw", "--drbg", check=64)
    for bad in ("0", "1.5K", "abc", "-5", "12Q", "2T"):
        r = ctl(None, "read", "-n", bad, "-o", "/dev/null", check=64)
        assert "bad size" in r.stderr, r.stderr
    ctl(None, "assess", check=64)                    # -n or --file
    ctl(None, "assess", "-n", "10", "--file", "x", check=64)
    ctl(None, "top", "--iterations", "0", check=64)
    assert ctl(None, "--version", check=0).stdout.startswith("preemptctl ")


def test_no_daemon():
    for cmd in (["stats"], ["stats", "--json"], ["health"],
                ["read", "-n", "16", "-o", "/dev/null"], ["top"],
                ["assess", "-n", "16"]):
        r = ctl(NOSOCK, *cmd, check=3)
        assert "cannot connect to " + NOSOCK in r.stderr, (cmd, r.stderr)
    r = ctl(NOSOCK, "metrics", check=3)
    fams = parse_prometheus(r.stdout)
    assert metric(fams, "preemptd_up") == 0
    assert list(fams) == ["preemptd_up"]
    # PBD_SOCKET is the default when --socket is absent
    env = dict(os.environ, PBD_SOCKET=NOSOCK)
    r = subprocess.run([CTL, "health"], env=env, capture_output=True,
                       text=True)
    assert r.returncode == 3 and NOSOCK in r.stderr, r


def test_stats(d):
    r = ctl(d.sock, "stats", "--json", check=0)
    assert r.stdout.endswith("}\n") and r.stdout.count("\n") == 1
    js = json.loads(r.stdout)
    assert js["ring"]["capacity"] == 2048
    assert len(js["sampler"]["jump_log2_hist"]) == 40
    t = ctl(d.sock, "stats", check=0).stdout
    rows = {}
    for line in t.splitlines():
        if line[:12].strip():
            rows[line[:12].strip()] = line[13:]
    for key in ("daemon", "source", "sampler", "ring", "entropy", "health",
                "drbg", "served", "clients", "requests", "kernel fed"):
        assert key in rows, (key, t)
    assert rows["daemon"].startswith("preemptd " + js["version"]), t
    assert re.match(r"\d+ / 2048 bytes \(\d+%\); low 1536, high 2048",
                    rows["ring"]), rows["ring"]
    assert "credited 2.000 bits/byte" in rows["entropy"], rows["entropy"]
    assert rows["health"].startswith("ok: "), rows["health"]
    assert rows["source"].startswith(js["counter"]["name"] + " at "), t


def test_metrics(d):
    before = json.loads(ctl(d.sock, "stats", "--json", check=0).stdout)
    ctl(d.sock, "read", "-n", "5000", "--drbg", "-o", "/dev/null", check=0)
    r = ctl(d.sock, "metrics", check=0)
    fams = parse_prometheus(r.stdout)
    assert all(n.startswith("preemptd_") for n in fams), list(fams)
    assert metric(fams, "preemptd_up") == 1
    assert metric(fams, "preemptd_ring_capacity_bytes") == 2048
    assert metric(fams, "preemptd_credited_bits_per_byte") == 2.0
    assert metric(fams, "preemptd_health_state") == 0
    assert fams["preemptd_sampler_events_total"]["type"] == "counter"
    assert fams["preemptd_ring_bytes"]["type"] == "gauge"
    drbg = metric(fams, "preemptd_served_bytes_total", mode="drbg")
    assert drbg == before["served"]["drbg"] + 5000, (drbg, before["served"])
    for mode in ("conditioned", "raw"):
        metric(fams, "preemptd_served_bytes_total", mode=mode)
    jumps = fams["preemptd_sampler_jumps_total"]["samples"]
    assert [lab["log2"] for lab, _ in jumps] == [str(i) for i in range(40)]
    assert sum(v for _, v in jumps) >= before["sampler"]["events"] > 0
    info = fams["preemptd_info"]["samples"][0][0]
    assert info["version"] == before["version"], info
    # every numeric stats field made it out
    assert len(fams) >= 38, len(fams)
    # the sampler's policy, and what the demand budget has paid for
    pol = fams["preemptd_policy"]["samples"][0][0]
    assert pol["policy"] == before["policy"]["name"] == "demand", pol
    assert metric(fams, "preemptd_sampler_max_cpu_percent") == \
        before["policy"]["max_cpu_pct"] > 0
    assert metric(fams, "preemptd_sampler_boosts_total") >= 1
    assert fams["preemptd_sampler_boost_cpu_seconds_total"]["type"] == \
        "counter"
    assert 0 <= metric(fams, "preemptd_sampler_budget_used_percent") <= 100


def test_parser_is_strict():
    bad = ["x 1\n",                                            # no HELP/TYPE
           "# HELP a h\n# TYPE a gauge\na 1\n# HELP a h\n",   # HELP after
           "# HELP a h\n# TYPE a counter\na 1\n",              # no _total
           "# HELP a h\n# TYPE a gauge\na{b=\"1\"} x\n",       # value
           "# HELP a h\n# TYPE a gauge\na{b=1} 1\n",           # label quote
           "# HELP 1a h\n# TYPE 1a gauge\n1a 1\n",             # name
           "# HELP a h\n# TYPE a gauge\na 1\na 2\n",           # repeated
           "# HELP a h\n# TYPE a summary\na 1\n"]              # type
    for text in bad:
        try:
            parse_prometheus(text)
        except AssertionError:
            continue
        raise AssertionError("parser accepted %r" % text)


def test_read(d):
    before = json.loads(ctl(d.sock, "stats", "--json", check=0).stdout)
    total = 0
    outs = []
    for size, n in (("1", 1), ("4096", 4096), ("64K", 65536),
                    ("1M", 1 << 20), ("1049000", 1049000), ("3M", 3 << 20)):
        r = ctl(d.sock, "read", "-n", size, "--drbg", binary_out=True,
                check=0)
        assert len(r.stdout) == n, (size, len(r.stdout))
        assert r.stderr == "", r.stderr  # no progress bar off a terminal
        total += n
        outs.append(r.stdout)
    assert outs[2][:4096] != outs[1], "same bytes served twice"
    with tempfile.TemporaryDirectory() as tmp:
        f = os.path.join(tmp, "out.bin")
        ctl(d.sock, "read", "-n", "2M", "--drbg", "-o", f, check=0)
        assert os.path.getsize(f) == 2 << 20
        assert os.stat(f).st_mode & 0o777 == 0o600
        total += 2 << 20
        d.wait_stock(200)  # 160 raw bytes make one conditioned block
        ctl(d.sock, "read", "-n", "32", "-o", f, check=0)
        assert os.path.getsize(f) == 32
        d.wait_stock(100)
        r = ctl(d.sock, "read", "-n", "100", "--raw", binary_out=True,
                check=0)
        assert len(r.stdout) == 100
        r = ctl(d.sock, "read", "-n", "16", "-o",
                os.path.join(tmp, "no", "such", "dir"), check=1)
        assert "No such file" in r.stderr, r.stderr
    after = json.loads(ctl(d.sock, "stats", "--json", check=0).stdout)
    assert after["served"]["drbg"] - before["served"]["drbg"] == total
    assert after["served"]["conditioned"] - before["served"]["conditioned"] == 32
    assert after["served"]["raw"] - before["served"]["raw"] == 100


def test_health_ok(d):
    r = ctl(d.sock, "health", check=0)
    assert r.stdout.startswith("ok: ") and r.stdout.count("\n") == 1, r.stdout


def nist_figures():
    """Per-estimator results from ea_non_iid's output file."""
    with open(os.path.join(DATA, "tsc-jumps-folded.ea_non_iid.txt")) as f:
        text = f.read()
    fig = {}
    for m in re.finditer(r"^\t(.+?) = ([0-9.]+) / (\d) bit", text, re.M):
        fig[m.group(1)] = float(m.group(2))
    fig["H_original"] = float(re.search(r"H_original: ([0-9.]+)", text).group(1))
    fig["H_bitstring"] = float(re.search(r"H_bitstring: ([0-9.]+)", text).group(1))
    return fig


def parse_assess(out):
    """{("literal"|"bit", estimator): value} plus the H lines."""
    res = {}
    group = None
    for line in out.splitlines():
        if line.startswith("literal"):
            group = "literal"
        elif line.startswith("bit string"):
            group = "bit"
        m = re.match(r"  (.+?)\s+6\.3\.\d+\s+([0-9.]+) / ", line)
        if m and group:
            res[(group, m.group(1))] = float(m.group(2))
        m = re.match(r"(H_original|H_bitstring|min\(H_original, 8 X "
                     r"H_bitstring\)):\s+([0-9.]+)", line)
        if m:
            res[m.group(1)] = float(m.group(2))
    return res


def test_assess_file(d):
    path = os.path.join(DATA, "tsc-jumps-folded.bin")
    r = ctl(NOSOCK, "assess", "--file", path, check=0)
    got = parse_assess(r.stdout)
    nist = nist_figures()
    pairs = {
        ("literal", "Most Common Value"): "Most Common Value Estimate",
        ("literal", "t-Tuple"): "T-Tuple Test Estimate",
        ("literal", "Longest Repeated Substring"): "LRS Test Estimate",
        ("bit", "Most Common Value"): "Most Common Value Estimate (bit string)",
        ("bit", "Collision"): "Collision Test Estimate (bit string)",
        ("bit", "Markov"): "Markov Test Estimate (bit string)",
        ("bit", "Compression"): "Compression Test Estimate (bit string)",
        ("bit", "t-Tuple"): "T-Tuple Test Estimate (bit string)",
        ("bit", "Longest Repeated Substring"): "LRS Test Estimate (bit string)",
    }
    for name, nist_name in (
            ("MultiMCW", "Multi Most Common in Window (MultiMCW) Prediction"),
            ("Lag", "Lag Prediction"),
            ("MultiMMC", "Multi Markov Model with Counting (MultiMMC) "
                         "Prediction"),
            ("LZ78Y", "LZ78Y Prediction")):
        pairs[("literal", name + " prediction")] = nist_name + " Test Estimate"
        pairs[("bit", name + " prediction")] = (nist_name + " Test Estimate "
                                                "(bit string)")
    for ours, theirs in pairs.items():
        # both print 6 decimals of values that agree to 1e-5
        assert abs(got[ours] - nist[theirs]) <= 1.5e-5, (ours, got[ours],
                                                         nist[theirs])
    # the whole suite: the same H values and minimum as ea_non_iid
    for h in ("H_original", "H_bitstring"):
        assert abs(got[h] - nist[h]) <= 1.5e-5, (h, got[h], nist[h])
    lit = min(got[k] for k in got if isinstance(k, tuple) and k[0] == "literal")
    assert abs(got["H_original"] - lit) < 1e-9
    hmin = got["min(H_original, 8 X H_bitstring)"]
    assert abs(hmin - min(nist["H_original"], 8 * nist["H_bitstring"])) <= 1.5e-5
    assert "samples: 149013 8-bit samples" in r.stdout
    # a file names no daemon credit unless asked: it may come from elsewhere
    assert "credited" not in r.stdout
    # The credit line does not depend on the figures: the file's first
    # 4,000 samples, not its 149,013 again (each full run takes seconds;
    # -v on the whole file is test_assess_pinned's, byte for byte).
    with tempfile.TemporaryDirectory() as tmp:
        small = os.path.join(tmp, "small.bin")
        with open(path, "rb") as f, open(small, "wb") as g:
            g.write(f.read(4000))
        r = ctl(d.sock, "assess", "--file", small, check=0)
        assert "credited" not in r.stdout
        r = ctl(NOSOCK, "assess", "--file", small, "--credit", check=0)
        assert "credited by preemptd: n/a" in r.stdout
        r = ctl(d.sock, "assess", "--file", small, "--credit", check=0)
        assert "credited by preemptd: 2.000 bits/sample (at or below" in \
            r.stdout, r.stdout
    ctl(NOSOCK, "assess", "--file", "/nonexistent/x.bin", check=1)


def test_assess_live(d):
    d.wait_stock(1024, timeout=120)  # at a slow 14 events/s: 73 s
    with tempfile.TemporaryDirectory() as tmp:
        f = os.path.join(tmp, "samples.bin")
        live = ctl(d.sock, "assess", "-n", "1024", "-o", f, check=0).stdout
        assert "samples: 1024 8-bit samples from preemptd (capture)" in live
        assert os.path.getsize(f) == 1024
        offline = ctl(d.sock, "assess", "--file", f, check=0).stdout
        m = os.path.join(tmp, "restart.bin")
        r = ctl(d.sock, "assess", "--restart", "--restarts", "3", "-o", m,
                check=0)
        assert "3 restarts recorded; the restart tests need 1000: not " \
            "assessed" in r.stdout, r.stdout
        assert os.path.getsize(m) == 3000
    a, b = parse_assess(live), parse_assess(offline)
    assert len(a) >= 10 and a == b, (a, b)  # -o wrote what was assessed
    assert 0 < a["min(H_original, 8 X H_bitstring)"] <= 8


def tmux(*args, srv="top", check=True):
    """tmux on a private server named after us and srv, so that each test
    has its own and nobody else's is touched."""
    r = subprocess.run(["tmux", "-L", "pbd-tools-%d-%s" % (os.getpid(), srv)]
                       + list(args), capture_output=True, text=True)
    assert not check or r.returncode == 0, (args, r.stderr)
    return r


RUN_STATUS = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                          "run_status.py")


def wait_status(path, timeout=10):
    """The exit status run_status.py recorded, or None if none in time."""
    end = time.time() + timeout
    while time.time() < end:
        if os.path.exists(path):
            with open(path) as f:
                return f.read()
        time.sleep(0.1)
    return None


def test_top_tmux(d):
    # Waiting at least two refreshes so that the histogram is a difference.
    # The histogram counts the last second's events: with a full ring the
    # sampler sleeps and there are none, so a drainer keeps it sampling.
    status = os.path.join(d.dir, "top.status")
    stop = threading.Event()

    def drain():
        while not stop.is_set():
            n = d.stats()["ring"]["bytes"]
            if n:
                d.text("read %d raw nowait" % min(n, 4096))
            stop.wait(0.1)
    drainer = threading.Thread(target=drain, daemon=True)
    drainer.start()
    tmux("new-session", "-d", "-x", "120", "-y", "40", "-s", "top",
         "%s %s %s %s --socket %s top" % (sys.executable, RUN_STATUS, status,
                                          CTL, d.sock))
    try:
        tmux("set-option", "-t", "top", "remain-on-exit", "on")
        screen = ""
        end = time.time() + 20
        rows = []
        while time.time() < end:
            time.sleep(0.5)
            screen = tmux("capture-pane", "-p", "-t", "top").stdout
            rows = re.findall(r"^  2\^\d+ +[^|]*\|(#*) +\d+$", screen, re.M)
            if "Jump sizes, last" in screen and any(rows):
                break
        stop.set()
        assert re.search(r"^Events\s+[0-9.]+/s", screen, re.M), screen
        assert re.search(r"^Health\s+ok: ", screen, re.M), screen
        assert re.search(r"^Entropy\s+credited 2\.000 bits/byte", screen,
                         re.M), screen
        assert re.search(r"^Ring\s+\[[#.]{30}\] \d+ / 2048 bytes", screen,
                         re.M), screen
        assert re.search(r"^Served\s+conditioned .* raw .* drbg ", screen,
                         re.M), screen
        assert "Jump sizes, last" in screen, screen
        assert rows and any(rows), screen
        assert all(len(line) <= 120 for line in screen.splitlines())
        tmux("send-keys", "-t", "top", "q")
        rc = wait_status(status)
        assert rc == "0", "top did not exit cleanly on q: %r" % rc
        # the alternate screen was left: top's frame is gone from the pane
        after = tmux("capture-pane", "-p", "-t", "top").stdout
        assert "Jump sizes" not in after, after
    finally:
        stop.set()
        drainer.join(10)
        tmux("kill-server", check=False)


def tmux_rd(*args, **kw):
    return tmux(*args, srv="rd", **kw)


def test_read_progress_tmux(d):
    """On a terminal a long read draws a bar on stderr; Ctrl-C removes the
    partial file."""
    with tempfile.TemporaryDirectory() as tmp:
        f = os.path.join(tmp, "big.bin")
        # 16 MiB conditioned (84 MB of raw events): never done before ^C,
        # whatever the event rate
        status = os.path.join(tmp, "read.status")
        tmux_rd("new-session", "-d", "-x", "120", "-y", "10", "-s", "rd",
                "%s %s %s %s --socket %s read -n 16M -o %s" % (
                    sys.executable, RUN_STATUS, status, CTL, d.sock, f))
        try:
            tmux_rd("set-option", "-t", "rd", "remain-on-exit", "on")
            screen = ""
            end = time.time() + 20
            while time.time() < end:
                time.sleep(0.3)
                screen = tmux_rd("capture-pane", "-p", "-t", "rd").stdout
                if re.search(r"\[[#.]{30}\] +\d+% .* / 16\.0 MiB", screen):
                    break
            assert re.search(r"\[[#.]{30}\] +\d+% .* / 16\.0 MiB", screen), \
                screen
            assert os.path.exists(f)
            tmux_rd("send-keys", "-t", "rd", "C-c")
            rc = wait_status(status)
            assert rc == "130", rc  # 128 + SIGINT
            assert not os.path.exists(f), "partial output left behind"
        finally:
            tmux_rd("kill-server", check=False)


def test_top_plain(d):
    r = ctl(d.sock, "top", "--iterations", "2", check=0)
    assert "\033" not in r.stdout, "escape codes off a terminal"
    assert r.stdout.count("preemptd ") == 2, r.stdout
    assert "Jump sizes since start" in r.stdout
    assert "Jump sizes, last 1 s" in r.stdout, r.stdout


def test_failed_daemon():
    # Its own threshold: the fake counter's jumps are 5,020 ticks (see
    # FAKE_THRESHOLD in tests/reliability/test_faults.py).
    with harness.Daemon("--fault", "periodic", "--threshold", "5000",
                        ring=2048, wait_ready=False) as d:
        d.wait_health("failed", 30)
        r = ctl(d.sock, "health", check=2)
        assert r.stdout.startswith("failed: "), r.stdout
        fams = parse_prometheus(ctl(d.sock, "metrics", check=0).stdout)
        assert metric(fams, "preemptd_health_state") == 2
        assert metric(fams, "preemptd_health_rct_failures_total") >= 1
        with tempfile.TemporaryDirectory() as tmp:
            f = os.path.join(tmp, "out.bin")
            r = ctl(d.sock, "read", "-n", "32", "-o", f, check=1)
            assert "health test" in r.stderr, r.stderr
            assert not os.path.exists(f), "partial output left behind"


def test_degraded_daemon():
    # A CPU that does not exist: the sampler runs unpinned, health degraded.
    with harness.Daemon("--cpu", "4000", ring=2048, wait_ready=False) as d:
        d.wait_health("degraded: sampler not pinned", 30)
        r = ctl(d.sock, "health", check=1)
        assert r.stdout.startswith("degraded: "), r.stdout
        fams = parse_prometheus(ctl(d.sock, "metrics", check=0).stdout)
        assert metric(fams, "preemptd_health_state") == 1


def test_wait():
    """preemptctl wait: 3 when nothing ever listens; 0 once a daemon started
    after it has passed its start-up test and seeded its DRBG (never
    earlier); 1 at its timeout while the start-up test cannot finish; 2 at
    once on a permanent failure."""
    fault = os.environ.get("PREEMPTD_FAULT", "build/daemon/preemptd-fault")
    r = ctl(NOSOCK, "wait", "--timeout", "0.3", check=3)
    assert "cannot connect to " + NOSOCK in r.stderr, r.stderr
    ctl(NOSOCK, "wait", "--timeout", "-1", check=64)
    ctl(NOSOCK, "wait", "extra", check=64)
    with tempfile.TemporaryDirectory() as tmp:
        sock = os.path.join(tmp, "late.sock")
        w = subprocess.Popen([CTL, "--socket", sock, "wait", "--timeout",
                              "240"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)
        assert w.poll() is None, "wait returned with no daemon"
        d = harness.Daemon(ring=2048, wait_ready=False)
        try:
            os.symlink(d.sock, sock)
            out, err = w.communicate(timeout=250)
            assert w.returncode == 0, (w.returncode, out, err)
            st = d.stats()
            assert st["health"]["source"] == "ok", st["health"]
            assert st["drbg"]["seeded"], st["drbg"]
        finally:
            d.stop()
    # A socket that accepts and never answers (a stopped or hung daemon):
    # the timeout holds, not libpbd's 15-s default deadline.
    with tempfile.TemporaryDirectory() as tmp:
        mute = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            mute.bind(os.path.join(tmp, "mute.sock"))
            mute.listen(16)
            t0 = time.time()
            r = ctl(os.path.join(tmp, "mute.sock"), "wait", "--timeout", "1",
                    check=3)
            took = time.time() - t0
            assert 1.0 <= took < 5.0, took
            assert "never answered" in r.stderr, r.stderr
        finally:
            mute.close()
    # A counter that never moves: the start-up test never ends.
    with harness.Daemon("--fault", "stuck", "--stall-ms", "600000",
                        binary=fault, ring=2048, wait_ready=False) as d:
        t0 = time.time()
        r = ctl(d.sock, "wait", "--timeout", "1", check=1)
        assert time.time() - t0 >= 1.0
        assert "not ready after 1 s: degraded: start-up health test" in \
            r.stderr, r.stderr
    with harness.Daemon("--fault", "periodic", "--threshold", "5000",
                        binary=fault, ring=2048, wait_ready=False) as d:
        r = ctl(d.sock, "wait", "--timeout", "120", check=2)
        assert "permanent" in r.stderr, r.stderr


def test_restart_and_calibrate_refuse():
    """The restart tests fail a source that restarts into the same state
    (constant columns) on the sanity check alone; calibrate writes nothing
    from too few samples, a wrong-sized matrix or bad options."""
    with tempfile.TemporaryDirectory() as tmp:
        row = os.urandom(1000)
        matrix = os.path.join(tmp, "restart.bin")
        with open(matrix, "wb") as f:
            f.write(row * 1000)
        r = ctl(NOSOCK, "assess", "--restart-file", matrix, "--h-initial",
                "6", check=1)
        assert "in a column (column 0); cutoff" in r.stdout and \
            "FAIL" in r.stdout, r.stdout
        assert r.stdout.rstrip().endswith("restart tests: FAIL"), r.stdout
        ctl(NOSOCK, "assess", "--restart-file", matrix, check=64)
        ctl(NOSOCK, "assess", "--restart-file", matrix, "-H", "9", check=64)
        small = os.path.join(tmp, "small.bin")
        with open(small, "wb") as f:
            f.write(os.urandom(5000))
        out = os.path.join(tmp, "credit")
        r = ctl(NOSOCK, "calibrate", "--file", small, "--restart-file",
                matrix, "-o", out, check=1)
        assert "asks for at least 1000000" in r.stderr, r.stderr
        r = ctl(NOSOCK, "calibrate", "--file", matrix, "--restart-file",
                small, "-o", out, check=1)
        assert "a restart matrix is 1000000 bytes" in r.stderr, r.stderr
        # Without --restart-file the matrix comes from the daemon.
        r = ctl(NOSOCK, "calibrate", "--file", matrix, check=3)
        assert "cannot connect" in r.stderr, r.stderr
        ctl(NOSOCK, "assess", "--restart", check=64)  # needs -H
        ctl(NOSOCK, "assess", "--restart", "-H", "7", "--restarts", "0",
            check=64)
        ctl(NOSOCK, "calibrate", "--file", matrix, "--restart-file", matrix,
            "--fraction", "0.9", check=64)
        # A name is written into the credit file: a newline in it would
        # start a line of its own, such as a second credit.
        forged = os.path.join(tmp, "s\ncredit = 8")
        os.symlink(small, forged)
        for args in (("--file", forged, "--restart-file", matrix, "-o", out),
                     ("--file", small, "--restart-file", matrix, "-o",
                      out + "\ncredit = 8")):
            r = ctl(NOSOCK, "calibrate", *args, check=64)
            assert "control character" in r.stderr, r.stderr
        assert not os.path.exists(out)


def main():
    t = Checks()
    t.run(test_restart_and_calibrate_refuse)
    t.run(test_help)
    t.run(test_no_daemon)
    t.run(test_parser_is_strict)
    # The default policy, whose figures test_metrics checks (the harness
    # would give the injected-rate daemon --priority normal).
    with harness.Daemon("--priority", "demand", ring=2048) as d:
        for fn in (test_stats, test_metrics, test_read, test_health_ok,
                   test_assess_file, test_assess_live, test_top_tmux,
                   test_read_progress_tmux, test_top_plain):
            t.run(fn, d)
    t.run(test_failed_daemon)
    t.run(test_degraded_daemon)
    t.run(test_wait)
    t.finish()


if __name__ == "__main__":
    main()

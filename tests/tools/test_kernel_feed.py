"""--feed-kernel: as root the kernel gets one conditioned 32-byte block per
interval, credited 256 bits (checked on the ioctl itself with strace); as
nobody the failure is logged clearly and the daemon keeps serving."""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import harness
from ctltest import ctl
from checks import Checks


def tracer_pid(pid):
    """TracerPid of pid's main thread: non-zero while strace is attached."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("TracerPid:"):
                return int(line.split()[1])
    return 0


def test_feed_as_root():
    """strace is attached to the running daemon's loop thread (the main
    thread, where the feed happens) and detached again before it stops."""
    assert os.geteuid() == 0, "this test runs as root (CI does)"
    tmp = tempfile.mkdtemp(prefix="pbd-feed-")
    try:
        trace = os.path.join(tmp, "strace")
        with harness.Daemon("--feed-kernel", "--feed-interval-ms", "300",
                            ring=2048) as d:
            fed_pre = d.stats()["kernel_fed_bytes"]
            st = subprocess.Popen(["strace", "-qq", "-e", "trace=ioctl",
                                   "-o", trace, "-p", str(d.proc.pid)])
            try:
                # Attached once the main thread has a tracer (deadline).
                end = time.time() + 30
                while tracer_pid(d.proc.pid) == 0:
                    assert time.time() < end, "strace never attached"
                    assert st.poll() is None, "strace exited %s" % st.returncode
                    time.sleep(0.05)
                fed0 = d.stats()["kernel_fed_bytes"]
                end = time.time() + 90
                fed = fed0
                while time.time() < end and fed - fed0 < 96:
                    time.sleep(0.5)
                    fed = d.stats()["kernel_fed_bytes"]
                fam = ctl(d.sock, "metrics", check=0).stdout
            finally:
                st.send_signal(signal.SIGINT)  # detaches; the daemon runs on
                st.wait(15)
            fed_post = d.stats()["kernel_fed_bytes"]
            assert fed - fed0 >= 96, "kernel_fed_bytes grew %d" % (fed - fed0)
            assert fed % 32 == 0, fed
            assert "kernel feed" not in d.logtext()  # no error logged
            m = re.search(r"^preemptd_kernel_fed_bytes_total (\d+)$", fam,
                          re.M)
            assert m and int(m.group(1)) >= fed, fam
            assert d.proc.poll() is None, "daemon died under strace"
        with open(trace) as f:
            log = f.read()
        calls = re.findall(r"ioctl\(\d+, RNDADDENTROPY, \{entropy_count=(\d+), "
                           r"buf_size=(\d+), .*\) = (-?\d+)", log)
        assert calls, log[-2000:]
        # one full-entropy 32-byte block credited 256 bits, every time
        assert all(c == ("256", "32", "0") for c in calls), calls
        # every feed counted while strace surely watched was seen by it,
        # and it saw none that was not counted between before it started
        # and after it stopped
        n = (fed - fed0) // 32
        assert n <= len(calls) <= (fed_post - fed_pre) // 32, (
            len(calls), n, fed_pre, fed_post)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_feed_as_nobody():
    """fork + setuid(65534) before exec: RNDADDENTROPY needs CAP_SYS_ADMIN."""
    tmp = tempfile.mkdtemp(prefix="pbd-feed-nobody-")
    os.chmod(tmp, 0o755)
    sdir = os.path.join(tmp, "run")
    os.mkdir(sdir)
    os.chown(sdir, 65534, 65534)
    sock = os.path.join(sdir, "preemptd.sock")
    logpath = os.path.join(tmp, "log")

    def drop():
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)

    # nobody may not reach the build tree (a clone under /root, mode 0700):
    # it runs a copy from tmp, and from there (the daemon needs no other file
    # of ours; its libraries are the system's). The fault build on the
    # injected event rate, like harness.Daemon's.
    binary = os.path.join(tmp, "preemptd")
    shutil.copy(harness.PREEMPTD_FAULT, binary)
    os.chmod(binary, 0o755)
    with open(logpath, "wb") as logf:
        p = subprocess.Popen([binary, "--foreground", "--socket", sock,
                              "--ring-size", "2048", "--log-level", "debug",
                              "--feed-kernel", "--feed-interval-ms", "200"]
                             + harness.fast_source([])
                             + harness.daemon_args(),
                             stdout=logf, stderr=logf, preexec_fn=drop,
                             cwd=tmp)
    try:
        def log():
            with open(logpath, "rb") as f:
                return f.read().decode(errors="replace")
        end = time.time() + 90
        while time.time() < end and "kernel feed" not in log():
            assert p.poll() is None, "daemon died:\n" + log()
            time.sleep(0.3)
        text = log()
        assert "kernel feed: RNDADDENTROPY: Operation not permitted; feeding " \
               "disabled (needs CAP_SYS_ADMIN)" in text, text
        assert text.count("kernel feed") == 1, "logged more than once"
        time.sleep(1.0)  # a few more ticks: still alive, still serving
        assert p.poll() is None, "daemon exited after the feed failed"
        r = ctl(sock, "health", check=0)
        assert r.stdout.startswith("ok: "), r.stdout
        r = ctl(sock, "stats", "--json", check=0)
        assert '"kernel_fed_bytes":0' in r.stdout
        r = ctl(sock, "read", "-n", "64K", "--drbg", "-o", "/dev/null",
                check=0)
        assert p.poll() is None
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    assert p.returncode == 0, p.returncode


def main():
    t = Checks()
    t.run(test_feed_as_root)
    t.run(test_feed_as_nobody)
    t.finish()


if __name__ == "__main__":
    main()

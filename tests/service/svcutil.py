"""Helpers for the service-integration tests: the runner and a
preemptd launcher that, unlike harness.Daemon (whose base, harness.Running,
it shares), lets a test choose the socket path, the environment, the argv
prefix (systemd-socket-activate) and how the process ends. Its daemon is
harness.Daemon's: the fault build on the injected event rate (these tests
are about the listener, the options and the service protocol, not the
source), unless the test names a binary (the installed one) or real=True."""
import os
import signal
import subprocess
import tempfile
import time

import checks
import harness

PREEMPTD = harness.PREEMPTD
BUILD = os.environ.get("PBD_BUILD_ROOT", "build")
SOURCE = os.environ.get("PBD_SOURCE_ROOT", ".")


class Checks(checks.Checks):
    """checks.Checks as the service tests call it: ok(cond, name, detail),
    and run(fn) passes the runner to fn, which makes its own checks (fn's
    own line says it ran to its end)."""

    def ok(self, cond, name, detail=""):
        super().ok(name, cond, detail)
        return cond

    def run(self, fn, *args):
        return self.check(fn.__name__, fn, self, *args)


def tmpdir():
    return tempfile.mkdtemp(prefix="pbd-svc-")


class Proc(harness.Running):
    """One preemptd (or a wrapper that execs it) with its log in a file."""

    def __init__(self, sock, *args, prefix=(), binary=None, real=False,
                 env=None, ring=2048, logdir=None):
        self.sock = sock
        self.log = os.path.join(logdir or os.path.dirname(sock) or ".",
                                "log-%d" % time.monotonic_ns())
        if binary is None and not real:
            binary = harness.PREEMPTD_FAULT
            args = harness.fast_source(args)
        self.binary = binary or PREEMPTD
        argv = list(prefix) + [self.binary, "--foreground",
                               "--ring-size", str(ring),
                               "--log-level", "debug"] + list(args)
        argv += harness.daemon_args(args)  # after the wrapper's, the daemon's
        if not prefix:
            argv[1:1] = ["--socket", sock]
        e = dict(os.environ)
        e.pop("NOTIFY_SOCKET", None)
        e.pop("LISTEN_FDS", None)
        e.pop("LISTEN_PID", None)
        e.update(env or {})
        self.logf = open(self.log, "wb")
        self.proc = subprocess.Popen(argv, stdout=self.logf,
                                     stderr=subprocess.STDOUT, env=e)
        self.pid = self.proc.pid

    def wait_ready(self, timeout=90.0):
        self.wait_socket()
        return self.wait_health("ok", timeout)

    def wait_exit(self, timeout=20.0):
        """Returns the exit status; kills and raises if it does not end."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError("preemptd did not exit:\n" + self.logtext())

    def stop(self, sig=signal.SIGTERM, timeout=15.0):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        rc = self.wait_exit(timeout)
        self.logf.close()
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.logf.close()

    def wait_log(self, needle, timeout=10.0):
        end = time.time() + timeout
        while time.time() < end:
            if needle in self.logtext():
                return True
            time.sleep(0.05)
        return False


def is_hex(s, nbytes):
    return len(s) == 2 * nbytes and all(c in "0123456789abcdef" for c in s)

"""The one runner of the Python tests: named checks reported as TAP, so
meson (`protocol : 'tap'`) shows and counts each check by name.

    t = Checks()
    t.check("a name", fn, args...)   # fn(*args) raising is a failure
    t.run(fn, args...)               # the same, named fn.__name__
    t.ok("a name", cond, detail)     # a plain condition
    t.finish()                       # the plan line, then the exit status

Each check is one line, `ok N - name # 1.2 s` (the time it took) or `not ok
N - name` followed by its traceback as `# ` lines; harness.skip() gives `ok N - name # SKIP why`
(outside CI only: under CI a skip is a failure, see harness.skip). finish()
prints the plan `1..N` and exits 1 on any failure or when nothing ran, else
0 (meson counts a test whose every check was skipped as skipped, which
.ci/lib.sh's meson_no_skips refuses under CI).

TAP owns the process's standard output. While a Checks exists, whatever a
test prints goes out as a `# ` comment line, and the file descriptor 1 of
the processes it starts is its standard error, so a figure printed or a
child's chatter can never be read as a check."""
import io
import os
import sys
import time
import traceback

import harness


class _Comments(io.TextIOBase):
    """A text stream that writes each line to out as a TAP comment."""

    def __init__(self, out):
        self.out = out
        self.partial = ""

    def writable(self):
        return True

    def write(self, s):
        lines = (self.partial + s).split("\n")
        self.partial = lines.pop()
        for line in lines:
            self.out.write(("# " + line).rstrip() + "\n")
        return len(s)

    def flush(self):
        if self.partial:
            self.write("\n")
        self.out.flush()


_tap = []  # the TAP stream: standard output as it was, taken once


def _take_stdout():
    if not _tap:
        sys.stdout.flush()
        _tap.append(os.fdopen(os.dup(1), "w", buffering=1))
        os.dup2(2, 1)
        sys.stdout = _Comments(_tap[0])
    return _tap[0]


def _one_line(name):
    # A '#' would start a TAP directive, a newline a new line.
    return " ".join(str(name).replace("#", "no.").split())


class Checks:
    """Runs named checks and reports them as TAP (see the top of the file)."""

    def __init__(self):
        self.tap = _take_stdout()
        self.passed = self.failed = self.skipped = 0

    def _line(self, text):
        sys.stdout.flush()  # a partial comment line first
        self.tap.write(text + "\n")

    def comment(self, text):
        """Writes text as `# ` lines."""
        for line in str(text).rstrip("\n").split("\n"):
            self._line(("# " + line).rstrip())

    def _report(self, name, failure=None, skip=None, took=None):
        n = self.passed + self.failed + self.skipped + 1
        name = _one_line(name)
        if failure is not None:
            self.failed += 1
            self._line("not ok %d - %s" % (n, name))
            self.comment(failure)
            # And on stderr: meson's --print-errorlogs shows a TAP test's
            # stderr, not its stdout, and CI's log is all there is of a
            # fresh chroot (one failure there could not be read).
            sys.stderr.write("not ok %d - %s\n%s\n" % (n, name, failure))
            sys.stderr.flush()
        elif skip is not None:
            self.skipped += 1
            self._line("ok %d - %s # SKIP %s" % (n, name, _one_line(skip)))
        else:
            self.passed += 1
            # meson's name ends at the '#': the time is no part of it
            self._line("ok %d - %s%s" % (
                n, name, "" if took is None else " # %.1f s" % took))
        return failure is None and skip is None

    def check(self, name, fn, *args):
        """Runs fn(*args) as the check name; returns whether it passed.
        Any exception fails it (its traceback is printed); harness.Skipped
        (from harness.skip) skips it."""
        t0 = time.monotonic()
        try:
            fn(*args)
        except harness.Skipped as e:
            if harness.in_ci():  # harness.skip already fails; never skip
                return self._report(name, failure="skipped under CI=%s: %s"
                                    % (os.environ["CI"], e))
            return self._report(name, skip=str(e))
        except Exception:  # noqa: BLE001 - a failed check: report, go on
            return self._report(name, failure=traceback.format_exc())
        return self._report(name, took=time.monotonic() - t0)

    def run(self, fn, *args):
        """check() named after the function."""
        return self.check(fn.__name__, fn, *args)

    def ok(self, name, cond, detail=""):
        """Records a plain condition as a check; returns it."""
        return self._report(name, failure=None if cond else
                            "failed: %s" % (detail or name))

    def status(self):
        """The exit status: 1 on a failure or when nothing ran, else 0."""
        return 1 if self.failed or not (self.passed or self.skipped) else 0

    def finish(self):
        """Prints the plan and the tally (a comment) and exits."""
        n = self.passed + self.failed + self.skipped
        self._line("1..%d" % n)
        self.comment("%d passed, %d failed%s" % (
            self.passed, self.failed,
            ", %d skipped" % self.skipped if self.skipped else ""))
        sys.exit(self.status())

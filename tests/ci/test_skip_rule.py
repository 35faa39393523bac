"""The skip rule: a check that cannot run here prints why and is a skip
outside CI, a failure under CI=true. Both places that hold the rule are
exercised: .ci/lib.sh, through the real skip paths of the .ci/steps/
scripts (forced by a uname that names another machine) and through
meson_no_skips on a meson test log, and harness.skip() through a test
runner."""
import contextlib
import io
import os
import re
import subprocess
import sys
import tempfile

import harness

SRC = os.environ.get("PBD_SOURCE_ROOT",
                     os.path.join(os.path.dirname(__file__), "..", ".."))
STEPS = os.path.join(SRC, ".ci", "steps")


def env_with(ci, path_first=None):
    e = dict(os.environ)
    e.pop("CI", None)
    if ci is not None:
        e["CI"] = ci
    if path_first:
        e["PATH"] = path_first + os.pathsep + e["PATH"]
    return e


def fake_uname(d, system, machine):
    """A uname on PATH that reports another machine: the steps' skip paths
    are taken before anything is installed or built."""
    p = os.path.join(d, "uname")
    with open(p, "w") as f:
        f.write('#!/bin/sh\ncase "$1" in\n-s) echo %s ;;\n-m) echo %s ;;\n'
                '*) echo %s %s ;;\nesac\n' % (system, machine, system, machine))
    os.chmod(p, 0o755)
    return d


def run_step(step, ci, system, machine):
    with tempfile.TemporaryDirectory(prefix="pbd-skip-") as d:
        r = subprocess.run(["sh", os.path.join(".ci", "steps", step)],
                           cwd=SRC, capture_output=True, text=True,
                           timeout=60, stdin=subprocess.DEVNULL,
                           env=env_with(ci, fake_uname(d, system, machine)))
    return r.returncode, r.stdout + r.stderr


# (step, uname -s, uname -m, words the reason must contain)
FORCED = [("10-aarch64.sh", "Linux", "aarch64", "host is ARM64"),
          ("10-aarch64.sh", "FreeBSD", "amd64", "needs an x86-64"),
          ("20-macos-check.sh", "Darwin", "arm64", "this is a Mac"),
          ("20-macos-check.sh", "Linux", "riscv64", "x86-64 Linux only")]


def test_step_skip_fails_under_ci():
    for step, system, machine, why in FORCED:
        rc, out = run_step(step, "true", system, machine)
        assert rc != 0, "%s skipped under CI=true and exited 0:\n%s" % (step, out)
        assert "SKIPPED" in out and why in out, (step, out)
        assert "a skipped step fails the run" in out, (step, out)


def test_step_skip_passes_outside_ci():
    for ci in (None, "false"):
        for step, system, machine, why in FORCED:
            rc, out = run_step(step, ci, system, machine)
            assert rc == 0, "%s, CI=%r: exit %d\n%s" % (step, ci, rc, out)
            assert "*** SKIPPED: " in out and why in out, (step, ci, out)
            assert "fails the run" not in out, out


def test_steps_use_the_one_rule():
    """No step prints its own SKIPPED or defines its own skip(): then the
    rule could not be bypassed by a step written later."""
    for name in sorted(os.listdir(STEPS)):
        if not name.endswith(".sh"):
            continue
        with open(os.path.join(STEPS, name)) as f:
            text = f.read()
        assert "SKIPPED" not in text, "%s prints SKIPPED itself" % name
        assert not re.search(r"^\s*skip\s*\(\)", text, re.M), \
            "%s defines its own skip()" % name
        if re.search(r"^\s*skip\s", text, re.M):
            assert '. "$(dirname "$0")/../lib.sh"' in text, \
                "%s calls skip without sourcing .ci/lib.sh" % name


def run_no_skips(ci, results):
    """meson_no_skips on a build dir whose testlog.json has these results."""
    with tempfile.TemporaryDirectory(prefix="pbd-skip-") as d:
        os.mkdir(os.path.join(d, "meson-logs"))
        with open(os.path.join(d, "meson-logs", "testlog.json"), "w") as f:
            for i, res in enumerate(results):
                f.write('{"name": "p:s / t%d", "stdout": "\\"result\\": '
                        '\\"SKIP\\"", "result": "%s", "duration": 1}\n'
                        % (i, res))
        r = subprocess.run(["sh", "-c", '. .ci/lib.sh; meson_no_skips "$1"; '
                            'echo went on', "sh", d], cwd=SRC,
                           capture_output=True, text=True, timeout=60,
                           env=env_with(ci))
    return r.returncode, r.stdout + r.stderr


def test_meson_skip_fails_under_ci():
    """A test that exits 77 is one meson counts as skipped and CI green."""
    rc, out = run_no_skips("true", ["OK", "SKIP", "OK"])
    assert rc == 1 and "p:s / t1" in out and "went on" not in out, (rc, out)
    assert "t0" not in out and "t2" not in out, out
    for ci, results in (("true", ["OK", "OK"]), (None, ["OK", "SKIP"]),
                        ("false", ["SKIP"])):
        rc, out = run_no_skips(ci, results)
        assert rc == 0 and "went on" in out, (ci, results, rc, out)


CHILD = r"""
import sys
import harness
from ctltest import Runner
def needs_something():
    harness.skip("forced: this machine lacks something")
def fine():
    pass
t = Runner()
t.run(fine)
t.run(needs_something)
t.finish()
"""


def run_python_skip(ci):
    tools = os.path.join(SRC, "tests", "tools")
    integ = os.path.join(SRC, "tests", "integration")
    e = env_with(ci)
    e["PYTHONPATH"] = tools + os.pathsep + integ
    r = subprocess.run([sys.executable, "-c", CHILD], capture_output=True,
                       text=True, timeout=60, env=e)
    return r.returncode, r.stdout + r.stderr


def test_python_skip_fails_under_ci():
    rc, out = run_python_skip("true")
    assert rc == 1, (rc, out)
    assert "FAIL needs_something" in out and "may not be skipped" in out, out
    assert "1 passed, 1 failed" in out, out


def test_python_skip_passes_outside_ci():
    rc, out = run_python_skip(None)
    assert rc == 0, (rc, out)
    assert "skip needs_something: forced: this machine lacks something" in out
    assert "1 passed, 0 failed, 1 skipped" in out, out


def test_summary_status():
    with contextlib.redirect_stdout(io.StringIO()):  # not our closing line
        assert harness.summary(0, 0, 2) == 77  # all skipped: meson's skip
        assert harness.summary(1, 0, 2) == 0
        assert harness.summary(3, 1, 0) == 1
        assert harness.summary(0, 0, 0) == 1   # nothing ran is no pass


def main():
    sys.path.insert(0, os.path.join(SRC, "tests", "tools"))
    from ctltest import Runner
    t = Runner()
    for fn in (test_step_skip_fails_under_ci, test_step_skip_passes_outside_ci,
               test_steps_use_the_one_rule, test_meson_skip_fails_under_ci,
               test_python_skip_fails_under_ci,
               test_python_skip_passes_outside_ci, test_summary_status):
        t.run(fn)
    t.finish()


if __name__ == "__main__":
    main()

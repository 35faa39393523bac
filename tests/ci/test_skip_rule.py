"""The skip rule: a check that cannot run here prints why and is a skip
outside CI, a failure under CI=true. Both places that hold the rule are
exercised: .ci/lib.sh, through the real skip paths of the .ci/steps/
scripts (forced by a uname that names another machine) and through
meson_no_skips on a meson test log, and harness.skip() through the one
test runner (tests/integration/checks.py) and meson's TAP parser."""
import os
import re
import subprocess
import sys
import tempfile

from checks import Checks

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
import subprocess
import sys
import harness
from checks import Checks
def needs_something():
    harness.skip("forced: this machine lacks something")
def fine():
    print("a figure: 42")
    subprocess.run(["echo", "ok 99 - a child's chatter"], check=True)
t = Checks()
if "only-skip" not in sys.argv:
    t.run(fine)
if "none" not in sys.argv:
    t.run(needs_something)
t.finish()
"""


def run_python_skip(ci, *argv):
    """CHILD's output and exit status: (status, stdout, stderr)."""
    e = env_with(ci)
    e["PYTHONPATH"] = os.path.join(SRC, "tests", "integration")
    r = subprocess.run([sys.executable, "-c", CHILD] + list(argv),
                       capture_output=True, text=True, timeout=60, env=e)
    return r.returncode, r.stdout, r.stderr


def test_python_skip_fails_under_ci():
    rc, out, err = run_python_skip("true")
    assert rc == 1, (rc, out, err)
    assert "\nnot ok 2 - needs_something\n" in out, out
    assert "may not be skipped" in out and "# SKIP" not in out, out
    assert out.endswith("1..2\n# 1 passed, 1 failed\n"), out


def test_python_skip_passes_outside_ci():
    rc, out, err = run_python_skip(None)
    assert rc == 0, (rc, out, err)
    assert re.search(r"^ok 1 - fine # \d+\.\d s$", out, re.M), out
    assert "\nok 2 - needs_something # SKIP forced: this machine lacks " \
        "something\n" in out, out
    assert out.endswith("1..2\n# 1 passed, 0 failed, 1 skipped\n"), out


def test_tap_stays_clean():
    """What a check prints is a comment; what its children print goes to
    stderr; so neither can pass for a check."""
    rc, out, err = run_python_skip(None)
    assert out.startswith("# a figure: 42\nok 1 - fine # "), out
    assert "ok 99" not in out and "ok 99 - a child's chatter" in err, (out,
                                                                      err)


def test_status():
    """All skipped: status 0 (meson's TAP parser then counts the test as
    skipped, see test_meson_tap_skip); nothing ran: a failure."""
    rc, out, _ = run_python_skip(None, "only-skip")
    assert rc == 0 and out.endswith("1..1\n# 0 passed, 0 failed, "
                                    "1 skipped\n"), (rc, out)
    rc, out, _ = run_python_skip(None, "only-skip", "none")
    assert rc == 1 and "1..0\n" in out, (rc, out)


MESON = """project('p', meson_version : '>=1.0')
py = find_program('python3')
test('t', py, args : ['-c', %r, 'only-skip'], protocol : 'tap',
     env : ['PYTHONPATH=%s'])
"""


def test_meson_tap_skip():
    """meson (protocol 'tap') counts a runner whose every check was skipped
    as a skipped test, which meson_no_skips refuses under CI; a runner with
    a failed check fails meson's run."""
    integ = os.path.join(SRC, "tests", "integration")
    with tempfile.TemporaryDirectory(prefix="pbd-skip-") as d:
        src, build = os.path.join(d, "src"), os.path.join(d, "build")
        os.mkdir(src)
        with open(os.path.join(src, "meson.build"), "w") as f:
            f.write(MESON % (CHILD, integ))
        e = env_with(None)
        subprocess.run(["meson", "setup", src, build], check=True, env=e,
                       capture_output=True, timeout=120)
        r = subprocess.run(["meson", "test", "-C", build, "-v"], env=e,
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "needs_something" in r.stdout and "SKIP" in r.stdout, r.stdout
        n = subprocess.run(["sh", "-c", '. .ci/lib.sh; meson_no_skips "$1"',
                            "sh", build], cwd=SRC, capture_output=True,
                           text=True, timeout=60, env=env_with("true"))
        assert n.returncode == 1 and n.stderr.endswith("***\nt\n"), (
            n.returncode, n.stderr)
        e["CI"] = "true"  # the skip is now a failed check
        r = subprocess.run(["meson", "test", "-C", build, "-v"], env=e,
                           capture_output=True, text=True, timeout=120)
        assert r.returncode != 0, r.stdout
        assert re.search(r"needs_something\s+FAIL", r.stdout), r.stdout


def main():
    t = Checks()
    for fn in (test_step_skip_fails_under_ci, test_step_skip_passes_outside_ci,
               test_steps_use_the_one_rule, test_meson_skip_fails_under_ci,
               test_python_skip_fails_under_ci,
               test_python_skip_passes_outside_ci, test_tap_stays_clean,
               test_status, test_meson_tap_skip):
        t.run(fn)
    t.finish()


if __name__ == "__main__":
    main()

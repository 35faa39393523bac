"""Runs the `nc -U` examples of README.md, docs/*.md and man/* verbatim
against a test daemon (issue 16), so the commands a newcomer copies cannot
drift from what works.

An example is a shell line running `nc ... -U` inside a fenced code block
(markdown) or a `.Bd -literal` display (man pages). The socket path after
`-U` is replaced by the test daemon's; nothing else is changed. Each example
must exit 0 within LIMIT_S seconds, print something, print no `error:` line,
and print 2N hex digits for every `read N` it sends. Lines elsewhere that
pipe input into nc (inline examples, which are not run) must end it with
`quit` or give nc -N or -q. Debian's netcat-openbsd does
not half-close at the end of its input without -N, so an example that does
not end with `quit` hangs until the daemon's idle timeout and fails here.

Without nc the test is skipped (exit 77), except under CI=true, where it
fails: setup.sh installs netcat-openbsd.
"""
import glob
import os
import re
import shlex
import shutil
import signal
import subprocess

import harness
from ctltest import SRC
from checks import Checks

LIMIT_S = 5.0
NC_U = re.compile(r"""(\bnc\b[^|;&#]*?\s-U\s+)("[^"]*"|'[^']*'|[^\s|;&]+)""")
FENCE = re.compile(r"^\s*(```|~~~)")
# nc in command position (line start, after a pipe or ; or &&) with -U.
NC_CMD = re.compile(r"(?:^|[|;&])\s*nc\s[^|;&]*-U\s")
# The part of a line from a pipe into nc to the end of nc's arguments.
NC_PIPED = re.compile(r"\|\s*nc\b([^|;&#]*)")
# nc options that half-close at the end of the input: -N, or -q SECONDS.
NC_CLOSES = re.compile(r"\s-[a-zA-Z]*N|\s-q\s*\d")


def doc_files():
    files = [os.path.join(SRC, "README.md")]
    files += sorted(glob.glob(os.path.join(SRC, "docs", "*.md")))
    files += sorted(glob.glob(os.path.join(SRC, "man", "*.[1-9]")))
    return files


def unroff(line):
    return line.replace("\\e", "\\").replace("\\-", "-").replace("\\&", "")


def examples(path):
    """[(lineno, command)] for each `nc -U` line in a code block of path."""
    out = []
    inside = False
    man = not path.endswith(".md")
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if man:
                if line.startswith(".Bd") and "-literal" in line:
                    inside = True
                elif line.startswith(".Ed"):
                    inside = False
                elif inside and NC_CMD.search(unroff(line)):
                    out.append((n, unroff(line).strip()))
                continue
            if FENCE.match(line):
                inside = not inside
            elif inside:
                cmd = line.strip()
                if cmd.startswith("$ "):  # a captured session's prompt
                    cmd = cmd[2:]
                if NC_CMD.search(cmd):
                    out.append((n, cmd))
    return out


def with_socket(cmd, sock):
    new, k = NC_U.subn(lambda m: m.group(1) + shlex.quote(sock), cmd)
    assert k >= 1, "no socket path after nc -U in %r" % cmd
    return new


def run_limited(cmd, limit):
    """Runs cmd under sh in its own process group; returns (rc, out, err),
    rc None when it was still running after limit seconds (then killed)."""
    p = subprocess.Popen(["sh", "-c", cmd], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True)
    try:
        out, err = p.communicate(timeout=limit)
        return p.returncode, out.decode(errors="replace"), err.decode(errors="replace")
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)  # nc is a grandchild: kill the group
        out, err = p.communicate()
        return None, out.decode(errors="replace"), err.decode(errors="replace")


def check_example(d, where, cmd):
    # Stock first (an example takes at most 160 + 16 raw bytes), so the limit
    # measures whether nc returns, not the event rate.
    d.wait_stock(512, timeout=120.0)
    real = with_socket(cmd, d.sock)
    rc, out, err = run_limited(real, LIMIT_S)
    what = "%s: %s\n  ran: %s\n  stdout: %r\n  stderr: %r" % (
        where, cmd, real, out[:300], err[:300])
    assert rc is not None, "still running after %.0f s (killed)\n%s" % (LIMIT_S, what)
    assert rc == 0, "exit status %d\n%s" % (rc, what)
    assert out.strip(), "printed nothing\n%s" % what
    lines = out.splitlines()
    bad = [l for l in lines if l.startswith("error:")]
    assert not bad, "printed %r\n%s" % (bad, what)
    sent = cmd[:NC_CMD.search(cmd).start()]
    for n in re.findall(r"\bread (\d+)", sent):
        want = re.compile(r"[0-9a-f]{%d}\Z" % (2 * int(n)))
        assert any(want.match(l) for l in lines), \
            "no line of %d hex digits for read %s\n%s" % (2 * int(n), n, what)


def piped_nc_lines():
    """[(where, line)] for every line, in a code block or not, that pipes
    input into nc: inline examples are not run, so they are read instead."""
    out = []
    for path in doc_files():
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                line = unroff(line) if not path.endswith(".md") else line
                if NC_PIPED.search(line):
                    out.append(("%s:%d" % (os.path.relpath(path, SRC), n),
                                line.strip()))
    return out


def nc_installed():
    if shutil.which("nc") is None:
        harness.skip("nc not found; setup.sh installs netcat-openbsd")


def main():
    r = Checks()
    if not r.run(nc_installed):
        r.finish()
    found = [(p, n, c) for p in doc_files() for n, c in examples(p)]

    def readme_has_examples():
        readme = [f for f in found if os.path.basename(f[0]) == "README.md"]
        assert readme, "README.md has no nc -U example in a code block"
    r.run(readme_has_examples)

    def piped_input_ends_with_quit():
        bad = [w + ": " + l for w, l in piped_nc_lines()
               if "quit" not in l[:NC_PIPED.search(l).start()]
               and not NC_CLOSES.search(NC_PIPED.search(l).group(1))]
        assert not bad, "input piped into nc without quit or -N:\n  " + "\n  ".join(bad)
    r.run(piped_input_ends_with_quit)

    with harness.Daemon(ring=4096) as d:
        for path, n, cmd in found:
            where = "%s:%d" % (os.path.relpath(path, SRC), n)

            def one(where=where, cmd=cmd):
                check_example(d, where, cmd)
            one.__name__ = "example %s" % where
            r.run(one)
    r.finish()


if __name__ == "__main__":
    main()

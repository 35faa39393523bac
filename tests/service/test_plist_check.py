"""tools/plist-check.py passes our launchd plist and fails each kind of
broken one: an unknown key, a value of the wrong type, a socket whose
directory does not exist at boot, a job that runs some other binary. And
Formula/preemptd.rb parses (ruby -c, where ruby is installed) and its
service block says what the plist says."""
import os
import platform
import plistlib
import re
import shutil
import subprocess
import sys
import tempfile

import harness
from svcutil import BUILD, SOURCE, Checks
from test_files import prefix_sbindir

TOOL = os.path.join(SOURCE, "tools", "plist-check.py")
PLIST = os.path.join(BUILD, "launchd", "org.preemptd.preemptd.plist")


def installed_binary():
    """Where meson install puts preemptd: from the build's options, not
    from the plist under test."""
    return os.path.join(prefix_sbindir(), "preemptd")


def run(path, binary):
    p = subprocess.run([sys.executable, TOOL, "--binary", binary, path],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=30)
    return p.returncode, p.stdout


def t_ours(c):
    rc, out = run(PLIST, installed_binary())
    c.ok(rc == 0 and out.endswith(": ok\n"), "plist-check: ours passes", out)


def broken(mutate):
    with open(PLIST, "rb") as f:
        pl = plistlib.load(f)
    mutate(pl)
    fd, path = tempfile.mkstemp(suffix=".plist")
    with os.fdopen(fd, "wb") as f:
        plistlib.dump(pl, f)
    return path


def sock(pl):
    return pl["Sockets"]["Listeners"]


CASES = [
    ("an unknown key", lambda pl: pl.update(KeepAliveForever=True),
     "KeepAliveForever: unknown key"),
    ("an unknown socket key", lambda pl: sock(pl).update(SockPathPerms=432),
     "Sockets.Listeners.SockPathPerms: unknown key"),
    ("a wrong type (RunAtLoad as a string)",
     lambda pl: pl.update(RunAtLoad="true"), "RunAtLoad: is string"),
    ("a wrong type (SockPathMode as a string)",
     lambda pl: sock(pl).update(SockPathMode="0660"),
     "SockPathMode: is string"),
    ("an undocumented ProcessType",
     lambda pl: pl.update(ProcessType="Daemon"), "ProcessType: 'Daemon'"),
    ("a socket directory that does not exist at boot",
     lambda pl: sock(pl).update(SockPathName="/var/run/preemptd/preemptd.sock"),
     "directory /var/run/preemptd does not exist at boot"),
    ("a job without UserName (root for its whole life)",
     lambda pl: pl.pop("UserName"), "UserName: missing: the job would run as root"),
    ("a job without GroupName", lambda pl: pl.pop("GroupName"),
     "GroupName: missing"),
    ("a job as root", lambda pl: pl.update(UserName="root"),
     "UserName: 'root' is root's"),
    ("a job in group wheel", lambda pl: pl.update(GroupName="wheel"),
     "GroupName: 'wheel' is root's"),
    ("ProgramArguments not the installed binary",
     lambda pl: pl["ProgramArguments"].__setitem__(0, "/opt/old/preemptd"),
     "is not the installed binary"),
]


def t_broken(c):
    binary = installed_binary()
    for what, mutate, expect in CASES:
        path = broken(mutate)
        try:
            rc, out = run(path, binary)
        finally:
            os.unlink(path)
        c.ok(rc == 1 and expect in out, "plist-check: fails on " + what, out)


def t_formula_syntax(c):
    path = os.path.join(SOURCE, "Formula", "preemptd.rb")
    if not shutil.which("ruby"):
        harness.skip("formula: ruby -c needs ruby (./setup.sh test installs it)")
    p = subprocess.run(["ruby", "-c", path], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=60)
    c.ok(p.returncode == 0 and "Syntax OK" in p.stdout,
         "formula: ruby -c", p.stdout)


def t_formula_style(c):
    """rubocop with Formula/.rubocop.yml (Homebrew's quoting and layout;
    `brew style` itself needs Homebrew), and what a tap's formula must
    have: a url to a meson dist tarball of this version with its sha256, a
    head, openssl@3 for the provider."""
    path = os.path.join(SOURCE, "Formula", "preemptd.rb")
    if platform.system() != "Linux":
        return  # rubocop is in DEB_TEST; the formula is the same file here
    if not shutil.which("rubocop"):
        harness.skip("formula: rubocop (./setup.sh test installs it)")
    p = subprocess.run(["rubocop", "--format", "simple", path],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=120,
                       cwd=os.path.join(SOURCE, "Formula"))
    c.ok(p.returncode == 0 and "no offenses" in p.stdout,
         "formula: rubocop finds no offenses", p.stdout[-2000:])
    with open(path) as f:
        rb = f.read()
    with open(os.path.join(SOURCE, "meson.build")) as f:
        version = re.search(r"version : '([^']+)'", f.read()).group(1)
    url = re.search(r'^  url "([^"]+)"$', rb, re.M)
    c.ok(url and url.group(1).endswith("/preemptd-%s.tar.xz" % version),
         "formula: url is the meson dist tarball of %s" % version,
         url.group(1) if url else "no url")
    c.ok(re.search(r'^  sha256 "[0-9a-f]{64}"$', rb, re.M) and
         not re.search(r'sha256 "0{64}"', rb), "formula: a sha256")
    c.ok(re.search(r'^  head "[^"]+", branch: "main"$', rb, re.M),
         "formula: a head on the main branch")
    c.ok('depends_on "openssl@3"' in rb and "-Dopenssl=enabled" in rb,
         "formula: builds the OpenSSL provider")
    c.ok("Cellar" not in rb and "opt_prefix" in rb,
         "formula: the plist and service name opt paths")


def t_formula(c):
    path = os.path.join(SOURCE, "Formula", "preemptd.rb")
    with open(path) as f:
        rb = f.read()
    m = re.search(r"^  service do\n(.*?)^  end\n", rb, re.M | re.S)
    c.ok(m, "formula: has a service block")
    svc = m.group(1)
    with open(PLIST, "rb") as f:
        pl = plistlib.load(f)
    run = re.search(r"run \[opt_sbin/\"preemptd\"((?:, \"[^\"]*\")*)\]", svc)
    args = re.findall(r'"([^"]*)"', run.group(1)) if run else []
    c.ok(pl["ProgramArguments"][1:] == args[:len(pl["ProgramArguments"]) - 1],
         "formula: runs preemptd with the plist's arguments", str(args))
    pt = re.search(r"process_type :(\w+)", svc)
    c.ok(pt and pt.group(1).capitalize() == pl["ProcessType"],
         "formula: process_type is the plist's ProcessType", svc)
    c.ok(("keep_alive true" in svc) == (pl["KeepAlive"] is True) and
         ("run_at_load true" in svc) == (pl["RunAtLoad"] is True),
         "formula: keep_alive and run_at_load as in the plist")
    # The service binds the socket itself: --group admin and the default
    # mode 0660 must give what the plist asks launchd for.
    sk = pl["Sockets"]["Listeners"]
    c.ok("--user" in args and args[args.index("--user") + 1] ==
         pl["UserName"] and pl["UserName"] not in ("root", "0"),
         "formula: the service drops root for the plist's UserName",
         str(args))
    c.ok("--group" in args and args[args.index("--group") + 1] == "admin" and
         sk["SockPathGroup"] == 80 and sk["SockPathMode"] == 0o660 and
         "--mode" not in args and "--socket" not in args,
         "formula: same socket group (admin = 80) and mode as the plist",
         str(args))


def main():
    c = Checks()
    for t in (t_ours, t_broken, t_formula_syntax, t_formula_style,
              t_formula):
        c.run(t)
    c.finish()


if __name__ == "__main__":
    main()

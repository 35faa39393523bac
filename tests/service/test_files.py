"""The service files and man pages agree with the code: the launchd plist
parses and names the socket osdep-darwin.c asks for; the systemd units say
what the daemon does (notify, default socket, sandbox); the man pages format
without warnings and document every option of `preemptd --help`."""
import glob
import json
import os
import plistlib
import re
import subprocess

from svcutil import BUILD, PREEMPTD, SOURCE, Checks


def prefix_sbindir():
    with open(os.path.join(BUILD, "meson-info", "intro-buildoptions.json")) as f:
        o = {x["name"]: x["value"] for x in json.load(f)}
    return os.path.join(o["prefix"], o["sbindir"])


def default_socket(apple):
    """PBD_DEFAULT_SOCKET from include/pbd.h for macOS or the rest."""
    with open(os.path.join(SOURCE, "include", "pbd.h")) as f:
        h = f.read()
    m = re.search(r'#if defined\(__APPLE__\)\s*#define PBD_DEFAULT_SOCKET "([^"]+)"'
                  r'\s*#else\s*#define PBD_DEFAULT_SOCKET "([^"]+)"', h)
    return m.group(1 if apple else 2)


def t_plist(c):
    path = os.path.join(BUILD, "launchd", "org.preemptd.preemptd.plist")
    with open(path, "rb") as f:
        pl = plistlib.load(f)
    c.ok(pl["Label"] == "org.preemptd.preemptd" ==
         os.path.basename(path)[:-len(".plist")],
         "plist: Label matches the file name", pl.get("Label"))
    args = pl["ProgramArguments"]
    c.ok(args[0] == os.path.join(prefix_sbindir(), "preemptd") and
         "--foreground" in args,
         "plist: runs the installed preemptd --foreground", str(args))
    with open(os.path.join(SOURCE, "daemon", "osdep-darwin.c")) as f:
        names = re.findall(r'launch_activate_socket\("([^"]+)"', f.read())
    c.ok(names == ["Listeners"] and list(pl["Sockets"]) == names,
         "plist: socket name is the one osdep-darwin.c activates",
         "%s vs %s" % (names, list(pl["Sockets"])))
    sk = pl["Sockets"]["Listeners"]
    c.ok(sk["SockPathName"] == default_socket(True) ==
         "/var/run/preemptd.sock",
         "plist: SockPathName is macOS's PBD_DEFAULT_SOCKET", sk["SockPathName"])
    c.ok(sk["SockPathMode"] == 0o660 == 432, "plist: SockPathMode 0660 (432)",
         str(sk["SockPathMode"]))
    c.ok(sk["SockPathOwner"] == 0 and sk["SockPathGroup"] == 80,
         "plist: socket root:admin (uid 0, gid 80)", str(sk))
    c.ok(sk.get("SockType", "stream") == "stream", "plist: stream socket")
    c.ok(pl["KeepAlive"] is True and pl["RunAtLoad"] is True,
         "plist: KeepAlive and RunAtLoad")
    c.ok("StandardErrorPath" not in pl and "StandardOutPath" not in pl,
         "plist: no log file (the unified log rotates itself)")
    c.ok(pl["ProcessType"] == "Standard", "plist: ProcessType Standard",
         pl.get("ProcessType"))
    # The template itself is a valid plist once substituted.
    with open(os.path.join(SOURCE, "launchd",
                           "org.preemptd.preemptd.plist.in"), "rb") as f:
        tpl = plistlib.loads(f.read().replace(b"@sbindir@", b"/usr/sbin"))
    c.ok(tpl["Label"] == pl["Label"], "plist: template parses")


def unit(path):
    """[(section, key, value)] of a unit file; keys may repeat."""
    out, sec = [], None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                sec = line.strip("[]")
                continue
            k, _, v = line.partition("=")
            out.append((sec, k.strip(), v.strip()))
    return out


def get(u, sec, key):
    return [v for s, k, v in u if s == sec and k == key]


def t_units(c):
    svc = unit(os.path.join(BUILD, "systemd", "preemptd.service"))
    sock = unit(os.path.join(BUILD, "systemd", "preemptd.socket"))
    want = {
        "Type": "notify", "NotifyAccess": "main", "ProtectSystem": "strict",
        "ProtectHome": "yes", "PrivateTmp": "yes", "NoNewPrivileges": "yes",
        "RestrictAddressFamilies": "AF_UNIX", "CapabilityBoundingSet": "",
        "MemoryDenyWriteExecute": "yes", "LockPersonality": "yes",
        "RestrictRealtime": "yes", "PrivateNetwork": "yes",
    }
    for k, v in want.items():
        c.ok(get(svc, "Service", k) == [v], "service: %s=%s" % (k, v),
             str(get(svc, "Service", k)))
    c.ok("@system-service" in get(svc, "Service", "SystemCallFilter"),
         "service: SystemCallFilter=@system-service")
    mem = get(svc, "Service", "LimitMEMLOCK")
    c.ok(len(mem) == 1 and mem[0].endswith("M") and int(mem[0][:-1]) >= 17,
         "service: LimitMEMLOCK holds the largest ring (16 MiB + guards)",
         str(mem))
    exe = get(svc, "Service", "ExecStart")[0].split()
    c.ok(exe[0] == os.path.join(prefix_sbindir(), "preemptd") and
         "--foreground" in exe, "service: ExecStart is the installed binary",
         str(exe))
    c.ok(get(svc, "Unit", "Requires") == ["preemptd.socket"],
         "service: requires its socket")
    # Boot (issue 21): early, as the peers, but not holding up sysinit on
    # the start-up test; the wait unit is what others order After=.
    for u, name in ((svc, "service"), (sock, "socket")):
        c.ok(get(u, "Unit", "DefaultDependencies") == ["no"] and
             "shutdown.target" in " ".join(get(u, "Unit", "Conflicts")),
             "%s: early (DefaultDependencies=no, stops at shutdown)" % name)
    c.ok(get(svc, "Install", "WantedBy") == ["sysinit.target"] and
         "sysinit.target" not in " ".join(get(svc, "Unit", "Before")),
         "service: wanted by sysinit.target, not ordered before it",
         str(get(svc, "Install", "WantedBy")))
    c.ok("systemd-sysusers.service" in " ".join(get(svc, "Unit", "After")) and
         "systemd-sysusers.service" in " ".join(get(sock, "Unit", "After")),
         "service and socket: after sysusers (their user and group)")
    c.ok(get(svc, "Service", "StateDirectory") == ["preemptd/cache"],
         "service: StateDirectory is --state-dir's default, a subdirectory")
    c.ok(get(svc, "Service", "LimitNICE") == ["-10"],
         "service: LimitNICE=-10, so the sampler may leave SCHED_IDLE")
    wait = unit(os.path.join(BUILD, "systemd", "preemptd-wait.service"))
    wexe = get(wait, "Service", "ExecStart")[0].split()
    c.ok(wexe[0].endswith("/preemptctl") and wexe[1] == "wait" and
         get(wait, "Service", "Type") == ["oneshot"] and
         get(wait, "Service", "RemainAfterExit") == ["yes"] and
         "preemptd.service" in " ".join(get(wait, "Unit", "After")),
         "wait unit: oneshot preemptctl wait, after the service", str(wexe))
    c.ok(get(sock, "Socket", "ListenStream") == [default_socket(False)],
         "socket: ListenStream is PBD_DEFAULT_SOCKET",
         str(get(sock, "Socket", "ListenStream")))
    c.ok(get(sock, "Socket", "SocketMode") == ["0660"], "socket: mode 0660")
    user = get(svc, "Service", "User")
    group = get(svc, "Service", "Group")
    with open(os.path.join(SOURCE, "systemd", "preemptd.sysusers")) as f:
        sysusers = [l.split() for l in f if l.strip() and l[0] != "#"]
    c.ok(["g", group[0]] == sysusers[0][:2] and
         sysusers[1][:2] == ["u", user[0]] and
         get(sock, "Socket", "SocketGroup") == group,
         "user, group, SocketGroup and sysusers.d agree",
         "%s %s %s" % (user, group, sysusers))


MAN_ENV = dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH="80")


def man_warnings(page):
    """All warnings groff and man print for page ('' when clean)."""
    out = ""
    for argv in (["groff", "-mandoc", "-ww", "-z", page],
                 ["man", "--warnings", "-E", "UTF-8", "-l", page]):
        r = subprocess.run(argv, capture_output=True, text=True, env=MAN_ENV)
        out += r.stderr
        if r.returncode != 0:
            out += "%s exited %d\n" % (argv[0], r.returncode)
    return out


def t_man(c):
    pages = sorted(glob.glob(os.path.join(SOURCE, "man", "*.[1-8]")))
    c.ok(any(p.endswith("preemptd.8") for p in pages) and
         any(p.endswith("pbd_read.3") for p in pages), "man pages present")
    for p in pages:
        w = man_warnings(p)
        c.ok(w == "", "man: %s formats without warnings" % os.path.basename(p),
             w)
    bad = os.path.join(os.environ.get("TMPDIR", "/tmp"),
                       "pbd-bad-%d.8" % os.getpid())
    with open(bad, "w") as f:
        f.write(".Dd x\n.Dt BAD 8\n.Os\n.Sh NAME\n.Nm bad\n.Bl -bogus\n"
                ".Xx nothing\n")
    try:
        c.ok(man_warnings(bad) != "", "man: the check catches a broken page")
    finally:
        os.unlink(bad)
    helptext = subprocess.run([PREEMPTD, "--help"], capture_output=True,
                              text=True).stdout
    opts = sorted(set(re.findall(r"--([a-z][a-z0-9-]+)", helptext)))
    with open(os.path.join(SOURCE, "man", "preemptd.8")) as f:
        page = f.read()
    missing = [o for o in opts if not re.search(r"Fl Fl %s\b" % o, page)]
    c.ok(len(opts) > 20 and not missing,
         "preemptd.8 documents every option of --help (%d)" % len(opts),
         "missing: %s" % missing)
    with open(os.path.join(SOURCE, "include", "pbd.h")) as f:
        header = f.read()
    with open(os.path.join(SOURCE, "man", "pbd_read.3")) as f:
        names = re.findall(r"^\.Nm (\w+)", f.read(), re.M)
    c.ok(names and all(re.search(r"\b%s\(" % n, header) for n in names),
         "pbd_read.3 names only functions of pbd.h", str(names))


def main():
    c = Checks()
    for t in (t_plist, t_units, t_man):
        c.run(t)
    c.finish()


if __name__ == "__main__":
    main()

"""`meson install --destdir` puts everything where it belongs; a program
built against the installed libpbd.pc reads from the installed preemptd; the
installed systemd units pass `systemd-analyze verify`."""
import json
import os
import re
import shlex
import shutil
import stat
import subprocess

from svcutil import BUILD, SOURCE, Checks, Proc, tmpdir

PROG = r"""
#include <pbd.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    unsigned char a[32], b[32];
    pbd_t *p;
    int rc = pbd_open(&p, argc > 1 ? argv[1] : NULL);
    if (rc != 0) {
        fprintf(stderr, "pbd_open: %s\n", pbd_strerror(rc));
        return 1;
    }
    rc = pbd_read(p, a, sizeof(a), PBD_MODE_CONDITIONED);
    if (rc == 0)
        rc = pbd_read(p, b, sizeof(b), PBD_MODE_CONDITIONED);
    pbd_close(p);
    if (rc != 0) {
        fprintf(stderr, "pbd_read: %s\n", pbd_strerror(rc));
        return 1;
    }
    for (size_t i = 0; i < sizeof(a); i++)
        printf("%02x", a[i]);
    printf(" %s\n", memcmp(a, b, sizeof(a)) ? "differ" : "same");
    return 0;
}
"""


def options():
    with open(os.path.join(BUILD, "meson-info", "intro-buildoptions.json")) as f:
        return {o["name"]: o["value"] for o in json.load(f)}


def compiler():
    """The build's C compiler (argv[0] of any compile command)."""
    with open(os.path.join(BUILD, "compile_commands.json")) as f:
        return shlex.split(json.load(f)[0]["command"])[0]


def under(dest, *parts):
    return os.path.join(dest, *(p.lstrip("/") for p in parts))


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, **kw)


def t_install(c, dest):
    o = options()
    r = run(["meson", "install", "-C", BUILD, "--destdir", dest,
             "--no-rebuild"])
    if not c.ok(r.returncode == 0, "meson install --destdir", r.stdout + r.stderr):
        return None
    pre = o["prefix"]
    lib = os.path.join(pre, o["libdir"])
    man = os.path.join(pre, o["mandir"])
    want = [
        (os.path.join(pre, o["sbindir"], "preemptd"), "exe"),
        (os.path.join(lib, "libpbd.so.0.1.0"), "file"),
        (os.path.join(lib, "libpbd.so.0"), "link"),
        (os.path.join(lib, "libpbd.so"), "link"),
        (os.path.join(lib, "libpbd.a"), "file"),
        (os.path.join(lib, "pkgconfig", "libpbd.pc"), "file"),
        (os.path.join(pre, o["includedir"], "pbd.h"), "file"),
        (os.path.join(man, "man8", "preemptd.8"), "file"),
        (os.path.join(man, "man3", "pbd_read.3"), "file"),
        (os.path.join(man, "man3", "pbd_open.3"), "link"),
        (os.path.join(pre, "lib", "sysusers.d", "preemptd.conf"), "file"),
    ]
    if os.path.exists(os.path.join(SOURCE, "man", "preemptctl.1")):
        want.append((os.path.join(man, "man1", "preemptctl.1"), "file"))
    for path, kind in want:
        p = under(dest, path)
        st = os.lstat(p) if os.path.lexists(p) else None
        good = st is not None and (
            (kind == "link" and stat.S_ISLNK(st.st_mode) and os.path.exists(p))
            or (kind == "file" and stat.S_ISREG(st.st_mode))
            or (kind == "exe" and stat.S_ISREG(st.st_mode) and
                st.st_mode & 0o111))
        c.ok(good, "installed %s" % path)
    units = [os.path.join(r, f) for r, _, fs in os.walk(dest) for f in fs
             if f in ("preemptd.service", "preemptd.socket",
                      "preemptd-wait.service")]
    c.ok(len(units) == 3 and all("/systemd/system/" in u for u in units),
         "installed the three units into a systemd unit dir", str(units))
    with open(under(dest, os.path.join(pre, o["includedir"], "pbd.h"))) as f, \
            open(os.path.join(SOURCE, "include", "pbd.h")) as g:
        c.ok(f.read() == g.read(), "installed pbd.h is include/pbd.h")
    return o, units


def t_pkgconfig(c, dest, o):
    pre, lib = o["prefix"], os.path.join(o["prefix"], o["libdir"])
    # The system's .pc files too: libpbd.pc requires libsodium (privately,
    # for pbd_getentropy's HKDF).
    system_pc = run(["pkg-config", "--variable", "pc_path",
                     "pkg-config"]).stdout.strip()
    env = dict(os.environ,
               PKG_CONFIG_PATH=under(dest, lib, "pkgconfig"),
               PKG_CONFIG_SYSROOT_DIR=dest,
               PKG_CONFIG_LIBDIR=under(dest, lib, "pkgconfig") + ":" +
               system_pc)
    r = run(["pkg-config", "--modversion", "libpbd"], env=env)
    c.ok(r.returncode == 0 and r.stdout.strip() == "0.1.0",
         "pkg-config finds libpbd 0.1.0", r.stdout + r.stderr)
    flags = run(["pkg-config", "--cflags", "--libs", "libpbd"], env=env)
    c.ok(dest in flags.stdout, "pkg-config flags point into the destdir",
         flags.stdout)
    src = os.path.join(dest, "prog.c")
    with open(src, "w") as f:
        f.write(PROG)
    san = o.get("b_sanitize", "none")
    extra = ["-fsanitize=" + san] if san != "none" else []
    exe = os.path.join(dest, "prog")
    r = run([compiler(), "-std=c11", "-Wall", "-Werror", src, "-o", exe] +
            shlex.split(flags.stdout) + extra)
    c.ok(r.returncode == 0, "program builds against installed libpbd.pc",
         r.stdout + r.stderr)
    # The same program linked statically against the installed libpbd.a.
    exe_a = os.path.join(dest, "prog-static")
    static = run(["pkg-config", "--static", "--libs-only-l", "libsodium"])
    r = run([compiler(), "-std=c11", src, "-o", exe_a,
             "-I" + under(dest, pre, o["includedir"]),
             under(dest, lib, "libpbd.a")] + shlex.split(static.stdout) +
            extra)
    c.ok(r.returncode == 0, "program links against installed libpbd.a",
         r.stdout + r.stderr)
    renv = dict(os.environ, LD_LIBRARY_PATH=under(dest, lib))
    r = run(["ldd", exe], env=renv)
    c.ok(re.search(r"libpbd\.so\.0 => %s" % re.escape(under(dest, lib)),
                   r.stdout) is not None,
         "program loads the installed libpbd.so.0", r.stdout)
    # The ABI is include/pbd.h's functions and nothing else: the wire-format
    # helpers libpbd shares with the daemon stay hidden.
    r = run(["nm", "-D", "--defined-only", under(dest, lib, "libpbd.so.0")])
    syms = sorted(l.split()[-1] for l in r.stdout.splitlines()
                  if l.split()[1:2] == ["T"])
    with open(os.path.join(SOURCE, "include", "pbd.h")) as f:
        api = sorted(re.findall(r"^PBD_API [^;(]*?\b(pbd_\w+)\(", f.read(),
                                re.M))
    c.ok(r.returncode == 0 and syms == api,
         "libpbd.so exports the %d functions of pbd.h only" % len(api), syms)

    # The installed daemon serves the installed library.
    d = tmpdir()
    sock = os.path.join(d, "s.sock")
    daemon = Proc(sock, binary=under(dest, pre, o["sbindir"], "preemptd"))
    try:
        daemon.wait_ready()
        for name, prog in (("shared", exe), ("static", exe_a)):
            r = run([prog, sock], env=renv, timeout=60)
            out = r.stdout.split()
            c.ok(r.returncode == 0 and len(out) == 2 and
                 re.fullmatch(r"[0-9a-f]{64}", out[0]) is not None and
                 out[0] != "0" * 64 and out[1] == "differ",
                 "%s: pbd_read 32 bytes twice from the installed daemon" % name,
                 r.stdout + r.stderr)
        c.ok(daemon.stop() == 0, "installed daemon stops cleanly")
    finally:
        daemon.kill()
        shutil.rmtree(d, ignore_errors=True)


def t_units_verify(c, dest, o, units):
    # systemd-analyze --root wants the stock targets (sysinit.target, ...)
    # inside the root: copy the host's (symlinks would resolve in the root).
    etc = os.path.join(dest, "etc", "systemd", "system")
    os.makedirs(etc, exist_ok=True)
    for name in os.listdir("/lib/systemd/system"):
        src = os.path.join("/lib/systemd/system", name)
        if name.endswith((".target", ".slice")) and os.path.isfile(src):
            shutil.copyfile(src, os.path.join(etc, name))
    # Documentation=man:preemptd(8) is checked with man against the
    # installed pages.
    env = dict(os.environ, MANPATH=under(dest, o["prefix"], o["mandir"]))
    r = run(["systemd-analyze", "verify", "--root=" + dest] + units, env=env)
    c.ok(r.returncode == 0 and r.stderr.strip() == "",
         "systemd-analyze verify on the installed units",
         r.stdout + r.stderr)
    svc = [u for u in units if u.endswith("/preemptd.service")][0]
    r = run(["systemd-analyze", "security", "--offline=yes", "--root=" + dest,
             "--no-pager", svc], env=env)
    m = re.search(r"Overall exposure level for preemptd.service: ([0-9.]+)",
                  r.stdout)
    print("systemd-analyze security: %s" % (m.group(0) if m else r.stdout[-300:]))
    c.ok(m is not None and float(m.group(1)) <= 1.5,
         "systemd-analyze security exposure <= 1.5",
         m.group(0) if m else r.stdout + r.stderr)
    # The check must be able to fail: a unit whose ExecStart is missing.
    bad_unit = os.path.join(etc, "preemptd-bad.service")
    with open(svc) as f:
        text = f.read().replace("/preemptd --foreground",
                                "/preemptd-missing --foreground")
    with open(bad_unit, "w") as f:
        f.write(text)
    r = run(["systemd-analyze", "verify", "--root=" + dest, bad_unit],
            env=env)
    c.ok(r.returncode != 0 and "is not executable" in r.stderr,
         "systemd-analyze verify rejects a missing ExecStart",
         r.stdout + r.stderr)


def main():
    c = Checks()
    dest = tmpdir()
    try:
        got = None
        try:
            got = t_install(c, dest)
        except Exception as e:
            c.ok(False, "install", repr(e))
        if got:
            o, units = got
            c.run(t_pkgconfig, dest, o)
            c.run(t_units_verify, dest, o, units)
    finally:
        shutil.rmtree(dest, ignore_errors=True)
    c.finish()


if __name__ == "__main__":
    main()

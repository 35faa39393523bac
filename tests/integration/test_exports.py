#!/usr/bin/env python3
"""libpbd.so exports exactly the functions pbd.h marks PBD_API, all pbd_*
(client/libpbd.map and hidden visibility), and pbd.h's version macros are
meson's project version (issue 22 item 5)."""
import os
import re
import subprocess

from checks import Checks

BUILD = os.environ["PBD_BUILD_ROOT"]
SOURCE = os.environ["PBD_SOURCE_ROOT"]


def exported(lib):
    out = subprocess.run(["nm", "-D", "--defined-only", lib], check=True,
                         capture_output=True, text=True).stdout
    return {ln.split()[-1] for ln in out.splitlines()
            if len(ln.split()) == 3 and ln.split()[1] in "TDBRVWi"}


def declared():
    with open(os.path.join(SOURCE, "include", "pbd.h")) as f:
        text = f.read()
    return set(re.findall(r"^PBD_API [^;(]*?\b(pbd_\w+)\(", text, re.M))


def main():
    lib = os.path.join(BUILD, "client", "libpbd.so")
    have, want = exported(lib), declared()
    print("exported:", " ".join(sorted(have)))
    bad = sorted(s for s in have if not s.startswith("pbd_"))
    assert not bad, "libpbd.so exports non-pbd_ symbols: %s" % bad
    assert have == want, "exported %s, pbd.h declares %s" % (
        sorted(have - want), sorted(want - have))
    with open(os.path.join(SOURCE, "include", "pbd.h")) as f:
        hdr = f.read()
    ver = os.environ["PBD_PROJECT_VERSION"]
    parts = dict(re.findall(r"#define PBD_VERSION_(MAJOR|MINOR|PATCH) (\d+)",
                            hdr))
    assert "%s.%s.%s" % (parts["MAJOR"], parts["MINOR"], parts["PATCH"]) \
        == ver, (parts, ver)
    assert '#define PBD_VERSION_STRING "%s"' % ver in hdr, hdr
    print("ok: %d functions, all pbd_*, as pbd.h declares; version %s"
          % (len(have), ver))


def run(name, fn):
    """Runs fn as this script's one check, then exits."""
    t = Checks()
    t.check(name, fn)
    t.finish()


if __name__ == "__main__":
    run("libpbd.so exports what pbd.h declares; its version is meson's",
        main)

#!/usr/bin/env python3
"""The repository as a newcomer sees it (issue 22, items 12 and 13): README's
"Repository layout" names every top-level directory and every daemon/*.c;
no build output is committed (bytecode caches, objects, dpkg-buildpackage's
products); LICENSE carries the licence that meson.build and debian/copyright
name."""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cichecks import SOURCE, check, finish  # noqa: E402



def tracked_files():
    """git ls-files in a checkout; else (a meson dist tarball, which is what
    git tracked) every file but build directories."""
    try:
        out = subprocess.run(["git", "-C", SOURCE, "ls-files", "-z"],
                             capture_output=True, check=True).stdout
        return [p for p in out.decode().split("\0") if p]
    except (OSError, subprocess.CalledProcessError):
        files = []
        for root, dirs, names in os.walk(SOURCE):
            rel = os.path.relpath(root, SOURCE)
            if rel == ".":
                # No git (a fresh chroot has none): neither its directory
                # nor the macOS step's zig cache is part of the tree.
                dirs[:] = [d for d in dirs
                           if not d.startswith("build")
                           and d not in (".git", ".cache")]
            files += [os.path.normpath(os.path.join(rel, n)) for n in names]
        return files


def layout_block():
    with open(os.path.join(SOURCE, "README.md")) as f:
        text = f.read()
    m = re.search(r"### Repository layout\n\n```\n(.*?)\n```", text, re.S)
    assert m, "README.md has no Repository layout block"
    return m.group(1)


def named_dir(block, d):
    return re.search(r"(^|[\s,])%s/" % re.escape(d), block, re.M) is not None


def named_source(block, stem):
    return re.search(r"(^|[\s,/])%s\.(c|\[ch\])(?!\w)" % re.escape(stem), block,
                     re.M) is not None


files = tracked_files()
block = layout_block()
tops = sorted({p.split("/")[0] for p in files if "/" in p})
missing = [d for d in tops if not named_dir(block, d)]
check("README layout names every top-level directory (%d)" % len(tops),
      len(tops) > 10 and not missing, "missing: %s" % missing)
daemon_c = sorted(os.path.basename(p)[:-2] for p in files
                  if re.fullmatch(r"daemon/[^/]+\.c", p))
missing = [c + ".c" for c in daemon_c if not named_source(block, c)]
check("README layout names every daemon/*.c (%d)" % len(daemon_c),
      len(daemon_c) > 10 and not missing, "missing: %s" % missing)
# the checks catch what they are for
check("the layout check catches a missing name",
      not named_dir(block, "nosuchdir") and
      not named_source(block, "nosuchfile") and named_source(block, "conn"))

output = re.compile(r"(^|/)(__pycache__/|[^/]+\.(pyc|o|a|so|deb)$|obj-[^/]*/"
                    r"|build[^/]*/)|^debian/(\.debhelper/|tmp/|files$|"
                    r"[^/]+\.substvars$|[^/]+\.debhelper\.log$|"
                    r"debhelper-build-stamp$|(preemptd|preemptd-openssl|"
                    r"libpbd0|libpbd-dev)/)")
bad = [p for p in files if output.search(p)]
check("no build output is tracked (%d files)" % len(files),
      len(files) > 100 and not bad, "tracked: %s" % bad[:10])
check("the output check catches bytecode and dh's products",
      all(output.search(p) for p in
          ("tests/reliability/__pycache__/rel.cpython-311.pyc",
           "debian/files", "debian/preemptd/usr/sbin/preemptd",
           "obj-x86_64-linux-gnu/x.o")))


def licence_words(text):
    return " ".join(text.split())


with open(os.path.join(SOURCE, "meson.build")) as f:
    meson = f.read()
with open(os.path.join(SOURCE, "debian", "copyright")) as f:
    copyright_text = f.read()
try:
    with open(os.path.join(SOURCE, "LICENSE")) as f:
        lic = f.read()
except OSError:
    lic = ""
m = re.search(r"\nLicense: ISC\n((?: .*\n)+)", copyright_text)
deb = licence_words(m.group(1).replace("\n .\n", "\n")) if m else "?"
check("LICENSE is the ISC licence of meson.build and debian/copyright",
      "license : 'ISC'" in meson and deb != "?" and
      deb in licence_words(lic), "LICENSE missing or not debian/copyright's")
finish()

#!/usr/bin/env python3
"""Every function libpbd.so exports has a man page (issue 22 item 6): it is
in a page's NAME (.Nm) and SYNOPSIS (.Fn), and `man FUNCTION` finds it (the
page itself, or a link page that man/meson.build installs). The socket path
the pages give is the one pbd.h uses."""
import os
import re

from test_exports import BUILD, SOURCE, exported, run

MAN = os.path.join(SOURCE, "man")


def pages():
    out = {}
    for name in sorted(os.listdir(MAN)):
        if name.endswith(".3"):
            with open(os.path.join(MAN, name)) as f:
                out[name[:-2]] = f.read()
    return out


def main():
    syms = exported(os.path.join(BUILD, "client", "libpbd.so"))
    with open(os.path.join(MAN, "meson.build")) as f:
        build = f.read()
    links = dict()
    m = re.search(r"pbd_man_links = \{(.*?)\n\}", build, re.S)
    assert m, "no pbd_man_links in man/meson.build"
    for page, names in re.findall(r"'(\w+)' : \[(.*?)\]", m.group(1), re.S):
        for n in re.findall(r"'(\w+)'", names):
            links[n] = page
    ps = pages()
    bad = []
    for s in sorted(syms):
        page = s if s in ps else links.get(s)
        if page not in ps:
            bad.append("%s: no page and no link page" % s)
            continue
        text = ps[page]
        name = text.split(".Sh LIBRARY")[0]
        synopsis = text.split(".Sh SYNOPSIS")[1].split(".Sh ")[0]
        if not re.search(r"^\.Nm %s\b" % s, name, re.M):
            bad.append("%s: not in %s(3)'s NAME" % (s, page))
        if not re.search(r"^\.Fn %s\b" % s, synopsis, re.M):
            bad.append("%s: not in %s(3)'s SYNOPSIS" % (s, page))
        print("%-20s %s(3)" % (s, page))
    with open(os.path.join(SOURCE, "include", "pbd.h")) as f:
        hdr = f.read()
    mac = re.search(r"#if defined\(__APPLE__\)\n#define PBD_DEFAULT_SOCKET "
                    r"\"([^\"]+)\"\n#else\n#define PBD_DEFAULT_SOCKET "
                    r"\"([^\"]+)\"", hdr)
    assert mac, "PBD_DEFAULT_SOCKET not found in pbd.h"
    for page, text in ps.items():
        for path in re.findall(r"/(?:var/)?run/preemptd[\w./]*\.sock", text):
            if path not in mac.groups():
                bad.append("%s(3) names socket %s; pbd.h uses %s" % (
                    page, path, " or ".join(mac.groups())))
    assert not bad, "\n  ".join(bad)
    print("ok: %d functions, each with a page" % len(syms))


if __name__ == "__main__":
    run("every exported function has a man page; pages name pbd.h's socket",
        main)

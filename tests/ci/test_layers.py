#!/usr/bin/env python3
"""The layers of daemon/ (issue 23, docs/design.md "Layers of daemon/"):
tools/layers.py passes on the tree, and fails on a copy of daemon/ with a
call that goes up (capture.c naming reads.c), one that goes sideways
(listener.c naming status.c) and a file it has no layer for."""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cichecks import SOURCE, check, finish  # noqa: E402

TOOL = os.path.join(SOURCE, "tools", "layers.py")


def run(root):
    r = subprocess.run([sys.executable, TOOL, root], capture_output=True,
                       text=True)
    return r.returncode, r.stdout + r.stderr


rc, out = run(SOURCE)
check("tools/layers.py: every call in daemon/ goes down", rc == 0, out)


def mutated(name, append):
    """rc and output of layers.py on a copy of daemon/ with code appended
    to daemon/NAME (created when absent)."""
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(os.path.join(SOURCE, "daemon"),
                        os.path.join(tmp, "daemon"))
        with open(os.path.join(tmp, "daemon", name), "a") as f:
            f.write(append)
        return run(tmp)


rc, out = mutated("capture.c", "\nstatic size_t up(struct server *srv)\n"
                  "{\n    return reads_egd_stock(srv);\n}\n")
check("a call up fails (capture.c -> reads.c)",
      rc == 1 and "capture.c calls reads.c, a layer above it" in out, out)
rc, out = mutated("listener.c", "\nstatic int side(struct server *srv)\n"
                  "{\n    char m[8];\n"
                  "    return status_health(srv, m, sizeof(m));\n}\n")
check("a call within a layer fails (listener.c -> status.c)",
      rc == 1 and "listener.c calls status.c, its own layer" in out, out)
rc, out = mutated("stray.c", "int stray_fn(void)\n{\n    return 0;\n}\n")
check("a file with no layer fails", rc == 2 and "stray.c" in out, out)
finish()

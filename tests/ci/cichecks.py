"""What tests/ci's repository checks share: the source root and one line
per named check, ending in the exit status."""
import os
import sys

SOURCE = os.environ.get("PBD_SOURCE_ROOT",
                        os.path.join(os.path.dirname(__file__), "..", ".."))
_failed = [0]


def check(name, cond, detail=""):
    print("%s %s%s" % ("ok  " if cond else "FAIL", name,
                       "" if cond else ": " + detail), flush=True)
    _failed[0] += not cond


def finish():
    sys.exit(1 if _failed[0] else 0)

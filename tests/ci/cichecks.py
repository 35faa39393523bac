"""What tests/ci's repository checks share: the source root, and check()
and finish() of one runner (tests/integration/checks.py): one TAP line per
named check, ending in the exit status."""
import os

from checks import Checks

SOURCE = os.environ.get("PBD_SOURCE_ROOT",
                        os.path.join(os.path.dirname(__file__), "..", ".."))
_t = Checks()
check = _t.ok          # check(name, cond, detail="")
finish = _t.finish

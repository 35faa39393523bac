"""preemptctl assess -v --file on every tests/data/*.bin prints, byte for
byte, what it printed before the suffix array came from libdivsufsort
(issue 17): tests/data/NAME.preemptctl-assess.txt is that output, captured
with the main-branch binary of commit cb75528 (hand-written SA-IS). Every
figure of all eleven estimators, literal and bitstring, and the
predictors' N, C, r, P_global' counts are in it. No daemon is needed.

A new .bin without its pinned output fails: pin it when adding it."""
import difflib
import os

from ctltest import SRC, ctl
from checks import Checks

DATA = os.path.join(SRC, "tests", "data")
SUFFIX = ".preemptctl-assess.txt"


def bins():
    return sorted(f for f in os.listdir(DATA) if f.endswith(".bin"))


def test_every_file_pinned():
    names = bins()
    assert len(names) >= 3, names
    pinned = sorted(f[:-len(SUFFIX)] + ".bin"
                    for f in os.listdir(DATA) if f.endswith(SUFFIX))
    assert names == pinned, ("data files and pinned outputs differ",
                             names, pinned)


def check_one(name):
    path = os.path.join(DATA, name)
    r = ctl(None, "assess", "-v", "--file", path, timeout=300, check=0)
    # The pins were captured from tests/data with the bare name.
    got = r.stdout.replace(" from " + path + "\n", " from " + name + "\n", 1)
    with open(os.path.join(DATA, name[:-4] + SUFFIX)) as f:
        want = f.read()
    if got != want:
        diff = "".join(difflib.unified_diff(
            want.splitlines(True), got.splitlines(True),
            "pinned", "now"))
        raise AssertionError("%s: output changed\n%s" % (name, diff))
    assert "t-Tuple" in want and "Longest Repeated Substring" in want


def main():
    t = Checks()
    t.run(test_every_file_pinned)
    for name in bins():
        fn = lambda n=name: check_one(n)  # noqa: E731
        fn.__name__ = "assess_" + name[:-4].replace("-", "_")
        t.run(fn)
    t.finish()


if __name__ == "__main__":
    main()

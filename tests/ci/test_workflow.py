#!/usr/bin/env python3
"""The hosted-CI workflow (issue 22, item 11), checked offline since it has
never run: yamllint (strict) finds nothing, and the file says what it must:
a Linux job and a macOS job on Apple silicon, each running the README's test
command with CI=true. Linux only: yamllint is in DEB_TEST, and the file is
the same on every platform, so a Mac run adds nothing."""
import os
import platform
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cichecks import SOURCE, check, finish  # noqa: E402

WORKFLOW = os.path.join(SOURCE, ".github", "workflows", "ci.yml")


def jobs(text):
    """{job name: its text}, for the jobs under the top-level 'jobs:'."""
    body = text.split("\njobs:\n", 1)[1]
    parts = re.split(r"^  ([A-Za-z0-9_-]+):\n", body, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


def readme_test_command():
    with open(os.path.join(SOURCE, "README.md")) as f:
        m = re.search(r"^(\./setup\.sh test)\b", f.read(), re.M)
    return m.group(1) if m else None


if platform.system() != "Linux":
    check("checked on Linux; nothing here differs on %s"
          % platform.system(), True)
    finish()
if not shutil.which("yamllint"):
    # Not a skip: ./setup.sh test installs yamllint, so its absence is a
    # broken setup, under CI or not.
    check("yamllint is installed (DEB_TEST)", False, "not found")
    finish()
p = subprocess.run(["yamllint", "-s", WORKFLOW], capture_output=True,
                   text=True, timeout=60)
check("yamllint -s passes the workflow", p.returncode == 0,
      p.stdout + p.stderr)
with open(WORKFLOW) as f:
    wf = f.read()
cmd = readme_test_command()
check("README names its test command", cmd == "./setup.sh test", str(cmd))
j = jobs(wf)
check("a linux and a macos job", set(j) == {"linux", "macos"}, str(list(j)))
mac = j.get("macos", "")
check("macOS on Apple silicon (macos-14 or later)",
      re.search(r"^    runs-on: macos-(1[4-9]|[2-9][0-9])$", mac, re.M),
      mac[:200])
lin = j.get("linux", "")
check("Linux in Debian 12",
      re.search(r"^    runs-on: ubuntu-", lin, re.M) and
      re.search(r"^      image: debian:12$", lin, re.M), lin[:300])
for name, body in sorted(j.items()):
    check("%s: runs the README's test command with CI=true" % name,
          re.search(r"^        run: %s$" % re.escape(cmd or "?"), body,
                    re.M) and 'CI: "true"' in body, body[-300:])
    check("%s: checks out the repository" % name,
          "uses: actions/checkout@v4" in body)
check("the workflow says it has not run yet", "has not run yet" in wf)
finish()

"""run_status.py FILE CMD...: runs CMD, then writes its exit status to FILE.

The tmux tests read a program's exit status from here: tmux 3.3a does not
always fill in #{pane_dead_status} for a dead pane. A ^C typed into the pane
reaches both this process and CMD; it is CMD's to handle, so it is ignored
here once CMD runs."""
import os
import signal
import subprocess
import sys

child = subprocess.Popen(sys.argv[2:])
signal.signal(signal.SIGINT, signal.SIG_IGN)
rc = child.wait()
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(rc))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])

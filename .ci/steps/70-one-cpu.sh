#!/bin/sh
# 70-one-cpu.sh - the 'load' suite (see 60-stress.sh) once more with the
# whole test run, and so every daemon it starts, confined to CPU 0
# (taskset -c 0): what a 1-vCPU machine looks like. Two tests at a time all
# the same: harsher than one, and the long tests (the model, the client
# deadlines) mostly wait on the clock. Uses the plain build (default
# build/).
#
#   sh .ci/steps/70-one-cpu.sh
#   PBD_BUILD=/tmp/mybuild sh .ci/steps/70-one-cpu.sh
set -eu
. "$(dirname "$0")/../lib.sh"
cd "$(dirname "$0")/../.."
build=${PBD_BUILD:-build}
[ -x "$build/daemon/preemptd" ] || { echo "70-one-cpu: build $build first" >&2; exit 2; }
command -v taskset >/dev/null ||
    skip "70-one-cpu: taskset (util-linux) is not installed"
t0=$(date +%s)

# The confinement holds for what the run starts, the daemons included.
taskset -c 0 sh -c 'grep -q "^Cpus_allowed_list:[[:space:]]*0$" /proc/self/status' ||
    { echo "70-one-cpu: taskset -c 0 did not confine a child" >&2; exit 1; }
echo "70-one-cpu: the load suite on CPU 0 only"
taskset -c 0 meson test -C "$build" --suite load --print-errorlogs \
    --num-processes 2 --timeout-multiplier 3
meson_no_skips "$build"
echo "70-one-cpu: the load suite passed on one CPU in $(($(date +%s) - t0)) s"

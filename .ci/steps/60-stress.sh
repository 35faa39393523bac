#!/bin/sh
# 60-stress.sh - the 'load' suite once more with every CPU kept busy by a
# load generator (stress-ng --cpu 0: one worker per online CPU), so the
# daemon, its sampler and the tests all compete for CPU time. 'load' is every
# test whose outcome can depend on CPU contention: the real-source ones,
# the sampler's hand-offs, deadlines, start-up races, clients under load
# (tests/meson.build says which); the others do not change under load and
# ran in the plain and sanitizer builds. Uses the plain build (default
# build/, as ./setup.sh test leaves it).
#
#   sh .ci/steps/60-stress.sh
#   PBD_BUILD=/tmp/mybuild sh .ci/steps/60-stress.sh
set -eu
. "$(dirname "$0")/../lib.sh"
cd "$(dirname "$0")/../.."
build=${PBD_BUILD:-build}
[ -x "$build/daemon/preemptd" ] || { echo "60-stress: build $build first" >&2; exit 2; }
command -v stress-ng >/dev/null ||
    skip "60-stress: stress-ng is not installed (./setup.sh test installs it)"
t0=$(date +%s)

# --timeout bounds a generator this script failed to stop.
stress-ng --cpu 0 --timeout 1800s --quiet &
load=$!
trap 'kill "$load" 2>/dev/null || true; wait "$load" 2>/dev/null || true' EXIT
trap 'exit 130' INT TERM HUP
# Under way before the tests start: its workers use (nearly) a CPU each.
sleep 2
kill -0 "$load" 2>/dev/null || { echo "60-stress: stress-ng did not start" >&2; exit 1; }
echo "60-stress: stress-ng --cpu 0 (pid $load) on $(getconf _NPROCESSORS_ONLN) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg)"

jobs=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
meson test -C "$build" --suite load --print-errorlogs \
    --num-processes "$jobs" --timeout-multiplier 3
meson_no_skips "$build"
echo "60-stress: the load suite passed under stress-ng in $(($(date +%s) - t0)) s"

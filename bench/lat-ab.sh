#!/bin/sh
# lat-ab.sh - one client's 32-byte drbg latency against several versions of
# the daemon, interleaved, with the two-process ping-pong floor measured in
# each round (issue 21: "no worse than e21ac42, measured in the same run").
#   sh bench/lat-ab.sh ROUNDS RING NAME=SRCDIR:BUILDDIR[:ARG,ARG...] ...
# SRCDIR is a checkout (its include/), BUILDDIR its build, which must hold
# daemon/preemptd and client/libpbd.a; the client, bench/lat-ab.c, is built
# against each version's own libpbd, since the wire protocol changes. Each
# daemon is started alone with --ring-size RING, given 4 s, and measured
# over 20000 reads. RING decides the sampler's state while measured: a ring
# that fills in 4 s (4096) lets the sampler sleep, a large one (1048576)
# keeps it sampling; on a VM that is the difference between a vCPU that
# halts between requests and one that does not (docs/benchmarks.md).
# Prints, per round, the load average, the floor with no daemon running,
# and "ROUND NAME p50 X p99 Y floor-beside p50 X p99 Y" (microseconds):
# the version's latency, then the floor measured while that daemon still
# runs, so both see the same vCPU states.
set -eu
rounds=$1 ring=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for spec in "$@"; do
    name=${spec%%=*} rest=${spec#*=}
    src=${rest%%:*} rest=${rest#*:}
    build=${rest%%:*}
    # shellcheck disable=SC2046
    ${CC:-cc} -O2 -I"$src/include" "$here/lat-ab.c" -L"$build/client" \
        -l:libpbd.a $(pkg-config --libs libsodium) -o "$tmp/lat-$name"
done
cp "$tmp/lat-${1%%=*}" "$tmp/floor" # --pingpong does not touch libpbd
r=1
while [ "$r" -le "$rounds" ]; do
    echo "round $r: load $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "$r floor $("$tmp/floor" --pingpong 20000)"
    for spec in "$@"; do
        name=${spec%%=*} rest=${spec#*=}
        rest=${rest#*:}
        build=${rest%%:*} args=
        case $rest in *:*) args=$(echo "${rest#*:}" | tr ',' ' ') ;; esac
        d=$(mktemp -d)
        # shellcheck disable=SC2086
        "$build/daemon/preemptd" --foreground --socket "$d/s" \
            --ring-size "$ring" $args >"$d/log" 2>&1 &
        pid=$!
        until [ -S "$d/s" ]; do sleep 0.05; done
        sleep 4
        echo "$r $name $("$tmp/lat-$name" "$d/s" 20000)" \
            "floor-beside $("$tmp/floor" --pingpong 20000)"
        kill "$pid"
        wait "$pid" || true
        rm -rf "$d"
    done
    r=$((r + 1))
done

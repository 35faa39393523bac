#!/bin/sh
# drbg-events.sh - issue 25's before/after: pbd-bench's drbg latency and
# bulk figures against three daemons, interleaved, each started alone:
# BEFORE (a build without fresh OS bytes), AFTER with the default
# --drbg-os-mix request, and AFTER with --drbg-os-mix events.
#   sh bench/drbg-events.sh BEFORE AFTER PBD_BENCH OUTDIR [ROUNDS]
# Writes OUTDIR/<variant>-<round>.{txt,json} and prints the load average
# before each run (docs/design.md has one machine's figures).
set -eu
before=$1 after=$2 bench=$3 out=$4 rounds=${5:-3}
mkdir -p "$out"
r=1
while [ "$r" -le "$rounds" ]; do
    for v in before after-request after-events; do
        d=$(mktemp -d)
        case $v in
        before) set -- "$before" ;;
        after-request) set -- "$after" ;;
        after-events) set -- "$after" --drbg-os-mix events ;;
        esac
        "$@" --foreground --socket "$d/s" --ring-size 16777216 \
            --log-level info >"$d/log" 2>&1 &
        pid=$!
        sleep 1
        echo "round $r $v: load $(cut -d' ' -f1-3 /proc/loadavg)"
        "$bench" --socket "$d/s" --quick --max-clients 10 --bulk-s 2 \
            --json "$out/$v-$r.json" >"$out/$v-$r.txt" 2>&1 ||
            echo "  pbd-bench failed: $out/$v-$r.txt"
        kill "$pid"
        wait "$pid" || true
        rm -rf "$d"
    done
    r=$((r + 1))
done

#!/bin/sh
# Fuzz the four wire parsers with libFuzzer (clang, ASan + UBSan):
#   proto   proto_parse_request      (daemon: framed binary requests)
#   reply   proto_decode_hdr + proto_check_reply   (libpbd: reply headers)
#   textcmd textcmd_find_line + textcmd_parse      (daemon: text lines)
#   egd     egd_parse                (daemon: EGD commands)
# Each harness also asserts the parser's contract (see fuzz/*.c).
#
#   sh .ci/steps/30-fuzz.sh            30 s per target, as many targets at
#                                      a time as CPUs: ~1 min on 2 CPUs
#                                      (CI's smoke run: the whole CI must
#                                      stay under 15 min; the long runs are
#                                      by hand, below)
#   FUZZ_TIME=3600 sh .ci/steps/30-fuzz.sh      the long run
#   FUZZ_TARGETS="proto egd" FUZZ_BUILD=/tmp/f sh .ci/steps/30-fuzz.sh
#   FUZZ_JOBS=1 sh .ci/steps/30-fuzz.sh         one target at a time
# Each libFuzzer run is one process on one CPU, so side by side each
# target still gets its full FUZZ_TIME of a CPU (the step is alone then).
# Fails (non-zero) on any crash, leak, overread or broken invariant; the
# reproducer is left as $FUZZ_BUILD/crash-<target>-*.
set -eu
cd "$(dirname "$0")/../.."
src=$(pwd)
out=${FUZZ_BUILD:-$src/build-fuzz}
secs=${FUZZ_TIME:-30}
targets=${FUZZ_TARGETS:-proto reply textcmd egd}
par=${FUZZ_JOBS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)}
cc=${FUZZ_CC:-clang}
mkdir -p "$out"

flags="-std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
  -Wall -Wextra -Wshadow -Wmissing-prototypes -Wstrict-prototypes
  -Wformat=2 -Wvla -Werror -Iinclude -Icommon -Idaemon"

for t in $targets; do
    case $t in
    proto|reply) parsers="common/proto.c" ;;
    textcmd) parsers="daemon/textcmd.c" ;;
    egd) parsers="daemon/egd.c" ;;
    *) echo "30-fuzz: unknown target $t" >&2; exit 2 ;;
    esac
    # shellcheck disable=SC2086
    $cc $flags -o "$out/fuzz-$t" "fuzz/fuzz-$t.c" $parsers
done

# One target: its exit status goes to $out/fuzz-$t.status.
fuzz_one() {
    mkdir -p "$out/corpus-$1"
    # New inputs go to the build dir; the seeds in fuzz/corpus stay as is.
    st=0
    ASAN_OPTIONS=detect_leaks=1:quarantine_size_mb=16 UBSAN_OPTIONS=print_stacktrace=1 \
        "$out/fuzz-$1" -max_total_time="$secs" -timeout=10 -rss_limit_mb=1024 \
        -print_final_stats=1 -artifact_prefix="$out/crash-$1-" \
        "$out/corpus-$1" "fuzz/corpus/$1" >"$out/fuzz-$1.log" 2>&1 || st=$?
    echo "$st" >"$out/fuzz-$1.status"
}

n=0
for t in $targets; do
    echo "30-fuzz: $t for ${secs}s"
    rm -f "$out/fuzz-$t.status"
    fuzz_one "$t" &
    n=$((n + 1))
    # $par at a time: wait for this batch before starting the next.
    [ $((n % par)) -ne 0 ] || wait
done
wait

failed=""
for t in $targets; do
    if [ "$(cat "$out/fuzz-$t.status" 2>/dev/null)" != 0 ]; then
        tail -40 "$out/fuzz-$t.log"
        failed="$failed $t"
    else
        grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb)' \
            "$out/fuzz-$t.log" | sed "s/^/30-fuzz: $t: /"
    fi
done
if [ -n "$failed" ]; then
    echo "30-fuzz: FAILED:$failed (reproducers in $out/crash-*)" >&2
    exit 1
fi
echo "30-fuzz: no crash in $targets (${secs}s each)"

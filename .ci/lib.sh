# Sourced by the .ci/steps/ scripts and setup.sh: the rule for what cannot
# run. Under CI (CI set, and not "false" or "0", as CI=true in .ci/run)
# nothing may be skipped: CI must never be green without every step and test
# having run. The Python tests follow the same rule through harness.skip().
#   . "$(dirname "$0")/../lib.sh"

in_ci() {
    case "${CI:-}" in
    "" | false | 0) return 1 ;;
    esac
    return 0
}

# skip WHY...: says why this step cannot run here, then ends the step: a
# skip (exit 0) outside CI, a failure (exit 1) under CI.
skip() {
    printf '\n*** SKIPPED: %s ***\n\n' "$*"
    in_ci || exit 0
    printf '*** CI=%s: a skipped step fails the run ***\n' "$CI" >&2
    exit 1
}

# meson_no_skips BUILD: under CI, fails (exit 1) if the last `meson test` in
# BUILD counted a test as skipped (exit status 77), and names it.
meson_no_skips() {
    in_ci || return 0
    skipped=$(grep '"result": "SKIP"' "$1/meson-logs/testlog.json" |
              sed -n 's/^{"name": "\([^"]*\)".*/\1/p')
    [ -z "$skipped" ] && return 0
    printf '*** CI=%s: skipped in %s, which fails the run: ***\n%s\n' \
        "$CI" "$1" "$skipped" >&2
    exit 1
}

# apt_ensure TAG PACKAGE...: installs those of the Debian packages that are
# missing (idempotent; waits for apt's lock rather than failing on it) and
# says which, prefixed [TAG]. Root, or sudo.
apt_ensure() {
    tag=$1; shift
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    missing=""
    for p in "$@"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
            grep -q '^install ok installed' || missing="$missing $p"
    done
    if [ -z "$missing" ]; then
        printf '[%s] packages present: %s\n' "$tag" "$*"
        return 0
    fi
    printf '[%s] installing:%s\n' "$tag" "$missing"
    $sudo apt-get -o DPkg::Lock::Timeout=300 update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=300 \
        install -y -qq --no-install-recommends $missing
}

# Sourced by the .ci/steps/ scripts: the rule for a step that cannot run.
#   . "$(dirname "$0")/../lib.sh"
#
# skip WHY...: says why this step cannot run here, then ends the step.
# Outside CI that is a skip (exit 0). Under CI (CI set, and not "false" or
# "0", as CI=true in .ci/run) it is a failure (exit 1): CI must never be
# green without every step having run. The Python tests follow the same rule
# through harness.skip().
skip() {
    printf '\n*** SKIPPED: %s ***\n\n' "$*"
    case "${CI:-}" in
    "" | false | 0) exit 0 ;;
    esac
    printf '*** CI=%s: a skipped step fails the run ***\n' "$CI" >&2
    exit 1
}

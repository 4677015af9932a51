#!/usr/bin/env bash
# Runs dirbridge's tests: unit tests (src/**/*.test.ts) and integration tests (test/**/*.test.ts,
# one file at a time because the Samba DC uses fixed ports). With arguments, runs just those files.
# As root it first installs missing Debian packages (scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
shopt -s globstar nullglob

if [[ $(id -u) == 0 ]]; then
  bash scripts/install-deps.sh
else
  bash scripts/install-deps.sh --check || echo "test.sh: some integration tests may be skipped or fail" >&2
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0

# run_node_tests CONCURRENCY FILE...: runs one node test-runner invocation, keeps its output for the summary.
run_node_tests() {
  local concurrency=$1
  shift
  local rc=0
  node --import tsx --test --test-concurrency="$concurrency" --test-timeout=600000 "$@" 2>&1 | tee -a "$log" || rc=${PIPESTATUS[0]}
  if (( rc != 0 )); then status=$rc; fi
}

if (( $# > 0 )); then
  run_node_tests 1 "$@"
else
  unit=(src/**/*.test.ts)
  integration=(test/**/*.test.ts)
  if (( ${#unit[@]} + ${#integration[@]} == 0 )); then
    echo "test.sh: no test files found under src/ or test/" >&2
    exit 1
  fi
  if (( ${#unit[@]} > 0 )); then
    echo "== unit tests: ${#unit[@]} files"
    run_node_tests 2 "${unit[@]}"
  fi
  if (( ${#integration[@]} > 0 )); then
    echo "== integration tests: ${#integration[@]} files"
    run_node_tests 1 "${integration[@]}"
  fi
fi

# One closing line over all runs (TAP "# pass N" or spec "ℹ pass N").
sum() { grep -E "^(# |ℹ )$1 [0-9]+$" "$log" | awk '{ n += $3 } END { print n + 0 }'; }
passed=$(sum pass)
failed=$(sum fail)
if (( passed + failed == 0 )); then
  echo "test.sh: the test runner executed no test" >&2
  status=1
fi
echo "tests: ${passed} passed, ${failed} failed"
exit "$status"

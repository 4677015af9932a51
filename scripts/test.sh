#!/usr/bin/env bash
# Runs dirbridge's tests: unit tests (src/**/*.test.ts) and integration tests (test/**/*.test.ts),
# each file in its own node runner, TEST_JOBS files at a time (default 2; see run_all). With
# arguments, runs just those files, one at a time, output streamed.
# As root it first installs missing Debian packages (scripts/install-deps.sh).
# Ends with "tests: N passed, M failed" and exits non-zero if any test failed, was cancelled
# (a file over the 600 s timeout) or a runner crashed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
shopt -s globstar nullglob

if [[ $(id -u) == 0 ]]; then
  bash scripts/install-deps.sh
else
  bash scripts/install-deps.sh --check || echo "test.sh: some integration tests may be skipped or fail" >&2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
log=$work/all.log
status=0
failed_files=()
# A whole test file gets 600 s (node 20 applies --test-timeout to each file's subprocess as a whole).
node_test=(node --import tsx --test --test-timeout=600000)

# run_node_tests CONCURRENCY FILE...: one node test-runner invocation, output streamed and kept for the summary.
run_node_tests() {
  local concurrency=$1
  shift
  local rc=0
  "${node_test[@]}" --test-concurrency="$concurrency" "$@" 2>&1 | tee -a "$log" || rc=${PIPESTATUS[0]}
  if (( rc != 0 )); then status=$rc; fi
}

# Seconds a file took last time it was measured (scripts/test-durations.tsv), 60 if unknown.
declare -A expected=()
if [[ -f scripts/test-durations.tsv ]]; then
  while IFS=$'\t' read -r seconds file; do
    [[ $seconds =~ ^[0-9]+$ ]] && expected[$file]=$seconds
  done < scripts/test-durations.tsv
fi

# Files that start the Samba DC: it needs ports 389/636, so only one of them runs at a time.
uses_samba() { grep -q 'startSambaDc' "$1"; }

# True while a process outside this run (another checkout's tests) holds the Samba fixture's lock.
samba_lock_held_elsewhere() {
  local lock=${TMPDIR:-/tmp}/dirbridge-samba.lock owner
  owner=$(grep -oE '"owner":[0-9]+' "$lock" 2>/dev/null | cut -d: -f2) || return 1
  [[ -n $owner ]] && kill -0 "$owner" 2>/dev/null
}

# run_all FILE...: runs each file in its own node runner, TEST_JOBS at a time. Output of a
# file is printed in one block when it ends. Order: whenever no Samba file runs, the longest waiting
# Samba file starts (their serial chain is the critical path, so the lock is never idle while
# another file could use it), otherwise the longest other file (longest first balances the slots).
# A Samba file never waits for the lock inside its runner, where the wait would count against its
# 600 s: the scheduler keeps ours apart and holds Samba files back while another checkout's tests
# hold the lock.
run_all() {
  local jobs=${TEST_JOBS:-2}
  local samba=() others=() file
  while read -r _ file; do
    if uses_samba "$file"; then samba+=("$file"); else others+=("$file"); fi
  done < <(for file in "$@"; do echo "${expected[$file]:-60} $file"; done | sort -k1,1nr -k2)
  echo "== tests: $# files, $jobs at a time (${#samba[@]} use the Samba DC and run one at a time)"

  declare -A running=() started=()
  local samba_pid='' pid rc next timings=$work/timings
  local suite_start=$SECONDS
  while (( ${#samba[@]} + ${#others[@]} + ${#running[@]} > 0 )); do
    while (( ${#running[@]} < jobs )); do
      next=''
      if [[ -z $samba_pid ]] && (( ${#samba[@]} > 0 )) && ! samba_lock_held_elsewhere; then
        next=${samba[0]}
        samba=("${samba[@]:1}")
      elif (( ${#others[@]} > 0 )); then
        next=${others[0]}
        others=("${others[@]:1}")
      else
        break
      fi
      "${node_test[@]}" --test-concurrency=1 "$next" > "$work/${next//\//_}.log" 2>&1 < /dev/null &
      pid=$!
      running[$pid]=$next
      started[$pid]=$SECONDS
      if uses_samba "$next"; then samba_pid=$pid; fi
    done
    # While a free slot waits for another checkout's Samba lock, wake up every 2 s to look again.
    local waiting=("${!running[@]}") ticker=''
    if (( ${#samba[@]} > 0 && ${#running[@]} < jobs )) && [[ -z $samba_pid ]]; then
      sleep 2 &
      ticker=$!
      waiting+=("$ticker")
    fi
    rc=0
    wait -n -p pid "${waiting[@]}" || rc=$?
    if [[ -n $ticker ]]; then
      if [[ $pid == "$ticker" ]]; then continue; fi
      kill "$ticker" 2> /dev/null || true
      wait "$ticker" 2> /dev/null || true
    fi
    file=${running[$pid]}
    unset "running[$pid]"
    if [[ $pid == "$samba_pid" ]]; then samba_pid=''; fi
    local took=$(( SECONDS - started[$pid] ))
    printf '%s\t%s\n' "$took" "$file" >> "$timings"
    echo "== $file: exit $rc, $took s"
    tee -a "$log" < "$work/${file//\//_}.log"
    if (( rc != 0 )); then
      status=$rc
      failed_files+=("$file")
    fi
  done
  echo "== tests took $(( SECONDS - suite_start )) s; per file (seconds, slowest first):"
  sort -k1,1nr "$timings" | tee "$work/durations.tsv"
  if [[ -n ${TEST_DURATIONS_UPDATE:-} ]]; then cp "$work/durations.tsv" scripts/test-durations.tsv; fi
}

if (( $# > 0 )); then
  run_node_tests 1 "$@"
else
  files=(src/**/*.test.ts test/**/*.test.ts)
  if (( ${#files[@]} == 0 )); then
    echo "test.sh: no test files found under src/ or test/" >&2
    exit 1
  fi
  run_all "${files[@]}"
fi

# One closing line over all runs (TAP "# pass N" or spec "ℹ pass N"); a cancelled test (timeout) is a failure.
sum() { grep -E "^(# |ℹ )$1 [0-9]+$" "$log" | awk '{ n += $3 } END { print n + 0 }'; }
passed=$(sum pass)
failed=$(( $(sum fail) + $(sum cancelled) ))
if (( passed + failed == 0 )); then
  echo "test.sh: the test runner executed no test" >&2
  status=1
fi
if (( ${#failed_files[@]} > 0 )); then
  echo "failed files: ${failed_files[*]}"
fi
echo "tests: ${passed} passed, ${failed} failed"
exit "$status"

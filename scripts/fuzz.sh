#!/usr/bin/env bash
# Run each libFuzzer harness of tests/fuzz/ (built by `make fuzz` in BUILD_FUZZ) for FUZZ_SECONDS, one after the
# other, on a copy of its seed corpus so the repository stays clean. Exits 1 when any harness finds a crash, leak,
# sanitizer error or broken invariant, and prints the reproducer; a reproducer replays with
# `<build>/fuzz_<name> <file>`, and belongs in tests/fuzz/corpus/<name>/ once fixed.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$top/build-fuzz}" && pwd)
seconds=${FUZZ_SECONDS:-60}
artifacts="$build/fuzz-artifacts"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$artifacts"
failed=0
for name in task msg router json; do
  cp -r "$top/tests/fuzz/corpus/$name" "$work/$name"
  args=(-max_total_time="$seconds" -timeout=10 -print_final_stats=1
        -artifact_prefix="$artifacts/$name-")
  [ -f "$top/tests/fuzz/$name.dict" ] && args+=(-dict="$top/tests/fuzz/$name.dict")
  log="$artifacts/$name.log"
  echo "fuzz: fuzz_$name for ${seconds}s (log $log)"
  if nice "$build/fuzz_$name" "${args[@]}" "$work/$name" >"$log" 2>&1; then
    # The last status line: executions, coverage (cov: edges, ft: features), corpus size, speed.
    grep -E '^#[0-9]+' "$log" | tail -1 | sed "s/^/fuzz: fuzz_$name /" || true
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec)' "$log" | sed "s/^/fuzz: fuzz_$name /" || true
  else
    failed=1
    grep -E 'ERROR: |SUMMARY: |runtime error|invariant broken' "$log" | head -5 | sed "s/^/fuzz: fuzz_$name /" || true
    repro=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    echo "fuzz: fuzz_$name FAILED; reproducer: ${repro:-none written, see $log}"
    [ -n "$repro" ] && echo "fuzz: replay with: $build/fuzz_$name $repro"
  fi
done
exit $failed

#!/usr/bin/env bash
# Runs every fuzz target for a bounded time and prints one line per target: executions, corpus
# size, crashes. Exits non-zero when any target crashed (the input is left in
# fuzz/artifacts/<target>/; fix the bug, then move the input to fuzz/regressions/<target>/).
#
#   fuzz/run.sh [seconds-per-target]    (default 60)
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`). New corpus
# entries go to a scratch copy, so the committed corpus stays the small seed set.
set -euo pipefail

seconds="${1:-60}"
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

# No AddressSanitizer: the harnesses are safe Rust, and without it builds and runs are faster.
fuzz=(cargo +nightly fuzz)
build_flags=(--sanitizer none)

"${fuzz[@]}" build "${build_flags[@]}" >&2

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
targets=$("${fuzz[@]}" list)

printf '%-16s %12s %8s %8s\n' target executions corpus crashes
failed=0
for target in $targets; do
    corpus="$work/corpus/$target"
    mkdir -p "$corpus" "artifacts/$target"
    cp corpus/"$target"/* "$corpus"/ 2>/dev/null || true
    log="$work/$target.log"
    before=$(find "artifacts/$target" -type f | wc -l)
    status=0
    # -fork-free run: one process, stop at the first crash; `timeout` guards a hung target.
    timeout $((seconds + 120)) "${fuzz[@]}" run "${build_flags[@]}" "$target" "$corpus" -- \
        -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 -timeout=10 \
        >"$log" 2>&1 || status=$?
    after=$(find "artifacts/$target" -type f | wc -l)
    crashes=$((after - before))
    if [ "$status" -ne 0 ] && [ "$crashes" -eq 0 ]; then
        crashes="exit $status"
    fi
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    size=$(find "$corpus" -type f | wc -l)
    printf '%-16s %12s %8s %8s\n' "$target" "${execs:-?}" "$size" "$crashes"
    if [ "$crashes" != 0 ]; then
        failed=1
        grep -m1 -A3 "panicked at" "$log" >&2 || tail -20 "$log" >&2
    fi
done
exit "$failed"

#!/usr/bin/env bash
# Instructions per token-endpoint grant (refresh, client_credentials) on SQLite, counted by
# `valgrind --tool=callgrind` over all of the server's threads (proxy worker, store runtime,
# SQLite's grant thread): deterministic enough to A/B a change on a busy machine, where req/s
# is not. Set-up (sign-ups, argon2 logins, warm-up) is not counted (bench/grant_cost.py).
#
#   bench/grant_cost.sh BIN [BIN...]        # N (2000) grants per mode, C (4) connections
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
N=${N:-2000}
C=${C:-4}
MODES=${MODES:-refresh client_credentials}
work=$(mktemp -d /tmp/gatehouse-grant-cost.XXXX)
sed -e "s|/tmp/gatehouse-bench/oauth.db|$work/oauth.db|" -e 's/18091/18791/g' -e 's/19091/19791/' \
  "$repo/bench/gatehouse-oauth-bench.toml" >"$work/config.toml"
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; true' EXIT

echo "| build | mode | grants (c=$C) | errors | instructions per grant |"
echo "|---|---|---:|---:|---:|"
for bin in "$@"; do
  for mode in $MODES; do
    rm -f "$work"/oauth.db* "$work"/callgrind.out*
    valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out.%p" \
      "$bin" --config "$work/config.toml" >"$work/server.log" 2>&1 &
    pid=$!
    for _ in $(seq 600); do curl -fsS -o /dev/null http://127.0.0.1:19791/healthz 2>/dev/null && break; sleep 0.2; done
    result=$(python3 "$repo/bench/grant_cost.py" http://127.0.0.1:18791 "$mode" "$N" "$C" \
      "callgrind_control --zero $pid" "callgrind_control --dump $pid")
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
    # The dump after --zero (part 1): every thread's instructions since the zero.
    ir=$(awk '/^(summary|totals):/ { print $2; exit }' "$work"/callgrind.out.*.1)
    grants=${result% *} errors=${result#* }
    echo "| $bin | $mode | $grants | $errors | $(awk -v i="$ir" -v g="$grants" 'BEGIN { printf "%.0f", i / g }') |"
  done
done

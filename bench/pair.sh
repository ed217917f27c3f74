#!/usr/bin/env bash
# Paired A/B of two Gatehouse binaries: both run at the same time, each loaded by its own wrk
# for the same seconds, so a neighbour's burst on this shared machine lands on both at once.
# (bench/ab.sh alternates them instead; on a busy machine its rounds of one binary can differ by
# 25 %, more than the changes it is asked to judge.) Both serve the same authenticated route
# (cached opaque token) in front of one nginx, one worker thread each. Per round it takes each
# process's CPU µs per request (user + sys from /proc/PID/stat ÷ requests) and the ratio B / A;
# prints every round and the median of the rounds' ratios.
#
#   bench/pair.sh BIN_A BIN_B
# Env: DURATION (s per round, default 5), ROUNDS (7), CONNECTIONS (per binary, 16), PATH_ (the
#      request path, default /auth/x: authenticated; /x for the public route).
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 BIN_A BIN_B" >&2; exit 2; }
bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$bench_dir/lib.sh"
peers=${PEERS_DIR:-$bench_dir/../../shared/bench/peers}
DURATION=${DURATION:-5} ROUNDS=${ROUNDS:-7} CONNECTIONS=${CONNECTIONS:-16} PATH_=${PATH_:-/auth/x}
clk_tck=$(getconf CLK_TCK)
for tool in wrk nginx curl; do
  command -v "$tool" >/dev/null || { echo "$tool is required (apt-get install -y $tool)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/gatehouse-pair.XXXXXX)
pids=()
cleanup() {
  set +e
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

nginx -c "$peers/upstream-nginx.conf" & pids+=($!)
for _ in $(seq 50); do curl -s -o /dev/null 127.0.0.1:18080/ && break; sleep 0.1; done

# start SIDE BIN PORT ADMIN: its own store and config (bench/gatehouse-bench.toml's, moved to
# other ports), a token issued through the CLI. Sets pid_SIDE and token_SIDE.
start() {
  local side=$1 bin=$2 port=$3 admin=$4 dir="$work/$1"
  mkdir -p "$dir"
  sed -e "s|127.0.0.1:18090|127.0.0.1:$port|g" -e "s|127.0.0.1:19090|127.0.0.1:$admin|" \
    -e "s|/tmp/gatehouse-bench/|$dir/|" "$bench_dir/gatehouse-bench.toml" >"$dir/gatehouse.toml"
  local token
  token=$("$bin" token issue --config "$dir/gatehouse.toml" --user bench-user --name "Bench User" \
    | tail -n1 | tr -d '[:space:]')
  "$bin" --config "$dir/gatehouse.toml" >"$dir/gatehouse.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  for _ in $(seq 100); do curl -s -o /dev/null "127.0.0.1:$port/" && break; sleep 0.1; done
  curl -sf -o /dev/null -H "Authorization: Bearer $token" "127.0.0.1:$port$PATH_" \
    || { echo "$side ($bin) does not answer $PATH_: $(cat "$dir/gatehouse.log")" >&2; exit 1; }
  printf -v "pid_$side" %s "$pid"
  printf -v "token_$side" %s "$token"
}
start A "$1" 18291 19291
start B "$2" 18292 19292

load() { # PORT TOKEN SECONDS: wrk's output
  wrk -t1 -c"$CONNECTIONS" -d"$3s" -H "Authorization: Bearer $2" "http://127.0.0.1:$1$PATH_"
}
load 18291 "$token_A" 1 >/dev/null & w1=$!
load 18292 "$token_B" 1 >/dev/null & w2=$!
wait "$w1" "$w2"

ratios=()
for round in $(seq "$ROUNDS"); do
  a0=$(cpu_ticks "$pid_A") b0=$(cpu_ticks "$pid_B")
  load 18291 "$token_A" "$DURATION" >"$work/a.out" & w1=$!
  load 18292 "$token_B" "$DURATION" >"$work/b.out" & w2=$!
  wait "$w1" "$w2"
  a1=$(cpu_ticks "$pid_A") b1=$(cpu_ticks "$pid_B")
  for side in a b; do
    if grep -q 'Non-2xx' "$work/$side.out"; then echo "$side: non-2xx answers" >&2; exit 1; fi
  done
  na=$(awk '/requests in/ { print $1 }' "$work/a.out")
  nb=$(awk '/requests in/ { print $1 }' "$work/b.out")
  read -r ca cb r < <(awk -v ta=$((a1 - a0)) -v tb=$((b1 - b0)) -v na="$na" -v nb="$nb" -v hz="$clk_tck" \
    'BEGIN { ca = ta / hz * 1e6 / na; cb = tb / hz * 1e6 / nb; printf "%.1f %.1f %.3f\n", ca, cb, cb / ca }')
  echo "round $round: A $na req, $ca µs CPU/req; B $nb req, $cb µs CPU/req; B/A CPU $r"
  ratios+=("$r")
done
median=$(printf '%s\n' "${ratios[@]}" | median)
echo "B/A CPU µs per request, median of $ROUNDS rounds: $median (below 1: B costs less)"

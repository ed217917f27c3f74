#!/usr/bin/env bash
# A/B of two Gatehouse binaries on the proxied hot path, in one run: the same nginx upstream,
# the same config (bench/gatehouse-bench.toml, one worker thread), public and authenticated
# (cached opaque token) routes, rounds alternating A and B so that a noisy neighbour hits both.
# Prints req/s and process CPU µs per request (user + sys from /proc/PID/stat ÷ requests).
#
#   bench/ab.sh BIN_A BIN_B            # e.g. the binary before a change and after it
# Env: DURATION (s per measurement, default 5), ROUNDS (default 4), CONNECTIONS (32).
set -euo pipefail

[ $# -eq 2 ] || { echo "usage: $0 BIN_A BIN_B" >&2; exit 2; }
bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$bench_dir/.." && pwd)
peers=${PEERS_DIR:-$repo/../shared/bench/peers}
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-4}
CONNECTIONS=${CONNECTIONS:-32}
config=$bench_dir/gatehouse-bench.toml
clk_tck=$(getconf CLK_TCK)
for tool in wrk nginx curl; do
  command -v "$tool" >/dev/null || { echo "$tool is required (apt-get install -y $tool)" >&2; exit 1; }
done

up_pid= gh_pid=
cleanup() {
  set +e
  [ -n "$gh_pid" ] && kill "$gh_pid" 2>/dev/null && wait "$gh_pid" 2>/dev/null
  [ -n "$up_pid" ] && kill "$up_pid" 2>/dev/null && wait "$up_pid" 2>/dev/null
}
trap cleanup EXIT

nginx -c "$peers/upstream-nginx.conf" & up_pid=$!
for _ in $(seq 50); do curl -s -o /dev/null 127.0.0.1:18080/ && break; sleep 0.1; done

cpu_ticks() { awk '{ s=$0; sub(/^.*\) /, "", s); split(s, a, " "); print a[12] + a[13] }' "/proc/$1/stat"; }

# start BIN: a fresh store, a token issued through the CLI, the proxy listening.
start() {
  rm -rf /tmp/gatehouse-bench && mkdir -p /tmp/gatehouse-bench
  token=$("$1" token issue --config "$config" --user bench-user --name "Bench User" | tail -n1 | tr -d '[:space:]')
  "$1" --config "$config" >/tmp/gatehouse-ab.log 2>&1 & gh_pid=$!
  for _ in $(seq 100); do curl -s -o /dev/null 127.0.0.1:18090/ && return; sleep 0.1; done
  echo "gatehouse did not start: $(cat /tmp/gatehouse-ab.log)" >&2; exit 1
}
stop() { kill "$gh_pid"; wait "$gh_pid" 2>/dev/null || true; gh_pid=; }

# measure PATH [HEADER]: prints "req/s cpu_us_per_req non2xx".
measure() {
  local path=$1 header=${2:-} out t0 t1
  local args=(-t1 -c"$CONNECTIONS" -d1 --latency)
  [ -n "$header" ] && args+=(-H "$header")
  wrk "${args[@]}" "http://127.0.0.1:18090$path" >/dev/null   # warm the cache and connections
  t0=$(cpu_ticks "$gh_pid")
  args[2]=-d"$DURATION"
  out=$(wrk "${args[@]}" "http://127.0.0.1:18090$path")
  t1=$(cpu_ticks "$gh_pid")
  awk -v ticks=$((t1 - t0)) -v hz="$clk_tck" '
    /requests in/ { n = $1 }
    /Requests\/sec/ { rps = $2 }
    /Non-2xx/ { bad = $NF }
    END { printf "%.0f %.1f %d\n", rps, (n > 0 ? ticks / hz * 1e6 / n : 0), bad + 0 }' <<<"$out"
}

declare -A sum_rps sum_cpu
for round in $(seq "$ROUNDS"); do
  for side in A B; do
    bin=$1; [ "$side" = B ] && bin=$2
    start "$bin"
    for kind in public auth; do
      if [ "$kind" = auth ]; then r=$(measure /auth/x "Authorization: Bearer $token"); else r=$(measure /x); fi
      read -r rps cpu bad <<<"$r"
      [ "$bad" = 0 ] || { echo "$side $kind: $bad non-2xx responses" >&2; exit 1; }
      echo "round $round $side $kind: $rps req/s, $cpu µs CPU/req"
      sum_rps[$side$kind]=$(awk -v a="${sum_rps[$side$kind]:-0}" -v b="$rps" 'BEGIN { print a + b }')
      sum_cpu[$side$kind]=$(awk -v a="${sum_cpu[$side$kind]:-0}" -v b="$cpu" 'BEGIN { print a + b }')
    done
    stop
  done
done

echo
echo "| | A req/s | B req/s | B/A | A CPU µs/req | B CPU µs/req | auth/public A | auth/public B |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for kind in public auth; do
  awk -v ar="${sum_rps[A$kind]}" -v br="${sum_rps[B$kind]}" -v ac="${sum_cpu[A$kind]}" -v bc="${sum_cpu[B$kind]}" \
      -v apr="${sum_rps[Apublic]}" -v bpr="${sum_rps[Bpublic]}" -v n="$ROUNDS" -v k="$kind" 'BEGIN {
    printf "| %s | %.0f | %.0f | %.2f | %.1f | %.1f | %.2f | %.2f |\n", k, ar / n, br / n, br / ar, ac / n, bc / n, ar / apr, br / bpr }'
done

#!/usr/bin/env bash
# A/B of two Gatehouse builds on the token endpoint (bench/token_bench.rs): refresh,
# client_credentials and introspect, on SQLite and (when it answers) PostgreSQL, A and B
# alternating every round, a fresh store per server start. Prints Markdown rows labelled
# A/B, store and round, with the server's CPU time (utime + stime from /proc) per request:
# steadier than req/s on a shared machine. The ratios of one run are what counts.
# With one binary it measures that build alone (rows labelled A): the issue-14 throughput rows.
#
#   bench/token_ab.sh BIN_A [BIN_B]      # ROUNDS (2), DURATION (5), CONCURRENCY (16)
#   TOKEN_BENCH=/path/to/token_bench     # the client, built with
#                                        # `cargo build --release --locked --example token_bench`
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bin_a=$1
bin_b=${2:-}
ROUNDS=${ROUNDS:-2}
DURATION=${DURATION:-5}
CONCURRENCY=${CONCURRENCY:-16}
MODES=${MODES:-refresh client_credentials introspect}
STORES=${STORES:-sqlite postgres}
TOKEN_BENCH=${TOKEN_BENCH:-$repo/target/release/examples/token_bench}
export GATEHOUSE_BENCH_POSTGRES_URL=${GATEHOUSE_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
pg_schema=gatehouse_oauth_bench
mkdir -p /tmp/gatehouse-bench
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; true' EXIT

start() { # BIN STORE
  local config port admin
  if [ "$2" = sqlite ]; then
    config=$repo/bench/gatehouse-oauth-bench.toml port=18091 admin=19091
    rm -f /tmp/gatehouse-bench/oauth.db*
  else
    config=$repo/bench/gatehouse-oauth-bench-pg.toml port=18094 admin=19094
    psql "$GATEHOUSE_BENCH_POSTGRES_URL" -qc "DROP SCHEMA IF EXISTS $pg_schema CASCADE" >/dev/null 2>&1
  fi
  "$1" --config "$config" >/tmp/gatehouse-bench/token-ab.log 2>&1 &
  pid=$!
  for _ in $(seq 200); do curl -fsS -o /dev/null "http://127.0.0.1:$admin/healthz" 2>/dev/null && break; sleep 0.1; done
  curl -fsS -o /dev/null "http://127.0.0.1:$admin/healthz" 2>/dev/null \
    || { echo "token_ab.sh: $1 did not start on $2:" >&2; cat /tmp/gatehouse-bench/token-ab.log >&2; exit 1; }
  base=http://127.0.0.1:$port
}

stores=
for s in $STORES; do
  if [ "$s" = postgres ] && ! psql "$GATEHOUSE_BENCH_POSTGRES_URL" -qc 'SELECT 1' >/dev/null 2>&1; then
    echo "PostgreSQL not reachable: skipped" >&2
    continue
  fi
  stores="$stores $s"
done

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
tick=$(getconf CLK_TCK)

sides="A"; [ -z "$bin_b" ] || sides="A B"
[ -x "$TOKEN_BENCH" ] || { echo "token_ab.sh: no client at $TOKEN_BENCH (cargo build --release --example token_bench)" >&2; exit 1; }
echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

echo "| build | store | round | mode | req/s | p50 | p99 | errors | server CPU µs/req |"
echo "|---|---|---|---|---|---|---|---|---|"
for round in $(seq "$ROUNDS"); do
  for store in $stores; do
    for side in $sides; do
      bin=$bin_a; [ "$side" = B ] && bin=$bin_b
      start "$bin" "$store"
      for mode in $MODES; do
        before=$(cpu_ticks "$pid")
        row=$(TOKEN_BENCH_SERVER_PID=$pid "$TOKEN_BENCH" "$base" "$mode" "$CONCURRENCY" "$DURATION" \
          2>/tmp/gatehouse-bench/token-bench.err | sed 's/^| token endpoint: //')
        after=$(cpu_ticks "$pid")
        ticks=$((after - before))
        # A client that reports the timed window's ticks leaves its set-up (sign-ups, the
        # refresh chains' first logins) out of the figure.
        window=$(awk '/^window-cpu-ticks / { print $2 }' /tmp/gatehouse-bench/token-bench.err)
        [ -z "$window" ] || ticks=$window
        rate=$(echo "$row" | awk -F'|' '{ gsub(/ /, "", $2); print $2 }')
        cpu=$(awk -v t="$ticks" -v hz="$tick" -v r="$rate" -v d="$DURATION" \
          'BEGIN { if (r > 0) printf "%.0f", t / hz * 1e6 / (r * d); else print "-" }')
        echo "| $side | $store | $round | $row $cpu |"
      done
      kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
    done
  done
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

#!/usr/bin/env bash
# Issue 14 part 4: a flood of random Bearer tokens against a protected route, beside a valid
# token used all along. Prints the store lookups the flood caused (from /metrics), Gatehouse's
# RSS before, after and at its peak (from /proc), and the valid token's cache hit ratio and
# failures, as a Markdown table for bench/results/latest.md.
#
# Usage: bench/forged_flood.sh [GATEHOUSE_BINARY]   (default: target/release/gatehouse)
# Env: FORGED (tokens sent, default 1000000), FLOOD_KIND (mixed | structured | unstructured,
#      default mixed, see bench/forged.lua), ACCEPT_UNSTRUCTURED (tokens.accept_unstructured,
#      default false: with true, unstructured tokens are looked up as before the prefix),
#      CONNECTIONS (flood connections, default 32), THREADS (flood wrk threads, default 2),
#      VALID_CONNECTIONS (default 4), PORT (default 18190; the admin listener is PORT+1000).
set -euo pipefail

bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$bench_dir/.." && pwd)
bin=${1:-target/release/gatehouse}
case "$bin" in /*) ;; *) bin=$PWD/$bin ;; esac
FORGED=${FORGED:-1000000}
FLOOD_KIND=${FLOOD_KIND:-mixed}
ACCEPT_UNSTRUCTURED=${ACCEPT_UNSTRUCTURED:-false}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
VALID_CONNECTIONS=${VALID_CONNECTIONS:-4}
PORT=${PORT:-18190}
ADMIN_PORT=$((PORT + 1000))
work=$(mktemp -d /tmp/gatehouse-forged.XXXXXX)

log() { printf '[forged] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

for tool in wrk curl awk; do
  command -v "$tool" >/dev/null || die "$tool is required"
done
[ -x "$bin" ] || die "$bin not found: pass the Gatehouse binary (e.g. target/release/gatehouse)"
case "$FLOOD_KIND" in mixed | structured | unstructured) ;; *) die "FLOOD_KIND: mixed, structured or unstructured" ;; esac
case "$ACCEPT_UNSTRUCTURED" in true | false) ;; *) die "ACCEPT_UNSTRUCTURED: true or false" ;; esac

gh_pid=
valid_pid=
flood_pid=
cleanup() {
  local rc=$?
  set +e
  [ -n "$flood_pid" ] && kill "$flood_pid" 2>/dev/null && wait "$flood_pid" 2>/dev/null
  [ -n "$valid_pid" ] && kill "$valid_pid" 2>/dev/null && wait "$valid_pid" 2>/dev/null
  if [ -n "$gh_pid" ] && kill -0 "$gh_pid" 2>/dev/null; then
    kill "$gh_pid" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$gh_pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$gh_pid" 2>/dev/null && kill -9 "$gh_pid" 2>/dev/null
    wait "$gh_pid" 2>/dev/null
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A protected route on the built-in echo handler: no upstream to saturate first. The default
# cache size (100,000 entries), so "no growth past the cache bounds" is the shipped bound; the
# longest positive TTL, so the valid token's entry does not expire (one lookup, by design)
# during a flood of more than the default 30 s.
config=$work/gatehouse.toml
cat >"$config" <<EOF
[server]
listen = "127.0.0.1:$PORT"
public_url = "http://127.0.0.1:$PORT"
admin_listen = "127.0.0.1:$ADMIN_PORT"
threads = 1

[log]
level = "warn"
access_log = false

[store]
url = "sqlite://$work/gatehouse.db"

[tokens]
accept_unstructured = $ACCEPT_UNSTRUCTURED

[cache]
ttl = "300s"

[[routes]]
name = "flood"
path_prefix = "/auth"
handler = "echo"
auth = "required"
EOF
"$bin" check-config --config "$config" >&2
# The command line opens the store first: it generates the checksum key the server then reads.
valid=$("$bin" token issue --config "$config" --user bench-valid --ttl 2h)

"$bin" --config "$config" >"$work/gatehouse.log" 2>&1 &
gh_pid=$!
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$ADMIN_PORT/readyz" >/dev/null 2>&1 && break
  kill -0 "$gh_pid" 2>/dev/null || { cat "$work/gatehouse.log" >&2; die "gatehouse exited"; }
  sleep 0.1
done
curl -fs "http://127.0.0.1:$ADMIN_PORT/readyz" >/dev/null || die "gatehouse not ready"
status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $valid" "http://127.0.0.1:$PORT/auth/warm")
[ "$status" = 200 ] || die "the valid token got $status"

metric() { # metric SERIES: its value in the exposition, 0 when absent
  curl -fs "http://127.0.0.1:$ADMIN_PORT/metrics" | awk -v s="$1" '$1 == s { v = $2 } END { print v + 0 }'
}
rss_kib() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$gh_pid/status"; }
snapshot() {
  for s in gatehouse_token_store_lookups_total \
    'gatehouse_token_cache_total{result="hit"}' \
    'gatehouse_token_cache_total{result="miss"}' \
    'gatehouse_token_cache_total{result="negative_hit"}' \
    'gatehouse_auth_decisions_total{result="forged"}' \
    'gatehouse_auth_decisions_total{result="unstructured"}' \
    'gatehouse_auth_decisions_total{result="invalid"}'; do
    metric "$s"
  done
}

read -r -d '' lookups0 hits0 misses0 neg0 forged0 unstr0 invalid0 < <(snapshot; printf '\0') || true
rss0=$(rss_kib VmRSS)
log "flood: $FORGED $FLOOD_KIND tokens over $CONNECTIONS connections, valid token over $VALID_CONNECTIONS"

BENCH_TOKEN=$valid BENCH_STATUS=1 wrk -t1 -c"$VALID_CONNECTIONS" -d3600s -s "$bench_dir/auth.lua" \
  "http://127.0.0.1:$PORT/auth/valid" >"$work/valid.out" 2>&1 &
valid_pid=$!
started=$(date +%s.%N)
per_thread=$(( (FORGED + THREADS - 1) / THREADS ))
FLOOD_KIND=$FLOOD_KIND FLOOD_PER_THREAD=$per_thread wrk -t"$THREADS" -c"$CONNECTIONS" -d3600s \
  -s "$bench_dir/forged.lua" "http://127.0.0.1:$PORT/auth/x" >"$work/flood.out" 2>&1 &
flood_pid=$!
# Each wrk thread stops after its share, but wrk itself waits out -d: watch Gatehouse's
# refusals instead, and end wrk (it prints its summary on SIGINT) once they are all in.
refused_since() {
  local f u i
  f=$(metric 'gatehouse_auth_decisions_total{result="forged"}')
  u=$(metric 'gatehouse_auth_decisions_total{result="unstructured"}')
  i=$(metric 'gatehouse_auth_decisions_total{result="invalid"}')
  echo $((f + u + i - forged0 - unstr0 - invalid0))
}
while kill -0 "$flood_pid" 2>/dev/null && [ "$(refused_since)" -lt $((per_thread * THREADS)) ]; do
  sleep 0.5
done
ended=$(date +%s.%N)
kill -INT "$flood_pid" 2>/dev/null || true
wait "$flood_pid" || true
flood_pid=
kill -INT "$valid_pid"
wait "$valid_pid" || true
valid_pid=

read -r -d '' lookups1 hits1 misses1 neg1 forged1 unstr1 invalid1 < <(snapshot; printf '\0') || true
rss1=$(rss_kib VmRSS)
peak=$(rss_kib VmHWM)

flood_total=$(awk '$1 == "requests_total" { print $2 }' "$work/flood.out")
flood_401=$(awk '$1 == "status" && $2 == 401 { print $3 }' "$work/flood.out")
flood_other=$(awk '$1 == "status" && $2 != 401 { n += $3 } END { print n + 0 }' "$work/flood.out")
valid_total=$(awk '$1 == "requests_total" { print $2 }' "$work/valid.out")
valid_ok=$(awk '$1 == "status" && $2 == 200 { print $3 }' "$work/valid.out")
valid_ok=${valid_ok:-0}
[ -n "$flood_total" ] || { cat "$work/flood.out" >&2; die "no result from the flood"; }
[ -n "$valid_total" ] || { cat "$work/valid.out" >&2; die "no result from the valid-token load"; }

awk -v f="$flood_total" -v f401="${flood_401:-0}" -v fo="$flood_other" \
  -v secs="$(awk -v a="$started" -v b="$ended" 'BEGIN { print b - a }')" \
  -v lk=$((lookups1 - lookups0)) -v fg=$((forged1 - forged0)) -v un=$((unstr1 - unstr0)) \
  -v inv=$((invalid1 - invalid0)) -v ng=$((neg1 - neg0)) \
  -v h=$((hits1 - hits0)) -v m=$((misses1 - misses0)) \
  -v vt="$valid_total" -v vok="$valid_ok" \
  -v r0="$rss0" -v r1="$rss1" -v pk="$peak" \
  -v kind="$FLOOD_KIND" -v acc="$ACCEPT_UNSTRUCTURED" 'BEGIN {
  printf "| flood (%s, accept_unstructured = %s) | value |\n|---|---|\n", kind, acc
  printf "| forged tokens sent (wrk) | %d in %.1f s (%.0f/s) |\n", f, secs, f / secs
  printf "| answered 401 / other | %d / %d |\n", f401, fo
  printf "| store lookups during the flood | %d |\n", lk
  printf "| decisions forged / unstructured / invalid | %d / %d / %d |\n", fg, un, inv
  printf "| negative-cache hits | %d |\n", ng
  printf "| RSS before / after / peak | %.1f / %.1f / %.1f MiB |\n", r0 / 1024, r1 / 1024, pk / 1024
  printf "| valid-token requests (200) | %d (%d) |\n", vt, vok
  # Only the valid token can hit the positive cache; misses may come from any token (unstructured
  # ones are looked up when accepted), so they are shown apart.
  printf "| cache hits (the valid token) / misses (any token) | %d / %d |\n", h, m
  printf "| valid-token cache hit ratio | %s |\n", (acc == "false" || kind == "structured") ? sprintf("%.4f%%", 100 * h / (h + m)) : sprintf("at least %.2f%% (hits / valid requests)", 100 * (h > vt ? 1 : h / vt))
}'

#!/usr/bin/env bash
# Gatehouse benchmark: Gatehouse (public, authenticated, no-token) against the upstream direct,
# HAProxy (passthrough, jwt_verify), nginx (passthrough, auth_request + Go auth service), all on
# loopback, in one run. Writes bench/results/latest.md. See bench/README.md.
#
# Env: DURATION (s, default 10), ROUNDS (default 3), WARMUP (s, default 2), CONNECTIONS (32),
#      SKIP_BUILD=1 (use the existing target/dist/gatehouse), PEERS_DIR (default
#      <repo>/../shared/bench/peers), GATEHOUSE_BIN (default <repo>/target/dist/gatehouse),
#      BENCH_NOTE (free text added to the report header).
set -euo pipefail

bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$bench_dir/.." && pwd)
PEERS_DIR=${PEERS_DIR:-$repo/../shared/bench/peers}
PEERS_DIR=$(cd "$PEERS_DIR" && pwd)
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-2}
CONNECTIONS=${CONNECTIONS:-32}
GATEHOUSE_BIN=${GATEHOUSE_BIN:-$repo/target/dist/gatehouse}
config=$bench_dir/gatehouse-bench.toml
lua=$bench_dir/auth.lua
db_dir=/tmp/gatehouse-bench          # must match store.url in gatehouse-bench.toml
results_dir=$bench_dir/results
out_md=$results_dir/latest.md
work=$(mktemp -d /tmp/gatehouse-bench-run.XXXXXX)
clk_tck=$(getconf CLK_TCK)

log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

for tool in wrk curl python3 awk; do
  command -v "$tool" >/dev/null || [ "$tool" = wrk ] || die "$tool is required"
done

# ---------------------------------------------------------------- cleanup
gh_pid=
oauth_pid=
extra_pids=()
peers_started=0
cleanup() {
  local rc=$?
  set +e
  [ -n "$oauth_pid" ] && kill "$oauth_pid" 2>/dev/null && wait "$oauth_pid" 2>/dev/null
  for p in "${extra_pids[@]+"${extra_pids[@]}"}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  if [ -n "$gh_pid" ] && kill -0 "$gh_pid" 2>/dev/null; then
    kill "$gh_pid" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$gh_pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$gh_pid" 2>/dev/null && kill -9 "$gh_pid" 2>/dev/null
    wait "$gh_pid" 2>/dev/null
  fi
  if [ "$peers_started" = 1 ]; then
    "$PEERS_DIR/run-peers.sh" stop >/dev/null 2>&1
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- 1. build
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  # The shipped build (Cargo.toml's `dist` profile: fat LTO, one codegen unit), as in the Dockerfile.
  log "cargo build --profile dist"
  (cd "$repo" && cargo build --profile dist && cargo build --profile dist --examples)
fi
[ -x "$GATEHOUSE_BIN" ] || die "$GATEHOUSE_BIN not found (build it, or unset SKIP_BUILD)"
"$GATEHOUSE_BIN" check-config --config "$config" >&2

# ---------------------------------------------------------------- 2. peers, Gatehouse, tokens
log "starting peers from $PEERS_DIR"
peers_started=1
# Output to a file, never a pipe: the peers it starts inherit its stdout.
if ! "$PEERS_DIR/run-peers.sh" >"$work/peers.log" 2>&1; then
  cat "$work/peers.log" >&2; die "run-peers.sh failed"
fi
sed 's/^/[peers] /' "$work/peers.log" >&2
command -v wrk >/dev/null || die "wrk is required"

rm -rf "$db_dir"; mkdir -p "$db_dir"
log "starting Gatehouse ($GATEHOUSE_BIN)"
"$GATEHOUSE_BIN" --config "$config" >"$db_dir/gatehouse.log" 2>&1 &
gh_pid=$!
ready=0
for _ in $(seq 100); do
  kill -0 "$gh_pid" 2>/dev/null || { cat "$db_dir/gatehouse.log" >&2; die "Gatehouse exited at start"; }
  if curl -fsS -o /dev/null 127.0.0.1:19090/readyz 2>/dev/null \
     && curl -fsS -o /dev/null 127.0.0.1:18090/ 2>/dev/null; then ready=1; break; fi
  sleep 0.1
done
[ "$ready" = 1 ] || { cat "$db_dir/gatehouse.log" >&2; die "Gatehouse not ready after 10 s"; }

opaque=$("$GATEHOUSE_BIN" token issue --config "$config" --user bench-user --name "Bench User" \
  --scopes "read write" | tail -n1 | tr -d '[:space:]')
[ -n "$opaque" ] || die "token issue printed no token"
jwt=$(python3 "$bench_dir/mint-jwt.py" | tr -d '[:space:]')

# Store backends: the same routes with the cache off (SQLite), and on PostgreSQL with the cache
# on and off, when a database is reachable (GATEHOUSE_BENCH_POSTGRES_URL, else the local one).
if [ -z "${GATEHOUSE_BENCH_POSTGRES_URL:-}" ] && command -v pg_isready >/dev/null \
   && pg_isready -q -h 127.0.0.1 -p 5432; then
  export GATEHOUSE_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test
fi
declare -A backend_pid backend_token
start_backend() { # name config admin_port -> pid and a token of its own store
  local name=$1 cfg=$2 admin=$3 pid
  "$GATEHOUSE_BIN" --config "$cfg" >"$db_dir/gatehouse-$name.log" 2>&1 &
  pid=$!
  extra_pids+=("$pid")
  for _ in $(seq 100); do
    curl -fsS -o /dev/null "127.0.0.1:$admin/healthz" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || { cat "$db_dir/gatehouse-$name.log" >&2; die "$name exited at start"; }
    sleep 0.1
  done
  backend_pid[$name]=$pid
  backend_token[$name]=$("$GATEHOUSE_BIN" token issue --config "$cfg" --user bench-user --name "Bench User" | tail -n1 | tr -d '[:space:]')
}
start_backend sqlite_nocache "$repo/bench/gatehouse-bench-nocache.toml" 19092
pg_up=0
if [ -n "${GATEHOUSE_BENCH_POSTGRES_URL:-}" ]; then
  psql "$GATEHOUSE_BENCH_POSTGRES_URL" -q -c 'DROP SCHEMA IF EXISTS gatehouse_bench CASCADE' >/dev/null 2>&1 || true
  start_backend pg "$repo/bench/gatehouse-bench-pg.toml" 19093
  start_backend pg_nocache "$repo/bench/gatehouse-bench-pg-nocache.toml" 19094
  pg_up=1
else
  log "no PostgreSQL: skipping the PostgreSQL rows"
fi

auth_up=0
if [ -f /tmp/bench-auth.pid ] && kill -0 "$(cat /tmp/bench-auth.pid)" 2>/dev/null; then auth_up=1; fi

# Functional checks before measuring: the identity header must reach the upstream.
expect_body() { # url token expected-body-substring
  local body
  body=$(curl -sS -H "Authorization: Bearer $2" "$1") || die "curl $1 failed"
  case $body in *"$3"*) ;; *) die "$1 answered '$body', expected '$3'";; esac
}
expect_code() { # url expected-code [token]
  local code
  code=$(curl -sS -o /dev/null -w '%{http_code}' ${3:+-H "Authorization: Bearer $3"} "$1")
  [ "$code" = "$2" ] || die "$1 answered $code, expected $2"
}
expect_body "http://127.0.0.1:18090/auth/x" "$opaque" "ok user=bench-user"
expect_code "http://127.0.0.1:18090/auth/x" 401
expect_code "http://127.0.0.1:18090/" 200
expect_body "http://127.0.0.1:18081/" "$jwt" "ok user=user-42"
expect_code "http://127.0.0.1:18081/" 401
[ "$auth_up" = 1 ] && expect_body "http://127.0.0.1:18084/" "$jwt" "ok user=user-42"
log "functional checks passed"

# ---------------------------------------------------------------- CPU accounting
children_of() { # direct children of a pid (nginx workers)
  awk -v p="$1" 'FNR == 1 { s = $0; sub(/^.*\) /, "", s); split(s, a, " ")
    if (a[2] == p) { f = FILENAME; sub(/^\/proc\//, "", f); sub(/\/stat$/, "", f); print f } }' \
    /proc/[0-9]*/stat 2>/dev/null || true
}
pidset() { # name -> pids whose CPU is charged to that proxy
  local p
  case $1 in
    gatehouse) echo "$gh_pid" ;;
    gh_*) echo "${backend_pid[${1#gh_}]}" ;;
    haproxy) cat /tmp/bench-haproxy.pid ;;
    nginx) p=$(cat /tmp/bench-nx.pid); echo "$p"; children_of "$p" ;;
    nginx+auth) p=$(cat /tmp/bench-nx.pid); echo "$p"; children_of "$p"; cat /tmp/bench-auth.pid ;;
    upstream) p=$(cat /tmp/bench-up.pid); echo "$p"; children_of "$p" ;;
    *) ;;
  esac
}
cpu_ticks() { # utime+stime (clock ticks) summed over the given pids
  local total=0 pid t
  for pid in "$@"; do
    # Fields after "(comm) ": state ppid ... utime is the 12th, stime the 13th.
    t=$(awk '{ s=$0; sub(/^.*\) /, "", s); split(s, a, " "); print a[12] + a[13] }' "/proc/$pid/stat") \
      || die "cannot read /proc/$pid/stat"
    total=$((total + t))
  done
  echo "$total"
}

# ---------------------------------------------------------------- 3./4. targets and rounds
# id | label | url | token (none|opaque|jwt) | expect (2xx|non2xx) | cpu pid set
targets=(
  "upstream|Upstream direct (nginx, 18080)|http://127.0.0.1:18080/|none|2xx|upstream"
  "gh_public|Gatehouse public route (18090 /)|http://127.0.0.1:18090/|none|2xx|gatehouse"
  "gh_auth|Gatehouse authenticated, cached opaque token (18090 /auth/x)|http://127.0.0.1:18090/auth/x|opaque|2xx|gatehouse"
  "gh_jwt|Gatehouse authenticated, HS256 JWT (HAProxy's token) (18090 /auth/x)|http://127.0.0.1:18090/auth/x|jwt|2xx|gatehouse"
  "gh_noauth|Gatehouse no token, 401 (18090 /auth/x)|http://127.0.0.1:18090/auth/x|none|non2xx|gatehouse"
  "hap_pass|HAProxy passthrough (18082)|http://127.0.0.1:18082/|none|2xx|haproxy"
  "hap_jwt|HAProxy jwt_verify, Bearer JWT (18081)|http://127.0.0.1:18081/|jwt|2xx|haproxy"
  "nx_pass|nginx passthrough (18083)|http://127.0.0.1:18083/|none|2xx|nginx"
)
targets+=("gh_nocache_sqlite|Gatehouse authenticated, cache off, SQLite (18092 /auth/x)|http://127.0.0.1:18092/auth/x|backend:sqlite_nocache|2xx|gh_sqlite_nocache")
if [ "$pg_up" = 1 ]; then
  targets+=("gh_pg|Gatehouse authenticated, cached, PostgreSQL (18093 /auth/x)|http://127.0.0.1:18093/auth/x|backend:pg|2xx|gh_pg")
  targets+=("gh_nocache_pg|Gatehouse authenticated, cache off, PostgreSQL (18094 /auth/x)|http://127.0.0.1:18094/auth/x|backend:pg_nocache|2xx|gh_pg_nocache")
fi
if [ "$auth_up" = 1 ]; then
  targets+=("nx_authreq|nginx auth_request + Go auth service, Bearer JWT (18084)|http://127.0.0.1:18084/|jwt|2xx|nginx+auth")
else
  log "auth service not running: skipping the nginx auth_request target"
fi

token_for() {
  case $1 in
    opaque) echo "$opaque" ;; jwt) echo "$jwt" ;;
    backend:*) echo "${backend_token[${1#backend:}]}" ;;
    *) echo "" ;;
  esac
}

raw=$work/raw.tsv   # id round rps requests non2xx socket_errors p50_us p99_us cpu_ticks
: >"$raw"
failures=()

log "warm-up (${WARMUP}s per target, statuses counted)"
declare -A warm_status
for t in "${targets[@]}"; do
  IFS='|' read -r id label url tok expect _ <<<"$t"
  wout=$(BENCH_TOKEN=$(token_for "$tok") BENCH_STATUS=1 \
    wrk -t1 -c"$CONNECTIONS" -d"${WARMUP}s" -s "$lua" "$url" 2>&1) || die "wrk failed on $url"
  statuses=$(awk '/^status /{ printf "%s%s:%s", sep, $2, $3; sep=" " }' <<<"$wout")
  warm_status[$id]=$statuses
  bad=$(awk -v e="$expect" '/^status /{ ok = ($2 >= 200 && $2 < 400); if ((e == "2xx" && !ok) || (e == "non2xx" && $2 != 401)) n += $3 } END { print n + 0 }' <<<"$wout")
  [ "$bad" = 0 ] || failures+=("$id warm-up: unexpected statuses ($statuses)")
  log "  $id: $statuses"
done

# Machine-wide CPU over the measured rounds (/proc/stat): steal time shows a noisy host.
cpu_stat() { awk '/^cpu /{ t = 0; for (i = 2; i <= NF; i++) t += $i; print t, $9 }' /proc/stat; }
read -r stat_total0 stat_steal0 < <(cpu_stat)
for round in $(seq "$ROUNDS"); do
  log "round $round/$ROUNDS (${DURATION}s per target)"
  for t in "${targets[@]}"; do
    IFS='|' read -r id label url tok expect cpuset <<<"$t"
    mapfile -t pids < <(pidset "$cpuset")
    before=$(cpu_ticks "${pids[@]}")
    out=$(BENCH_TOKEN=$(token_for "$tok") \
      wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$lua" "$url" 2>&1) || die "wrk failed on $url"
    after=$(cpu_ticks "${pids[@]}")
    printf '%s\n' "$out" >"$work/wrk-$id-$round.txt"
    rps=$(awk '/^Requests\/sec:/{ print $2 }' <<<"$out")
    reqs=$(awk '/^requests_total /{ print $2 }' <<<"$out")
    non2xx=$(awk '/Non-2xx or 3xx responses:/{ print $NF }' <<<"$out"); non2xx=${non2xx:-0}
    sockerr=$(awk '/Socket errors:/{ gsub(/,/, ""); print $4 + $6 + $8 + $10 }' <<<"$out"); sockerr=${sockerr:-0}
    p50=$(awk '/^p50_us /{ print $2 }' <<<"$out")
    p99=$(awk '/^p99_us /{ print $2 }' <<<"$out")
    [ -n "$rps" ] && [ -n "$reqs" ] || { printf '%s\n' "$out" >&2; die "cannot parse wrk output for $id"; }
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$id" "$round" "$rps" "$reqs" "$non2xx" "$sockerr" \
      "$p50" "$p99" "$((after - before))" >>"$raw"
    if [ "$expect" = 2xx ] && [ "$non2xx" != 0 ]; then
      failures+=("$id round $round: $non2xx non-2xx of $reqs responses")
    fi
    if [ "$expect" = non2xx ] && [ "$non2xx" != "$reqs" ]; then
      failures+=("$id round $round: $non2xx non-2xx of $reqs responses (expected all 401)")
    fi
    [ "$sockerr" = 0 ] || failures+=("$id round $round: $sockerr socket errors")
    log "  $id: $rps req/s, p50 ${p50}us, p99 ${p99}us, non-2xx $non2xx/$reqs, cpu $((after - before)) ticks"
  done
done

read -r stat_total1 stat_steal1 < <(cpu_stat)
steal_pct=$(awk -v t=$((stat_total1 - stat_total0)) -v s=$((stat_steal1 - stat_steal0)) 'BEGIN { printf "%.1f", (t > 0 ? 100 * s / t : 0) }')
if ! kill -0 "$gh_pid" 2>/dev/null; then failures+=("Gatehouse exited during the run"); fi
# Gatehouse log (level warn) by message, ANSI colours and timestamps stripped.
gh_log_summary=$work/gatehouse-log-summary.txt
sed -e 's/\x1b\[[0-9;]*m//g' -e 's/^[0-9TZ:.-]* *//' "$db_dir/gatehouse.log" | grep -v '^[[:space:]]*$' \
  | sort | uniq -c | sort -rn >"$gh_log_summary" || true
gh_log_lines=$(awk '{ n += $1 } END { print n + 0 }' "$gh_log_summary")

# ---------------------------------------------------------------- 5. report
mkdir -p "$results_dir"
gh_source="$("$GATEHOUSE_BIN" --version 2>/dev/null || echo gatehouse), binary \`${GATEHOUSE_BIN#"$repo"/}\` built $(date -u -r "$GATEHOUSE_BIN" '+%Y-%m-%d %H:%M UTC')"
case $GATEHOUSE_BIN in
  "$repo"/*)
    rev=$(cd "$repo" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
    dirty=$(cd "$repo" && git status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null | wc -l)
    gh_source="$gh_source from \`$rev\`$( [ "$dirty" = 0 ] || echo ' with uncommitted changes in src/ or Cargo.*')" ;;
esac
labels=$work/labels.tsv; : >"$labels"
for t in "${targets[@]}"; do
  IFS='|' read -r id label url tok expect cpuset <<<"$t"
  printf '%s\t%s\t%s\t%s\n' "$id" "$label" "$expect" "$cpuset" >>"$labels"
done
# Per target: the round with the median req/s (lower median for an even ROUNDS) gives
# req/s, p50, p99 and CPU; every round's req/s is listed too.
summary=$work/summary.tsv
sort -t$'\t' -k1,1 -k3,3g "$raw" | awk -F'\t' -v hz="$clk_tck" '
  { n[$1]++; row[$1, n[$1]] = $0; all[$1] = all[$1] (all[$1] == "" ? "" : ", ") sprintf("%.0f", $3) }
  END {
    for (id in n) {
      split(row[id, int((n[id] + 1) / 2)], r, "\t")
      cpu = (r[4] > 0) ? r[9] * 1e6 / hz / r[4] : 0
      printf "%s\t%s\t%s\t%s\t%.1f\t%s\t%s\t%s\n", id, r[3], r[5] "/" r[4], r[6], cpu, r[7], r[8], all[id]
    }
  }' >"$summary"

get() { awk -F'\t' -v id="$1" -v c="$2" '$1 == id { print $c }' "$summary"; }
fmt_ms() { awk -v us="$1" 'BEGIN { if (us == "") print "-"; else printf "%.2f ms", us / 1000 }'; }
ratio() { awk -v a="$(get "$1" 2)" -v b="$(get "$2" 2)" 'BEGIN { if (a == "" || b == "" || b == 0) print "-"; else printf "%.2f", a / b }'; }
cpu_ratio() { awk -v a="$(get "$1" 5)" -v b="$(get "$2" 5)" 'BEGIN { if (a == "" || b == "" || b == 0) print "-"; else printf "%.2f", a / b }'; }
verdict() { awk -v r="$1" -v t="$2" 'BEGIN { if (r == "-") print "n/a"; else if (r + 0 >= t + 0) print "meets"; else print "**below**" }'; }

r_auth_public=$(ratio gh_auth gh_public)
r_auth_hapjwt=$(ratio gh_auth hap_jwt)
r_public_happass=$(ratio gh_public hap_pass)
r_authreq_hapjwt=$(ratio nx_authreq hap_jwt)
r_auth_authreq=$(ratio gh_auth nx_authreq)

# ---------------------------------------------------------------- token endpoint
# The authorization server on its own instance: logins are bounded by argon2 (m=19 MiB, t=2),
# refresh and client_credentials by the store. One client process, fixed concurrency.
token_rows=$work/token_rows.md
: >"$token_rows"
TOKEN_BENCH=${TOKEN_BENCH:-$repo/target/dist/examples/token_bench}
if [ -x "$TOKEN_BENCH" ]; then
  oauth_config=$repo/bench/gatehouse-oauth-bench.toml
  rm -f /tmp/gatehouse-bench/oauth.db*
  "$GATEHOUSE_BIN" --config "$oauth_config" >"$db_dir/gatehouse-oauth.log" 2>&1 &
  oauth_pid=$!
  for _ in $(seq 100); do curl -fsS -o /dev/null http://127.0.0.1:19091/healthz 2>/dev/null && break; sleep 0.1; done
  for spec in "password 4" "refresh 16" "client_credentials 16"; do
    set -- $spec
    log "token endpoint: $1 (c=$2, ${DURATION}s)"
    "$TOKEN_BENCH" http://127.0.0.1:18091 "$1" "$2" "$DURATION" >>"$token_rows" || log "token bench $1 failed"
  done
  kill "$oauth_pid" 2>/dev/null; wait "$oauth_pid" 2>/dev/null; oauth_pid=
else
  log "token endpoint rows skipped: $TOKEN_BENCH not built (cargo build --profile dist --example token_bench)"
fi
replica_rows=$work/replica_rows.md
: >"$replica_rows"
REPLICA_BENCH=${REPLICA_BENCH:-$repo/target/dist/examples/replica_bench}
if [ "$pg_up" = 1 ] && [ -x "$REPLICA_BENCH" ]; then
  log "revocation propagation between two replicas (${REVOCATIONS:-1000} revocations)"
  "$REPLICA_BENCH" "$GATEHOUSE_BENCH_POSTGRES_URL" "${REVOCATIONS:-1000}" >>"$replica_rows" || log "replica bench failed"
fi

{
  echo "# Gatehouse benchmark: latest run"
  echo
  echo "- Date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "- Machine: \`nproc\` = $(nproc), $(uname -sr), CLK_TCK = $clk_tck; CPU steal during the measured rounds: ${steal_pct}%"
  echo "- Gatehouse: $gh_source, \`threads = 1\` (bench/$(basename "$config"))"
  [ -z "${BENCH_NOTE:-}" ] || echo "- Note: $BENCH_NOTE"
  echo "- Load: \`wrk -t1 -c$CONNECTIONS -d${DURATION}s --latency -s bench/auth.lua\`, ${WARMUP}s warm-up per target, $ROUNDS round(s), targets interleaved within each round"
  echo "- Peers: $PEERS_DIR (nginx 1 worker, HAProxy nbthread 1, Go auth service GOMAXPROCS=${GOMAXPROCS:-1})"
  echo
  echo "| Target | req/s (median) | p50 | p99 | CPU µs/req | non-2xx / requests | req/s, all rounds (sorted) |"
  echo "|---|---:|---:|---:|---:|---:|---|"
  while IFS=$'\t' read -r id label expect cpuset; do
    cpu=$(get "$id" 5)
    case $cpuset in
      gatehouse|haproxy|gh_*) cpu_txt="$cpu" ;;
      nginx) cpu_txt="$cpu (nginx)" ;;
      nginx+auth) cpu_txt="$cpu (nginx + auth svc)" ;;
      upstream) cpu_txt="$cpu (upstream)" ;;
      *) cpu_txt="-" ;;
    esac
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$label" \
      "$(awk -v x="$(get "$id" 2)" 'BEGIN { printf "%.0f", x }')" \
      "$(fmt_ms "$(get "$id" 6)")" "$(fmt_ms "$(get "$id" 7)")" "$cpu_txt" "$(get "$id" 3)" "$(get "$id" 8)"
  done <"$labels"
  echo
  echo "| Ratio (medians) | Value | Target |"
  echo "|---|---:|---|"
  echo "| req/s: Gatehouse auth / Gatehouse public | $r_auth_public | ≥ 0.95: $(verdict "$r_auth_public" 0.95) |"
  echo "| req/s: Gatehouse auth / HAProxy jwt_verify | $r_auth_hapjwt | ≥ 1.00: $(verdict "$r_auth_hapjwt" 1.0) |"
  echo "| req/s: Gatehouse JWT / HAProxy jwt_verify (same token) | $(ratio gh_jwt hap_jwt) | (context: like for like) |"
  echo "| req/s: Gatehouse public / HAProxy passthrough | $r_public_happass | (context) |"
  echo "| CPU µs/req: Gatehouse auth / HAProxy jwt_verify | $(cpu_ratio gh_auth hap_jwt) | (context; less noisy than req/s) |"
  echo "| CPU µs/req: Gatehouse public / HAProxy passthrough | $(cpu_ratio gh_public hap_pass) | (context) |"
  if [ "$auth_up" = 1 ]; then
    echo "| req/s: Gatehouse auth / nginx auth_request | $r_auth_authreq | (context) |"
    echo "| req/s: nginx auth_request / HAProxy jwt_verify | $r_authreq_hapjwt | (context) |"
  fi
  echo "| req/s: Gatehouse cache off / cache on, SQLite | $(ratio gh_nocache_sqlite gh_auth) | (context: what the cache saves) |"
  if [ "$pg_up" = 1 ]; then
    echo "| req/s: Gatehouse cached, PostgreSQL / SQLite | $(ratio gh_pg gh_auth) | ≈ 1: the cache absorbs the backend |"
    echo "| req/s: Gatehouse cache off, PostgreSQL / SQLite | $(ratio gh_nocache_pg gh_nocache_sqlite) | (context) |"
  fi
  if [ -s "$replica_rows" ]; then
    echo
    echo "Replicas (two Gatehouse processes on one PostgreSQL schema, LISTEN/NOTIFY; bench/replica_bench.rs):"
    echo
    echo "| Revocation propagation | p50 | p99 | max |"
    echo "|---|---:|---:|---:|"
    cat "$replica_rows"
  fi
  if [ -s "$token_rows" ]; then
    echo
    echo "Authorization server (bench/gatehouse-oauth-bench.toml, \`threads = 1\`, \`max_concurrent_hashes = 2\`, SQLite; bench/token_bench.rs, ${DURATION}s each):"
    echo
    echo "| Token endpoint | req/s | p50 | p99 | errors |"
    echo "|---|---:|---:|---:|---:|"
    cat "$token_rows"
  fi
  echo
  echo "Ratios are from this one run (all targets measured back to back on the same machine); absolute"
  echo "numbers are machine-dependent and move from run to run, so compare ratios, not req/s across machines."
  echo "CPU µs/req is the proxy process's utime+stime (/proc/PID/stat) over the wrk run divided by the"
  echo "requests wrk counted, for the median round; the wrk client and the upstream are not included"
  echo "(except in the upstream row, which charges the upstream nginx)."
  echo "p50/p99 are from wrk's latency histogram in the median round. The no-token row is expected to be all 401."
  echo
  echo "Warm-up statuses (status:count): $(for t in "${targets[@]}"; do IFS='|' read -r id _ <<<"$t"; printf '%s %s; ' "$id" "${warm_status[$id]}"; done | sed 's/; $//')."
  echo
  if [ "${#failures[@]}" = 0 ]; then
    echo "Checks: all passed (authenticated and passthrough rows 0 non-2xx, no-token row all 401, no socket errors)."
  else
    echo "Checks: **FAILED**"
    for f in "${failures[@]}"; do echo "- $f"; done
  fi
  echo
  echo "Gatehouse log (level warn): $gh_log_lines line(s)$( [ "$gh_log_lines" = 0 ] && echo . || echo ', most frequent (count, message):')"
  if [ "$gh_log_lines" != 0 ]; then
    echo
    echo '```'
    head -n 8 "$gh_log_summary" | cut -c1-400
    echo '```'
  fi
} >"$out_md"

cat "$out_md"
log "wrk outputs and Gatehouse log summary: $work (Gatehouse log: $db_dir/gatehouse.log)"
[ "${#failures[@]}" = 0 ] || { log "checks failed: ${failures[*]}"; exit 1; }

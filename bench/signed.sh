#!/usr/bin/env bash
# Issue 11's benchmark (Gatehouse signs tokens): Gatehouse's own EdDSA JWT access tokens through
# the proxy with the validation cache on (`jwt`) and off (`jwt-nocache`: signature check and
# store lookup on every request), the opaque token beside them for reference (`opaque`,
# `opaque-nocache`), and the signed identity assertion's cost (`assertion`: the same route as
# `opaque` plus `assertion = true`). Two Gatehouses (cache on, cache off), rounds interleaved
# so machine noise falls on every target alike; median req/s, p99 and process CPU per request.
#
#   bench/signed.sh                        # builds --release, 3 rounds of 10 s
#   SKIP_BUILD=1 DURATION=5 ROUNDS=2 bench/signed.sh
#
# Needs wrk and nginx (upstream stand-in). Loopback only; ports 18780 (upstream), 18790/18791
# (Gatehouse), 19790/19791 (admin). Writes bench/results/signed-latest.md.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-32}
BIN=${GATEHOUSE_BIN:-target/release/gatehouse}
work=$(mktemp -d /tmp/gatehouse-signed-bench.XXXX)

[ -n "${SKIP_BUILD:-}" ] || cargo build --locked --release >&2
for tool in wrk nginx curl python3; do
  command -v "$tool" >/dev/null || { echo "signed.sh: $tool is missing" >&2; exit 1; }
done

cat >"$work/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx.err warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:18780;
    location / { default_type text/plain; return 200 "ok user=\$http_x_auth_user_id\n"; }
  }
}
EOF

"$BIN" keys generate --algorithm ed25519 --out "$work/signing.pem"

# $1 = listen port, $2 = admin port, $3 = database, $4 = extra [cache] table.
write_config() {
  cat <<EOF
[server]
listen = "127.0.0.1:$1"
public_url = "http://127.0.0.1:18790"
admin_listen = "127.0.0.1:$2"
threads = 1
shutdown_grace = "1s"

[log]
level = "warn"
access_log = false

[store]
url = "sqlite://$work/$3"

$4

[tokens]
format = "jwt"

[[tokens.signing_keys]]
kid = "bench"
algorithm = "EdDSA"
private_key_file = "$work/signing.pem"
status = "active"

[assertion]

[oauth]

[[clients]]
id = "bench-service"
secret = "bench-service-secret-0123456789"
grant_types = ["client_credentials"]
scopes = ["write"]

[[upstreams]]
name = "app"
addrs = ["127.0.0.1:18780"]

[[routes]]
name = "auth"
path_prefix = "/auth"
upstream = "app"
auth = "required"

[[routes]]
name = "assert"
path_prefix = "/assert"
upstream = "app"
auth = "required"
assertion = true
EOF
}
write_config 18790 19790 cached.db "" >"$work/cached.toml"
write_config 18791 19791 nocache.db '[cache]
ttl = "0s"
negative_ttl = "0s"' >"$work/nocache.toml"

"$BIN" check-config --config "$work/cached.toml" >&2
nginx -c "$work/nginx.conf" -p "$work" &
nginx_pid=$!
"$BIN" --config "$work/cached.toml" >"$work/cached.log" 2>&1 &
cached_pid=$!
"$BIN" --config "$work/nocache.toml" >"$work/nocache.log" 2>&1 &
nocache_pid=$!
trap 'kill $cached_pid $nocache_pid $nginx_pid 2>/dev/null || true; wait 2>/dev/null || true' EXIT
for port in 19790 19791; do
  for _ in $(seq 100); do
    curl -sf -o /dev/null "http://127.0.0.1:$port/healthz" && break
    sleep 0.1
  done
done

own_jwt() { # $1 = port
  curl -sf -u bench-service:bench-service-secret-0123456789 \
    -d grant_type=client_credentials "http://127.0.0.1:$1/oauth/token" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])'
}
declare -A token port pid path
token[jwt]=$(own_jwt 18790)
token[jwt-nocache]=$(own_jwt 18791)
token[opaque]=$("$BIN" token issue --config "$work/cached.toml" --user bench-user --scopes write)
token[opaque-nocache]=$("$BIN" token issue --config "$work/nocache.toml" --user bench-user --scopes write)
token[assertion]=${token[opaque]}
targets="opaque jwt assertion opaque-nocache jwt-nocache"
for t in $targets; do
  case $t in *nocache) port[$t]=18791 pid[$t]=$nocache_pid ;; *) port[$t]=18790 pid[$t]=$cached_pid ;; esac
  path[$t]=/auth/x
done
path[assertion]=/assert/x
for t in $targets; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer ${token[$t]}" \
    "http://127.0.0.1:${port[$t]}${path[$t]}")
  [ "$code" = 200 ] || { echo "signed.sh: $t answered $code" >&2; exit 1; }
done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
declare -A rps p99 cpu
for round in $(seq "$ROUNDS"); do
  for t in $targets; do
    before=$(cpu_ticks "${pid[$t]}")
    out=$(BENCH_TOKEN=${token[$t]} wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency \
      -s bench/auth.lua "http://127.0.0.1:${port[$t]}${path[$t]}")
    after=$(cpu_ticks "${pid[$t]}")
    if grep -q "Non-2xx" <<<"$out"; then
      echo "signed.sh: $t had non-2xx answers:" >&2
      grep "Non-2xx" <<<"$out" >&2
      exit 1
    fi
    n=$(sed -n 's/^requests_total \([0-9]*\)/\1/p' <<<"$out")
    rps[$t]+="$(awk -v n="$n" -v d="$DURATION" 'BEGIN {printf "%.0f", n / d}') "
    p99[$t]+="$(sed -n 's/^p99_us \([0-9]*\)/\1/p' <<<"$out") "
    cpu[$t]+="$(awk -v t=$((after - before)) -v hz="$hz" -v n="$n" 'BEGIN {printf "%.2f", t / hz * 1e6 / n}') "
    echo "round $round $t: $n requests" >&2
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
ratio() { awk -v a="$(median <<<"${rps[$1]}")" -v b="$(median <<<"${rps[$2]}")" 'BEGIN {printf "%.3f", a / b}'; }
out=bench/results/signed-latest.md
{
  echo "# Signed tokens ($(date -u +%F), $(git rev-parse --short HEAD), $ROUNDS rounds × ${DURATION} s, wrk -t1 -c$CONNECTIONS, threads = 1)"
  echo
  echo "| Target | req/s (median) | p99 µs (median) | CPU µs/req (median) | rounds req/s |"
  echo "|---|---:|---:|---:|---|"
  for t in $targets; do
    echo "| $t | $(median <<<"${rps[$t]}") | $(median <<<"${p99[$t]}") | $(median <<<"${cpu[$t]}") | ${rps[$t]}|"
  done
  echo
  echo "jwt / opaque = $(ratio jwt opaque); jwt-nocache / opaque-nocache = $(ratio jwt-nocache opaque-nocache);" \
    "assertion / opaque (auth with / without assertion) = $(ratio assertion opaque)"
} | tee "$out"

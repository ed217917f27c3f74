#!/usr/bin/env bash
# Issue 11's benchmark (Gatehouse signs tokens), one run, rounds interleaved so that machine
# noise falls on every target alike (odd rounds in order, even rounds reversed):
#
#   haproxy      HAProxy `jwt_verify` (signature + `exp`, identity header), nbthread 1, on the
#                very token Gatehouse signed: same algorithm (ES256 by default), same key (its
#                public half, from `openssl pkey -pubout`)
#   jwt          Gatehouse's own JWT access token through the proxy, validation cache on
#   jwt-nocache  the same token shape, cache off (`[cache] ttl = "0s"`): signature check and
#                store lookup (revocation by `jti`) on every request
#   jwt-assert   `jwt` on a route with `assertion = true` (the signed identity assertion)
#   opaque       a cached opaque token on the `jwt` Gatehouse (reference)
#
# Gatehouse signs with an ES256 key from `gatehouse keys generate` (`tokens.format = "jwt"`,
# one `[[tokens.signing_keys]]`); the token comes from its token endpoint (client_credentials).
# Every server runs one worker (Gatehouse `threads = 1`, access log off; HAProxy nbthread 1)
# in front of the same nginx upstream. CPU per request = utime + stime of the proxy process
# (/proc/PID/stat) over a run ÷ the requests wrk counted, also split user / sys.
#
#   bench/signed.sh                                       # builds --release, 3 rounds of 10 s
#   SKIP_BUILD=1 GATEHOUSE_BIN=/tmp/gh DURATION=10 ROUNDS=4 bench/signed.sh
#   ALG=RS256 bench/signed.sh                             # both sides on RS256 instead
#
# Needs wrk, nginx, haproxy (≥ 2.5, built with OpenSSL: `haproxy -vv`), openssl, curl, python3.
# Loopback only; ports 18780 (upstream), 18782 (HAProxy), 18790/18791 (Gatehouse),
# 19790/19791 (admin). Writes bench/results/signed-latest.md.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-2}
# wrk's per-request timeout; a request slower than this counts as a socket error (fails the run).
TIMEOUT=${TIMEOUT:-5s}
CONNECTIONS=${CONNECTIONS:-32}
ALG=${ALG:-ES256}
BIN=${GATEHOUSE_BIN:-target/release/gatehouse}
OUT=${OUT:-bench/results/signed-latest.md}
work=$(mktemp -d /tmp/gatehouse-signed-bench.XXXX)

case $ALG in ES256 | RS256) ;; *) echo "signed.sh: ALG must be ES256 or RS256" >&2; exit 2 ;; esac
[ -n "${SKIP_BUILD:-}" ] || cargo build --locked --release >&2
for tool in wrk nginx haproxy openssl curl python3; do
  command -v "$tool" >/dev/null || { echo "signed.sh: $tool is missing" >&2; exit 1; }
done
# Not `haproxy -vv | grep -q`: grep's early exit fails the pipe under pipefail.
haproxy_vv=$(haproxy -vv 2>&1 || true)
grep -q 'USE_OPENSSL=1' <<<"$haproxy_vv" \
  || { echo "signed.sh: this haproxy has no OpenSSL, so no jwt_verify" >&2; exit 1; }

write_echo_upstream "$work/nginx.conf" "$work" 18780 'ok user=$http_x_auth_user_id client=$http_x_auth_client_id\n'

"$BIN" keys generate --algorithm "$ALG" --out "$work/signing.pem"
openssl pkey -in "$work/signing.pem" -pubout -out "$work/public.pem"

# HAProxy as in ../shared/bench/peers/haproxy-jwt.cfg, with the public key for the asymmetric
# algorithm: the alg must be the expected one, the signature valid, `exp` in the future. The
# token is a client_credentials one (no user), so the identity header is the client's id, as
# Gatehouse sends it (X-Auth-Client-Id).
cat >"$work/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn 4000
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  http-reuse always
frontend jwt
  bind 127.0.0.1:18782
  http-request del-header X-Auth-User-Id
  http-request del-header X-Auth-Client-Id
  http-request set-var(txn.bearer) http_auth_bearer
  http-request set-var(txn.alg) var(txn.bearer),jwt_header_query('\$.alg')
  http-request deny status 401 unless { var(txn.alg) -m str $ALG }
  http-request deny status 401 unless { var(txn.bearer),jwt_verify(txn.alg,"$work/public.pem") -m int 1 }
  http-request set-var(txn.exp) var(txn.bearer),jwt_payload_query('\$.exp','int')
  http-request set-var(txn.now) date()
  http-request deny status 401 if { var(txn.exp),sub(txn.now) -m int lt 0 }
  http-request set-header X-Auth-Client-Id %[var(txn.bearer),jwt_payload_query('\$.client_id')]
  default_backend app
backend app
  server app1 127.0.0.1:18780
EOF

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
algorithm = "$ALG"
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
haproxy -c -q -f "$work/haproxy.cfg" >&2
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true' EXIT
nginx -c "$work/nginx.conf" -p "$work" &
pids+=($!)
# -db: in the foreground, so $! is the one process that does the work.
haproxy -db -f "$work/haproxy.cfg" >"$work/haproxy.log" 2>&1 &
haproxy_pid=$!
pids+=($!)
"$BIN" --config "$work/cached.toml" >"$work/cached.log" 2>&1 &
cached_pid=$!
pids+=($!)
"$BIN" --config "$work/nocache.toml" >"$work/nocache.log" 2>&1 &
nocache_pid=$!
pids+=($!)
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
declare -A token port pid path who
token[jwt]=$(own_jwt 18790)
token[jwt-assert]=${token[jwt]}
token[jwt-nocache]=$(own_jwt 18791)
token[haproxy]=${token[jwt]}
token[opaque]=$("$BIN" token issue --config "$work/cached.toml" --user bench-user --scopes write)
header_alg=$(python3 -c 'import base64, json, sys; h = sys.argv[1].split(".")[0]; print(json.loads(base64.urlsafe_b64decode(h + "=" * (-len(h) % 4)))["alg"])' "${token[jwt]}")
[ "$header_alg" = "$ALG" ] || { echo "signed.sh: Gatehouse signed with $header_alg, not $ALG" >&2; exit 1; }

read -r -a targets <<<"${TARGETS:-haproxy jwt jwt-nocache jwt-assert opaque}"
for t in haproxy jwt jwt-nocache jwt-assert opaque; do
  port[$t]=18790 pid[$t]=$cached_pid path[$t]=/auth/x who[$t]="ok user= client=bench-service"
done
port[jwt-nocache]=18791 pid[jwt-nocache]=$nocache_pid
port[haproxy]=18782 pid[haproxy]=$haproxy_pid
path[jwt-assert]=/assert/x
who[opaque]="ok user=bench-user client=*"
for t in "${targets[@]}"; do
  got=$(curl -s -H "Authorization: Bearer ${token[$t]}" "http://127.0.0.1:${port[$t]}${path[$t]}")
  # shellcheck disable=SC2053 # a pattern on purpose
  [[ $got == ${who[$t]} ]] || { echo "signed.sh: $t answered: $got" >&2; exit 1; }
done
# Each side really checks the signature: a token with one signature character changed is refused.
tampered=$(python3 -c 'import sys; t = sys.argv[1]; c = t[-6]; print(t[:-6] + ("A" if c != "A" else "B") + t[-5:])' "${token[jwt]}")
for t in haproxy jwt-nocache; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tampered" \
    "http://127.0.0.1:${port[$t]}${path[$t]}")
  [ "$code" = 401 ] || { echo "signed.sh: $t accepted a tampered token ($code)" >&2; exit 1; }
done

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
hz=$(getconf CLK_TCK)
ticks() { awk -v f="$2" '{print (f == "user" ? $14 : f == "sys" ? $15 : $14 + $15)}' "/proc/$1/stat"; }
per_req() { awk -v t="$1" -v hz="$hz" -v n="$2" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}'; }

for t in "${targets[@]}"; do
  BENCH_TOKEN=${token[$t]} wrk -t1 -c"$CONNECTIONS" -d"${WARMUP}s" -s bench/auth.lua \
    "http://127.0.0.1:${port[$t]}${path[$t]}" >/dev/null
done
declare -A rps p99 cpu usr sys
for round in $(seq "$ROUNDS"); do
  order=("${targets[@]}")
  if [ $((round % 2)) = 0 ]; then
    order=()
    for ((i = ${#targets[@]} - 1; i >= 0; i--)); do order+=("${targets[$i]}"); done
  fi
  for t in "${order[@]}"; do
    u0=$(ticks "${pid[$t]}" user) s0=$(ticks "${pid[$t]}" sys)
    out=$(BENCH_TOKEN=${token[$t]} wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --timeout "$TIMEOUT" --latency \
      -s bench/auth.lua "http://127.0.0.1:${port[$t]}${path[$t]}")
    u1=$(ticks "${pid[$t]}" user) s1=$(ticks "${pid[$t]}" sys)
    if grep -q -e "Non-2xx" -e "Socket errors" <<<"$out"; then
      echo "signed.sh: $t had errors:" >&2
      grep -e "Non-2xx" -e "Socket errors" <<<"$out" >&2
      exit 1
    fi
    n=$(sed -n 's/^requests_total \([0-9]*\)/\1/p' <<<"$out")
    rps[$t]+="$(awk -v n="$n" -v d="$DURATION" 'BEGIN {printf "%.0f", n / d}') "
    p99[$t]+="$(sed -n 's/^p99_us \([0-9]*\)/\1/p' <<<"$out") "
    cpu[$t]+="$(per_req $((u1 - u0 + s1 - s0)) "$n") "
    usr[$t]+="$(per_req $((u1 - u0)) "$n") "
    sys[$t]+="$(per_req $((s1 - s0)) "$n") "
    echo "round $round $t: $n requests" >&2
  done
done
for p in "$haproxy_pid" "$cached_pid" "$nocache_pid"; do
  kill -0 "$p" || { echo "signed.sh: a server exited during the run" >&2; exit 1; }
done

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
med() { local -n arr=$1; median <<<"${arr[$2]}"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
verdict() { awk -v r="$1" -v t="$2" 'BEGIN {print (r >= t ? "meets" : "**below**")}'; }
label() {
  case $1 in
    haproxy) echo "HAProxy jwt_verify, $ALG (same token, same key)" ;;
    jwt) echo "Gatehouse, own $ALG JWT, cache on" ;;
    jwt-nocache) echo "Gatehouse, own $ALG JWT, cache off (signature + SQLite lookup)" ;;
    jwt-assert) echo "Gatehouse, own $ALG JWT, cache on, route with assertion" ;;
    opaque) echo "Gatehouse, cached opaque token (reference)" ;;
  esac
}
row() { # $1 = label, $2 = target, $3 = reference, $4 = target ratio
  local r
  [ -n "${rps[$2]:-}" ] && [ -n "${rps[$3]:-}" ] || { echo "| $1 | — | not measured (TARGETS) | — |"; return; }
  r=$(ratio "$(med rps "$2")" "$(med rps "$3")")
  echo "| $1 | **$r** | ≥ $4: $(verdict "$r" "$4") | $(ratio "$(med cpu "$3")" "$(med cpu "$2")") |"
}
{
  echo "# Signed tokens: Gatehouse's own JWTs vs HAProxy jwt_verify, and the assertion's cost"
  echo
  echo "$(date -u '+%F %H:%M UTC'), $(git rev-parse --short HEAD), binary \`$BIN\`, $ALG, $ROUNDS rounds × ${DURATION} s interleaved (odd rounds in order, even reversed; ${WARMUP} s warm-up each), \`wrk -t1 -c$CONNECTIONS\`, Gatehouse \`threads = 1\`, access log off, HAProxy nbthread 1, one nginx upstream (1 worker). Load average at the start: $load_start; at the end: $(cut -d' ' -f1-3 /proc/loadavg). ${BENCH_NOTE:-}"
  echo
  echo "| Target | req/s (median) | p99 µs | CPU µs/req (user + sys) | rounds req/s | rounds CPU µs/req |"
  echo "|---|---:|---:|---:|---|---|"
  for t in "${targets[@]}"; do
    echo "| $(label "$t") | $(med rps "$t") | $(med p99 "$t") | $(med cpu "$t") ($(med usr "$t") + $(med sys "$t")) | ${rps[$t]}| ${cpu[$t]}|"
  done
  echo
  echo "| Ratio (req/s medians) | Value | Target | CPU/req, reference ÷ target |"
  echo "|---|---:|---|---:|"
  row "cache off / HAProxy" jwt-nocache haproxy 0.8
  row "cache on / HAProxy" jwt haproxy 1.0
  row "assertion / without (own JWT, cache on)" jwt-assert jwt 0.95
  echo
  echo "CPU is the proxy process alone (utime + stime from /proc/PID/stat over each run ÷ its"
  echo "requests; CLK_TCK = $hz). The last column is the CPU ratio the same way round as req/s"
  echo "(above 1 = the target needs less CPU per request than its reference). On 2 shared cores"
  echo "wrk, the upstream and the proxy compete, so req/s moves with the machine's load; CPU per"
  echo "request moves less. HAProxy checks alg, signature and \`exp\`; Gatehouse also checks"
  echo "\`iss\`, \`aud\`, \`typ\` and (cache off) the store's revocation of the \`jti\`."
} >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
cat "$OUT"

#!/usr/bin/env bash
# TLS benchmark (issue 13): Gatehouse's TLS listener against HAProxy terminating TLS with the same
# certificate and key, both checking the same HS256 Bearer JWT in front of the same nginx
# upstream, one worker thread each, on loopback. Measures, per target:
#   * TLS keep-alive: authenticated req/s over kept-alive HTTP/1.1 connections (wrk);
#   * new connections: every request on a fresh TLS connection (`Connection: close`), so
#     req/s = full handshakes per second (wrk);
#   * HTTP/2 multiplexed (h2load: few connections, many streams each) vs HTTP/1.1 over TLS
#     (h2load --h1: one request in flight per connection).
# Also process CPU µs per request (utime+stime from /proc ÷ requests). Rounds alternate the two
# targets; req/s and CPU are medians of ROUNDS, the ratio the median of the rounds' own ratios.
# Target of the issue: Gatehouse ≥ 0.8× HAProxy on TLS keep-alive.
# Writes bench/results/tls-latest.md.
#
# Env: DURATION (s, default 10), ROUNDS (3), CONNECTIONS (32), H2_CONNECTIONS (4),
#      H2_STREAMS (32), SKIP_BUILD=1 (use target/dist/gatehouse), GATEHOUSE_BIN,
#      PEERS_DIR (default <repo>/../shared/bench/peers), KINDS (a subset of
#      "keepalive newconn h1 h2", e.g. KINDS=keepalive for a quick A/B of two builds), OUT (the
#      results file, default bench/results/tls-latest.md), FLOOR=1 (also run the pingora floor,
#      below).
#
# FLOOR=1 adds two more targets, built from bench/pingora_floor.rs (`cargo build --profile dist
# --example pingora_floor`, or FLOOR_BIN): a pingora proxy set up as Gatehouse sets up its own,
# `floor-bare` doing nothing per request and `floor-jwt` doing what the HAProxy config does (HS256
# verify on every request, one header). They place the ratio: HAProxy against what pingora
# itself costs, and Gatehouse against pingora doing HAProxy's work.
set -euo pipefail

bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$bench_dir/.." && pwd)
PEERS_DIR=${PEERS_DIR:-$repo/../shared/bench/peers}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-32}
H2_CONNECTIONS=${H2_CONNECTIONS:-4}
H2_STREAMS=${H2_STREAMS:-32}
GATEHOUSE_BIN=${GATEHOUSE_BIN:-$repo/target/dist/gatehouse}
FLOOR=${FLOOR:-0}
FLOOR_BIN=${FLOOR_BIN:-$repo/target/dist/examples/pingora_floor}
SECRET=bench-secret-bench-secret-bench-secret
work=$(mktemp -d /tmp/gatehouse-tls-bench.XXXXXX)
out_md=${OUT:-$bench_dir/results/tls-latest.md}
clk_tck=$(getconf CLK_TCK)

log() { printf '[tls-bench] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# wrk, HAProxy, nginx and h2load (nghttp2-client) are bench tools, not test dependencies.
missing=()
for pair in wrk:wrk haproxy:haproxy nginx:nginx-light h2load:nghttp2-client openssl:openssl curl:curl; do
  command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >/dev/null \
    || die "cannot install ${missing[*]}"
fi

up_pid= gh_pid= hap_pid= bare_pid= fjwt_pid=
cleanup() {
  local rc=$?
  set +e
  for p in "$gh_pid" "$hap_pid" "$bare_pid" "$fjwt_pid" "$up_pid"; do
    [ -n "$p" ] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
  done
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  log "cargo build --profile dist"
  (cd "$repo" && cargo build --profile dist)
  if [ "$FLOOR" = 1 ]; then (cd "$repo" && cargo build --profile dist --example pingora_floor); fi
fi
[ -x "$GATEHOUSE_BIN" ] || die "$GATEHOUSE_BIN not found (build it, or unset SKIP_BUILD)"
[ "$FLOOR" != 1 ] || [ -x "$FLOOR_BIN" ] || die "$FLOOR_BIN not found (build it, or unset SKIP_BUILD)"

# ---------------------------------------------------------------- one certificate for both
# ECDSA P-256, as most sites now serve; the same files for Gatehouse and HAProxy.
openssl ecparam -name prime256v1 -genkey -noout -out "$work/ca.key" 2>/dev/null
openssl req -x509 -new -key "$work/ca.key" -subj "/CN=bench CA" -days 2 -out "$work/ca.pem" 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out "$work/leaf.ec.key" 2>/dev/null
openssl pkcs8 -topk8 -nocrypt -in "$work/leaf.ec.key" -out "$work/leaf.key"
openssl req -new -key "$work/leaf.key" -subj "/CN=localhost" -out "$work/leaf.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$work/san.ext"
openssl x509 -req -in "$work/leaf.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
  -days 2 -extfile "$work/san.ext" -out "$work/leaf.pem" 2>/dev/null
cat "$work/leaf.pem" "$work/leaf.key" >"$work/haproxy.pem"

# ---------------------------------------------------------------- the three processes
nginx -c "$PEERS_DIR/upstream-nginx.conf" & up_pid=$!

cat >"$work/gatehouse.toml" <<EOF
[server]
listen = "127.0.0.1:18190"
public_url = "https://localhost:18443"
admin_listen = "127.0.0.1:19190"
threads = 1
[server.tls]
listen = "127.0.0.1:18443"
cert_file = "$work/leaf.pem"
key_file = "$work/leaf.key"
[log]
level = "warn"
access_log = false
[store]
url = "sqlite://$work/gatehouse.db"
[[jwt.issuers]]
issuer = "https://bench.example/"
audiences = ["bench"]
algorithms = ["HS256"]
secret = "$SECRET"
[[upstreams]]
name = "app"
addrs = ["127.0.0.1:18080"]
[[routes]]
path_prefix = "/auth"
upstream = "app"
auth = "required"
EOF
"$GATEHOUSE_BIN" --config "$work/gatehouse.toml" >"$work/gatehouse.log" 2>&1 & gh_pid=$!

# The peer config's JWT rules (../shared/bench/peers/haproxy-jwt.cfg), behind `bind … ssl`.
cat >"$work/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn 4000
  tune.ssl.default-dh-param 2048
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  http-reuse always
frontend tls
  bind 127.0.0.1:18444 ssl crt $work/haproxy.pem alpn h2,http/1.1
  http-request del-header X-Auth-User-Id
  http-request set-var(txn.bearer) http_auth_bearer
  http-request set-var(txn.alg) var(txn.bearer),jwt_header_query('\$.alg')
  http-request deny status 401 unless { var(txn.alg) -m str HS256 }
  http-request deny status 401 unless { var(txn.bearer),jwt_verify(txn.alg,"$SECRET") -m int 1 }
  http-request set-var(txn.exp) var(txn.bearer),jwt_payload_query('\$.exp','int')
  http-request set-var(txn.now) date()
  http-request deny status 401 if { var(txn.exp),sub(txn.now) -m int lt 0 }
  http-request set-header X-Auth-User-Id %[var(txn.bearer),jwt_payload_query('\$.sub')]
  default_backend app
backend app
  server app1 127.0.0.1:18080
EOF
haproxy -f "$work/haproxy.cfg" -db >"$work/haproxy.log" 2>&1 & hap_pid=$!

targets=(gatehouse:18443 haproxy:18444)
if [ "$FLOOR" = 1 ]; then
  "$FLOOR_BIN" bare 127.0.0.1:18191 127.0.0.1:18445 "$work/leaf.pem" "$work/leaf.key" \
    127.0.0.1:18080 >"$work/floor-bare.log" 2>&1 & bare_pid=$!
  "$FLOOR_BIN" jwt 127.0.0.1:18192 127.0.0.1:18446 "$work/leaf.pem" "$work/leaf.key" \
    127.0.0.1:18080 "$SECRET" >"$work/floor-jwt.log" 2>&1 & fjwt_pid=$!
  targets+=(floor-bare:18445 floor-jwt:18446)
fi
declare -A pid_of=([gatehouse]=$gh_pid [haproxy]=$hap_pid [floor-bare]=$bare_pid [floor-jwt]=$fjwt_pid)

# bench/mint-jwt.py adds the `iss` and `aud` the issuer table requires (HAProxy ignores them).
jwt=$(python3 "$bench_dir/mint-jwt.py" "$SECRET" | tr -d '[:space:]')
[ -n "$jwt" ] || die "mint-jwt.py printed no token"
check() { # port [bare]: the JWT gets through with its identity, no token gets 401, h2 by ALPN;
  # `bare` (the floor that passes everything): only TLS, the upstream and h2
  local body code auth=(-H "Authorization: Bearer $jwt") want="ok user=user-42"
  [ "${2:-}" = bare ] && { auth=(); want="ok user="; }
  for _ in $(seq 100); do
    curl -s -o /dev/null --cacert "$work/ca.pem" "https://localhost:$1/" && break; sleep 0.1
  done
  body=$(curl -sS --cacert "$work/ca.pem" "${auth[@]}" "https://localhost:$1/auth/x") \
    || die "port $1 does not answer over TLS (logs in $work)"
  case $body in *"$want"*) ;; *) die "port $1 answered '$body'";; esac
  if [ "${2:-}" != bare ]; then
    code=$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$work/ca.pem" "https://localhost:$1/auth/x")
    [ "$code" = 401 ] || die "port $1 answered $code without a token"
  fi
  code=$(curl -sS -o /dev/null -w '%{http_version}' --http2 --cacert "$work/ca.pem" \
    "${auth[@]}" "https://localhost:$1/auth/x")
  [ "$code" = 2 ] || die "port $1 did not negotiate h2"
}
check 18443
check 18444
if [ "$FLOOR" = 1 ]; then check 18445 bare; check 18446; fi
log "functional checks passed (JWT through, 401 without, h2 by ALPN)"

# ---------------------------------------------------------------- measuring
cpu_ticks() { awk '{ s=$0; sub(/^.*\) /, "", s); split(s, a, " "); print a[12] + a[13] }' "/proc/$1/stat"; }
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# run KIND PORT PID: prints "req/s cpu_us_per_req"
run() {
  local kind=$1 port=$2 pid=$3 url="https://localhost:$2/auth/x" out n t0 t1
  t0=$(cpu_ticks "$pid")
  case $kind in
    keepalive | newconn)
      local extra=()
      [ "$kind" = newconn ] && extra=(-H "Connection: close")
      out=$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" -H "Authorization: Bearer $jwt" \
        "${extra[@]}" "$url")
      if grep -q 'Non-2xx' <<<"$out"; then die "$kind on $port: non-2xx answers"$'\n'"$out"; fi
      n=$(awk '/requests in/ { print $1 }' <<<"$out")
      ;;
    h2 | h1)
      local proto=() c=$H2_CONNECTIONS m=$H2_STREAMS
      [ "$kind" = h1 ] && { proto=(--h1); c=$CONNECTIONS; m=1; }
      out=$(h2load "${proto[@]}" -t1 -c"$c" -m"$m" -D"$DURATION" \
        -H "authorization: Bearer $jwt" "$url")
      n=$(awk '/^status codes:/ { print $3 }' <<<"$out")
      # Only 2xx answers count; anything else is shown, not hidden in the rate.
      grep -q '^status codes: [0-9]* 2xx, 0 3xx, 0 4xx, 0 5xx' <<<"$out" \
        || log "$kind on $port: $(grep '^status codes' <<<"$out")"
      ;;
  esac
  t1=$(cpu_ticks "$pid")
  awk -v n="$n" -v d="$DURATION" -v t="$((t1 - t0))" -v hz="$clk_tck" \
    'BEGIN { printf "%.0f %.1f\n", n / d, (n > 0 ? t / hz * 1e6 / n : 0) }'
}

declare -A rps cpu
read -r -a kinds <<<"${KINDS:-keepalive newconn h1 h2}"
# Rounds alternate Gatehouse and HAProxy, so that a neighbour's burst on this shared machine
# lands on both; the ratio reported is the median of the rounds' own ratios.
declare -A pair
for kind in "${kinds[@]}"; do
  for target in "${targets[@]}"; do
    port=${target#*:}
    wrk -t1 -c"$CONNECTIONS" -d2s -H "Authorization: Bearer $jwt" "https://localhost:$port/auth/x" >/dev/null
  done
  declare -A r_list=() c_list=() pairs=()
  for round in $(seq "$ROUNDS"); do
    declare -A this=()
    for target in "${targets[@]}"; do
      name=${target%%:*} port=${target#*:}
      read -r r c < <(run "$kind" "$port" "${pid_of[$name]}")
      log "$kind $name round $round: $r req/s, $c µs CPU/req"
      r_list[$name]+="$r " c_list[$name]+="$c "
      this[$name]=$r
    done
    # Each round's own ratios: against HAProxy, and Gatehouse against pingora doing HAProxy's work.
    for target in "${targets[@]}"; do
      name=${target%%:*}
      pairs[$name]+="$(awk -v a="${this[$name]}" -v b="${this[haproxy]}" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }') "
    done
    if [ "$FLOOR" = 1 ]; then
      pairs[gh-floor]+="$(awk -v a="${this[gatehouse]}" -v b="${this[floor-jwt]}" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }') "
      pairs[gh-bare]+="$(awk -v a="${this[gatehouse]}" -v b="${this[floor-bare]}" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }') "
    fi
  done
  for target in "${targets[@]}"; do
    name=${target%%:*}
    rps[$kind.$name]=$(printf '%s\n' ${r_list[$name]} | median)
    cpu[$kind.$name]=$(printf '%s\n' ${c_list[$name]} | median)
    pair[$kind.$name]=$(printf '%s\n' ${pairs[$name]} | median)
  done
  log "$kind round ratios, Gatehouse / HAProxy: ${pairs[gatehouse]}"
  if [ "$FLOOR" = 1 ]; then
    pair[$kind.gh-floor]=$(printf '%s\n' ${pairs[gh-floor]} | median)
    pair[$kind.gh-bare]=$(printf '%s\n' ${pairs[gh-bare]} | median)
    log "$kind round ratios, floor-bare / HAProxy: ${pairs[floor-bare]}; floor-jwt / HAProxy: ${pairs[floor-jwt]}; Gatehouse / floor-jwt: ${pairs[gh-floor]}; Gatehouse / floor-bare: ${pairs[gh-bare]}"
  fi
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
label() {
  case $1 in
    keepalive) echo "TLS keep-alive, HTTP/1.1 ($CONNECTIONS conns, wrk)" ;;
    newconn) echo "TLS new connection per request (handshakes/s, wrk)" ;;
    h1) echo "HTTP/1.1 over TLS ($CONNECTIONS conns, 1 in flight each, h2load --h1)" ;;
    h2) echo "HTTP/2 multiplexed ($H2_CONNECTIONS conns × $H2_STREAMS streams, h2load)" ;;
  esac
}
mkdir -p "$(dirname "$out_md")"
{
  echo "# TLS benchmark ($(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  echo "Authenticated requests (HS256 Bearer JWT, same token) to an nginx upstream, one worker"
  echo "thread each, same ECDSA P-256 certificate; medians of $ROUNDS × ${DURATION}s, rounds alternating"
  echo "Gatehouse and HAProxy; Gatehouse / HAProxy is the median of the rounds' own ratios. $(nproc) cores."
  echo "Gatehouse: \`${GATEHOUSE_BIN#"$repo"/}\` (rustls). HAProxy: $(haproxy -v | head -n1 | awk '{ print $3 }')."
  echo
  echo "| Measure | Gatehouse req/s | HAProxy req/s | Gatehouse / HAProxy | Gatehouse CPU µs/req | HAProxy CPU µs/req |"
  echo "|---|---|---|---|---|---|"
  for kind in "${kinds[@]}"; do
    echo "| $(label "$kind") | ${rps[$kind.gatehouse]} | ${rps[$kind.haproxy]} | $(ratio "${pair[$kind.gatehouse]}" 1) | ${cpu[$kind.gatehouse]} | ${cpu[$kind.haproxy]} |"
  done
  echo
  if [ -n "${rps[h2.gatehouse]:-}" ] && [ -n "${rps[h1.gatehouse]:-}" ]; then
    echo "HTTP/2 multiplexed vs HTTP/1.1 over TLS: Gatehouse $(ratio "${rps[h2.gatehouse]}" "${rps[h1.gatehouse]}")×, HAProxy $(ratio "${rps[h2.haproxy]}" "${rps[h1.haproxy]}")×."
  fi
  if [ -n "${rps[keepalive.gatehouse]:-}" ]; then
    echo "Target: Gatehouse ≥ 0.8× HAProxy on TLS keep-alive: $(ratio "${pair[keepalive.gatehouse]}" 1)× (median of the rounds' ratios)."
  fi
  if [ "$FLOOR" = 1 ]; then
    echo
    echo "The pingora floor (bench/pingora_floor.rs: pingora set up as Gatehouse sets it up; \`bare\` does"
    echo "nothing per request, \`jwt\` what the HAProxy config does), in the same rounds:"
    echo
    echo "| Measure | floor-bare req/s | floor-jwt req/s | floor-bare / HAProxy | floor-jwt / HAProxy | Gatehouse / floor-jwt | Gatehouse / floor-bare | floor-bare CPU µs/req | floor-jwt CPU µs/req |"
    echo "|---|---|---|---|---|---|---|---|---|"
    for kind in "${kinds[@]}"; do
      echo "| $(label "$kind") | ${rps[$kind.floor-bare]} | ${rps[$kind.floor-jwt]} | $(ratio "${pair[$kind.floor-bare]}" 1) | $(ratio "${pair[$kind.floor-jwt]}" 1) | $(ratio "${pair[$kind.gh-floor]}" 1) | $(ratio "${pair[$kind.gh-bare]}" 1) | ${cpu[$kind.floor-bare]} | ${cpu[$kind.floor-jwt]} |"
    done
  fi
} >"$out_md"
cat "$out_md"

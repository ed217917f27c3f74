#!/usr/bin/env bash
# What TLS adds to a kept-alive authenticated request (issue 13), counted rather than timed:
#
#   bench/tls-cost.sh callgrind   # instructions per request, plain vs TLS, one binary
#   bench/tls-cost.sh strace      # syscalls per request, plain vs TLS, Gatehouse vs HAProxy
#   bench/tls-cost.sh wrk         # req/s and CPU µs per request under wrk, same four targets
#
# Same shape as bench/tls.sh (HS256 Bearer JWT on `/auth`, nginx upstream over plain HTTP, one
# worker thread, ECDSA P-256 certificate), but one client connection sending N requests one
# after another, so the counts are the same whatever else the machine runs. callgrind mode:
# WARM requests, `callgrind_control --zero`, N requests, dump; per request = total / N, and the
# top inclusive functions of the TLS dump. strace mode: `strace -c -f` attached for exactly the
# N requests (the warm-up is outside), per request = calls / N.
#
# Env: N (2000), WARM (50), GATEHOUSE_BIN (target/release/gatehouse), OUT (stdout only, or a
#      file to write the markdown to), TOP (25 rows), LABEL (git HEAD), BODY_BYTES (0: padding
#      added to the upstream's 16-byte answer); wrk mode: DURATION
#      (5 s), ROUNDS (3), CONNECTIONS (32), GATEHOUSE_ENV (extra environment for Gatehouse);
#      callgrind mode: FLOOR=1 counts the same requests through bench/pingora_floor.rs in its
#      `jwt` mode too (FLOOR_BIN, default target/dist/examples/pingora_floor), on ports
#      28692/28645, and what Gatehouse adds over it.
# Loopback ports 28680 (upstream), 28690/28643 (Gatehouse plain/TLS), 28644/28691 (HAProxy
# TLS/plain), 29690 (admin): apart from bench/tls.sh's, so both can run on one machine.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."

MODE=${1:-callgrind}
N=${N:-2000}
WARM=${WARM:-50}
TOP=${TOP:-25}
BIN=${GATEHOUSE_BIN:-target/release/gatehouse}
FLOOR_BIN=${FLOOR_BIN:-target/dist/examples/pingora_floor}
LABEL=${LABEL:-$(git rev-parse --short HEAD)}
SECRET=bench-secret-bench-secret-bench-secret
work=$(mktemp -d /tmp/gatehouse-tls-cost.XXXX)

need=(nginx openssl python3 curl)
case $MODE in
  callgrind) need+=(valgrind callgrind_control callgrind_annotate) ;;
  strace) need+=(strace haproxy) ;;
  wrk) need+=(wrk haproxy) ;;
  *) echo "tls-cost.sh: mode is callgrind, strace or wrk" >&2; exit 2 ;;
esac
for tool in "${need[@]}"; do
  command -v "$tool" >/dev/null || { echo "tls-cost.sh: $tool is missing" >&2; exit 1; }
done
[ -x "$BIN" ] || { echo "tls-cost.sh: no binary at $BIN" >&2; exit 1; }

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

openssl ecparam -name prime256v1 -genkey -noout -out "$work/ca.key" 2>/dev/null
openssl req -x509 -new -key "$work/ca.key" -subj "/CN=bench CA" -days 2 -out "$work/ca.pem" 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out "$work/leaf.ec.key" 2>/dev/null
openssl pkcs8 -topk8 -nocrypt -in "$work/leaf.ec.key" -out "$work/leaf.key"
openssl req -new -key "$work/leaf.key" -subj "/CN=localhost" -out "$work/leaf.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$work/san.ext"
openssl x509 -req -in "$work/leaf.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
  -days 2 -extfile "$work/san.ext" -out "$work/leaf.pem" 2>/dev/null
cat "$work/leaf.pem" "$work/leaf.key" >"$work/haproxy.pem"

# BODY_BYTES pads the upstream's answer (a response that no longer fits one MSS-sized write).
filler=$(head -c "${BODY_BYTES:-0}" /dev/zero | tr '\0' x)
write_echo_upstream "$work/nginx.conf" "$work" 28680 "ok user=\$http_x_auth_user_id\n$filler"
nginx -c "$work/nginx.conf" -p "$work" &
pids+=($!)

cat >"$work/gatehouse.toml" <<EOF
[server]
listen = "127.0.0.1:28690"
public_url = "https://localhost:28643"
admin_listen = "127.0.0.1:29690"
threads = 1
shutdown_grace = "1s"
[server.tls]
listen = "127.0.0.1:28643"
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
addrs = ["127.0.0.1:28680"]
[[routes]]
path_prefix = "/auth"
upstream = "app"
auth = "required"
EOF

jwt=$(python3 bench/mint-jwt.py "$SECRET" | tr -d '[:space:]')

# client.py SCHEME PORT COUNT: COUNT authenticated GETs on one kept-alive connection.
cat >"$work/client.py" <<'EOF'
import http.client, ssl, sys
scheme, port, n, token, ca = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
if scheme == "https":
    ctx = ssl.create_default_context(cafile=ca)
    c = http.client.HTTPSConnection("localhost", port, context=ctx, timeout=120)
else:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
headers = {"Authorization": f"Bearer {token}"}
for _ in range(n):
    c.request("GET", "/auth/x", headers=headers)
    r = c.getresponse(); body = r.read()
    if r.status != 200 or b"user=user-42" not in body:
        sys.exit(f"tls-cost.sh: {scheme}:{port} answered {r.status}: {body[:200]!r}")
if scheme == "https":
    print(c.sock.version(), c.sock.cipher()[0], file=sys.stderr)
EOF
client() { python3 "$work/client.py" "$1" "$2" "$3" "$jwt" "$work/ca.pem"; }

wait_up() { # port [path]: Gatehouse's admin /healthz, or any answer on a path
  for _ in $(seq 600); do
    curl -s -o /dev/null "http://127.0.0.1:$1${2:-/healthz}" && return 0
    sleep 0.2
  done
  echo "tls-cost.sh: nothing answers on $1" >&2
  cat "$work"/*.log >&2 || true
  exit 1
}

if [ "$MODE" = callgrind ]; then
  valgrind --tool=callgrind --callgrind-out-file="$work/gh.%p.cg" \
    "$BIN" --config "$work/gatehouse.toml" >"$work/gatehouse.log" 2>&1 &
  gh=$!
  pids+=("$gh")
  wait_up 29690
  measure() { # name scheme port
    client "$2" "$3" "$WARM"
    callgrind_control --zero "$gh" >/dev/null
    client "$2" "$3" "$N"
    callgrind_control --dump="$1" "$gh" >/dev/null
    local f=
    for _ in $(seq 100); do
      f=$(grep -l "^desc: Trigger: .*dump $1\$" "$work"/*.cg.* 2>/dev/null | head -1 || true)
      [ -n "$f" ] && grep -q '^totals:' "$f" && break
      sleep 0.2
    done
    [ -n "$f" ] || { echo "tls-cost.sh: no dump for $1" >&2; exit 1; }
    mv "$f" "$work/dump-$1.cg"
    echo $(($(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$work/dump-$1.cg") / N))
  }
  plain=$(measure plain http 28690)
  tls=$(measure tls https 28643)
  if [ "${FLOOR:-0}" = 1 ]; then
    # The same requests to bench/pingora_floor.rs doing what HAProxy's config does (jwt mode).
    valgrind --tool=callgrind --callgrind-out-file="$work/floor.%p.cg" \
      "$FLOOR_BIN" jwt 127.0.0.1:28692 127.0.0.1:28645 "$work/leaf.pem" "$work/leaf.key" \
      127.0.0.1:28680 "$SECRET" >"$work/floor.log" 2>&1 &
    gh=$!
    pids+=("$gh")
    wait_up 28692 /
    floor_plain=$(measure floor-plain http 28692)
    floor_tls=$(measure floor-tls https 28645)
  fi
  {
    echo "## Instructions per kept-alive request, plain vs TLS ($LABEL, $N requests, callgrind)"
    echo
    echo "| Listener | Instructions / request |"
    echo "|---|---:|"
    echo "| plain HTTP/1.1 | $plain |"
    echo "| TLS 1.3 HTTP/1.1 | $tls |"
    echo "| TLS adds | $((tls - plain)) |"
    if [ "${FLOOR:-0}" = 1 ]; then
      echo "| pingora floor (jwt), plain HTTP/1.1 | $floor_plain |"
      echo "| pingora floor (jwt), TLS 1.3 HTTP/1.1 | $floor_tls |"
      echo "| Gatehouse over the floor, TLS | $((tls - floor_tls)) |"
    fi
    echo
    echo "Top $TOP inclusive functions of the TLS run, per request (runtime frames left out):"
    echo
    echo '```'
    callgrind_annotate --threshold=100 --inclusive=yes "$work/dump-tls.cg" >"$work/annotated.txt" 2>/dev/null
    python3 -c '
import re, sys
n, top = int(sys.argv[1]), int(sys.argv[2])
skip = re.compile(r"PROGRAM TOTALS|clone\.S|start_thread|thread_start|call_once|rust_begin_short_backtrace|tokio::runtime::|BlockingTask")
rows = 0
for line in sys.stdin:
    m = re.match(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(?:\?\?\?:)?(.*?)(?: \[[^]]*\])?$", line)
    if not m or skip.search(m.group(2)):
        continue
    count = int(m.group(1).replace(",", "")) // n
    print(f"{count:>9}  {m.group(2)[:150]}")
    rows += 1
    if rows == top:
        break
' "$N" "$TOP" <"$work/annotated.txt"
    echo '```'
  } | tee "${OUT:-/dev/null}"
  [ -z "${KEEP:-}" ] || { cp "$work"/dump-*.cg "$KEEP"/; echo "dumps copied to $KEEP" >&2; }
  exit 0
fi

# ---------------------------------------------------------------- strace and wrk modes
# shellcheck disable=SC2086 # GATEHOUSE_ENV is a list of NAME=value words
env ${GATEHOUSE_ENV:-} "$BIN" --config "$work/gatehouse.toml" >"$work/gatehouse.log" 2>&1 &
gh=$!
pids+=("$gh")
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
frontend tls
  bind 127.0.0.1:28644 ssl crt $work/haproxy.pem alpn h2,http/1.1
  bind 127.0.0.1:28691
  http-request del-header X-Auth-User-Id
  http-request set-var(txn.bearer) http_auth_bearer
  http-request set-var(txn.alg) var(txn.bearer),jwt_header_query('\$.alg')
  http-request deny status 401 unless { var(txn.alg) -m str HS256 }
  http-request deny status 401 unless { var(txn.bearer),jwt_verify(txn.alg,"$SECRET") -m int 1 }
  http-request set-header X-Auth-User-Id %[var(txn.bearer),jwt_payload_query('\$.sub')]
  default_backend app
backend app
  server app1 127.0.0.1:28680
EOF
haproxy -f "$work/haproxy.cfg" -db >"$work/haproxy.log" 2>&1 &
hap=$!
pids+=("$hap")
wait_up 29690
sleep 0.5

if [ "$MODE" = wrk ]; then
  DURATION=${DURATION:-5} ROUNDS=${ROUNDS:-3} CONNECTIONS=${CONNECTIONS:-32}
  clk_tck=$(getconf CLK_TCK)
  cpu_ticks() { awk '{ s=$0; sub(/^.*\) /, "", s); split(s, a, " "); print a[12] + a[13] }' "/proc/$1/stat"; }
  median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
  targets=("gh-plain $gh http://127.0.0.1:28690" "gh-tls $gh https://localhost:28643"
    "hap-plain $hap http://127.0.0.1:28691" "hap-tls $hap https://localhost:28644")
  declare -A rps cpu
  for t in "${targets[@]}"; do
    read -r name pid url <<<"$t"
    wrk -t1 -c"$CONNECTIONS" -d1s -H "Authorization: Bearer $jwt" "$url/auth/x" >/dev/null
  done
  for round in $(seq "$ROUNDS"); do
    for t in "${targets[@]}"; do
      read -r name pid url <<<"$t"
      t0=$(cpu_ticks "$pid")
      out=$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" -H "Authorization: Bearer $jwt" "$url/auth/x")
      t1=$(cpu_ticks "$pid")
      if grep -q 'Non-2xx' <<<"$out"; then echo "tls-cost.sh: $name answered non-2xx" >&2; exit 1; fi
      n=$(awk '/requests in/ { print $1 }' <<<"$out")
      read -r r c < <(awk -v n="$n" -v d="$DURATION" -v t="$((t1 - t0))" -v hz="$clk_tck" \
        'BEGIN { printf "%.0f %.1f\n", n / d, t / hz * 1e6 / n }')
      echo "round $round $name: $r req/s, $c µs CPU/req" >&2
      rps[$name]+="$r " cpu[$name]+="$c "
    done
  done
  m() { tr ' ' '\n' <<<"$1" | grep . | median; }
  ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
  {
    echo "## Under wrk ($LABEL, ${GATEHOUSE_ENV:-defaults}; $CONNECTIONS connections, medians of $ROUNDS × ${DURATION}s, targets alternating)"
    echo
    echo "| Target | req/s | CPU µs / request |"
    echo "|---|---:|---:|"
    for name in gh-plain gh-tls hap-plain hap-tls; do
      echo "| $name | $(m "${rps[$name]}") | $(m "${cpu[$name]}") |"
    done
    echo
    echo "TLS keep-alive Gatehouse / HAProxy: $(ratio "$(m "${rps[gh-tls]}")" "$(m "${rps[hap-tls]}")")×;" \
      "TLS adds (CPU µs/request): Gatehouse" \
      "$(awk -v a="$(m "${cpu[gh-tls]}")" -v b="$(m "${cpu[gh-plain]}")" 'BEGIN { printf "%.1f", a - b }')," \
      "HAProxy $(awk -v a="$(m "${cpu[hap-tls]}")" -v b="$(m "${cpu[hap-plain]}")" 'BEGIN { printf "%.1f", a - b }')."
  } | tee "${OUT:-/dev/null}"
  exit 0
fi

# count NAME PID SCHEME PORT: syscalls of PID (all threads) per request, by name.
count() {
  client "$3" "$4" "$WARM" 2>/dev/null
  strace -c -f -o "$work/strace-$1.txt" -p "$2" 2>/dev/null &
  local st=$!
  sleep 1 # strace attaches to every thread before the first counted request
  client "$3" "$4" "$N" 2>/dev/null
  kill -INT "$st"
  wait "$st" 2>/dev/null || true
  python3 - "$work/strace-$1.txt" "$N" "$1" <<'EOF'
import re, sys
path, n, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rows = {}
for line in open(path):
    f = line.split()
    if len(f) >= 5 and re.match(r"^[\d.]+$", f[0]) and f[-1] not in ("total",):
        calls = int(f[3])
        rows[f[-1]] = calls
total = sum(rows.values())
top = sorted(rows.items(), key=lambda kv: -kv[1])
print(f"| {name} | {total / n:.2f} | " + ", ".join(f"{k} {v / n:.2f}" for k, v in top if v / n >= 0.05) + " |")
EOF
}
{
  echo "## Syscalls per kept-alive request ($LABEL, $N requests on one connection, strace -c -f)"
  echo
  echo "| Target | Syscalls / request | By call (≥ 0.05 / request) |"
  echo "|---|---:|---|"
  count "Gatehouse plain" "$gh" http 28690
  count "Gatehouse TLS" "$gh" https 28643
  count "HAProxy plain" "$hap" http 28691
  count "HAProxy TLS" "$hap" https 28644
} | tee "${OUT:-/dev/null}"

#!/usr/bin/env bash
# Issue 12's benchmark: the forward-auth deployment shape against the oauth2-proxy one and
# against Gatehouse as the proxy, in one run, rounds interleaved so that machine noise falls
# on every target alike:
#
#   A  nginx auth_request → Gatehouse's decision endpoint (forward_auth.listen) → nginx upstream
#   B  nginx auth_request → the Go auth service of ../shared/bench/peers (auth-service.go)
#   C  Gatehouse as the proxy itself → nginx upstream
#   N  nginx passthrough (no auth): what nginx alone costs on this machine
#
# A, B and C take the same HS256 JWT (Gatehouse's [[jwt.issuers]] has the Go service's secret); A and C
# also run with a cached opaque token. Everything runs with one worker (Gatehouse threads = 1,
# nginx 1 worker, GOMAXPROCS=1), wrk -t1. CPU per request is /proc/PID/stat utime+stime
# of each process over a run ÷ requests: the decision alone (Gatehouse in A, the Go service
# in B), nginx, and their sum.
#
#   bench/forward_auth.sh                        # builds --release, 3 rounds of 10 s
#   SKIP_BUILD=1 DURATION=5 bench/forward_auth.sh
#
# Needs wrk, nginx, go (golang-go; those three are apt-installed when missing), python3, curl; loopback ports 18480–18484, 18490–18491,
# 19490. Writes bench/results/forward-auth-latest.md.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-32}
BIN=${GATEHOUSE_BIN:-target/release/gatehouse}
PEERS_DIR=${PEERS_DIR:-$(pwd)/../shared/bench/peers}
SECRET=bench-secret-bench-secret-bench-secret
work=$(mktemp -d /tmp/gatehouse-fa-bench.XXXX)

[ -n "${SKIP_BUILD:-}" ] || cargo build --locked --release >&2
# As the peers' run-peers.sh does: Debian's packages when missing.
command -v wrk >/dev/null && command -v nginx >/dev/null && command -v go >/dev/null || \
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y wrk nginx golang-go >/dev/null; }
for tool in wrk nginx go python3 curl; do
  command -v "$tool" >/dev/null || { echo "forward_auth.sh: $tool is missing" >&2; exit 1; }
done
[ -f "$PEERS_DIR/auth-service.go" ] || { echo "forward_auth.sh: no $PEERS_DIR/auth-service.go" >&2; exit 1; }

# The Go auth service, built from the peers' source (standard library only, no download).
(cd "$PEERS_DIR" && GOCACHE=/tmp/bench-go-cache GOPATH=/tmp/bench-go GOFLAGS= GOPROXY=off \
  go build -o "$work/auth-service" auth-service.go)

cat >"$work/upstream.conf" <<NGINX
worker_processes 1;
daemon off;
pid $work/upstream.pid;
error_log $work/upstream.err warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:18480;
    location / { default_type text/plain; return 200 "ok user=\$http_x_auth_user_id\n"; }
  }
}
NGINX

# One nginx, one worker: A on 18481, B on 18482, N on 18484. A and B differ only in whom
# auth_request asks (and in how Gatehouse wants the request described).
cat >"$work/ingress.conf" <<NGINX
worker_processes 1;
daemon off;
pid $work/ingress.pid;
error_log $work/ingress.err warn;
events { worker_connections 4096; }
http {
  access_log off;
  upstream app { server 127.0.0.1:18480; keepalive 64; }
  upstream gatehouse { server 127.0.0.1:18491; keepalive 64; }
  upstream go_auth { server 127.0.0.1:18483; keepalive 64; }
  server {
    listen 127.0.0.1:18481;
    location = /_auth {
      internal;
      proxy_pass http://gatehouse/_gatehouse/auth;
      proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_pass_request_body off; proxy_set_header Content-Length "";
      proxy_set_header X-Original-URI \$request_uri;
      proxy_set_header X-Original-Method \$request_method;
      proxy_set_header X-Forwarded-Host \$host;
    }
    location / {
      auth_request /_auth;
      auth_request_set \$uid \$upstream_http_x_auth_user_id;
      proxy_set_header X-Auth-User-Id \$uid;
      proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection "";
    }
  }
  server {
    listen 127.0.0.1:18482;
    location = /_auth {
      internal;
      proxy_pass http://go_auth;
      proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_pass_request_body off; proxy_set_header Content-Length "";
    }
    location / {
      auth_request /_auth;
      auth_request_set \$uid \$upstream_http_x_auth_user_id;
      proxy_set_header X-Auth-User-Id \$uid;
      proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection "";
    }
  }
  server {
    listen 127.0.0.1:18484;
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
NGINX

cat >"$work/gatehouse.toml" <<TOML
[server]
listen = "127.0.0.1:18490"
public_url = "http://127.0.0.1:18490"
admin_listen = "127.0.0.1:19490"
threads = 1
shutdown_grace = "1s"
trusted_proxies = ["127.0.0.1"]

[log]
level = "warn"
access_log = false

[store]
url = "sqlite://$work/gatehouse.db"

# The Go service's secret: both validate the very same token.
[[jwt.issuers]]
issuer = "https://bench.example/"
audiences = ["bench"]
algorithms = ["HS256"]
secret = "$SECRET"

[forward_auth]
listen = "127.0.0.1:18491"

[[upstreams]]
name = "app"
addrs = ["127.0.0.1:18480"]

# Proxied by C, described to the decision endpoint by A.
[[routes]]
name = "bench-auth"
path_prefix = "/auth"
upstream = "app"
auth = "required"
TOML

"$BIN" check-config --config "$work/gatehouse.toml" >&2
pids=()
cleanup() {
  for p in "${pids[@]+"${pids[@]}"}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
nginx -c "$work/upstream.conf" -p "$work" &
pids+=($!)
nginx -c "$work/ingress.conf" -p "$work" &
ingress_pid=$!
pids+=($!)
GOMAXPROCS=1 "$work/auth-service" -addr 127.0.0.1:18483 &
go_pid=$!
pids+=($!)
"$BIN" --config "$work/gatehouse.toml" >"$work/gatehouse.log" 2>&1 &
gh_pid=$!
pids+=($!)
for _ in $(seq 100); do
  curl -sf -o /dev/null http://127.0.0.1:19490/healthz && break
  sleep 0.1
done

jwt=$(python3 bench/mint-jwt.py "$SECRET" user-42)
opaque=$("$BIN" token issue --config "$work/gatehouse.toml" --user bench-user --name bench --scopes read)

# target → URL, token, the user the upstream must see.
declare -A url tok who
url[A-jwt]=http://127.0.0.1:18481/auth/x;    tok[A-jwt]=$jwt;       who[A-jwt]=user-42
url[A-opaque]=http://127.0.0.1:18481/auth/x; tok[A-opaque]=$opaque; who[A-opaque]=bench-user
url[B-jwt]=http://127.0.0.1:18482/auth/x;    tok[B-jwt]=$jwt;       who[B-jwt]=user-42
url[C-jwt]=http://127.0.0.1:18490/auth/x;    tok[C-jwt]=$jwt;       who[C-jwt]=user-42
url[C-opaque]=http://127.0.0.1:18490/auth/x; tok[C-opaque]=$opaque; who[C-opaque]=bench-user
url[N]=http://127.0.0.1:18484/auth/x;        tok[N]=;               who[N]=
targets=(A-jwt A-opaque B-jwt C-jwt C-opaque N)

for t in "${targets[@]}"; do
  auth=()
  [ -z "${tok[$t]}" ] || auth=(-H "Authorization: Bearer ${tok[$t]}")
  got=$(curl -s "${auth[@]+"${auth[@]}"}" "${url[$t]}")
  [ "$got" = "ok user=${who[$t]}" ] || { echo "forward_auth.sh: $t answered: $got" >&2; exit 1; }
done
for t in A-jwt B-jwt C-jwt; do
  code=$(curl -s -o /dev/null -w '%{http_code}' "${url[$t]}")
  [ "$code" = 401 ] || { echo "forward_auth.sh: $t without a token answered $code" >&2; exit 1; }
done

hz=$(getconf CLK_TCK)
# utime + stime, in ticks, summed over the given pids.
ticks_of() {
  local p s=0
  for p in "$@"; do s=$((s + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
  echo "$s"
}
# nginx: the master and its worker (the worker does the work).
ingress_procs() { echo "$ingress_pid" $(pgrep -P "$ingress_pid" || true); }
per_req() { awk -v t="$1" -v hz="$hz" -v n="$2" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}'; }

declare -A rps p99 dec ngx tot
for t in "${targets[@]}"; do
  BENCH_TOKEN=${tok[$t]} wrk -t1 -c"$CONNECTIONS" -d2s -s bench/auth.lua "${url[$t]}" >/dev/null
done
for round in $(seq "$ROUNDS"); do
  for t in "${targets[@]}"; do
    case $t in A-*|C-*) decider=$gh_pid ;; B-*) decider=$go_pid ;; *) decider= ;; esac
    d0=0; [ -z "$decider" ] || d0=$(ticks_of "$decider")
    n0=$(ticks_of $(ingress_procs))
    out=$(BENCH_TOKEN=${tok[$t]} wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency \
      -s bench/auth.lua "${url[$t]}")
    d1=0; [ -z "$decider" ] || d1=$(ticks_of "$decider")
    n1=$(ticks_of $(ingress_procs))
    if grep -q -e "Non-2xx" -e "Socket errors" <<<"$out"; then
      echo "forward_auth.sh: $t had errors:" >&2
      grep -e "Non-2xx" -e "Socket errors" <<<"$out" >&2
      exit 1
    fi
    n=$(sed -n 's/^requests_total \([0-9]*\)/\1/p' <<<"$out")
    rps[$t]+="$(awk -v n="$n" -v d="$DURATION" 'BEGIN {printf "%.0f", n / d}') "
    p99[$t]+="$(sed -n 's/^p99_us \([0-9]*\)/\1/p' <<<"$out") "
    dec[$t]+="$(per_req $((d1 - d0)) "$n") "
    ngx[$t]+="$(per_req $((n1 - n0)) "$n") "
    tot[$t]+="$(per_req $((d1 - d0 + n1 - n0)) "$n") "
    echo "round $round $t: $n requests" >&2
  done
done
kill -0 "$gh_pid" || { echo "forward_auth.sh: Gatehouse exited during the run" >&2; exit 1; }

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
label() {
  case $1 in
    A-jwt) echo "A nginx auth_request → Gatehouse decision, HS256 JWT" ;;
    A-opaque) echo "A nginx auth_request → Gatehouse decision, cached opaque token" ;;
    B-jwt) echo "B nginx auth_request → Go auth service, HS256 JWT" ;;
    C-jwt) echo "C Gatehouse as the proxy, HS256 JWT" ;;
    C-opaque) echo "C Gatehouse as the proxy, cached opaque token" ;;
    N) echo "N nginx passthrough, no auth (reference)" ;;
  esac
}
out=bench/results/forward-auth-latest.md
{
  echo "# Forward-auth decisions vs the oauth2-proxy shape"
  echo
  echo "$(date -u +%F), $(git rev-parse --short HEAD), $ROUNDS rounds × ${DURATION} s interleaved, wrk -t1 -c$CONNECTIONS, one worker each (Gatehouse threads = 1, nginx 1 worker, Go GOMAXPROCS=1), load average at the end: $(cut -d' ' -f1-3 /proc/loadavg). ${BENCH_NOTE:-}"
  echo
  echo "| Target | req/s (median) | p99 µs | decision CPU µs/req | nginx CPU µs/req | decision + nginx µs/req | rounds req/s |"
  echo "|---|---:|---:|---:|---:|---:|---|"
  for t in "${targets[@]}"; do
    d=$(median <<<"${dec[$t]}")
    case $t in N) d="—" ;; C-*) d="$d (the whole proxy)" ;; esac
    echo "| $(label "$t") | $(median <<<"${rps[$t]}") | $(median <<<"${p99[$t]}") | $d | $(median <<<"${ngx[$t]}") | $(median <<<"${tot[$t]}") | ${rps[$t]}|"
  done
  echo
  a=$(median <<<"${rps[A-jwt]}"); b=$(median <<<"${rps[B-jwt]}"); c=$(median <<<"${rps[C-jwt]}")
  ao=$(median <<<"${rps[A-opaque]}")
  ad=$(median <<<"${dec[A-jwt]}"); bd=$(median <<<"${dec[B-jwt]}")
  verdict=below; awk -v r="$(ratio "$a" "$b")" 'BEGIN {exit !(r >= 1.3)}' && verdict=meets
  echo "- req/s, A / B (same JWT): **$(ratio "$a" "$b")×** (target ≥ 1.3×: $verdict); A with a cached opaque token / B: $(ratio "$ao" "$b")×"
  echo "- decision CPU per request, B / A (same JWT): $(ratio "$bd" "$ad")× (Gatehouse $ad µs, Go $bd µs)"
  echo "- C (Gatehouse as the proxy) / A (Gatehouse behind nginx), JWT: $(ratio "$c" "$a")×"
  echo
  echo "CPU is per process (utime + stime from /proc/PID/stat over each run ÷ its requests). On a"
  echo "2-core machine wrk, nginx, the upstream and the decision process share the cores, so req/s"
  echo "mostly shows how much CPU the whole chain needs per request. In C the decision column is"
  echo "the whole Gatehouse proxy and no ingress nginx is in the path."
} | tee "$out"

#!/usr/bin/env bash
# Gatehouse soak: the release binary on loopback under mixed traffic for SECONDS (default 300,
# at most 600): valid cached tokens, revoked, invalid and random tokens, right and wrong
# password logins, refreshes and sign-ups, with an admin /healthz probe; RSS sampled from /proc.
# Writes bench/results/soak-latest.md. Exits non-zero on any unexplained status (every 5xx is
# one), if Gatehouse dies, if its end RSS is over the bound the config implies, or if it does
# not exit 0 on SIGTERM afterwards. Not run by CI.
#
# Usage: bench/soak.sh [SECONDS]          run it with `nice` on a shared machine
# Env:   SKIP_BUILD=1 (use the existing binary), GATEHOUSE_BIN (default target/release/gatehouse)
# Upstream: nginx when installed (apt-get install nginx-light), else Gatehouse's echo handler.
# Ports: 18280 (nginx), 18290 (proxy), 19290 (admin). Work files: /tmp/gatehouse-soak/.
set -euo pipefail

duration=${1:-300}
[[ "$duration" =~ ^[0-9]+$ ]] && [ "$duration" -ge 10 ] && [ "$duration" -le 600 ] \
  || { echo "usage: $0 [SECONDS], 10 to 600" >&2; exit 2; }
bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$bench_dir/.." && pwd)
GATEHOUSE_BIN=${GATEHOUSE_BIN:-$repo/target/release/gatehouse}
work=/tmp/gatehouse-soak
max_entries=20000
max_hashes=2

log() { printf '[soak] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
command -v python3 >/dev/null || die "python3 is required"
command -v curl >/dev/null || die "curl is required"

gh_pid=
nginx_pid=
cleanup() {
  local rc=$?
  set +e
  [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null
  if [ -n "$gh_pid" ] && kill -0 "$gh_pid" 2>/dev/null; then
    kill -9 "$gh_pid" 2>/dev/null
    wait "$gh_pid" 2>/dev/null
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  log "cargo build --release --locked"
  (cd "$repo" && cargo build --release --locked)
fi
[ -x "$GATEHOUSE_BIN" ] || die "$GATEHOUSE_BIN not found (build it, or unset SKIP_BUILD)"

rm -rf "$work"; mkdir -p "$work"

if command -v nginx >/dev/null; then
  upstream="nginx 1 worker, 127.0.0.1:18280"
  cat >"$work/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/nginx-body;
  server {
    listen 127.0.0.1:18280;
    keepalive_requests 100000;
    location / { return 200 "ok user=\$http_x_auth_user_id\n"; }
  }
}
EOF
  nginx -p "$work" -c "$work/nginx.conf" &
  nginx_pid=$!
  for _ in $(seq 50); do curl -fsS -o /dev/null 127.0.0.1:18280/ 2>/dev/null && break; sleep 0.1; done
  curl -fsS -o /dev/null 127.0.0.1:18280/ || die "nginx did not start (see $work/nginx-error.log)"
  target='upstream = "app"'
else
  upstream="Gatehouse's echo handler (nginx not installed)"
  target='handler = "echo"'
fi

cat >"$work/gatehouse-soak.toml" <<EOF
# Written by bench/soak.sh.
[server]
listen = "127.0.0.1:18290"
public_url = "http://127.0.0.1:18290"
admin_listen = "127.0.0.1:19290"
threads = 2
shutdown_grace = "2s"
# The driver plays many clients through X-Forwarded-For, as a load balancer would.
trusted_proxies = ["127.0.0.1/32"]

[log]
level = "warn"
access_log = false

[store]
url = "sqlite://$work/gatehouse.db"

[cache]
max_entries = $max_entries
ttl = "30s"
negative_ttl = "5s"

[oauth]
max_concurrent_hashes = $max_hashes
[oauth.lockout]
max_failures = 5
max_failures_per_address = 50
window = "60s"
ban = "60s"
[oauth.sign_up]
max_per_address = 5
max_per_client = 1000000
window = "60s"

[[clients]]
id = "soak-app"
legacy = true
grant_types = ["password", "refresh_token"]
scopes = ["read", "write"]

[[upstreams]]
name = "app"
addrs = ["127.0.0.1:18280"]

[[routes]]
name = "api"
path_prefix = "/api"
$target
auth = "required"
EOF
if [ "$target" = 'handler = "echo"' ]; then
  # No upstream to point at: the group would only fail its address.
  python3 - "$work/gatehouse-soak.toml" <<'EOF'
import sys
p = sys.argv[1]
s = open(p).read().replace('[[upstreams]]\nname = "app"\naddrs = ["127.0.0.1:18280"]\n', '')
open(p, "w").write(s)
EOF
fi
"$GATEHOUSE_BIN" check-config --config "$work/gatehouse-soak.toml" >&2

"$GATEHOUSE_BIN" --config "$work/gatehouse-soak.toml" >"$work/gatehouse.log" 2>&1 &
gh_pid=$!
for _ in $(seq 100); do
  kill -0 "$gh_pid" 2>/dev/null || { cat "$work/gatehouse.log" >&2; die "Gatehouse exited at start"; }
  curl -fsS -o /dev/null 127.0.0.1:19290/readyz 2>/dev/null && break
  sleep 0.1
done
curl -fsS -o /dev/null 127.0.0.1:19290/readyz || die "Gatehouse not ready after 10 s"

log "soak for ${duration}s; upstream: $upstream"
note="$(date -u +%Y-%m-%dT%H:%MZ), $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?'), \
binary $GATEHOUSE_BIN, upstream $upstream, $(nproc) cores, load average at start \
$(cut -d' ' -f1-3 /proc/loadavg), nice $(nice)."
set +e
python3 "$bench_dir/soak.py" --proxy 127.0.0.1:18290 --admin 127.0.0.1:19290 --pid "$gh_pid" \
  --duration "$duration" --max-entries "$max_entries" --max-hashes "$max_hashes" \
  --report "$work/report.md" --note "$note"
rc=$?
set -e

# A graceful stop after the soak must still exit 0.
kill -TERM "$gh_pid"
for _ in $(seq 150); do kill -0 "$gh_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$gh_pid" 2>/dev/null; then
  log "Gatehouse did not exit within 15 s of SIGTERM"; rc=1
else
  wait "$gh_pid" && gh_rc=0 || gh_rc=$?
  gh_pid=
  echo "SIGTERM after the soak: exit status $gh_rc." >>"$work/report.md"
  [ "$gh_rc" = 0 ] || rc=1
fi
if grep -q . "$work/gatehouse.log"; then
  log "Gatehouse log (warnings and errors):"; tail -n 20 "$work/gatehouse.log" >&2
fi
mkdir -p "$bench_dir/results"
cp "$work/report.md" "$bench_dir/results/soak-latest.md"
log "report: bench/results/soak-latest.md (exit $rc)"
exit "$rc"

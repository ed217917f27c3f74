#!/usr/bin/env bash
# Memory per cached identity (issue 14, part 3): RSS of a release Gatehouse at idle, then after
# 100,000 distinct valid tokens have each been validated once (so 100k identities sit in the
# cache). Target: ≤ 64 MiB at 100k.
#
#   bench/cache_memory.sh                 # target/release/gatehouse, 100,000 tokens
#   TOKENS=20000 GATEHOUSE_BIN=… bench/cache_memory.sh
#
# Then, with FORGED > 0 (default 1,000,000; needs wrk), a flood of that many random Bearer
# tokens (bench/forged.lua, FLOOD_KIND default mixed) against the same process: RSS after it and
# the store lookups it caused (0: the `gth1_` checksum screen refuses them before the cache).
#
# Needs nginx (upstream stand-in) and python3. Ports 18580 (upstream), 18590, 19590 (admin).
# Prints key/value lines; bench/results/latest.md quotes them.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."

TOKENS=${TOKENS:-100000}
FORGED=${FORGED:-1000000}
FLOOD_KIND=${FLOOD_KIND:-mixed}
BIN=${GATEHOUSE_BIN:-target/release/gatehouse}
work=$(mktemp -d /tmp/gatehouse-memory.XXXX)
CHECKSUM_KEY=$(python3 -c 'import os; print(os.urandom(32).hex())')
[ -x "$BIN" ] || { echo "cache_memory.sh: no binary at $BIN" >&2; exit 1; }
command -v nginx >/dev/null || { echo "cache_memory.sh: nginx is missing" >&2; exit 1; }

write_echo_upstream "$work/nginx.conf" "$work" 18580 'ok\n'
cat >"$work/gatehouse.toml" <<EOF
[server]
listen = "127.0.0.1:18590"
public_url = "http://127.0.0.1:18590"
admin_listen = "127.0.0.1:19590"
threads = 1
shutdown_grace = "1s"

[log]
level = "warn"
access_log = false

[store]
url = "sqlite://$work/gatehouse.db"

# Tokens as Gatehouse issues them (gth1_ + checksum): the harness mints them under this key,
# and only those are looked up.
[tokens]
checksum_key = "$CHECKSUM_KEY"
accept_unstructured = false

# Room for every identity, and the longest lifetime allowed (5 minutes), so the first tokens
# are still cached when the last are touched (a release build touches 100k in well under that).
[cache]
max_entries = 200000
ttl = "300s"

[[upstreams]]
name = "app"
addrs = ["127.0.0.1:18580"]

[[routes]]
name = "auth"
path_prefix = "/auth"
upstream = "app"
auth = "required"
EOF

nginx -c "$work/nginx.conf" -p "$work" &
nginx_pid=$!
"$BIN" --config "$work/gatehouse.toml" >"$work/gatehouse.log" 2>&1 &
gh_pid=$!
trap 'kill $gh_pid $nginx_pid 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do
  curl -sf -o /dev/null http://127.0.0.1:19590/healthz && break
  sleep 0.1
done
kill -0 $gh_pid 2>/dev/null || { echo "cache_memory.sh: Gatehouse exited:" >&2; cat "$work/gatehouse.log" >&2; exit 1; }
# One warm-up request so the idle figure includes the connection and runtime set-up.
curl -s -o /dev/null http://127.0.0.1:18590/auth/x || true
sleep 1
python3 bench/cache_memory.py --db "$work/gatehouse.db" --pid "$gh_pid" --port 18590 \
  --admin 19590 --tokens "$TOKENS" --checksum-key "$CHECKSUM_KEY"

[ "$FORGED" -gt 0 ] || exit 0
command -v wrk >/dev/null || { echo "cache_memory.sh: wrk is missing (or FORGED=0)" >&2; exit 1; }
metric() { # metric SERIES: its value in the exposition, 0 when absent
  curl -fs http://127.0.0.1:19590/metrics | awk -v s="$1" '$1 == s { v = $2 } END { print v + 0 }'
}
refused() {
  echo $(( $(metric 'gatehouse_auth_decisions_total{result="forged"}') \
    + $(metric 'gatehouse_auth_decisions_total{result="unstructured"}') \
    + $(metric 'gatehouse_auth_decisions_total{result="invalid"}') ))
}
lookups0=$(metric gatehouse_token_store_lookups_total)
refused0=$(refused)
FLOOD_KIND=$FLOOD_KIND FLOOD_PER_THREAD=$(( (FORGED + 1) / 2 )) wrk -t2 -c32 -d3600s \
  -s bench/forged.lua http://127.0.0.1:18590/auth/x >"$work/flood.out" 2>&1 &
flood_pid=$!
# wrk waits out -d after its quota: end it once Gatehouse has refused every forged token.
while kill -0 $flood_pid 2>/dev/null && [ $(( $(refused) - refused0 )) -lt "$FORGED" ]; do
  sleep 1
done
kill -INT $flood_pid 2>/dev/null || true
wait $flood_pid || true
sleep 2
echo "forged_tokens $(( $(refused) - refused0 ))"
echo "forged_store_lookups $(( $(metric gatehouse_token_store_lookups_total) - lookups0 ))"
echo "after_forged_rss_kib $(awk '$1 == "VmRSS:" { print $2 }' /proc/$gh_pid/status)"
echo "peak_rss_kib $(awk '$1 == "VmHWM:" { print $2 }' /proc/$gh_pid/status)"

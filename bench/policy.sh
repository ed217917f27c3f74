#!/usr/bin/env bash
# Issue 15's benchmark: one route without a policy or limit (`plain`), the same route with a
# 5-rule policy whose allowing rule is the last one and a local per-user rate limit (`policy`),
# and the same with the limit's buckets in Redis (`redis`), all in one Gatehouse and one run,
# rounds interleaved (A B C A B C …) so machine noise falls on every target alike. Reports the
# median req/s, p99 and process CPU per request of each, and policy/plain.
#
#   bench/policy.sh                       # builds --release, 3 rounds of 10 s
#   SKIP_BUILD=1 DURATION=5 bench/policy.sh
#
# Needs wrk, nginx (upstream stand-in) and Redis on 127.0.0.1:6379. Loopback only; ports
# 18380 (upstream), 18390 (Gatehouse), 19390 (admin). Writes bench/results/policy-latest.md.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-32}
BIN=${GATEHOUSE_BIN:-target/release/gatehouse}
work=$(mktemp -d /tmp/gatehouse-policy-bench.XXXX)

[ -n "${SKIP_BUILD:-}" ] || cargo build --locked --release >&2
for tool in wrk nginx redis-cli; do
  command -v "$tool" >/dev/null || { echo "policy.sh: $tool is missing" >&2; exit 1; }
done
redis-cli -h 127.0.0.1 ping >/dev/null || { echo "policy.sh: no Redis on 127.0.0.1:6379" >&2; exit 1; }

write_echo_upstream "$work/nginx.conf" "$work" 18380 'ok user=$http_x_auth_user_id\n'

policy_rules='[
  { deny = { method = ["DELETE"] } },
  { deny = { path = "/bench/admin/**" } },
  { deny = { claim = "groups", any_of = ["banned"] } },
  { allow = { all = [ { method = ["OPTIONS"] }, { path = "/bench/*/meta" } ] } },
  { allow = { all = [ { scopes = ["write"] }, { claim = "groups", any_of = ["editors", "admins"] } ] } },
]'
cat >"$work/gatehouse.toml" <<EOF
[server]
listen = "127.0.0.1:18390"
public_url = "http://127.0.0.1:18390"
admin_listen = "127.0.0.1:19390"
threads = 1
shutdown_grace = "1s"

[log]
level = "warn"
access_log = false

[store]
url = "sqlite://$work/gatehouse.db"

[[upstreams]]
name = "app"
addrs = ["127.0.0.1:18380"]

[[policies]]
name = "editors"
rules = $policy_rules

# Limits generous enough never to refuse: what is measured is the cost of drawing a token.
[[rate_limits]]
name = "local"
key = "user"
rate = "1000000/s"
burst = 1000000

[[rate_limits]]
name = "shared"
key = "user"
rate = "1000000/s"
burst = 1000000
backend = "redis://127.0.0.1:6379"
key_prefix = "gatehouse-bench-$$"

[[routes]]
name = "plain"
path_prefix = "/plain"
upstream = "app"
auth = "required"

[[routes]]
name = "policy"
path_prefix = "/policy"
upstream = "app"
auth = "required"
policy = "editors"
rate_limit = "local"

[[routes]]
name = "redis"
path_prefix = "/redis"
upstream = "app"
auth = "required"
policy = "editors"
rate_limit = "shared"
EOF

"$BIN" check-config --config "$work/gatehouse.toml" >&2
nginx -c "$work/nginx.conf" -p "$work" &
nginx_pid=$!
"$BIN" --config "$work/gatehouse.toml" >"$work/gatehouse.log" 2>&1 &
gh_pid=$!
trap 'kill $gh_pid $nginx_pid 2>/dev/null || true; wait 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -sf -o /dev/null http://127.0.0.1:19390/healthz && break
  sleep 0.1
done
token=$("$BIN" token issue --config "$work/gatehouse.toml" --user bench-user --name bench \
  --scopes write --groups editors)
for target in plain policy redis; do
  got=$(curl -s -H "Authorization: Bearer $token" "http://127.0.0.1:18390/$target/x")
  [ "$got" = "ok user=bench-user" ] || { echo "policy.sh: /$target answered: $got" >&2; exit 1; }
done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$gh_pid/stat"; }
hz=$(getconf CLK_TCK)
declare -A rps p99 cpu
for round in $(seq "$ROUNDS"); do
  for target in plain policy redis; do
    before=$(cpu_ticks)
    out=$(BENCH_TOKEN=$token wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency \
      -s bench/auth.lua "http://127.0.0.1:18390/$target/x")
    after=$(cpu_ticks)
    if grep -q "Non-2xx" <<<"$out"; then
      echo "policy.sh: /$target had non-2xx answers:" >&2
      grep "Non-2xx" <<<"$out" >&2
      exit 1
    fi
    n=$(sed -n 's/^requests_total \([0-9]*\)/\1/p' <<<"$out")
    rps[$target]+="$(awk -v n="$n" -v d="$DURATION" 'BEGIN {printf "%.0f", n / d}') "
    p99[$target]+="$(sed -n 's/^p99_us \([0-9]*\)/\1/p' <<<"$out") "
    cpu[$target]+="$(awk -v t=$((after - before)) -v hz="$hz" -v n="$n" 'BEGIN {printf "%.2f", t / hz * 1e6 / n}') "
    echo "round $round $target: $n requests" >&2
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
out=bench/results/policy-latest.md
{
  echo "# Policy and rate-limit cost ($(date -u +%F), $(git rev-parse --short HEAD), $ROUNDS rounds × ${DURATION} s, wrk -t1 -c$CONNECTIONS, threads = 1)"
  echo
  echo "| Route | req/s (median) | p99 µs (median) | CPU µs/req (median) | rounds req/s |"
  echo "|---|---:|---:|---:|---|"
  for target in plain policy redis; do
    echo "| $target | $(median <<<"${rps[$target]}") | $(median <<<"${p99[$target]}") | $(median <<<"${cpu[$target]}") | ${rps[$target]}|"
  done
  echo
  plain=$(median <<<"${rps[plain]}")
  echo "policy / plain = $(awk -v a="$(median <<<"${rps[policy]}")" -v b="$plain" 'BEGIN {printf "%.3f", a / b}');" \
    "redis / plain = $(awk -v a="$(median <<<"${rps[redis]}")" -v b="$plain" 'BEGIN {printf "%.3f", a / b}')"
} | tee "$out"

#!/usr/bin/env bash
# The per-request cost model (issue 14, part 1): instructions per proxied request, counted by
# `valgrind --tool=callgrind`, which is deterministic for a given binary and input whatever
# else the machine is doing. Use it to A/B a hot-path change before any wrk run.
#
#   bench/cost.sh                    # target/release/gatehouse, 2000 requests per scenario
#   GATEHOUSE_BIN=/path/to/gatehouse N=5000 bench/cost.sh
#
# One Gatehouse runs under callgrind (routes: public, authenticated, authenticated + 5-rule
# policy, + a local per-user rate limit, authenticated + signed identity assertion; forward-auth
# decisions on a listener of their own) and a second one with the cache off (the miss path).
# Tokens: opaque, an external HS256 JWT, and Gatehouse's own EdDSA JWT (`tokens.format =
# "jwt"`, from the token endpoint).
# Every scenario first sends a few warm-up requests on one keep-alive connection, then
# `callgrind_control --zero`, N requests, `callgrind_control --dump`: the dump holds exactly
# those N requests (plus whatever background timers ran meanwhile, which is noise of well under
# 1%). Per request = dump total / N. Writes bench/results/cost-latest.md with the table and
# the top 15 inclusive functions of the cached-opaque scenario.
#
# Needs valgrind and nginx (upstream stand-in). Loopback ports 18680 (upstream), 18690/18691
# (Gatehouse), 18692 (decisions), 19690/19691 (admin).
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."

N=${N:-2000}
WARM=${WARM:-50}
BIN=${GATEHOUSE_BIN:-target/release/gatehouse}
OUT=${OUT:-bench/results/cost-latest.md}
# What the binary was built from, for the report (default: this checkout's HEAD).
LABEL=${LABEL:-$(git rev-parse --short HEAD)}
work=$(mktemp -d /tmp/gatehouse-cost.XXXX)

for tool in valgrind callgrind_control callgrind_annotate nginx python3; do
  command -v "$tool" >/dev/null || { echo "cost.sh: $tool is missing" >&2; exit 1; }
done
[ -x "$BIN" ] || { echo "cost.sh: no binary at $BIN (cargo build --release)" >&2; exit 1; }

write_echo_upstream "$work/nginx.conf" "$work" 18680 'ok user=$http_x_auth_user_id\n'

# $1 = listen port, $2 = admin port, $3 = database, $4 = extra tables ([cache], [forward_auth]).
write_config() {
  cat <<EOF
[server]
listen = "127.0.0.1:$1"
public_url = "http://127.0.0.1:$1"
admin_listen = "127.0.0.1:$2"
threads = 1
shutdown_grace = "1s"
trusted_proxies = ["127.0.0.1"]

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

[[jwt.issuers]]
issuer = "https://bench.example/"
audiences = ["bench"]
algorithms = ["HS256"]
secret = "bench-secret-bench-secret-bench-secret"

[[upstreams]]
name = "app"
addrs = ["127.0.0.1:18680"]

[[policies]]
name = "editors"
rules = [
  { deny = { method = ["DELETE"] } },
  { deny = { path = "/bench/admin/**" } },
  { deny = { claim = "groups", any_of = ["banned"] } },
  { allow = { all = [ { method = ["OPTIONS"] }, { path = "/bench/*/meta" } ] } },
  { allow = { all = [ { scopes = ["write"] }, { claim = "groups", any_of = ["editors", "admins"] } ] } },
]

# Generous enough never to refuse: what is measured is the cost of drawing a token.
[[rate_limits]]
name = "local"
key = "user"
rate = "1000000/s"
burst = 1000000

[[routes]]
name = "auth"
path_prefix = "/auth"
upstream = "app"
auth = "required"

[[routes]]
name = "policy"
path_prefix = "/policy"
upstream = "app"
auth = "required"
policy = "editors"

[[routes]]
name = "limited"
path_prefix = "/limited"
upstream = "app"
auth = "required"
policy = "editors"
rate_limit = "local"

[[routes]]
name = "assert"
path_prefix = "/assert"
upstream = "app"
auth = "required"
assertion = true

[[routes]]
name = "public"
path_prefix = "/"
upstream = "app"
auth = "public"
EOF
}
rm -f "$work/signing.pem"
"$BIN" keys generate --algorithm ed25519 --out "$work/signing.pem"
# Decisions on a listener of their own, so the proxy scenarios do not pay for the check.
write_config 18690 19690 cached.db '[forward_auth]
listen = "127.0.0.1:18692"' >"$work/cached.toml"
write_config 18691 19691 nocache.db '[cache]
ttl = "0s"
negative_ttl = "0s"' >"$work/nocache.toml"

pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true' EXIT
nginx -c "$work/nginx.conf" -p "$work" &
pids+=($!)

"$BIN" check-config --config "$work/cached.toml" >&2
# Both instances share one signing secret for the JWT and one token per store.
opaque=$("$BIN" token issue --config "$work/cached.toml" --user bench-user --name bench \
  --scopes write --groups editors)
opaque_nc=$("$BIN" token issue --config "$work/nocache.toml" --user bench-user --name bench \
  --scopes write --groups editors)
jwt=$(python3 - <<'EOF'
import base64, hashlib, hmac, json, time
def b64(raw): return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
now = int(time.time())
h = b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
p = b64(json.dumps({"sub": "user-42", "iat": now, "exp": now + 86400, "scope": "write", "iss": "https://bench.example/", "aud": "bench"}, separators=(",", ":")).encode())
s = b64(hmac.new(b"bench-secret-bench-secret-bench-secret", f"{h}.{p}".encode(), hashlib.sha256).digest())
print(f"{h}.{p}.{s}")
EOF
)

start() { # $1 = name, $2 = config
  valgrind --tool=callgrind --callgrind-out-file="$work/$1.%p.cg" \
    "$BIN" --config "$2" >"$work/$1.log" 2>&1 &
  pids+=($!)
  echo $!
}
cached_pid=$(start cached "$work/cached.toml")
nocache_pid=$(start nocache "$work/nocache.toml")
# `start` ran in a command substitution, so its `pids+=` did not reach this shell: without
# these, both instances outlived the script and held the ports for the next run.
pids+=("$cached_pid" "$nocache_pid")
for port in 19690 19691; do
  for _ in $(seq 600); do
    curl -sf -o /dev/null "http://127.0.0.1:$port/healthz" && break
    sleep 0.2
  done
  curl -sf -o /dev/null "http://127.0.0.1:$port/healthz" \
    || { echo "cost.sh: Gatehouse on admin $port did not start" >&2; cat "$work"/*.log >&2; exit 1; }
done

# Gatehouse's own JWT (client_credentials; the instance signs it under callgrind).
own_jwt() { # $1 = port
  curl -sf -u bench-service:bench-service-secret-0123456789 \
    -d grant_type=client_credentials "http://127.0.0.1:$1/oauth/token" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])'
}
local_jwt=$(own_jwt 18690)
local_jwt_nc=$(own_jwt 18691)

# ONLY="public opaque" measures just those scenarios (a quick A/B of one lever); the table
# then leaves the others empty.
ONLY=${ONLY:-}

# $1 = scenario, $2 = pid, $3 = port, $4 = path, $5 = token or "-", $6 = the path an
# ingress describes to the decision endpoint (nginx auth_request's X-Original-URI), if any.
measure() {
  if [ -n "$ONLY" ] && ! grep -qw -- "$1" <<<"$ONLY"; then return 0; fi
  python3 - "$3" "$4" "$5" "$WARM" "${6:-}" <<'EOF'
import http.client, sys
port, path, token, warm = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
headers = {} if token == "-" else {"Authorization": f"Bearer {token}"}
if sys.argv[5]:
    headers.update({"X-Original-URI": sys.argv[5], "X-Original-Method": "GET",
                    "X-Forwarded-For": "192.0.2.7", "User-Agent": "bench"})
c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=120)
for _ in range(warm):
    c.request("GET", path, headers=headers)
    r = c.getresponse(); body = r.read()
    if r.status != 200:
        sys.exit(f"cost.sh: {path} answered {r.status}: {body[:200]!r}")
EOF
  callgrind_control --zero "$2" >/dev/null
  python3 - "$3" "$4" "$5" "$N" "${6:-}" <<'EOF'
import http.client, sys
port, path, token, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
headers = {} if token == "-" else {"Authorization": f"Bearer {token}"}
if sys.argv[5]:
    headers.update({"X-Original-URI": sys.argv[5], "X-Original-Method": "GET",
                    "X-Forwarded-For": "192.0.2.7", "User-Agent": "bench"})
c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=120)
for _ in range(n):
    c.request("GET", path, headers=headers)
    r = c.getresponse(); body = r.read()
    if r.status != 200:
        sys.exit(f"cost.sh: {path} answered {r.status}: {body[:200]!r}")
EOF
  callgrind_control --dump="$1" "$2" >/dev/null
  # The dump is written asynchronously; wait until its file is there and complete.
  local f=
  for _ in $(seq 100); do
    f=$(grep -l "^desc: Trigger: .*dump $1\$" "$work"/*.cg.* 2>/dev/null | head -1 || true)
    [ -n "$f" ] && grep -q '^totals:' "$f" && break
    sleep 0.2
  done
  [ -n "$f" ] || { echo "cost.sh: no dump for $1" >&2; exit 1; }
  mv "$f" "$work/dump-$1.cg"
  local total
  total=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$work/dump-$1.cg")
  echo "$1 $((total / N))"
}

results=$(
  measure public "$cached_pid" 18690 /x -
  measure opaque "$cached_pid" 18690 /auth/x "$opaque"
  measure jwt "$cached_pid" 18690 /auth/x "$jwt"
  measure policy "$cached_pid" 18690 /policy/x "$opaque"
  measure limited "$cached_pid" 18690 /limited/x "$opaque"
  measure localjwt "$cached_pid" 18690 /auth/x "$local_jwt"
  measure assertion "$cached_pid" 18690 /assert/x "$opaque"
  measure miss "$nocache_pid" 18691 /auth/x "$opaque_nc"
  measure decision "$cached_pid" 18692 /_gatehouse/auth "$opaque" /auth/x
  measure decision_jwt "$cached_pid" 18692 /_gatehouse/auth "$jwt" /auth/x
  measure missjwt "$nocache_pid" 18691 /auth/x "$local_jwt_nc"
)
# Issue 11: Gatehouse's own JWT (cached) on a route with the signed identity assertion, beside
# `localjwt` (the same token without it): what bench/signed.sh's assertion row costs.
results+=$'\n'$(
  measure localjwt_assert "$cached_pid" 18690 /assert/x "$local_jwt"
)
echo "$results" >&2
get() { awk -v k="$1" '$1 == k {print $2}' <<<"$results"; }
ratio() { awk -v a="$(get "$1")" -v b="$(get "$2")" 'BEGIN {if (b > 0) printf "%.3f", a / b}'; }

{
  echo "# Instructions per request ($(date -u +%F), $LABEL, $N keep-alive requests per scenario, callgrind)"
  echo
  echo "| Scenario | Instructions / request | vs public |"
  echo "|---|---:|---:|"
  echo "| public route | $(get public) | 1.000 |"
  echo "| cached opaque token | $(get opaque) | $(ratio opaque public) |"
  echo "| cached HS256 JWT | $(get jwt) | $(ratio jwt public) |"
  echo "| cached opaque + 5-rule policy | $(get policy) | $(ratio policy public) |"
  echo "| cached opaque + policy + local rate limit | $(get limited) | $(ratio limited public) |"
  echo "| cached Gatehouse EdDSA JWT | $(get localjwt) | $(ratio localjwt public) |"
  echo "| cached opaque + signed identity assertion | $(get assertion) | $(ratio assertion public) |"
  echo "| cache off (SQLite lookup per request) | $(get miss) | $(ratio miss public) |"
  echo "| forward-auth decision, cached opaque (nginx auth_request shape) | $(get decision) | $(ratio decision public) |"
  echo "| forward-auth decision, cached HS256 JWT | $(get decision_jwt) | $(ratio decision_jwt public) |"
  echo "| cache off, Gatehouse EdDSA JWT (signature + lookup) | $(get missjwt) | $(ratio missjwt public) |"
  echo
  echo "policy / cached opaque = $(ratio policy opaque); policy + limit / cached opaque = $(ratio limited opaque)"
  echo "assertion / cached opaque = $(ratio assertion opaque); own JWT / cached opaque = $(ratio localjwt opaque); own JWT miss / opaque miss = $(ratio missjwt miss)"
  echo
  echo "## Top 15 inclusive costs, cached opaque token (per request)"
  echo
  echo "Below the runtime's own frames (thread start, tokio's worker loop and task poll, which"
  echo "include everything): where a request's instructions go."
  echo
  echo '```'
  callgrind_annotate --threshold=100 --inclusive=yes "$work/dump-opaque.cg" 2>/dev/null \
    | python3 -c '
import re, sys
n = int(sys.argv[1])
skip = re.compile(r"PROGRAM TOTALS|clone\.S|start_thread|thread_start|call_once|rust_begin_short_backtrace|tokio::runtime::|BlockingTask")
rows = 0
for line in sys.stdin:
    m = re.match(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(?:\?\?\?:)?(.*?)(?: \[[^]]*\])?$", line)
    if not m or skip.search(m.group(2)):
        continue
    count = int(m.group(1).replace(",", "")) // n
    print(f"{count:>9}  {m.group(2)[:140]}")
    rows += 1
    if rows == 15:
        break
' "$N" || true # python stops reading after 15 rows: callgrind_annotate's SIGPIPE is expected
  echo '```'
} | tee "$OUT"
{
  echo
  echo "## Gatehouse's own JWT, with and without the assertion (issue 11)"
  echo
  echo "| Scenario | Instructions / request | vs public |"
  echo "|---|---:|---:|"
  echo "| cached own JWT (EdDSA, tokens.format = \"jwt\") | $(get localjwt) | $(ratio localjwt public) |"
  echo "| cached own JWT + assertion | $(get localjwt_assert) | $(ratio localjwt_assert public) |"
  echo
  echo "own JWT + assertion / own JWT = $(ratio localjwt_assert localjwt)"
} | tee -a "$OUT"
echo "cost.sh: dumps kept in $work" >&2

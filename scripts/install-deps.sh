#!/usr/bin/env bash
# Installs the Debian packages raftkv needs to build, run and test, and nothing else.
# Idempotent: a package already installed is skipped, so a second run costs a dpkg query.
# Run as root (make run / make test call it); a non-root user with everything installed
# passes straight through.
#
# The Debian package (debian/, make package, tests/cluster/test_package.py) needs debhelper and
# dpkg-dev to build it, lintian to check it, man-db (man --warnings) for the man pages,
# systemd for systemd-analyze verify (it needs no running systemd), and git for the commit
# that --version and INFO report.
set -euo pipefail

packages=(
  build-essential cmake pkg-config clang libclang-rt-dev
  libuv1-dev liblmdb-dev libxxhash-dev libssl-dev openssl libcmocka-dev libhttp-parser-dev
  libjansson-dev
  liblua5.1-0-dev lua-cjson-dev lua-bitop-dev
  python3 python3-pytest python3-redis
  python3-rq python3-limits python3-kombu python3-celery
  redis-tools redis-server
  nftables iproute2 procps
  libfaketime
  debhelper dpkg-dev lintian man-db systemd git
  # The dashboard's browser test: headless Chromium, driven over its DevTools websocket.
  chromium python3-websocket
)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run as root, or install them with apt-get" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

#!/usr/bin/env bash
# Install what taskbus needs on Debian 12 when it is missing: build tools, libraries, servers, and FerretDB.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
packages=(build-essential cmake pkg-config libhiredis-dev libevent-dev libmongoc-dev libbson-dev libmicrohttpd-dev libssl-dev
          libcjson-dev redis-server apache2-utils wrk curl python3 python3-pymongo python3-jsonschema python3-yaml
          gnuplot-nox clang libclang-rt-dev prometheus chromium chromium-driver python3-selenium)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  sudo=; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# Debian starts a system redis-server on 6379 when it installs the package; taskbus never uses it.
"$top/scripts/install-ferretdb.sh"

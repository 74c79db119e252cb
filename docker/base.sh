#!/usr/bin/env bash
# Build the local Debian base image once per machine (no registry is needed): debootstrap --variant=minbase from
# the Debian mirror that this machine's apt sources name, then `docker import`. Reused when the tag exists.
#   docker/base.sh [TAG]          (default taskbus-base:bookworm; FORCE=1 rebuilds; DEBIAN_MIRROR=… overrides)
set -euo pipefail
tag=${1:-${BASE_IMAGE:-taskbus-base:bookworm}}
suite=bookworm

if [ "${FORCE:-0}" != 1 ] && docker image inspect "$tag" >/dev/null 2>&1; then
  echo "base: $tag exists ($(docker image inspect -f '{{.Created}}' "$tag")), reused"
  exit 0
fi

sudo=; [ "$(id -u)" -eq 0 ] || sudo=sudo

# The mirrors this machine's apt uses (deb822 "URIs:" lines or one-line "deb URL suite …" entries).
apt_uris() {
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
    sed -n -e 's/^URIs:[[:space:]]*//p' -e 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]\+\).*/\2/p' |
    tr ' ' '\n' | sed 's:/*$::' | grep -v '^$' || true
}
mirror=${DEBIAN_MIRROR:-$(apt_uris | grep -E '/debian$' | head -1)}
mirror=${mirror:-http://deb.debian.org/debian}
security=${DEBIAN_SECURITY_MIRROR:-$(apt_uris | grep -E '/debian-security$' | head -1)}

if ! command -v debootstrap >/dev/null; then
  echo "base: installing debootstrap"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends debootstrap
fi

root=$(mktemp -d /var/tmp/taskbus-base.XXXXXX)
cleanup() {
  # debootstrap may leave /proc or /sys mounted inside the tree when it fails: unmount before removing anything.
  for m in $(awk -v r="$root" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r); do $sudo umount -l "$m" || true; done
  $sudo rm -rf --one-file-system "$root"
}
trap cleanup EXIT

echo "base: debootstrap --variant=minbase $suite $root $mirror (a few minutes)"
start=$(date +%s)
$sudo debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$root.log" 2>&1 || {
  tail -30 "$root.log" >&2; rm -f "$root.log"; echo "base: debootstrap failed" >&2; exit 1; }
rm -f "$root.log"

# apt sources as on the host (updates and security when the host has them), and the usual container apt settings:
# no recommends, no caches or documentation kept in image layers.
{
  echo "deb $mirror $suite main"
  echo "deb $mirror $suite-updates main"
  [ -z "$security" ] || echo "deb $security $suite-security main"
} | $sudo tee "$root/etc/apt/sources.list" >/dev/null
$sudo tee "$root/etc/apt/apt.conf.d/90taskbus-container" >/dev/null <<'CONF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
CONF
$sudo tee "$root/etc/dpkg/dpkg.cfg.d/90taskbus-nodoc" >/dev/null <<'CONF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
CONF
$sudo rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb "$root"/var/log/*.log "$root"/tmp/*

$sudo tar --numeric-owner -C "$root" -c . |
  docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
                --change 'CMD ["/bin/bash"]' --message "debootstrap --variant=minbase $suite $mirror" - "$tag" >/dev/null
echo "base: built $tag from $mirror in $(( $(date +%s) - start ))s ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}'))"

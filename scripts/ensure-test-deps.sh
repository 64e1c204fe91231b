#!/usr/bin/env bash
# Installs the real parts the tests run against, only when missing (Debian 12, root):
# docker.io (private engines), busybox-static (test image), prometheus/promtool, python3-aiosmtpd (SMTP server),
# iproute2 (network namespaces of the test swarm), and scripts/test-packages.txt (prometheus-node-exporter for the dashboards, logrotate for the shipper's copytruncate test).
set -euo pipefail
need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
[ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -qx nc || need+=(busybox-static)
command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 || need+=(prometheus)
/usr/bin/python3 -c 'import aiosmtpd' >/dev/null 2>&1 || need+=(python3-aiosmtpd)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v nsenter >/dev/null 2>&1 || need+=(util-linux)
if [ -f "$(dirname "$0")/test-packages.txt" ]; then
  while read -r pkg cmd; do
    [ -z "$pkg" ] || [[ "$pkg" == \#* ]] && continue
    if [ -n "${cmd:-}" ]; then command -v "$cmd" >/dev/null 2>&1 || need+=("$pkg"); else dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg"); fi
  done < "$(dirname "$0")/test-packages.txt"
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "swarmwatch: installing test dependencies: ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi
# Debian starts no engine here, but if a distro unit did, the tests never touch it: they run private engines.

#!/usr/bin/env sh
# One-command deployment of swarmwatch on the swarm this manager belongs to.
# Usage: deploy/deploy.sh [stack name]   (settings: see docs/deploy.md; e.g. GELF_DESTINATION=udp://graylog:12201)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
stack=${1:-swarmwatch}
mkdir -p "$here/secrets"
chmod 700 "$here/secrets"
# Secrets the operator did not provide: empty disables SMTP AUTH / webhook signing; the API token and
# the Grafana admin password get random values (printed once).
# Swarm rejects a 0-byte secret ("secret data must be larger than 0"): "empty" is one newline, which
# swarmwatch strips from *_FILE values (an operator's 0-byte file gets the same newline).
for s in smtp_password webhook_secret; do [ -s "$here/secrets/$s" ] || printf '\n' > "$here/secrets/$s"; done
for s in api_token grafana_admin_password; do
  if [ ! -f "$here/secrets/$s" ]; then
    (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$here/secrets/$s")
    echo "generated $here/secrets/$s" >&2
  fi
done
exec docker stack deploy --resolve-image ${SWARMWATCH_RESOLVE_IMAGE:-changed} -c "$here/stack.yml" "$stack"

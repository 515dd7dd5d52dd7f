#!/usr/bin/env bash
# Makes sure a Docker engine answers: installs Debian's docker.io when dockerd
# is missing and starts dockerd when nothing listens. For CI and fresh machines.
set -euo pipefail
if docker info >/dev/null 2>&1; then exit 0; fi
if ! command -v dockerd >/dev/null; then
  echo "installing docker.io (Debian) ..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends docker.io iptables >&2
fi
log="${BOTTLE_DOCKERD_LOG:-/tmp/claude-bottle-dockerd.log}"
echo "starting dockerd (log: $log) ..." >&2
nohup dockerd >"$log" 2>&1 &
for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then echo "docker engine is up" >&2; exit 0; fi
  sleep 1
done
echo "dockerd did not come up within 60 s; see $log" >&2
tail -20 "$log" >&2 || true
exit 1

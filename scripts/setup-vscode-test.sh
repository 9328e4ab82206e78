#!/usr/bin/env bash
# Installs what the tests that run the extension in a real VS Code need (test/vscode/), outside the
# project's own npm dependencies, cached, idempotently:
#   - Node 24 from the npm registry (package node-linux-<arch>: bin/node + the headers node-gyp needs),
#   - code-server (a real VS Code server + web workbench; it requires Node 24), built against that Node,
#   - as root, Debian's chromium (the browser), libkrb5-dev and pkg-config (a native module of code-server).
# Cache: ${DIFFLORA_VSCODE_CACHE:-$HOME/.cache/difflora-vscode-test}. It writes $CACHE/current.json
# ({node, codeServer, codeServerVersion, nodeVersion}), which test/vscode/harness.ts reads.
# A second run with everything in place does nothing (well under a second).
#   bash scripts/setup-vscode-test.sh [--force]
set -euo pipefail

NODE_VERSION=24.21.0
CODE_SERVER_VERSION=4.139.1
CACHE="${DIFFLORA_VSCODE_CACHE:-$HOME/.cache/difflora-vscode-test}"

case "$(uname -m)" in
  x86_64|amd64) node_arch=x64 ;;
  aarch64|arm64) node_arch=arm64 ;;
  *) echo "setup-vscode-test: unsupported architecture $(uname -m)" >&2; exit 1 ;;
esac

node_dir="$CACHE/node-v$NODE_VERSION-linux-$node_arch"
cs_dir="$CACHE/code-server-$CODE_SERVER_VERSION"
cs_entry="$cs_dir/node_modules/code-server/out/node/entry.js"
force=0; [ "${1:-}" = "--force" ] && force=1

mkdir -p "$CACHE"
# One setup at a time on this cache (two CI jobs, or a test run starting setup while another runs).
exec 9>"$CACHE/.lock"
command -v flock >/dev/null && flock 9

log() { echo "setup-vscode-test: $*"; }
rm -rf "$CACHE"/.node.* "$CACHE"/.code-server.*  # what an interrupted run left
t0=$(date +%s)

# 1. System packages (as root; otherwise say what is missing).
apt_pkgs=()
[ -x /usr/bin/chromium ] || apt_pkgs+=(chromium)
[ -f /usr/include/gssapi/gssapi.h ] || apt_pkgs+=(libkrb5-dev)
command -v pkg-config >/dev/null || apt_pkgs+=(pkg-config)
if [ "${#apt_pkgs[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "apt-get install ${apt_pkgs[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_pkgs[@]}" >/dev/null
  else
    log "please install these system packages (as root): ${apt_pkgs[*]}" >&2
    # chromium only matters when the tests run; the headers are needed to build code-server now.
    for p in "${apt_pkgs[@]}"; do [ "$p" = chromium ] || exit 1; done
  fi
fi

# 2. Node 24 (only a binary and headers: npm itself is the system's, run by this Node).
if [ "$force" = 1 ] || [ ! -x "$node_dir/bin/node" ] || [ ! -f "$node_dir/.complete" ]; then
  log "Node $NODE_VERSION -> $node_dir"
  tmp="$(mktemp -d "$CACHE/.node.XXXXXX")"
  (cd "$tmp" && npm pack --silent "node-linux-$node_arch@$NODE_VERSION" >/dev/null 2>"$tmp/npm-pack.log") \
    || { cat "$tmp/npm-pack.log" >&2; exit 1; }
  tar xzf "$tmp"/node-linux-*.tgz -C "$tmp"
  chmod +x "$tmp/package/bin/node"
  "$tmp/package/bin/node" -e 'if (!process.version.startsWith("v24.")) process.exit(1)'
  rm -rf "$node_dir"
  mv "$tmp/package" "$node_dir"
  rm -rf "$tmp"
  touch "$node_dir/.complete"
fi

# 3. code-server, built with Node 24 first on PATH (npm then runs under it and so do the install
#    scripts) and against its headers. npm_config_nodedir in the environment wins over a `nodedir` in
#    ~/.npmrc (which would otherwise point node-gyp at the system Node 20's headers). JOBS=max: node-gyp
#    compiles on every core (sqlite3, spdlog, kerberos, ... are built from source: minutes of CPU).
if [ "$force" = 1 ] || [ ! -f "$cs_entry" ] || [ ! -f "$cs_dir/.complete" ]; then
  log "code-server $CODE_SERVER_VERSION -> $cs_dir (a few minutes: ~10 native addons)"
  tmp="$(mktemp -d "$CACHE/.code-server.XXXXXX")"
  echo '{"name":"difflora-vscode-test-cache","private":true}' >"$tmp/package.json"
  if ! (cd "$tmp" && \
        PATH="$node_dir/bin:$PATH" \
        npm_config_nodedir="$node_dir" JOBS="${JOBS:-max}" \
        npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false \
        npm install --no-save --no-package-lock "code-server@$CODE_SERVER_VERSION" \
        >"$tmp/npm-install.log" 2>&1); then
    tail -n 60 "$tmp/npm-install.log" >&2
    log "npm install code-server failed; full log in $tmp/npm-install.log" >&2
    exit 1
  fi
  # The addons must load in Node 24 (a build against the wrong headers fails here, not in a test).
  (cd "$tmp/node_modules/code-server" && \
    "$node_dir/bin/node" -e 'require("argon2"); const r = require("module").createRequire(require.resolve("./lib/vscode/package.json")); r("@vscode/spdlog"); r("@vscode/sqlite3"); r("node-pty")') \
    || { log "code-server's native modules do not load in Node $NODE_VERSION" >&2; exit 1; }
  rm -rf "$cs_dir"
  mkdir -p "$cs_dir"
  mv "$tmp/node_modules" "$tmp/package.json" "$cs_dir/"
  rm -rf "$tmp"
  touch "$cs_dir/.complete"
fi

# 4. Where the harness finds them.
cat >"$CACHE/current.json.tmp" <<EOF
{
  "node": "$node_dir/bin/node",
  "nodeVersion": "$NODE_VERSION",
  "codeServer": "$cs_entry",
  "codeServerVersion": "$CODE_SERVER_VERSION",
  "chromium": "/usr/bin/chromium"
}
EOF
mv "$CACHE/current.json.tmp" "$CACHE/current.json"
log "ready in $(( $(date +%s) - t0 )) s ($CACHE)"

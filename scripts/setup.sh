#!/usr/bin/env bash
# Installs what DiffLoRA Lens needs on a fresh Debian/Ubuntu machine, then the npm dependencies, then
# builds the native backend's addon (engine/native: C++ over a statically linked OpenBLAS).
#   bash scripts/setup.sh          the engine and CLI
#   bash scripts/setup.sh --test   also what the tests use: numpy (the numerical reference),
#                                  chromium (its SwiftShader Vulkan driver runs the webgpu backend on a CPU)
#   bash scripts/setup.sh --bench  also the benchmarks' peer: Debian's PyTorch with OpenBLAS
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0; want_bench=0
[ "${1:-}" = "--test" ] && want_test=1
[ "${1:-}" = "--bench" ] && want_test=1 && want_bench=1

apt_pkgs=()
# The native addon's build: a C++ toolchain and OpenBLAS's static library and headers (pthread flavour);
# on macOS the Xcode command line tools (clang++) and Accelerate, which comes with the OS.
if [ "$(uname -s)" = Darwin ]; then
  command -v clang++ >/dev/null || echo "setup: please install the Xcode command line tools (xcode-select --install)" >&2
else
  command -v g++ >/dev/null && command -v make >/dev/null || apt_pkgs+=(g++ make)
  compgen -G '/usr/lib/*/openblas-pthread/libopenblas.a' >/dev/null || apt_pkgs+=(libopenblas-pthread-dev)
fi
if [ "$want_test" = 1 ]; then
  [ -f /usr/lib/chromium/vk_swiftshader_icd.json ] || apt_pkgs+=(chromium)
  [ -e /usr/lib/x86_64-linux-gnu/libvulkan.so.1 ] || [ -e /usr/lib/aarch64-linux-gnu/libvulkan.so.1 ] || apt_pkgs+=(libvulkan1)
  python3 -c 'import numpy' 2>/dev/null || /usr/bin/python3 -c 'import numpy' 2>/dev/null || apt_pkgs+=(python3-numpy)
  command -v bwrap >/dev/null || apt_pkgs+=(bubblewrap)  # the HumanEval sandbox (namespaces); without it: a warned fallback
fi
if [ "$want_bench" = 1 ]; then
  # Without OpenBLAS Debian's torch falls back to a generic BLAS: a crippled peer.
  /usr/bin/python3 -c 'import torch' 2>/dev/null || apt_pkgs+=(python3-torch)
  [ -d /usr/lib/x86_64-linux-gnu/openblas-pthread ] || [ -d /usr/lib/aarch64-linux-gnu/openblas-pthread ] || apt_pkgs+=(libopenblas0-pthread)
fi
if [ "${#apt_pkgs[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: apt-get install ${apt_pkgs[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_pkgs[@]}" >/dev/null
  else
    echo "setup: please install these system packages: ${apt_pkgs[*]}" >&2
  fi
fi

# Dependencies exactly as locked; the optional `webgpu` package brings Dawn's prebuilt dawn.node.
npm ci --no-audit --no-fund
# Without the addon the engine still runs, on wasm (several times slower); in CI its tests then fail.
npm run build:native || echo "setup: the native backend's addon did not build (see above): the engine will fall back to wasm" >&2
# With --test: Node 24 + code-server (a real VS Code, for test/vscode), cached outside node_modules.
if [ "$want_test" = 1 ]; then bash scripts/setup-vscode-test.sh; fi

#!/usr/bin/env bash
# `npm run check:native-portability`: the native addon beyond the CI's GCC x86-64 build, as far as this
# Linux machine can see it (macOS itself cannot be checked here):
#   1. built with clang (macOS's compiler; no GCC target_clones there) and put through the native kernel,
#      reader and numerics tests;
#   2. every source compiled for aarch64 Linux (GCC cross compiler, -Wall -Werror; objects only, as no
#      arm64 Node runs here): the code paths without x86 dispatch.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v clang++ >/dev/null || need+=(clang)
command -v aarch64-linux-gnu-g++ >/dev/null || need+=(g++-aarch64-linux-gnu)
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "check-native-portability: please install ${need[*]}" >&2
    exit 1
  fi
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r engine/native/binding.gyp engine/native/build.js engine/native/src "$work/"
ln -s "$PWD/node_modules" "$work/node_modules"

echo "== clang build"
CC=clang CXX=clang++ node "$work/build.js" >"$work/clang.log" 2>&1 || { cat "$work/clang.log"; exit 1; }
grep -E "warning|error" "$work/clang.log" || true
npm run build >/dev/null
DIFFLORA_NATIVE_PATH="$work/build/Release/difflora_native.node" node test/run-tests.js \
  test/unit/native test/unit/safetensors test/integration/reference-numerics test/integration/gradients

echo "== aarch64 compile"
inc=$(node -p "require('node-api-headers').include_dir")
blas_inc=$(compgen -G '/usr/include/*/openblas-pthread' | head -1)
for f in engine/native/src/*.cc; do
  aarch64-linux-gnu-g++ -std=c++17 -O2 -fPIC -fno-trapping-math -fno-math-errno -ffp-contract=off -Wall -Werror -Wno-psabi \
    -I"$inc" -I"$blas_inc" -c "$f" -o "$work/$(basename "$f" .cc).aarch64.o"
  echo "  $(basename "$f"): ok"
done
echo "check-native-portability: clang build passes the native tests; every source compiles for aarch64"

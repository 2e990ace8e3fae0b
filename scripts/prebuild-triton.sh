#!/usr/bin/env bash
# Prebuilds, in the GPU image's builder stage, the one C module Triton compiles at run time,
# so that the final stage needs no C compiler.
#
# Triton 3.8 builds its CUDA driver module (triton/backends/nvidia/driver.c, with Python.h,
# linked to libcuda.so.1) with the C compiler named by $CC the first time a kernel launches;
# its kernel launchers are generic and need no compiler. This script compiles driver.c as
# Triton does (triton/runtime/build.py: -O3 -shared -fPIC -Wno-psabi), against an empty
# stand-in for the driver's libcuda.so.1 (the real one is mounted at run time), stores it
# under OUT/prebuilt/<sha256 of driver.c>.so, and writes OUT/bin/triton-prebuilt-cc: set as
# $CC, it hands Triton that file for that exact source, and refuses anything else with a
# message that names the source (a JIT path that needs a real compiler: use
# Dockerfile.vllm-base).
#
# Usage: scripts/prebuild-triton.sh SITE-PACKAGES-DIR PYTHON OUT
set -euo pipefail

if [ $# -ne 3 ]; then
  echo "usage: $0 SITE-PACKAGES-DIR PYTHON OUT" >&2
  exit 2
fi
site=$1
python=$2
out=$3
src="$site/triton/backends/nvidia/driver.c"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mkdir -p "$out/bin" "$out/prebuilt"
gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$work/libcuda.so.1" -x c /dev/null
include=$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
sum=$(sha256sum "$src" | cut -d' ' -f1)
gcc "$src" -O3 -shared -fPIC -Wno-psabi -o "$out/prebuilt/$sum.so" \
  -I"$site/triton/backends/nvidia/include" -I"$include" -L"$work" -Wl,--no-as-needed -l:libcuda.so.1
cat > "$out/bin/triton-prebuilt-cc" <<'SHIM'
#!/bin/sh
# Not a compiler: returns the module prebuilt for this exact C source (scripts/prebuild-triton.sh).
set -eu
prebuilt="$(dirname "$0")/../prebuilt"
src=""
out=""
while [ $# -gt 0 ]; do
  case $1 in
    -o) out=$2; shift ;;
    *.c) src=$1 ;;
  esac
  shift
done
sum=$(sha256sum "$src" | cut -d' ' -f1)
if [ -n "$out" ] && [ -f "$prebuilt/$sum.so" ]; then
  cp "$prebuilt/$sum.so" "$out"
  exit 0
fi
echo "error: this image has no C compiler and $src (sha256 $sum) was not prebuilt;" \
  "a kernel JIT-compiled at run time needs vLLM's own image (Dockerfile.vllm-base)" >&2
exit 1
SHIM
chmod 0755 "$out/bin/triton-prebuilt-cc"
echo "prebuilt $src -> $out/prebuilt/$sum.so"

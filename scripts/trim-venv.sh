#!/usr/bin/env bash
# Removes from an installed virtualenv (or pip --target directory) what the GPU image never
# uses at run time; the Dockerfile's builder runs it, `make image-size` measures it. The image
# has no compiler, so nothing that only a compiler or a linker reads is kept:
#   - static archives (*.a): read by a linker only;
#   - CUDA's compiler driver from the nvidia-cuda-nvcc wheel (nvcc, cicc, cudafe++, nvlink,
#     fatbinary, bin2c, crt/): vLLM's precompiled kernels and Triton (its own bundled ptxas)
#     do not call it; kernels that vLLM would JIT-compile with nvcc need Dockerfile.vllm-base;
#   - the CUDA 12 flavour of the CuTe DSL (nvidia-cutlass-dsl loads the newest flavour the
#     driver supports; torch's CUDA 13 build needs a CUDA 13 driver, so cu12 never loads);
#   - packages' own test suites (directories named tests).
# Headers stay: NVRTC, a library that compiles in-process, reads them. The ROCm backends of
# triton and tokenspeed-triton stay too: each package names them as entry points, and
# `import triton` imports every backend its entry points name.
# Usage: scripts/trim-venv.sh SITE-PACKAGES-DIR
set -euo pipefail

if [ $# -ne 1 ] || [ ! -d "$1" ]; then
  echo "usage: $0 SITE-PACKAGES-DIR" >&2
  exit 2
fi
site=$1

find "$site" -type f -name '*.a' -delete
find "$site" -type d -name tests -prune -exec rm -rf {} +
nvcc_dir="$site/nvidia/cu13"
rm -rf "$nvcc_dir/bin/nvcc" "$nvcc_dir/bin/nvcc.profile" "$nvcc_dir/bin/cudafe++" \
  "$nvcc_dir/bin/nvlink" "$nvcc_dir/bin/fatbinary" "$nvcc_dir/bin/bin2c" "$nvcc_dir/bin/crt" \
  "$nvcc_dir/bin/__nvcc_device_query" "$nvcc_dir/nvvm/bin"
mlir="$site/nvidia_cutlass_dsl/dsl_packages/cutlass/_mlir/_mlir_libs"
rm -rf "$site/nvidia_cutlass_dsl/cu12" "$mlir"/_cutlass_ir.cu12.*.so "$mlir/_cutlass_ir_version_cu12.py"

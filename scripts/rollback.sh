#!/usr/bin/env bash
# Rolls back to the previous revision (or --to-revision N) and waits for it.
# Usage: scripts/rollback.sh SPEC [--to-revision N] [--context C ...]
# Exit: 0 rolled back, 1 failed, 2 bad input. See `vllm-deploy rollback --help` and `vllm-deploy history`.
# VLLMDEPLOY_BIN: the vllm-deploy executable to run (default: the one on PATH).
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "usage: $0 SPEC [vllm-deploy rollback options]" >&2
  exit 2
fi
spec=$1
shift
exec "${VLLMDEPLOY_BIN:-vllm-deploy}" rollback -f "$spec" "$@"

#!/usr/bin/env bash
# Deploys a spec and waits until it serves; rolls back by itself when it does not.
# Usage: scripts/deploy.sh SPEC [vllm-deploy deploy options: --dry-run, --timeout S, --context C, ...]
# Exit: 0 serving, 1 failed (rolled back when it could), 2 bad input. See `vllm-deploy deploy --help`.
# VLLMDEPLOY_BIN: the vllm-deploy executable to run (default: the one on PATH).
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "usage: $0 SPEC [vllm-deploy deploy options]" >&2
  exit 2
fi
spec=$1
shift
exec "${VLLMDEPLOY_BIN:-vllm-deploy}" deploy -f "$spec" "$@"

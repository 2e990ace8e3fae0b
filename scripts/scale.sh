#!/usr/bin/env bash
# Scales, aware of the autoscaler: with an HPA or ScaledObject, --min/--max change its bounds
# (a replica count would be undone at its next sync); without one, --replicas N.
# Usage: scripts/scale.sh SPEC --min N --max M | --replicas N [--context C ...]
# Exit: 0 done, 1 failed, 2 bad input (e.g. --replicas under an autoscaler). See `vllm-deploy scale --help`.
# VLLMDEPLOY_BIN: the vllm-deploy executable to run (default: the one on PATH).
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 SPEC --min N --max M | --replicas N" >&2
  exit 2
fi
spec=$1
shift
exec "${VLLMDEPLOY_BIN:-vllm-deploy}" scale -f "$spec" "$@"

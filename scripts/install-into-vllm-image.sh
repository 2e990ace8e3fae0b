#!/usr/bin/env bash
# Installs vllm-deploy's runtime into an existing Python environment (vLLM's, in the serving
# image) and fails when that install moved, removed or added any package besides
# vllm-deploy, or left `pip check` with a complaint it did not have before. pip only warns
# about a broken dependency; a vLLM that finds a package moved under it fails at run time.
#
# Usage: scripts/install-into-vllm-image.sh PYTHON SOURCE [PIP-OPTION...]
#   PYTHON  the environment's interpreter (python3 in vLLM's image)
#   SOURCE  what pip installs: the project directory, or a wheel
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 PYTHON SOURCE [PIP-OPTION...]" >&2
  exit 2
fi
python=$1
source=$2
shift 2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

packages() {
  "$python" -m pip freeze --all --disable-pip-version-check | grep -iv '^vllm[-_]deploy\b' | sort
}
problems() {
  "$python" -m pip check --disable-pip-version-check 2>&1 | grep -v '^No broken requirements' | sort || true
}

packages > "$work/packages.before"
problems > "$work/check.before"
# Without --upgrade, pip keeps every installed version that satisfies vllm-deploy's ranges.
"$python" -m pip install --no-cache-dir --disable-pip-version-check "$@" "$source"
packages > "$work/packages.after"
problems > "$work/check.after"

if ! diff -u "$work/packages.before" "$work/packages.after" > "$work/packages.diff"; then
  cat "$work/packages.diff" >&2
  echo "error: installing vllm-deploy changed the environment's packages (above); its runtime" \
    "dependency ranges must contain the versions vLLM installed" >&2
  exit 1
fi
new_problems=$(comm -13 "$work/check.before" "$work/check.after")
if [ -n "$new_problems" ]; then
  echo "$new_problems" >&2
  echo "error: pip check found broken requirements after installing vllm-deploy (above)" >&2
  exit 1
fi
echo "vllm-deploy installed; no other package changed"

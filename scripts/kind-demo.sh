#!/usr/bin/env bash
# Builds the CPU image, loads it into a kind cluster and deploys examples/kind.yaml (the
# simulated engine, no GPU), then sends one completion through the Service. For users with
# Docker, kind and kubectl; our development machines have no Docker engine, so this script
# has not been run there (docs/image.md).
#
# Usage: scripts/kind-demo.sh [up|down]
#   KIND_CLUSTER  cluster name (default vllm-deploy); created if missing, deleted by `down`
set -euo pipefail
cd "$(dirname "$0")/.."

cluster=${KIND_CLUSTER:-vllm-deploy}
image=ghcr.io/vllm-deploy/vllm-deploy-cpu:0.1.0
manifests=deploy/examples/kind
namespace=llm-demo
context=kind-$cluster

need() {
  command -v "$1" >/dev/null || { echo "error: $1 is not installed ($2)" >&2; exit 1; }
}

up() {
  need docker "https://docs.docker.com/get-docker/"
  need kind "https://kind.sigs.k8s.io/docs/user/quick-start/"
  need kubectl "https://kubernetes.io/docs/tasks/tools/"
  docker build -f Dockerfile.cpu -t "$image" .
  if ! kind get clusters | grep -qx "$cluster"; then
    kind create cluster --name "$cluster" --wait 120s
  fi
  kind load docker-image "$image" --name "$cluster"
  # The committed rendering of examples/kind.yaml (`make generate` keeps it current).
  kubectl --context "$context" apply -k "$manifests"
  kubectl --context "$context" -n "$namespace" rollout status deployment/vllm-sim --timeout=300s
  kubectl --context "$context" -n "$namespace" port-forward service/vllm-sim 18000:8000 >/dev/null &
  forward=$!
  trap 'kill "$forward" 2>/dev/null || true' EXIT
  for _ in $(seq 30); do
    curl -fsS http://127.0.0.1:18000/health/ready >/dev/null 2>&1 && break
    sleep 1
  done
  curl -fsS http://127.0.0.1:18000/v1/completions -H 'content-type: application/json' \
    -d '{"model": "sim", "prompt": "Hello", "max_tokens": 8}'
  echo
  echo "deployed: kubectl --context $context -n $namespace get pods"
}

down() {
  need kind "https://kind.sigs.k8s.io/docs/user/quick-start/"
  kind delete cluster --name "$cluster"
}

case ${1:-up} in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 [up|down]" >&2; exit 2 ;;
esac

"""What the pod runtime, the engines and the manifests agree on: paths, names, the error body.

The one module both ``runtime`` (loaded inside vLLM) and ``engines`` import, and that
``render`` and ``validate`` read, so none of them needs to import another: importing the
middleware does not load an engine server, and validating manifests loads no web framework.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ADAPTER_RULES_LABEL",
    "ADMIN_PATHS",
    "ADMIN_PREFIX",
    "ADMIN_TOKEN_HEADER",
    "DEFAULT_DRAIN_TIMEOUT_S",
    "DRAIN_TIMEOUT_VARIABLE",
    "ENV_PREFIX",
    "GENERATION_PATHS",
    "INTER_TOKEN_LATENCY_BUCKETS",
    "MIDDLEWARE_PATH",
    "OPEN_PATHS",
    "PROBE_PATHS",
    "REQUEST_LATENCY_BUCKETS",
    "SIM_FAULTS_PATH",
    "TIME_TO_FIRST_TOKEN_BUCKETS",
    "VLLM_VERSION",
    "error_body",
    "is_admin_path",
]

# The vLLM release whose HTTP, metrics and command-line contract everything here follows.
VLLM_VERSION = "0.33.0"

# ProductionMiddleware's settings are ``VLLMDEPLOY_<FIELD>`` variables (docs/runtime.md).
# Outside vLLM's ``VLLM_`` namespace, which vLLM validates at start
# (vllm/platforms/interface.py ``validate_environ``, vLLM 0.33.0).
ENV_PREFIX = "VLLMDEPLOY_"
# The drain deadline's one carrier in a pod: the middleware and `vllm-deploy drain` (the preStop
# hook, run in the same container) both read it; the grace period and the ingress timeouts are
# derived from it, and the validator reads it back from the rendered ConfigMap.
DRAIN_TIMEOUT_VARIABLE = ENV_PREFIX + "DRAIN_TIMEOUT_S"
DEFAULT_DRAIN_TIMEOUT_S = 120
# The import path vLLM resolves with `importlib` and applies with `app.add_middleware(cls)`.
MIDDLEWARE_PATH = "vllm_deploy.runtime.ProductionMiddleware"

# The label of the ConfigMap holding prometheus-adapter rules rendered for a deployment (what
# the local cluster's custom-metrics adapter serves; on a cluster, merge them into the
# adapter's own configuration).
ADAPTER_RULES_LABEL = "vllm-deploy.io/prometheus-adapter-rules"

# Served by the middleware itself, without an API key: the kubelet carries none.
PROBE_PATHS = frozenset({"/health/live", "/health/ready"})
# Served without an API key: probes, the engine's own /health, and Prometheus' scrape.
OPEN_PATHS = PROBE_PATHS | {"/health", "/metrics"}
# Every path under ADMIN_PREFIX is served only to the pod itself (loopback, no proxy header,
# admin token when set): the middleware's gate checks them all, whoever serves them.
ADMIN_PREFIX = "/admin/"
# The admin routes the middleware serves itself (drain, for the preStop hook) ...
ADMIN_PATHS = frozenset({"/admin/drain", "/admin/undrain"})
# ... and the simulated engine's fault injection, passed through the same gate to the engine.
SIM_FAULTS_PATH = "/admin/sim/faults"
ADMIN_TOKEN_HEADER = b"x-vllm-deploy-admin-token"
# Routes whose response bodies carry generated tokens (vLLM 0.33.0's routers: OpenAI,
# Anthropic /v1/messages, SageMaker /invocations, tokens-in/out, Cohere, audio), so each
# body chunk is progress for the stall watchdog.
GENERATION_PATHS = frozenset(
    {
        "/v1/completions",
        "/v1/chat/completions",
        "/v1/responses",
        "/v1/messages",
        "/invocations",
        "/inference/v1/generate",
        "/cohere/v2/chat",
        "/v1/audio/transcriptions",
        "/v1/audio/translations",
    }
)

# vLLM 0.33.0's histogram buckets (vllm/v1/metrics/loggers.py): the engines export them, and
# alert thresholds must be bucket bounds.
REQUEST_LATENCY_BUCKETS: tuple[float, ...] = (
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0,
    120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0,
)  # fmt: skip
TIME_TO_FIRST_TOKEN_BUCKETS: tuple[float, ...] = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
    10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
)  # fmt: skip
INTER_TOKEN_LATENCY_BUCKETS: tuple[float, ...] = (
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    20.0, 40.0, 80.0,
)  # fmt: skip


def is_admin_path(path: str) -> bool:
    """True for every path the pod serves only to itself (see ``ADMIN_PREFIX``)."""
    return path.startswith(ADMIN_PREFIX)


def error_body(message: str, err_type: str, code: int, param: str | None = None) -> dict[str, Any]:
    """An error in OpenAI's shape, as vLLM's ``ErrorResponse`` writes it."""
    return {"error": {"message": message, "type": err_type, "param": param, "code": code}}

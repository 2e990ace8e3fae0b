"""The middleware's metrics under vLLM's multi-process mode (PROMETHEUS_MULTIPROC_DIR)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

# Two "API server" processes write their values; a third aggregates, as vLLM's /metrics does.
WRITER = """
from prometheus_client import CollectorRegistry
from vllm_deploy.runtime.metrics import MiddlewareMetrics
m = MiddlewareMetrics(CollectorRegistry())
m.observe_request("/v1/completions", 200, 0.2)
m.in_flight.inc(); m.in_flight.inc()
m.draining.set(1)
m.rejections.labels("max_inflight").inc()
"""
READER = """
import json
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
registry = CollectorRegistry()
MultiProcessCollector(registry)
print(json.dumps({s.name + str(sorted(s.labels.items())): s.value
                  for m in registry.collect() for s in m.samples}))
"""


def test_values_from_several_processes_add_up(tmp_path: Path) -> None:
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    for _ in range(2):
        subprocess.run([sys.executable, "-c", WRITER], env=env, check=True, timeout=60)
    out = subprocess.run(
        [sys.executable, "-c", READER],
        env=env,
        check=True,
        timeout=60,
        capture_output=True,
        text=True,
    ).stdout
    values = json.loads(out)
    assert values["vllm_deploy_requests_total[('code', '200'), ('route', '/v1/completions')]"] == 2
    assert values["vllm_deploy_rejections_total[('reason', 'max_inflight')]"] == 2
    assert values["vllm_deploy_request_duration_seconds_count[('route', '/v1/completions')]"] == 2
    # Gauges combine across processes without a per-process label: in-flight adds up,
    # draining is the highest of them.
    assert values["vllm_deploy_requests_in_flight[]"] == 4
    assert values["vllm_deploy_draining[]"] == 1

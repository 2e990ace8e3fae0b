"""Real Prometheus scrapes a live pod under load: every recording rule and panel has data."""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import yaml

from vllm_deploy.harness import ServerProcess, free_port
from vllm_deploy.observability import ObservabilityConfig, recording_rules

ROOT = Path(__file__).parents[2]
RULES = ROOT / "deploy" / "observability" / "prometheus-rules.yaml"
DASHBOARDS = ROOT / "deploy" / "observability" / "dashboards"
_POD = 'namespace="llm",pod="vllm-llama-0"'
_GPU = f'{_POD},container="vllm",gpu="0"'
_HPA = 'namespace="llm",horizontalpodautoscaler="vllm-llama"'
# What kube-state-metrics and the DCGM exporter would expose for one vllm pod.
FIXTURE_METRICS = (
    f'kube_pod_status_ready{{{_POD},condition="true"}} 1\n'
    f'kube_pod_container_status_restarts_total{{{_POD},container="vllm"}} 1\n'
    f"kube_horizontalpodautoscaler_status_current_replicas{{{_HPA}}} 2\n"
    f"kube_horizontalpodautoscaler_status_desired_replicas{{{_HPA}}} 3\n"
    f"kube_horizontalpodautoscaler_spec_max_replicas{{{_HPA}}} 4\n"
    f"DCGM_FI_DEV_GPU_UTIL{{{_GPU}}} 63\n"
    f"DCGM_FI_DEV_FB_USED{{{_GPU}}} 71000\n"
    f"DCGM_FI_DEV_FB_FREE{{{_GPU}}} 9000\n"
)


class _FixtureExporter:
    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = FIXTURE_METRICS.encode()
                self.send_response(200)
                self.send_header("content-type", "text/plain; version=0.0.4")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("prometheus")
    env = {"VLLMDEPLOY_MAX_INFLIGHT": "6", "VLLMDEPLOY_DRAIN_QUIET_S": "0"}
    args = [
        "--engine",
        "simulated",
        "--model",
        "m",
        "--served-model-name",
        "llama",
        "--sim-ttft-ms",
        "5",
        "--sim-itl-ms",
        "2",
        "--max-num-seqs",
        "2",
    ]
    pod = ServerProcess(args, log_path=tmp / "pod.log", env=env).start()
    exporter = _FixtureExporter()
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {
                "job_name": "vllm",
                "static_configs": [
                    {
                        "targets": [f"127.0.0.1:{pod.port}"],
                        "labels": {"namespace": "llm", "pod": "vllm-llama-0"},
                    }
                ],
            },
            {
                "job_name": "fixtures",
                "honor_labels": True,
                "static_configs": [{"targets": [f"127.0.0.1:{exporter.port}"]}],
            },
        ],
    }
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    proc = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=open(tmp / "prometheus.log", "wb"),  # noqa: SIM115
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/-/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, (tmp / "prometheus.log").read_text()
            time.sleep(0.2)
        asyncio.run(_load(pod.url))
        time.sleep(4)  # a few more scrapes and rule evaluations
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        pod.terminate()
        exporter.server.shutdown()


async def _load(url: str) -> None:
    """~10 s of mixed traffic: streams and not, some engine errors, some 429s, then a drain."""
    async with httpx.AsyncClient(timeout=30) as client:

        async def one(i: int) -> None:
            body = {"prompt": f"hello {i}", "max_tokens": 8, "stream": i % 2 == 0}
            await client.post(f"{url}/v1/completions", json=body)

        end = time.monotonic() + 10
        i = 0
        while time.monotonic() < end:
            if i == 40:
                await client.post(f"{url}/admin/sim/faults", json={"error_rate": 0.3})
            if i == 80:
                await client.post(f"{url}/admin/sim/faults", json={"error_rate": 0.0})
            await asyncio.gather(*(one(i + k) for k in range(10)))
            i += 10
        await client.post(f"{url}/admin/drain", params={"timeout": 5})


def _query(prometheus: str, expr: str) -> list[float]:
    """The numeric values of an instant query; NaN (e.g. a quantile of nothing) is not data."""
    resp = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr})
    assert resp.status_code == 200, f"{expr}: {resp.text}"
    values = [float(r["value"][1]) for r in resp.json()["data"]["result"]]
    return [v for v in values if v == v]


@pytest.mark.parametrize("record", [r.record for r in recording_rules(ObservabilityConfig())])
def test_every_recording_rule_has_data(prometheus: str, record: str) -> None:
    assert _query(prometheus, record), f"{record} returned nothing"


def _panel_queries() -> list[tuple[str, str]]:
    out = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            if panel["type"] == "logs":
                continue  # LogQL: checked against the log format in test_pipelines
            for target in panel["targets"]:
                out.append((f"{path.stem}: {panel['title']} {target['refId']}", target["expr"]))
    return out


@pytest.mark.parametrize(("panel", "expr"), _panel_queries(), ids=[p for p, _ in _panel_queries()])
def test_every_dashboard_query_has_data(prometheus: str, panel: str, expr: str) -> None:
    concrete = (
        expr.replace("$__rate_interval", "1m").replace("$namespace", ".*").replace("$model", ".*")
    )
    assert _query(prometheus, concrete), f"{panel}: {concrete} returned nothing"

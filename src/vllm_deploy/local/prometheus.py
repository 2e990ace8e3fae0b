"""Real Prometheus (Debian's) for the local cluster, configured the way prometheus-operator
configures it from the monitoring CRs.

Each PodMonitor endpoint becomes a scrape job (``podMonitor/<ns>/<name>/<i>``) over the pods
its selector matches in its namespace, that have an IP and are not Succeeded or Failed, on
the named container port, with the operator's target labels (``namespace``, ``pod``,
``container``, ``endpoint``, ``job=<ns>/<name>``) and then the PodMonitor's own
``relabelings``; targets are a file_sd file refreshed as pods come and go. Each
PrometheusRule's groups are loaded as a rule file. A change reloads Prometheus
(``/-/reload``). ``query()`` serves the HPA controller.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
from pathlib import Path
from typing import Any, BinaryIO

import httpx
import yaml

from vllm_deploy.local.aio import wait_until
from vllm_deploy.local.controllers.base import KINDS, Controller
from vllm_deploy.local.selectors import match_selector_object
from vllm_deploy.local.store import Obj, Store

__all__ = ["PrometheusController", "PrometheusError"]

logger = logging.getLogger("vllm_deploy.local")
_RELABEL_KEYS = {
    "sourceLabels": "source_labels",
    "targetLabel": "target_label",
    "replacement": "replacement",
    "action": "action",
    "regex": "regex",
    "separator": "separator",
    "modulus": "modulus",
}


class PrometheusError(RuntimeError):
    """A query failed or returned no usable value."""


def _relabel(rule: dict[str, Any]) -> dict[str, Any]:
    out = {_RELABEL_KEYS[k]: v for k, v in rule.items() if k in _RELABEL_KEYS}
    if "action" in out:
        out["action"] = str(out["action"]).lower()
    return out


def _container_port(pod: Obj, port: Any) -> tuple[str, int] | None:
    for c in pod["spec"].get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("name") == port or p.get("containerPort") == port:
                return c["name"], int(p["containerPort"])
    return None


class PrometheusController(Controller):
    name = "prometheus"
    watches = frozenset({"PodMonitor", "PrometheusRule", "Pod"})

    def __init__(
        self, store: Store, directory: Path, port: int, scrape_interval: str | None = None
    ) -> None:
        super().__init__(store)
        self.dir = directory
        for sub in ("targets", "rules", "data"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._scrape_interval = scrape_interval  # overrides every endpoint's interval
        self._proc: asyncio.subprocess.Process | None = None
        self._config = ""
        self._rules: dict[str, str] = {}

    def _jobs(self) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
        jobs, targets = [], {}
        for pm in self.store.items(KINDS["PodMonitor"]):
            ns, name = pm["metadata"]["namespace"], pm["metadata"]["name"]
            pods = [
                p
                for p in self.store.items(KINDS["Pod"], ns)
                if match_selector_object(
                    (pm.get("spec") or {}).get("selector"), p["metadata"].get("labels") or {}
                )
                and (p.get("status") or {}).get("podIP")
                and p["status"].get("phase") not in ("Succeeded", "Failed")
            ]
            for i, endpoint in enumerate((pm.get("spec") or {}).get("podMetricsEndpoints") or []):
                job = f"podMonitor/{ns}/{name}/{i}"
                group = []
                for pod in pods:
                    found = _container_port(pod, endpoint.get("port") or endpoint.get("targetPort"))
                    if found is None:
                        continue
                    container, port = found
                    labels = {
                        "namespace": ns,
                        "pod": pod["metadata"]["name"],
                        "container": container,
                        "endpoint": str(endpoint.get("port", port)),
                        "job": f"{ns}/{name}",
                    }
                    labels.update(
                        {
                            "__meta_kubernetes_pod_label_"
                            f"{k.replace('.', '_').replace('/', '_').replace('-', '_')}": v
                            for k, v in (pod["metadata"].get("labels") or {}).items()
                        }
                    )
                    group.append(
                        {"targets": [f"{pod['status']['podIP']}:{port}"], "labels": labels}
                    )
                targets[job] = group
                jobs.append(
                    {
                        "job_name": job,
                        "scrape_interval": self._scrape_interval or endpoint.get("interval", "30s"),
                        "metrics_path": endpoint.get("path", "/metrics"),
                        "file_sd_configs": [
                            {
                                "files": [str(self.dir / "targets" / f"{ns}_{name}_{i}.json")],
                                "refresh_interval": "5s",
                            }
                        ],
                        "relabel_configs": [_relabel(r) for r in endpoint.get("relabelings") or []],
                    }
                )
        return jobs, targets

    def _write(self) -> bool:
        jobs, targets = self._jobs()
        for job, group in targets.items():
            _, ns, name, i = job.split("/")
            path = self.dir / "targets" / f"{ns}_{name}_{i}.json"
            text = json.dumps(group, indent=1, sort_keys=True)
            if not path.exists() or path.read_text() != text:
                path.write_text(text)
        rules = {}
        for pr in self.store.items(KINDS["PrometheusRule"]):
            key = f"{pr['metadata']['namespace']}_{pr['metadata']['name']}.yaml"
            rules[key] = yaml.safe_dump(
                {"groups": (pr.get("spec") or {}).get("groups") or []}, sort_keys=False
            )
        for key in set(self._rules) - set(rules):
            (self.dir / "rules" / key).unlink(missing_ok=True)
        for key, text in rules.items():
            (self.dir / "rules" / key).write_text(text)
        interval = self._scrape_interval or "15s"
        config = yaml.safe_dump(
            {
                "global": {"scrape_interval": interval, "evaluation_interval": interval},
                "rule_files": [str(self.dir / "rules" / "*.yaml")],
                "scrape_configs": jobs,
            },
            sort_keys=False,
        )
        changed = config != self._config or rules != self._rules
        if changed:
            (self.dir / "prometheus.yml").write_text(config)
            self._config, self._rules = config, rules
        return changed

    def _stderr(self) -> BinaryIO:
        return (self.dir / "prometheus.log").open("ab")

    async def start(self) -> None:
        binary = shutil.which("prometheus") or "/usr/bin/prometheus"
        self._write()
        self._proc = await asyncio.create_subprocess_exec(
            binary,
            f"--config.file={self.dir / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--web.enable-lifecycle",
            "--storage.tsdb.retention.time=1d",
            "--log.level=warn",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=self._stderr(),
        )
        async with httpx.AsyncClient() as client:
            for _ in range(300):
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{self.url}/-/ready", timeout=1)).status_code == 200:
                        return
                if self._proc.returncode is not None:
                    raise PrometheusError(f"prometheus exited ({self.dir / 'prometheus.log'})")
                await asyncio.sleep(0.1)
        raise PrometheusError("prometheus did not become ready in 30 s")

    def reconcile(self) -> None:
        if self._write() and self._proc is not None and self._proc.returncode is None:
            asyncio.get_running_loop().create_task(self._reload())

    async def _reload(self) -> None:
        async with httpx.AsyncClient() as client:
            with contextlib.suppress(httpx.HTTPError):
                await client.post(f"{self.url}/-/reload", timeout=10)

    async def query(self, promql: str) -> list[tuple[dict[str, str], float]]:
        """An instant query: (labels, value) per series."""
        async with httpx.AsyncClient() as client:
            try:
                resp = await client.get(
                    f"{self.url}/api/v1/query", params={"query": promql}, timeout=10
                )
            except httpx.HTTPError as exc:
                raise PrometheusError(f"query {promql!r}: {exc}") from None
        body = resp.json()
        if body.get("status") != "success":
            raise PrometheusError(f"query {promql!r}: {body.get('error')}")
        return [(r["metric"], float(r["value"][1])) for r in body["data"]["result"]]

    async def stop(self) -> None:
        if self._proc is not None and self._proc.returncode is None:
            self._proc.terminate()
            if not await wait_until(self._proc.wait(), 10):
                self._proc.kill()
                await self._proc.wait()

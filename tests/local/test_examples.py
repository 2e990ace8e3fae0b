"""The rendered examples, applied with server-side apply, converge on the local cluster:
the Deployment rolls out to the autoscaler's minimum, the Service answers the real ``openai``
client through nginx, the real Prometheus scrapes the pods its PodMonitor selects and loads
the rules, and the HPA reads its metric through the rendered prometheus-adapter rule.
State is read with the official ``kubernetes`` client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from kubernetes import client

from tests.local.conftest import RunningCluster, start_cluster, wait_for
from vllm_deploy.kube.apply import FIELD_MANAGER, apply_objects
from vllm_deploy.kube.rollout import rollout_status
from vllm_deploy.render import render
from vllm_deploy.spec import load_spec

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCluster]:
    # 2 replicas and a surge of 1: three fake GPUs.
    state = tmp_path_factory.mktemp("examples")
    yield from start_cluster(state, nodes=3, gpus_per_node=1, scrape_interval="1s", hpa_sync_s=2.0)


def objects_of(example: str) -> list[dict[str, Any]]:
    spec = load_spec(ROOT / "examples" / f"{example}.yaml")
    return [obj for objs in render(spec).values() for obj in objs]


def info(rc: RunningCluster) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((rc.state_dir / "local.json").read_text())
    return data


def test_local_example_converges(cluster: RunningCluster) -> None:
    rc = cluster
    objects = objects_of("local")  # its Namespace first
    applied = apply_objects(rc.api, objects)
    assert {a.action for a in applied} == {"created"}
    assert len(applied) == len(objects)

    def available() -> bool:
        d = rc.api.sanitize_for_serialization(rc.apps.read_namespaced_deployment("vllm-sim", "llm"))
        return rollout_status(d).done and d["status"].get("availableReplicas", 0) == 2

    wait_for(available, timeout_s=120, what="2 available replicas (the HPA's minimum)")

    # Applying the same objects again changes nothing.
    again = apply_objects(rc.api, objects)
    assert {a.action for a in again} == {"unchanged"}, [
        str(a) for a in again if a.action != "unchanged"
    ]
    d = rc.apps.read_namespaced_deployment("vllm-sim", "llm")
    assert FIELD_MANAGER in {m.manager for m in d.metadata.managed_fields}

    # The Service, through nginx, to the ready pods: the real openai client, streamed.
    listener = "llm/vllm-sim:8000"
    url = wait_for(lambda: info(rc)["services"].get(listener), what="the Service's nginx port")
    ai = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    stream = ai.chat.completions.create(
        model="sim", messages=[{"role": "user", "content": "hello"}], max_tokens=8, stream=True
    )
    chunks = list(stream)
    assert chunks[-1].choices[-1].finish_reason == "length"
    assert [m.id for m in ai.models.list().data] == ["sim"]

    # Endpoints: the two ready pods.
    pods = rc.core.list_namespaced_pod("llm").items
    ep = rc.core.read_namespaced_endpoints("vllm-sim", "llm")
    assert {a.ip for s in ep.subsets for a in s.addresses} == {p.status.pod_ip for p in pods}

    # Prometheus scrapes both pods (the PodMonitor) and has loaded the PrometheusRule.
    prom = info(rc)["prometheus"]

    def targets_up() -> list[Any]:
        query = 'up{namespace="llm"} == 1'
        result: list[Any] = httpx.get(f"{prom}/api/v1/query", params={"query": query}).json()[
            "data"
        ]["result"]
        return result if len(result) == 2 else []

    up = wait_for(targets_up, timeout_s=30, what="both pods scraped")
    assert {r["metric"]["pod"] for r in up} == {p.metadata.name for p in pods}
    groups = httpx.get(f"{prom}/api/v1/rules").json()["data"]["groups"]
    rules = {r["name"] for g in groups for r in g["rules"]}
    assert "VLLMEngineStalled" in rules

    # The HPA reads its metric through the rendered adapter rule, from that Prometheus.
    autoscaling = client.AutoscalingV2Api(rc.api)

    def hpa_active() -> Any:
        hpa = autoscaling.read_namespaced_horizontal_pod_autoscaler("vllm-sim", "llm")
        conditions = {c.type: c.status for c in hpa.status.conditions or []}
        return (
            hpa
            if conditions.get("ScalingActive") == "True" and hpa.status.current_metrics
            else None
        )

    hpa = wait_for(hpa_active, timeout_s=30, what="the HPA's metric")

    # The aggregated APIs a cluster with prometheus-adapter serves, through the official client.
    groups = {g.name for g in client.ApisApi(rc.api).get_api_versions().groups}
    assert {"custom.metrics.k8s.io", "external.metrics.k8s.io", "networking.k8s.io"} <= groups
    path = "/apis/custom.metrics.k8s.io/v1beta2/namespaces/llm/pods/*/vllm_num_requests_waiting"
    answer = rc.api.call_api("GET", rc.api.configuration.host + path)
    answer.read()
    data = json.loads(answer.data)
    assert {i["describedObject"]["name"] for i in data["items"]} == {p.metadata.name for p in pods}
    assert all(i["metric"]["name"] == "vllm_num_requests_waiting" for i in data["items"])
    # The Service proxy subresource reaches a ready pod.
    raw = rc.core.connect_get_namespaced_service_proxy_with_path(
        "vllm-sim:http", "llm", "v1/models", _preload_content=False
    )
    assert raw.status == 200 and json.loads(raw.data)["data"][0]["id"] == "sim"
    assert hpa.status.current_replicas == 2 and hpa.status.desired_replicas == 2
    assert hpa.status.current_metrics[0].pods.current.average_value is not None


@pytest.mark.parametrize("example", ["dev", "prod"])
def test_other_examples_apply_with_server_side_dry_run(
    cluster: RunningCluster, example: str
) -> None:
    rc = cluster
    objects = objects_of(example)
    ns = {o["metadata"].get("namespace") for o in objects} - {None}
    for name in ns:
        try:
            rc.core.create_namespace({"metadata": {"name": name}})
        except client.ApiException as exc:
            assert exc.status == 409
    applied = apply_objects(rc.api, objects, dry_run=True)
    assert len(applied) == len(objects)
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    with pytest.raises(client.ApiException) as missing:
        rc.apps.read_namespaced_deployment(
            deployment["metadata"]["name"], deployment["metadata"]["namespace"]
        )
    assert missing.value.status == 404  # a dry run stores nothing


def test_dev_example_applies_and_goes_with_its_namespace(cluster: RunningCluster) -> None:
    rc = cluster
    objects = objects_of("dev")
    ns = "llm-dev"
    try:
        rc.core.create_namespace({"metadata": {"name": ns}})
    except client.ApiException as exc:
        assert exc.status == 409
    applied = apply_objects(rc.api, objects)
    assert {a.action for a in applied} == {"created"}
    name = next(o["metadata"]["name"] for o in objects if o["kind"] == "Deployment")
    wait_for(lambda: rc.apps.list_namespaced_replica_set(ns).items, what="its ReplicaSet")

    rc.core.delete_namespace(ns)

    def gone() -> bool:
        try:
            rc.core.read_namespace(ns)
        except client.ApiException as exc:
            return exc.status == 404
        return False

    wait_for(gone, timeout_s=60, what="the namespace to be finalized")
    with pytest.raises(client.ApiException) as missing:
        rc.apps.read_namespaced_deployment(name, ns)
    assert missing.value.status == 404

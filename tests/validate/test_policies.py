"""Every policy check has a fixture that makes it fail, naming the object and the field."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vllm_deploy.validate import POLICIES, load_dir
from vllm_deploy.validate.policies import check_policies

PROD = Path(__file__).parents[2] / "deploy" / "examples" / "prod"
Obj = dict[str, Any]


def _find(objs: list[Obj], kind: str) -> Obj:
    return next(o for o in objs if o["kind"] == kind)


def _server(objs: list[Obj]) -> Obj:
    return _find(objs, "Deployment")["spec"]["template"]["spec"]["containers"][0]


def _short_grace(objs: list[Obj]) -> None:
    _find(objs, "Deployment")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 60


def _short_startup(objs: list[Obj]) -> None:
    _server(objs)["startupProbe"]["failureThreshold"] = 3


def _short_progress_deadline(objs: list[Obj]) -> None:
    _find(objs, "Deployment")["spec"]["progressDeadlineSeconds"] = 600


def _same_probes(objs: list[Obj]) -> None:
    _server(objs)["livenessProbe"]["httpGet"]["path"] = "/health/ready"


def _wrong_probe_path(objs: list[Obj]) -> None:
    _server(objs)["readinessProbe"]["httpGet"]["path"] = "/health"


def _wrong_selector(objs: list[Obj]) -> None:
    _find(objs, "Service")["spec"]["selector"] = {"app.kubernetes.io/name": "other"}


def _missing_target(objs: list[Obj]) -> None:
    _find(objs, "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]["name"] = "vllm-typo"


def _unserved_metric(objs: list[Obj]) -> None:
    _find(objs, "HorizontalPodAutoscaler")["spec"]["metrics"][0]["pods"]["metric"]["name"] = (
        "queue_len"
    )


def _no_limits(objs: list[Obj]) -> None:
    del _server(objs)["resources"]["limits"]


def _inline_secret(objs: list[Obj]) -> None:
    _server(objs)["env"].append({"name": "HF_TOKEN", "value": "hf_abc123"})


def _latest_image(objs: list[Obj]) -> None:
    _server(objs)["image"] = "ghcr.io/vllm-deploy/vllm-deploy:latest"


def _short_ingress_timeout(objs: list[Obj]) -> None:
    _find(objs, "Ingress")["metadata"]["annotations"][
        "nginx.ingress.kubernetes.io/proxy-read-timeout"
    ] = "60"


def _strict_pdb(objs: list[Obj]) -> None:
    _find(objs, "PodDisruptionBudget")["spec"]["maxUnavailable"] = 0


def _rwo_shared_cache(objs: list[Obj]) -> None:
    _find(objs, "PersistentVolumeClaim")["spec"]["accessModes"] = ["ReadWriteOnce"]


def _writable_shared_cache(objs: list[Obj]) -> None:
    del next(m for m in _server(objs)["volumeMounts"] if m["name"] == "models")["readOnly"]


def _job_fills_another_revision(objs: list[Obj]) -> None:
    command = _find(objs, "Job")["spec"]["template"]["spec"]["containers"][0]["command"]
    command[command.index("--revision") + 1] = "main"


def _host_path_in_restricted_namespace(objs: list[Obj]) -> None:
    objs.append(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": "llm",
                "labels": {"pod-security.kubernetes.io/enforce": "restricted"},
            },
        }
    )
    volumes = _find(objs, "Deployment")["spec"]["template"]["spec"]["volumes"]
    volumes[0] = {"name": "models", "hostPath": {"path": "/var/lib/models", "type": "Directory"}}


DEP, HPA = "Deployment/vllm-llama-8b", "HorizontalPodAutoscaler/vllm-llama-8b"
FIXTURES: dict[str, tuple[Callable[[list[Obj]], None], str, str]] = {
    # check: (mutation, object, field that the message must name)
    "grace-period": (_short_grace, DEP, "terminationGracePeriodSeconds"),
    "startup-budget": (_short_startup, DEP, "startupProbe"),
    "progress-deadline": (_short_progress_deadline, DEP, "spec.progressDeadlineSeconds"),
    "probes-differ": (_same_probes, DEP, "livenessProbe"),
    "probe-endpoints": (_wrong_probe_path, DEP, "readinessProbe.httpGet.path"),
    "selectors-match": (_wrong_selector, "Service/vllm-llama-8b", "spec.selector"),
    "targets-exist": (_missing_target, HPA, "spec.scaleTargetRef"),
    "autoscaling-metric-served": (_unserved_metric, HPA, "spec.metrics[0].pods.metric.name"),
    "resources-set": (_no_limits, DEP, "containers[vllm].resources"),
    "no-inline-secrets": (_inline_secret, DEP, "env[HF_TOKEN]"),
    "image-pinned-in-prod": (_latest_image, DEP, "containers[vllm].image"),
    "ingress-timeouts": (_short_ingress_timeout, "Ingress/vllm-llama-8b", "proxy-read-timeout"),
    "pdb-allows-disruption": (_strict_pdb, "PodDisruptionBudget/vllm-llama-8b", "spec"),
    "cache-shared-rwx": (_rwo_shared_cache, "PersistentVolumeClaim/vllm-llama-8b-models",
                         "spec.accessModes"),
    "cache-read-only": (_writable_shared_cache, DEP,
                        "containers[vllm].volumeMounts[models].readOnly"),
    "cache-job-agrees": (_job_fills_another_revision, "Job/vllm-llama-8b-download-0e9e39f2",
                         "containers[download].command"),
    "pod-security-admits": (_host_path_in_restricted_namespace, DEP, "volumes[models].hostPath"),
}  # fmt: skip


def test_every_policy_has_a_fixture() -> None:
    assert set(FIXTURES) == set(POLICIES)


def test_the_example_passes_every_policy() -> None:
    assert check_policies(load_dir(PROD)) == []


@pytest.mark.parametrize("check", sorted(FIXTURES))
def test_fixture_makes_the_check_fail(check: str) -> None:
    mutate, obj, field = FIXTURES[check]
    objs = copy.deepcopy(load_dir(PROD))
    mutate(objs)
    problems = [p for p in check_policies(objs) if p.check == check]
    assert problems, f"{check} did not fire"
    assert any(p.obj == obj and field in p.field for p in problems), [str(p) for p in problems]
    assert all(p.message for p in problems)


def test_keda_query_must_name_a_contract_metric() -> None:
    from vllm_deploy.render import render
    from vllm_deploy.spec import spec_from_mapping

    spec = spec_from_mapping(
        {
            "name": "m",
            "model": {"name": "m", "huggingface": "o/m"},
            "autoscaling": {"engine": "keda", "min_replicas": 1},
        }
    )
    objs = [o for group in render(spec).values() for o in group]
    assert check_policies(objs) == []
    next(o for o in objs if o["kind"] == "ScaledObject")["spec"]["triggers"][0]["metadata"][
        "query"
    ] = "sum(up)"
    assert [p.check for p in check_policies(objs)] == ["autoscaling-metric-served"]


def _drain_deadline(objs: list[Obj], where: str) -> None:
    """A longer drain deadline, set where a hand edit would set it."""
    if where == "configmap":
        carriers = [o for o in objs if "VLLMDEPLOY_DRAIN_TIMEOUT_S" in (o.get("data") or {})]
        (config,) = carriers
        config["data"]["VLLMDEPLOY_DRAIN_TIMEOUT_S"] = "900"
    elif where == "env":
        _server(objs)["env"].append({"name": "VLLMDEPLOY_DRAIN_TIMEOUT_S", "value": "900"})
    else:
        _server(objs)["lifecycle"]["preStop"]["exec"]["command"] += ["--timeout", "900"]


@pytest.mark.parametrize("where", ["configmap", "env", "prestop"])
def test_the_drain_deadline_is_read_where_the_pod_reads_it(where: str) -> None:
    objs = copy.deepcopy(load_dir(PROD))
    _drain_deadline(objs, where)
    problems = [str(p) for p in check_policies(objs)]
    assert any("[grace-period]" in p and "drain 900 +" in p for p in problems), problems
    assert any("[ingress-timeouts]" in p and "drain deadline (900 s)" in p for p in problems)


def test_a_drain_deadline_that_is_not_a_number_is_named() -> None:
    objs = copy.deepcopy(load_dir(PROD))
    _server(objs)["env"].append({"name": "VLLMDEPLOY_DRAIN_TIMEOUT_S", "value": "soon"})
    problems = [str(p) for p in check_policies(objs) if p.check == "grace-period"]
    assert problems and "VLLMDEPLOY_DRAIN_TIMEOUT_S has value 'soon'" in problems[0]

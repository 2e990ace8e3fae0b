"""Named policy checks over a set of rendered objects; docs/deploy.md describes each.

Each check takes every object and returns its problems, naming the object and the field.
They read only the manifests (and the annotations the renderer puts on the Deployment),
so they also check hand-edited output.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import yaml

from vllm_deploy.contract import (
    DEFAULT_DRAIN_TIMEOUT_S,
    DRAIN_TIMEOUT_VARIABLE,
    ENV_PREFIX,
    PROBE_PATHS,
)
from vllm_deploy.render.common import ANNOTATION_PREFIX as ANNOTATION
from vllm_deploy.render.network import NGINX
from vllm_deploy.validate.cache_policies import CACHE_POLICIES
from vllm_deploy.validate.objects import annotation as _annotation
from vllm_deploy.validate.objects import containers as _containers
from vllm_deploy.validate.objects import flag as _flag
from vllm_deploy.validate.objects import of_kind as _kind
from vllm_deploy.validate.objects import pod_spec as _pod_spec
from vllm_deploy.validate.objects import server as _server
from vllm_deploy.validate.problems import Problem, obj_id

__all__ = ["POLICIES", "check_policies"]

Obj = dict[str, Any]
Check = Callable[[list[Obj]], Iterator[Problem]]
MIN_MARGIN_S = 5
_SECRETISH = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL)", re.I)
_SECRET_FLAGS = frozenset({"--api-key", "--hf-token"})


def _drain_timeout(objs: list[Obj], container: Obj) -> float | str:
    """The drain deadline the pod's preStop drain uses, or why it is unknown.

    As the container sees it: ``vllm-deploy drain --timeout`` if the hook passes one, else
    ``VLLMDEPLOY_DRAIN_TIMEOUT_S`` from ``env``, else from the ``envFrom`` ConfigMaps (a later
    source wins, as in the kubelet), else the middleware's default.
    """
    command = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    value: object = _flag(command, "--timeout")
    where = "the preStop hook's --timeout"
    if value is None:
        for env in container.get("env", []):
            if env.get("name") == DRAIN_TIMEOUT_VARIABLE and "value" in env:
                value, where = env["value"], f"env {DRAIN_TIMEOUT_VARIABLE}"
    if value is None:
        config_maps = {c["metadata"]["name"]: c for c in _kind(objs, "ConfigMap")}
        for source in container.get("envFrom", []):
            ref = source.get("configMapRef")
            if ref is None:
                continue
            if ref.get("name") not in config_maps:
                return f"ConfigMap {ref.get('name')} (envFrom) is not among the manifests"
            data = config_maps[ref["name"]].get("data") or {}
            key = DRAIN_TIMEOUT_VARIABLE.removeprefix(source.get("prefix", ""))
            if source.get("prefix", "") + key == DRAIN_TIMEOUT_VARIABLE and key in data:
                value, where = data[key], f"ConfigMap {ref['name']} {DRAIN_TIMEOUT_VARIABLE}"
    if value is None:
        return float(DEFAULT_DRAIN_TIMEOUT_S)
    try:
        return float(str(value))
    except ValueError:
        return f"{where} has value {value!r}: not a number of seconds"


def _labels_match(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def grace_period(objs: list[Obj]) -> Iterator[Problem]:
    """terminationGracePeriodSeconds >= drain deadline + shutdown timeout + margin."""
    for dep in _kind(objs, "Deployment"):
        server = _server(dep)
        if server is None:
            continue
        command = server.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
        shutdown = _flag(server.get("args", []), "--shutdown-timeout")
        grace = _pod_spec(dep).get("terminationGracePeriodSeconds", 30)
        if command[:2] != ["vllm-deploy", "drain"]:
            yield Problem(
                "grace-period",
                obj_id(dep),
                "spec.template.spec.containers[vllm].lifecycle.preStop",
                "no `vllm-deploy drain` preStop hook: streams would be cut",
            )
            continue
        drain = _drain_timeout(objs, server)
        if isinstance(drain, str):
            yield Problem(
                "grace-period",
                obj_id(dep),
                "spec.template.spec.containers[vllm].envFrom",
                f"the drain deadline is unknown: {drain}",
            )
            continue
        need = drain + float(shutdown or 0) + MIN_MARGIN_S
        if grace < need:
            yield Problem(
                "grace-period",
                obj_id(dep),
                "spec.template.spec.terminationGracePeriodSeconds",
                f"{grace} < drain {drain:g} + shutdown {shutdown or 0} "
                f"+ margin {MIN_MARGIN_S} = {need:g}",
            )


def startup_budget(objs: list[Obj]) -> Iterator[Problem]:
    """The startup probe lets the model load for at least the expected load time."""
    for dep in _kind(objs, "Deployment"):
        server, expected = _server(dep), _annotation(dep, "expected-load-seconds")
        if server is None:
            continue
        if expected is None:
            yield Problem(
                "startup-budget",
                obj_id(dep),
                f"metadata.annotations.{ANNOTATION}expected-load-seconds",
                "missing: the expected model load time cannot be checked",
            )
            continue
        probe = server.get("startupProbe")
        field = "spec.template.spec.containers[vllm].startupProbe"
        if probe is None:
            yield Problem(
                "startup-budget",
                obj_id(dep),
                field,
                f"missing; the model needs {expected} s to load",
            )
            continue
        budget = probe.get("initialDelaySeconds", 0) + probe.get("periodSeconds", 10) * probe.get(
            "failureThreshold", 3
        )
        if budget < expected:
            yield Problem(
                "startup-budget",
                obj_id(dep),
                field,
                f"allows {budget} s, less than the expected load time {expected} s",
            )


def progress_deadline(objs: list[Obj]) -> Iterator[Problem]:
    """The rollout deadline outlasts a start: startup budget + minReadySeconds."""
    for dep in _kind(objs, "Deployment"):
        server = _server(dep)
        probe = (server or {}).get("startupProbe")
        if probe is None:
            continue
        budget = probe.get("initialDelaySeconds", 0) + probe.get("periodSeconds", 10) * probe.get(
            "failureThreshold", 3
        )
        need = budget + dep.get("spec", {}).get("minReadySeconds", 0)
        deadline = dep.get("spec", {}).get("progressDeadlineSeconds", 600)
        if deadline < need:
            yield Problem(
                "progress-deadline",
                obj_id(dep),
                "spec.progressDeadlineSeconds",
                f"{deadline} s < startup budget + minReadySeconds = {need} s: rollouts would be "
                "reported failed while pods still load",
            )


def probes_differ(objs: list[Obj]) -> Iterator[Problem]:
    """Readiness and liveness are different endpoints (a draining pod must stay alive)."""
    for dep in _kind(objs, "Deployment"):
        server = _server(dep)
        if server is None:
            continue
        ready = server.get("readinessProbe", {}).get("httpGet", {}).get("path")
        live = server.get("livenessProbe", {}).get("httpGet", {}).get("path")
        if ready is None or live is None or ready == live:
            yield Problem(
                "probes-differ",
                obj_id(dep),
                "spec.template.spec.containers[vllm].livenessProbe",
                f"readiness ({ready}) and liveness ({live}) must both exist and differ",
            )


def probe_endpoints(objs: list[Obj]) -> Iterator[Problem]:
    """Probe paths are the middleware's, on a port the container declares."""
    for dep in _kind(objs, "Deployment"):
        server = _server(dep)
        if server is None:
            continue
        ports = {p.get("name") for p in server.get("ports", [])} | {
            p.get("containerPort") for p in server.get("ports", [])
        }
        for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
            get = server.get(kind, {}).get("httpGet")
            if get is None:
                continue
            field = f"spec.template.spec.containers[vllm].{kind}.httpGet"
            if get.get("path") not in PROBE_PATHS:
                yield Problem(
                    "probe-endpoints",
                    obj_id(dep),
                    f"{field}.path",
                    f"{get.get('path')!r} is not served by the middleware "
                    f"(use {sorted(PROBE_PATHS)})",
                )
            if get.get("port") not in ports:
                yield Problem(
                    "probe-endpoints",
                    obj_id(dep),
                    f"{field}.port",
                    f"{get.get('port')!r} is not a port of the container",
                )


def selectors_match(objs: list[Obj]) -> Iterator[Problem]:
    """Deployment, Service, PDB, NetworkPolicy and PodMonitor selectors match the pods."""
    pods = [
        (d, d.get("spec", {}).get("template", {}).get("metadata", {}).get("labels", {}))
        for d in _kind(objs, "Deployment")
    ]
    for dep, labels in pods:
        if not _labels_match(
            dep.get("spec", {}).get("selector", {}).get("matchLabels", {}), labels
        ):
            yield Problem(
                "selectors-match",
                obj_id(dep),
                "spec.selector.matchLabels",
                "does not match the pod labels",
            )
    selectors = [
        (o, "spec.selector", o.get("spec", {}).get("selector", {})) for o in _kind(objs, "Service")
    ]
    selectors += [
        (
            o,
            "spec.selector.matchLabels",
            o.get("spec", {}).get("selector", {}).get("matchLabels", {}),
        )
        for o in [*_kind(objs, "PodDisruptionBudget"), *_kind(objs, "PodMonitor")]
    ]
    selectors += [
        (
            o,
            "spec.podSelector.matchLabels",
            o.get("spec", {}).get("podSelector", {}).get("matchLabels", {}),
        )
        for o in _kind(objs, "NetworkPolicy")
    ]
    # A NetworkPolicy may select a Job's pods too (the model download's).
    jobs = [
        j.get("spec", {}).get("template", {}).get("metadata", {}).get("labels", {})
        for j in _kind(objs, "Job")
    ]
    for obj, field, selector in selectors:
        targets = [labels for _, labels in pods] + (
            jobs if obj.get("kind") == "NetworkPolicy" else []
        )
        if not any(_labels_match(selector, labels) for labels in targets):
            yield Problem(
                "selectors-match",
                obj_id(obj),
                field,
                f"{selector} selects no pod of any Deployment",
            )


def targets_exist(objs: list[Obj]) -> Iterator[Problem]:
    """HPA/KEDA targets, Ingress backends and Service target ports exist."""
    deployments = {d["metadata"]["name"] for d in _kind(objs, "Deployment")}
    services = {s["metadata"]["name"]: s for s in _kind(objs, "Service")}
    for scaler in [*_kind(objs, "HorizontalPodAutoscaler"), *_kind(objs, "ScaledObject")]:
        ref = scaler.get("spec", {}).get("scaleTargetRef", {})
        if ref.get("kind", "Deployment") != "Deployment" or ref.get("name") not in deployments:
            yield Problem(
                "targets-exist",
                obj_id(scaler),
                "spec.scaleTargetRef",
                f"{ref} is not a rendered Deployment",
            )
    for ing in _kind(objs, "Ingress"):
        for rule in ing.get("spec", {}).get("rules", []):
            for path in rule.get("http", {}).get("paths", []):
                backend = path.get("backend", {}).get("service", {})
                svc = services.get(backend.get("name"))
                port = backend.get("port", {})
                known = {p.get("name") for p in (svc or {}).get("spec", {}).get("ports", [])} | {
                    p.get("port") for p in (svc or {}).get("spec", {}).get("ports", [])
                }
                if svc is None or (port.get("name") or port.get("number")) not in known:
                    yield Problem(
                        "targets-exist",
                        obj_id(ing),
                        "spec.rules.http.paths.backend",
                        f"service {backend.get('name')} port {port} does not exist",
                    )
    container_ports = {
        p.get("name")
        for d in _kind(objs, "Deployment")
        for c in _containers(d)
        for p in c.get("ports", [])
    }
    for name, svc in services.items():
        for port in svc.get("spec", {}).get("ports", []):
            target = port.get("targetPort")
            if isinstance(target, str) and target not in container_ports:
                yield Problem(
                    "targets-exist",
                    f"Service/{name}",
                    "spec.ports.targetPort",
                    f"{target!r} is no container port",
                )


def autoscaling_metric_served(objs: list[Obj]) -> Iterator[Problem]:
    """An HPA's Pods metrics come from the adapter rules; a KEDA query names a contract metric."""
    served: set[str] = set()
    for cm in _kind(objs, "ConfigMap"):
        rules_text = (cm.get("data") or {}).get("rules.yaml")
        if rules_text:
            served |= {
                r.get("name", {}).get("as", "")
                for r in (yaml.safe_load(rules_text) or {}).get("rules", [])
            }
    for hpa in _kind(objs, "HorizontalPodAutoscaler"):
        for i, metric in enumerate(hpa.get("spec", {}).get("metrics", [])):
            if metric.get("type") == "Pods" and metric["pods"]["metric"]["name"] not in served:
                yield Problem(
                    "autoscaling-metric-served",
                    obj_id(hpa),
                    f"spec.metrics[{i}].pods.metric.name",
                    f"{metric['pods']['metric']['name']!r} is produced by no "
                    f"prometheus-adapter rule (served: {sorted(served) or 'none'})",
                )
    for so in _kind(objs, "ScaledObject"):
        for i, trigger in enumerate(so.get("spec", {}).get("triggers", [])):
            query = trigger.get("metadata", {}).get("query", "")
            if trigger.get("type") == "prometheus" and not re.search(
                r"vllm:num_requests_(waiting|running)", query
            ):
                yield Problem(
                    "autoscaling-metric-served",
                    obj_id(so),
                    f"spec.triggers[{i}].metadata.query",
                    f"{query!r} reads no vLLM queue metric of the contract",
                )


def resources_set(objs: list[Obj]) -> Iterator[Problem]:
    """Every container has CPU and memory requests and a memory limit."""
    for dep in _kind(objs, "Deployment"):
        for c in _containers(dep):
            res = c.get("resources", {})
            requests, limits = res.get("requests", {}), res.get("limits", {})
            present = (
                ("requests.cpu", "cpu" in requests),
                ("requests.memory", "memory" in requests),
                ("limits.memory", "memory" in limits),
            )
            missing = [f for f, ok in present if not ok]
            if missing:
                yield Problem(
                    "resources-set",
                    obj_id(dep),
                    f"containers[{c.get('name')}].resources",
                    f"missing {', '.join(missing)}",
                )


def no_inline_secrets(objs: list[Obj]) -> Iterator[Problem]:
    """Keys, tokens and passwords come from Secrets, never from literal values."""
    for dep in _kind(objs, "Deployment"):
        for c in _containers(dep):
            for flag in _SECRET_FLAGS & {
                a.split("=", 1)[0] for a in c.get("args", []) + c.get("command", [])
            }:
                yield Problem(
                    "no-inline-secrets",
                    obj_id(dep),
                    f"containers[{c.get('name')}].args[{flag}]",
                    "a secret on the command line; mount a Secret (VLLMDEPLOY_API_KEY_FILE)",
                )
            for env in c.get("env", []):
                if (
                    _SECRETISH.search(env.get("name", ""))
                    and "value" in env
                    and not env["name"].endswith(("_FILE", "_PATH"))
                ):
                    yield Problem(
                        "no-inline-secrets",
                        obj_id(dep),
                        f"containers[{c.get('name')}].env[{env['name']}]",
                        "a secret as a literal value; use valueFrom.secretKeyRef",
                    )
    for cm in _kind(objs, "ConfigMap"):
        for key in cm.get("data") or {}:
            if _SECRETISH.search(key) and not key.endswith("_FILE") and key.startswith(ENV_PREFIX):
                yield Problem(
                    "no-inline-secrets", obj_id(cm), f"data.{key}", "secrets belong in a Secret"
                )


def image_pinned_in_prod(objs: list[Obj]) -> Iterator[Problem]:
    """In the prod profile, images carry a tag other than `latest` (or a digest)."""
    for dep in _kind(objs, "Deployment"):
        if (dep.get("metadata", {}).get("annotations") or {}).get(ANNOTATION + "profile") != "prod":
            continue
        for c in _containers(dep):
            image = c.get("image", "")
            tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
            if "@sha256:" not in image and tag in ("", "latest"):
                yield Problem(
                    "image-pinned-in-prod",
                    obj_id(dep),
                    f"containers[{c.get('name')}].image",
                    f"{image!r} is not pinned; use a version tag or a digest",
                )


def ingress_timeouts(objs: list[Obj]) -> Iterator[Problem]:
    """nginx read/send timeouts cover the drain deadline (the longest request), so streams are
    not cut."""
    deadlines = [
        d
        for dep in _kind(objs, "Deployment")
        if (server := _server(dep)) is not None
        if not isinstance(d := _drain_timeout(objs, server), str)
    ]
    longest = max(deadlines, default=float(DEFAULT_DRAIN_TIMEOUT_S))
    for ing in _kind(objs, "Ingress"):
        annotations = ing.get("metadata", {}).get("annotations") or {}
        for name in ("proxy-read-timeout", "proxy-send-timeout"):
            value = annotations.get(NGINX + name, "60")
            if not str(value).isdigit() or int(value) < longest:
                yield Problem(
                    "ingress-timeouts",
                    obj_id(ing),
                    f"metadata.annotations.{NGINX}{name}",
                    f"{value} s is shorter than the drain deadline ({longest:g} s)",
                )


def pdb_allows_disruption(objs: list[Obj]) -> Iterator[Problem]:
    """With more than one replica, the PDB lets at least one pod go (node drains proceed)."""
    replicas = max(
        [d.get("spec", {}).get("replicas", 1) for d in _kind(objs, "Deployment")]
        + [h.get("spec", {}).get("minReplicas", 1) for h in _kind(objs, "HorizontalPodAutoscaler")]
        + [k.get("spec", {}).get("minReplicaCount", 0) for k in _kind(objs, "ScaledObject")],
        default=1,
    )
    for pdb in _kind(objs, "PodDisruptionBudget"):
        spec = pdb.get("spec", {})
        if "maxUnavailable" in spec:
            ok = str(spec["maxUnavailable"]) not in ("0", "0%")
        else:
            min_available = spec.get("minAvailable", 0)
            ok = (isinstance(min_available, int) and min_available < replicas) or (
                str(min_available).endswith("%") and min_available != "100%"
            )
        if replicas > 1 and not ok:
            yield Problem(
                "pdb-allows-disruption",
                obj_id(pdb),
                "spec",
                f"allows no disruption with {replicas} replicas; node drains would block",
            )


POLICIES: dict[str, Check] = {
    "grace-period": grace_period,
    "startup-budget": startup_budget,
    "progress-deadline": progress_deadline,
    "probes-differ": probes_differ,
    "probe-endpoints": probe_endpoints,
    "selectors-match": selectors_match,
    "targets-exist": targets_exist,
    "autoscaling-metric-served": autoscaling_metric_served,
    "resources-set": resources_set,
    "no-inline-secrets": no_inline_secrets,
    "image-pinned-in-prod": image_pinned_in_prod,
    "ingress-timeouts": ingress_timeouts,
    "pdb-allows-disruption": pdb_allows_disruption,
    **CACHE_POLICIES,
}


def check_policies(objs: list[Obj]) -> list[Problem]:
    return sorted(p for check in POLICIES.values() for p in check(objs))

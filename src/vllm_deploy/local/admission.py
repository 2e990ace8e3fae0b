"""Defaulting and validation on write, for the kinds the controllers read.

Defaults are those of k8s.io/api's types (apps/v1 and core/v1 ``SetDefaults_*`` in
pkg/apis/*/v1/defaults.go: Deployment replicas 1, RollingUpdate 25%/25%, revision history 10,
progress deadline 600 s; pods: restartPolicy Always, grace period 30 s, probe timeouts 1 s,
periods 10 s, thresholds 1/3; Service ClusterIP with a cluster IP and targetPort = port;
HPA minReplicas 1 and, when ``behavior`` is set, pkg/apis/autoscaling/v2/defaults.go).
Validation covers what a stand-in must refuse to stay faithful (422 with causes); it is not
the API server's whole validation.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

from vllm_deploy.local.errors import ApiError, FieldError
from vllm_deploy.local.resources import ResourceType
from vllm_deploy.local.selectors import match_selector_object

__all__ = ["Admission"]

Obj = dict[str, Any]
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_PROBE_DEFAULTS = {
    "timeoutSeconds": 1,
    "periodSeconds": 10,
    "successThreshold": 1,
    "failureThreshold": 3,
}


def _container(c: Obj) -> None:
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    c.setdefault("imagePullPolicy", "IfNotPresent")
    for port in c.get("ports") or []:
        port.setdefault("protocol", "TCP")
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        if probe in c:
            for key, value in _PROBE_DEFAULTS.items():
                c[probe].setdefault(key, value)
            if "httpGet" in c[probe]:
                c[probe]["httpGet"].setdefault("scheme", "HTTP")


def _pod_spec(spec: Obj) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        _container(c)


def _deployment(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    strategy = spec.setdefault("strategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    spec.setdefault("minReadySeconds", 0)
    _pod_spec(spec.setdefault("template", {}).setdefault("spec", {}))


def _replicaset(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("minReadySeconds", 0)
    _pod_spec(spec.setdefault("template", {}).setdefault("spec", {}))


def _pod(obj: Obj) -> None:
    _pod_spec(obj.setdefault("spec", {}))
    obj.setdefault("status", {}).setdefault("phase", "Pending")


def _service(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    for port in spec.get("ports") or []:
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))


def _scaling_rules(rules: Obj | None, up: bool) -> Obj:
    rules = dict(rules or {})
    if up:
        rules.setdefault("stabilizationWindowSeconds", 0)
        rules.setdefault(
            "policies",
            [
                {"type": "Pods", "value": 4, "periodSeconds": 15},
                {"type": "Percent", "value": 100, "periodSeconds": 15},
            ],
        )
    else:  # the window stays unset: the controller applies its flag (300 s)
        rules.setdefault("policies", [{"type": "Percent", "value": 100, "periodSeconds": 15}])
    rules.setdefault("selectPolicy", "Max")
    return rules


def _hpa(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("minReplicas", 1)
    if spec.get("behavior") is not None:
        behavior = spec["behavior"]
        behavior["scaleUp"] = _scaling_rules(behavior.get("scaleUp"), up=True)
        behavior["scaleDown"] = _scaling_rules(behavior.get("scaleDown"), up=False)


def _namespace(obj: Obj) -> None:
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    obj.setdefault("status", {}).setdefault("phase", "Active")


DEFAULTERS: dict[str, Callable[[Obj], None]] = {
    "Namespace": _namespace,
    "Deployment": _deployment,
    "ReplicaSet": _replicaset,
    "Pod": _pod,
    "Service": _service,
    "HorizontalPodAutoscaler": _hpa,
}


def _validate_name(rt: ResourceType, obj: Obj) -> list[FieldError]:
    name = obj.get("metadata", {}).get("name", "")
    pattern = _DNS1123_LABEL if rt.kind in ("Namespace", "Service") else _DNS1123_SUBDOMAIN
    if len(name) > 253 or not pattern.match(name):
        return [
            FieldError(
                "metadata.name",
                f"Invalid value: {name!r}: a lowercase RFC 1123 "
                "name must consist of lower case alphanumeric characters, '-' or '.'",
            )
        ]
    return []


def _validate_workload(obj: Obj) -> list[FieldError]:
    spec = obj.get("spec", {})
    errors = []
    if not isinstance(spec.get("replicas", 1), int) or spec.get("replicas", 1) < 0:
        errors.append(
            FieldError(
                "spec.replicas",
                f"Invalid value: {spec.get('replicas')!r}: must be greater than or equal to 0",
            )
        )
    selector = spec.get("selector")
    labels = spec.get("template", {}).get("metadata", {}).get("labels") or {}
    if not selector:
        errors.append(FieldError("spec.selector", "Required value", "FieldValueRequired"))
    elif not match_selector_object(selector, labels):
        errors.append(
            FieldError(
                "spec.template.metadata.labels",
                f"Invalid value: {labels!r}: `selector` does not match template `labels`",
            )
        )
    if not spec.get("template", {}).get("spec", {}).get("containers"):
        errors.append(
            FieldError("spec.template.spec.containers", "Required value", "FieldValueRequired")
        )
    return errors


def _validate_hpa(obj: Obj) -> list[FieldError]:
    spec = obj.get("spec", {})
    errors = []
    if spec.get("maxReplicas", 0) < spec.get("minReplicas", 1):
        errors.append(
            FieldError(
                "spec.maxReplicas",
                f"Invalid value: {spec.get('maxReplicas')!r}:"
                " must be greater than or equal to `minReplicas`",
            )
        )
    if not spec.get("scaleTargetRef", {}).get("name"):
        errors.append(
            FieldError("spec.scaleTargetRef.name", "Required value", "FieldValueRequired")
        )
    return errors


def _validate_service(obj: Obj) -> list[FieldError]:
    """ValidateService's port rules (pkg/apis/core/validation/validation.go): ports required
    unless headless or ExternalName, each in 1-65535, named when there are several, names and
    port/protocol pairs unique."""
    spec = obj.get("spec", {})
    ports = spec.get("ports") or []
    errors = []
    if not ports and spec.get("clusterIP") != "None" and spec.get("type") != "ExternalName":
        errors.append(FieldError("spec.ports", "Required value", "FieldValueRequired"))
    names: set[str] = set()
    pairs: set[tuple[Any, str]] = set()
    for i, port in enumerate(ports):
        path = f"spec.ports[{i}]"
        number = port.get("port")
        if not isinstance(number, int) or not 1 <= number <= 65535:
            errors.append(
                FieldError(
                    f"{path}.port",
                    f"Invalid value: {number!r}: must be between 1 and 65535, inclusive",
                )
            )
        target = port.get("targetPort")
        if isinstance(target, int) and not 1 <= target <= 65535:
            errors.append(
                FieldError(
                    f"{path}.targetPort",
                    f"Invalid value: {target!r}: must be between 1 and 65535, inclusive",
                )
            )
        name = port.get("name", "")
        if len(ports) > 1 and not name:
            errors.append(FieldError(f"{path}.name", "Required value", "FieldValueRequired"))
        if name and name in names:
            errors.append(
                FieldError(f"{path}.name", f"Duplicate value: {name!r}", "FieldValueDuplicate")
            )
        names.add(name)
        pair = (number, port.get("protocol", "TCP"))
        if pair in pairs:
            errors.append(
                FieldError(
                    f"{path}",
                    f"Duplicate value: {{port: {number}, protocol: {pair[1]}}}",
                    "FieldValueDuplicate",
                )
            )
        pairs.add(pair)
    return errors


VALIDATORS: dict[str, Callable[[Obj], list[FieldError]]] = {
    "Service": _validate_service,
    "Deployment": _validate_workload,
    "ReplicaSet": _validate_workload,
    "HorizontalPodAutoscaler": _validate_hpa,
}


class Admission:
    """Usage: ``Admission().admit(rt, obj)`` before an object is stored."""

    def __init__(self) -> None:
        self._cluster_ips = ipaddress.ip_network("10.96.0.0/16").hosts()  # kubeadm's range
        next(self._cluster_ips)  # 10.96.0.1 is the API server's own Service

    def admit(self, rt: ResourceType, obj: Obj) -> Obj:
        """Defaults ``obj`` in place, then validates it; raises a 422 with every cause."""
        defaulter = DEFAULTERS.get(rt.kind)
        if defaulter is not None:
            defaulter(obj)
        spec = obj.get("spec", {})
        if rt.kind == "Service" and not spec.get("clusterIP"):
            spec["clusterIP"] = str(next(self._cluster_ips))
            spec["clusterIPs"] = [spec["clusterIP"]]
        validator = VALIDATORS.get(rt.kind)
        errors = _validate_name(rt, obj) + (validator(obj) if validator is not None else [])
        if errors:
            raise ApiError.invalid(rt, obj.get("metadata", {}).get("name", ""), errors)
        return obj

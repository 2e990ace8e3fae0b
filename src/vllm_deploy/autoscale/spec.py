"""An ``autoscaling/v2`` HorizontalPodAutoscaler manifest, parsed and defaulted as the API
server does.

Defaults are those of ``pkg/apis/autoscaling/v2/defaults.go``
(``SetDefaults_HorizontalPodAutoscaler``, ``SetDefaults_HorizontalPodAutoscalerBehavior``,
``GenerateHPAScaleUpRules``, ``GenerateHPAScaleDownRules``, ``copyHPAScalingRules``):
``minReplicas`` 1; no metrics means CPU at 80%; and **only when ``spec.behavior`` is set**,
scale-up ``{window 0, Max, [Pods 4 / 15 s, Percent 100 / 15 s]}`` and scale-down ``{window
unset (the controller's flag, 300 s), Max, [Percent 100 / 15 s]}``, field by field under what
the manifest sets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from vllm_deploy.autoscale.quantity import QuantityError, milli

__all__ = [
    "Behavior",
    "HpaSpec",
    "HpaSpecError",
    "MetricSpec",
    "ScalingPolicy",
    "ScalingRules",
    "parse_hpa",
]

MetricType = Literal["Pods", "Resource", "Object", "External"]
TargetType = Literal["Utilization", "AverageValue", "Value"]
SelectPolicy = Literal["Max", "Min", "Disabled"]
DEFAULT_CPU_UTILIZATION = 80  # pkg/apis/autoscaling: DefaultCPUUtilization


class HpaSpecError(ValueError):
    """The manifest is not a usable HPA: the message names the field and the value."""


@dataclass(frozen=True, slots=True)
class ScalingPolicy:
    type: Literal["Pods", "Percent"]
    value: int
    period_s: int


@dataclass(frozen=True, slots=True)
class ScalingRules:
    """One direction of ``spec.behavior``; ``stabilization_s`` None means the controller's flag."""

    stabilization_s: int | None
    select: SelectPolicy
    policies: tuple[ScalingPolicy, ...]
    tolerance: float | None = None  # behavior.*.tolerance (HPAConfigurableTolerance)

    @property
    def longest_period_s(self) -> int:
        return max((p.period_s for p in self.policies), default=0)


@dataclass(frozen=True, slots=True)
class Behavior:
    scale_up: ScalingRules
    scale_down: ScalingRules


DEFAULT_SCALE_UP = ScalingRules(
    0, "Max", (ScalingPolicy("Pods", 4, 15), ScalingPolicy("Percent", 100, 15))
)
DEFAULT_SCALE_DOWN = ScalingRules(None, "Max", (ScalingPolicy("Percent", 100, 15),))


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One entry of ``spec.metrics``. ``key`` is what the caller's metric samples are keyed by:
    the metric name, or the resource name (``cpu``) for Resource metrics.

    ``target`` is a percentage for Utilization, else milli-units (``"4"`` is 4000)."""

    type: MetricType
    key: str
    target_type: TargetType
    target: int
    described: str = ""  # Object: the described object's kind
    selector: Mapping[str, Any] | None = None

    @property
    def description(self) -> str:
        """How the controller names the metric in its messages (``computeStatusFor*Metric``)."""
        if self.type == "Pods":
            return f"pods metric {self.key}"
        if self.type == "Resource":
            if self.target_type == "Utilization":
                return f"{self.key} resource utilization (percentage of request)"
            return f"{self.key} resource"
        if self.type == "Object" and self.target_type == "Value":
            return f"{self.described} metric {self.key}"
        # Upstream names both Object AverageValue and External metrics this way.
        return f"external metric {self.key}({dict(self.selector) if self.selector else '<nil>'})"


@dataclass(frozen=True, slots=True)
class HpaSpec:
    name: str
    min_replicas: int
    max_replicas: int
    metrics: tuple[MetricSpec, ...]
    behavior: Behavior | None


def _get(obj: Mapping[str, Any], path: str, key: str) -> Any:
    if not isinstance(obj, Mapping) or key not in obj:
        raise HpaSpecError(f"{path}.{key} is required")
    return obj[key]


def _int(value: Any, path: str, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise HpaSpecError(f"{path} has value {value!r}: expected an integer >= {low}")
    return value


def _quantity(value: Any, path: str) -> int:
    try:
        return milli(value)
    except QuantityError:
        raise HpaSpecError(
            f"{path} has value {value!r}: expected a quantity such as '4' or '500m'"
        ) from None


def _target(
    source: Mapping[str, Any], path: str, allowed: Sequence[TargetType]
) -> tuple[TargetType, int]:
    target = _get(source, path, "target")
    kind = _get(target, f"{path}.target", "type")
    if kind not in allowed:
        raise HpaSpecError(
            f"{path}.target.type has value {kind!r}: expected one of {list(allowed)}"
        )
    if kind == "Utilization":
        return "Utilization", _int(
            _get(target, f"{path}.target", "averageUtilization"),
            f"{path}.target.averageUtilization",
            1,
        )
    field = "averageValue" if kind == "AverageValue" else "value"
    return kind, _quantity(_get(target, f"{path}.target", field), f"{path}.target.{field}")


def _metric(entry: Mapping[str, Any], path: str) -> MetricSpec:
    kind = _get(entry, path, "type")
    if kind == "Pods":
        src = _get(entry, path, "pods")
        t_type, target = _target(src, f"{path}.pods", ["AverageValue"])
        metric = _get(src, f"{path}.pods", "metric")
        return MetricSpec(
            "Pods",
            _get(metric, f"{path}.pods.metric", "name"),
            t_type,
            target,
            selector=metric.get("selector"),
        )
    if kind == "Resource":
        src = _get(entry, path, "resource")
        t_type, target = _target(src, f"{path}.resource", ["Utilization", "AverageValue"])
        return MetricSpec("Resource", _get(src, f"{path}.resource", "name"), t_type, target)
    if kind == "Object":
        src = _get(entry, path, "object")
        t_type, target = _target(src, f"{path}.object", ["Value", "AverageValue"])
        metric = _get(src, f"{path}.object", "metric")
        described = _get(src, f"{path}.object", "describedObject")
        return MetricSpec(
            "Object",
            _get(metric, f"{path}.object.metric", "name"),
            t_type,
            target,
            described=str(described.get("kind", "")),
            selector=metric.get("selector"),
        )
    if kind == "External":
        src = _get(entry, path, "external")
        t_type, target = _target(src, f"{path}.external", ["Value", "AverageValue"])
        metric = _get(src, f"{path}.external", "metric")
        return MetricSpec(
            "External",
            _get(metric, f"{path}.external.metric", "name"),
            t_type,
            target,
            selector=metric.get("selector"),
        )
    raise HpaSpecError(
        f"{path}.type has value {kind!r}: this port supports Pods, Resource, Object and External"
    )


def _rules(given: Mapping[str, Any] | None, default: ScalingRules, path: str) -> ScalingRules:
    """``copyHPAScalingRules``: every field the manifest sets replaces the default's."""
    if given is None:
        return default
    window, select, policies, tolerance = (
        default.stabilization_s,
        default.select,
        default.policies,
        default.tolerance,
    )
    if given.get("stabilizationWindowSeconds") is not None:
        window = _int(given["stabilizationWindowSeconds"], f"{path}.stabilizationWindowSeconds")
    if given.get("selectPolicy") is not None:
        if given["selectPolicy"] not in ("Max", "Min", "Disabled"):
            raise HpaSpecError(
                f"{path}.selectPolicy has value {given['selectPolicy']!r}: "
                "expected Max, Min or Disabled"
            )
        select = given["selectPolicy"]
    if given.get("policies") is not None:
        policies = tuple(
            _policy(p, f"{path}.policies[{i}]") for i, p in enumerate(given["policies"])
        )
    if given.get("tolerance") is not None:
        tolerance = _quantity(given["tolerance"], f"{path}.tolerance") / 1000.0
    return ScalingRules(window, select, policies, tolerance)


def _policy(entry: Mapping[str, Any], path: str) -> ScalingPolicy:
    kind = _get(entry, path, "type")
    if kind not in ("Pods", "Percent"):
        raise HpaSpecError(f"{path}.type has value {kind!r}: expected Pods or Percent")
    value = _int(_get(entry, path, "value"), f"{path}.value", 1)
    return ScalingPolicy(
        kind, value, _int(_get(entry, path, "periodSeconds"), f"{path}.periodSeconds", 1)
    )


def parse_hpa(manifest: Mapping[str, Any]) -> HpaSpec:
    """Usage: ``parse_hpa(yaml.safe_load(open("hpa.yaml")))`` (as ``vllm-deploy render``
    writes it)."""
    if (
        manifest.get("kind") != "HorizontalPodAutoscaler"
        or manifest.get("apiVersion") != "autoscaling/v2"
    ):
        raise HpaSpecError(
            f"kind/apiVersion has value {manifest.get('kind')!r}/{manifest.get('apiVersion')!r}: "
            "expected HorizontalPodAutoscaler/autoscaling/v2"
        )
    spec = _get(manifest, "", "spec")
    low = _int(spec.get("minReplicas", 1), "spec.minReplicas")
    high = _int(_get(spec, "spec", "maxReplicas"), "spec.maxReplicas", 1)
    if low > high:
        raise HpaSpecError(
            f"spec.minReplicas has value {low}: must be <= spec.maxReplicas ({high})"
        )
    entries = spec.get("metrics") or [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": DEFAULT_CPU_UTILIZATION},
            },
        }
    ]
    metrics = tuple(_metric(e, f"spec.metrics[{i}]") for i, e in enumerate(entries))
    given = spec.get("behavior")
    behavior = None
    if given is not None:
        behavior = Behavior(
            _rules(given.get("scaleUp"), DEFAULT_SCALE_UP, "spec.behavior.scaleUp"),
            _rules(given.get("scaleDown"), DEFAULT_SCALE_DOWN, "spec.behavior.scaleDown"),
        )
    name = str(manifest.get("metadata", {}).get("name", ""))
    return HpaSpec(name, low, high, metrics, behavior)

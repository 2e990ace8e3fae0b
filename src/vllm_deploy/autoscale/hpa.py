"""The Kubernetes HorizontalPodAutoscaler's decision, ported from upstream: one object per HPA.

Pure and deterministic: the clock is passed in, nothing is read from the system, and the
only state is what the upstream controller keeps per HPA (recommendations, scale events,
status conditions, last scale time). The local cluster calls it once per sync (15 s) with
real pods and metrics read from Prometheus; the capacity simulator calls it with simulated
ones.

Interface::

    hpa = HorizontalPodAutoscaler.from_manifest(manifest)      # autoscaling/v2, as rendered
    decision = hpa.reconcile(
        now,                    # seconds on the caller's clock
        current_replicas,       # the target's scale.spec.replicas
        pods,                   # [PodState(name, phase, ready, ready_since, started, deleting,
                                #           metrics={key: value}, requests={"cpu": cores})]
        cluster=ClusterMetrics(objects={name: value}, external={name: [values]},
                               failed={keys the metrics API could not serve}),
        status_replicas=None,   # scale.status.replicas [default: pods not deleting/terminal]
    )
    decision.desired_replicas, decision.rescale, decision.reason, decision.conditions

``PodState.metrics`` is keyed by the metric's name (Pods metrics) or the resource name
(``cpu`` in cores, ``memory`` in bytes); a missing key is a missing sample. Values are
converted to milli-units (rounded up) as the metrics APIs carry them. Supported metric
sources: Pods (AverageValue), Resource (Utilization, AverageValue), Object and External
(Value, AverageValue). ContainerResource and scale-to-zero (feature gate HPAScaleToZero)
are not ported; the scale update is assumed to succeed (the caller applies
``desired_replicas``), so ``FailedUpdateScale`` never appears.

Sources (kubernetes/kubernetes, master as of 2026, read as the omerap12/kubernetes@a769d58
snapshot): ``pkg/controller/podautoscaler/horizontal.go``: ``reconcileAutoscaler``,
``computeReplicasForMetrics``, ``computeStatusFor*Metric``, ``normalizeDesiredReplicas*``,
``storeScaleEvent``, ``tolerancesForHpa``, ``setConditionInList``;
``replica_calculator.go`` (``autoscale/replicas.py``); ``pkg/apis/autoscaling/v2/defaults.go``
(``autoscale/spec.py``). Controller flags default as in kube-controller-manager:
tolerance 0.1, downscale stabilization 5 min, CPU initialization period 5 min, initial
readiness delay 30 s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from vllm_deploy.autoscale import normalize as norm
from vllm_deploy.autoscale.proposals import propose
from vllm_deploy.autoscale.replicas import MetricError, PodState, Tolerances
from vllm_deploy.autoscale.spec import HpaSpec, MetricSpec, parse_hpa
from vllm_deploy.autoscale.status import (
    ClusterMetrics,
    Condition,
    ConditionType,
    ControllerConfig,
    Decision,
    MetricProposal,
)

__all__ = [
    "ClusterMetrics",
    "Condition",
    "ControllerConfig",
    "Decision",
    "HorizontalPodAutoscaler",
    "MetricProposal",
]

_FAILED_REASON = {
    "Pods": "FailedGetPodsMetric",
    "Resource": "FailedGetResourceMetric",
    "Object": "FailedGetObjectMetric",
    "External": "FailedGetExternalMetric",
}


class HorizontalPodAutoscaler:
    """Usage: ``hpa = HorizontalPodAutoscaler.from_manifest(m); hpa.reconcile(now, 2, pods)``."""

    def __init__(self, spec: HpaSpec, config: ControllerConfig | None = None) -> None:
        self.spec = spec
        self.config = config or ControllerConfig()
        self.history = norm.History()
        self.last_scale_time: float | None = None
        self._conditions: dict[ConditionType, Condition] = {}

    @classmethod
    def from_manifest(
        cls, manifest: Mapping[str, Any], config: ControllerConfig | None = None
    ) -> HorizontalPodAutoscaler:
        return cls(parse_hpa(manifest), config)

    @property
    def conditions(self) -> tuple[Condition, ...]:
        return tuple(self._conditions.values())

    def _set(self, kind: ConditionType, ok: bool, reason: str, message: str, now: float) -> None:
        """``setConditionInList``: the transition time moves only when the status changes."""
        status: Literal["True", "False"] = "True" if ok else "False"
        old = self._conditions.get(kind)
        since = old.last_transition if old is not None and old.status == status else now
        self._conditions[kind] = Condition(kind, status, reason, message, since)

    def _tolerances(self) -> Tolerances:
        """``tolerancesForHpa``: per-direction ``behavior.*.tolerance`` override the flag."""
        t = self.config.tolerance
        behavior = self.spec.behavior
        if behavior is None:
            return Tolerances(t, t)
        down, up = behavior.scale_down.tolerance, behavior.scale_up.tolerance
        return Tolerances(t if down is None else down, t if up is None else up)

    def _compute(
        self,
        current: int,
        status_replicas: int,
        pods: Sequence[PodState],
        cluster: ClusterMetrics,
        now: float,
    ) -> tuple[int, str, list[MetricProposal], str | None]:
        """``computeReplicasForMetrics``: the max proposal; -1 when the metrics cannot decide."""
        best, name, proposals = 0, "", []
        invalid: list[tuple[MetricSpec, str]] = []
        for metric in self.spec.metrics:
            try:
                proposal = propose(
                    metric,
                    current,
                    status_replicas,
                    pods,
                    cluster,
                    now,
                    self.config,
                    self._tolerances(),
                )
            except MetricError as exc:
                invalid.append((metric, str(exc)))
                proposals.append(MetricProposal(metric.description, None, None, str(exc)))
                continue
            proposals.append(proposal)
            assert proposal.replicas is not None
            if best == 0 or proposal.replicas > best:
                best, name = proposal.replicas, proposal.metric
        error = None
        if invalid:
            error = (
                f"invalid metrics ({len(invalid)} invalid out of {len(self.spec.metrics)}), "
                f"first error is: {invalid[0][1]}"
            )
        # All invalid, or some invalid and the valid ones would scale down: do nothing.
        if len(invalid) >= len(self.spec.metrics) or (invalid and best < current):
            first, message = invalid[0]
            self._set(
                "ScalingActive",
                False,
                _FAILED_REASON[first.type],
                f"the HPA was unable to compute the replica count: {message}",
                now,
            )
            return -1, "", proposals, error
        self._set(
            "ScalingActive",
            True,
            "ValidMetricFound",
            f"the HPA was able to successfully calculate a replica count from {name}",
            now,
        )
        return best, name, proposals, error

    def _normalize(self, current: int, desired: int, now: float) -> int:
        """``normalizeDesiredReplicas`` / ``normalizeDesiredReplicasWithBehaviors``."""
        spec, behavior = self.spec, self.spec.behavior
        if behavior is None:
            stabilized = norm.stabilize(
                self.history, desired, now, self.config.downscale_stabilization_s
            )
            if stabilized != desired:
                self._set(
                    "AbleToScale",
                    True,
                    "ScaleDownStabilized",
                    "recent recommendations were higher than current one, "
                    "applying the highest recent recommendation",
                    now,
                )
            else:
                self._set(
                    "AbleToScale",
                    True,
                    "ReadyForNewScale",
                    "recommended size matches current size",
                    now,
                )
            limit = norm.convert_with_rules(
                current, stabilized, spec.min_replicas, spec.max_replicas
            )
        else:
            down_window = behavior.scale_down.stabilization_s
            if down_window is None:  # maybeInitScaleDownStabilizationWindow
                down_window = int(self.config.downscale_stabilization_s)
            up_window = behavior.scale_up.stabilization_s or 0
            stabilized, reason, message = norm.stabilize_with_behavior(
                self.history, current, desired, now, up_window, down_window
            )
            if stabilized != desired:
                self._set("AbleToScale", True, reason, message, now)
            else:
                self._set(
                    "AbleToScale",
                    True,
                    "ReadyForNewScale",
                    "recommended size matches current size",
                    now,
                )
            limit = norm.convert_with_behavior(
                current,
                stabilized,
                spec.min_replicas,
                spec.max_replicas,
                self.history,
                behavior.scale_up,
                behavior.scale_down,
                now,
            )
        self._set("ScalingLimited", limit.replicas != stabilized, limit.reason, limit.message, now)
        return limit.replicas

    def reconcile(
        self,
        now: float,
        current_replicas: int,
        pods: Sequence[PodState],
        cluster: ClusterMetrics | None = None,
        status_replicas: int | None = None,
    ) -> Decision:
        """``reconcileAutoscaler``: the replica count to set now, and why."""
        cluster = cluster or ClusterMetrics()
        if status_replicas is None:
            status_replicas = sum(
                1 for p in pods if not p.deleting and p.phase not in ("Succeeded", "Failed")
            )
        spec, current = self.spec, current_replicas
        self._set(
            "AbleToScale",
            True,
            "SucceededGetScale",
            "the HPA controller was able to get the target's current scale",
            now,
        )
        if self.history.recommendations is None:  # recordInitialRecommendation
            self.history.recommendations = [norm.Recommendation(current, now)]
        desired, reason, rescale = 0, "", True
        proposals: list[MetricProposal] = []
        error: str | None = None
        if current == 0:
            desired, rescale = 0, False
            self._set(
                "ScalingActive",
                False,
                "ScalingDisabled",
                "scaling is disabled since the replica count of the target is zero",
                now,
            )
        elif current > spec.max_replicas:
            desired, reason = spec.max_replicas, "Current number of replicas above Spec.MaxReplicas"
        elif current < spec.min_replicas:
            desired, reason = spec.min_replicas, "Current number of replicas below Spec.MinReplicas"
        else:
            proposed, metric, proposals, error = self._compute(
                current, status_replicas, pods, cluster, now
            )
            if proposed == -1:
                return self._decision(now, current, current, False, "", proposals, error)
            if proposed > desired:
                desired = proposed
            if desired > current:
                reason = f"{metric} above target"
            elif desired < current:
                reason = "All metrics below target"
            desired = self._normalize(current, desired, now)
            rescale = desired != current
        if rescale:
            self._set(
                "AbleToScale",
                True,
                "SucceededRescale",
                f"the HPA controller was able to update the target scale to {desired}",
                now,
            )
            if spec.behavior is not None:
                rules = spec.behavior.scale_up if desired > current else spec.behavior.scale_down
                norm.store_event(self.history, rules, current, desired, now)
            self.last_scale_time = now
        else:
            desired = current
        return self._decision(now, current, desired, rescale, reason, proposals, error)

    def _decision(
        self,
        now: float,
        current: int,
        desired: int,
        rescale: bool,
        reason: str,
        proposals: list[MetricProposal],
        error: str | None,
    ) -> Decision:
        if rescale:
            message = f"New size: {desired}; reason: {reason}"
        elif proposals and all(p.replicas is None for p in proposals):
            message = f"no change from {current}: {error}"
        else:
            able, limited = (
                self._conditions.get("AbleToScale"),
                self._conditions.get("ScalingLimited"),
            )
            message = f"no change from {current}: {able.message if able else 'nothing to do'}"
            if limited is not None and limited.status == "True":
                message += f" ({limited.reason}: {limited.message})"
        return Decision(
            now,
            current,
            desired,
            rescale,
            reason,
            message,
            self.conditions,
            tuple(proposals),
            error,
        )

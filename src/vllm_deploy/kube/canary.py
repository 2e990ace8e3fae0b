"""``vllm-deploy canary``: the new revision beside the stable one, gated on the SLO.

The canary is a second Deployment (``<app>-canary``, its own ConfigMap) whose pods carry the
Service's selector labels, so the Service (and any ingress in front of it) sends them a share
of new connections in proportion to their number: the weight is reached by replica count, as
Argo Rollouts' basic canary does without a traffic router. It works on any cluster and any
ingress; its granularity is one pod (the effective weight is printed).

Every analysis interval the gate asks Prometheus for the canary's and the stable pods' p95 TTFT,
p95 inter-token latency and error ratio over that interval, and decides:

- no data: fewer than ``min_requests`` requests reached the canary; the step does not count
  (after as many empty intervals as steps, the canary is aborted);
- fail: the canary's error ratio is above both the SLO's ``error_ratio`` and the stable pods'
  ratio; or its p95 TTFT is above the SLO's ``ttft_p95_s``, or above ``max_ttft_ratio`` times
  the stable pods'; or its p95 ITL is above the SLO's ``itl_p95_s``;
- pass, otherwise.

The first failure aborts (the canary is removed, the stable Deployment never touched); after
``steps`` passes the new revision is promoted: a normal ``deploy`` of the spec (which rolls the
stable Deployment, smoke-tests it and rolls back by itself on failure), then the canary goes.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client

from vllm_deploy.kube.apply import apply_objects
from vllm_deploy.kube.deploy import (
    TRACK_LABEL,
    DeployOptions,
    DeployResult,
    Say,
    deploy,
    rendered_objects,
    spec_of,
)
from vllm_deploy.kube.errors import OpsError, UsageError
from vllm_deploy.kube.inspect import (
    Obj,
    deployment_of,
    pods_of,
    read_deployment,
    selector_of,
    why_not_ready,
)
from vllm_deploy.kube.prom import Prometheus, SloValues, pods_matcher
from vllm_deploy.kube.rollout import RolloutFailed, wait_for_rollout
from vllm_deploy.spec import DeploymentSpec

__all__ = [
    "CanaryOptions",
    "CanaryResult",
    "Decision",
    "canary_objects",
    "canary_replicas",
    "decide",
    "run_canary",
]

CANARY = "canary"


@dataclass
class CanaryOptions:
    spec: DeploymentSpec
    prometheus_url: str
    weight: float = 0.2
    interval_s: float = 60.0
    steps: int = 5
    max_ttft_ratio: float = 1.5
    min_requests: int = 10
    timeout_s: float = 900.0


@dataclass
class Decision:
    step: int
    verdict: str  # pass | fail | no-data
    canary: dict[str, float | None]
    stable: dict[str, float | None]
    reasons: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        def fmt(v: dict[str, float | None]) -> str:
            def ms(x: float | None) -> str:
                return "n/a" if x is None else f"{x * 1000:.0f} ms"

            ratio = "n/a" if v["error_ratio"] is None else f"{v['error_ratio']:.4f}"
            return (
                f"ttft p95 {ms(v['ttft_p95_s'])}, itl p95 {ms(v['itl_p95_s'])}, "
                f"errors {ratio}, requests {v['requests']:.0f}"
            )

        why = f": {'; '.join(self.reasons)}" if self.reasons else ""
        return (
            f"step {self.step}: {self.verdict.upper()}{why} "
            f"| canary {fmt(self.canary)} | stable {fmt(self.stable)}"
        )


@dataclass
class CanaryResult:
    promoted: bool
    decisions: list[Decision]
    canary_replicas: int
    effective_weight: float
    deploy: DeployResult | None = None


def canary_replicas(weight: float, stable: int) -> tuple[int, float]:
    """Canary pods for ``weight`` of the traffic beside ``stable`` pods, and the share reached."""
    n = max(1, round(weight * stable / (1 - weight)))
    return n, n / (stable + n)


def canary_name(spec: DeploymentSpec) -> str:
    return f"{spec.app_name}-{CANARY}"


def canary_objects(spec: DeploymentSpec, replicas: int) -> list[Obj]:
    """The spec's Deployment and the ConfigMaps its pods read, renamed ``-canary``, labelled
    ``vllm-deploy.io/track: canary`` (selector too, so the stable Deployment never owns them)."""
    objects = rendered_objects(spec, cause=f"vllm-deploy canary of spec {spec.name}")
    dep = copy.deepcopy(next(o for o in objects if o["kind"] == "Deployment"))
    pod = dep["spec"]["template"]["spec"]
    referenced = {
        ref["configMapRef"]["name"]
        for c in pod.get("containers", []) + pod.get("initContainers", [])
        for ref in c.get("envFrom") or []
        if "configMapRef" in ref
    } | {v["configMap"]["name"] for v in pod.get("volumes") or [] if "configMap" in v}
    out = []
    for cm in (
        o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] in referenced
    ):
        cm = copy.deepcopy(cm)
        cm["metadata"]["name"] += f"-{CANARY}"
        cm["metadata"]["labels"][TRACK_LABEL] = CANARY
        out.append(cm)
    for c in pod.get("containers", []) + pod.get("initContainers", []):
        for ref in c.get("envFrom") or []:
            if "configMapRef" in ref and ref["configMapRef"]["name"] in referenced:
                ref["configMapRef"]["name"] += f"-{CANARY}"
    for v in pod.get("volumes") or []:
        if "configMap" in v and v["configMap"]["name"] in referenced:
            v["configMap"]["name"] += f"-{CANARY}"
    dep["metadata"]["name"] = canary_name(spec)
    dep["metadata"]["labels"][TRACK_LABEL] = CANARY
    dep["spec"]["replicas"] = replicas
    dep["spec"]["selector"]["matchLabels"][TRACK_LABEL] = CANARY
    dep["spec"]["template"]["metadata"]["labels"][TRACK_LABEL] = CANARY
    return [*out, dep]


def decide(
    step: int, canary: SloValues, stable: SloValues, spec: DeploymentSpec, options: CanaryOptions
) -> Decision:
    slo = spec.slo
    decision = Decision(step, "pass", canary.as_dict(), stable.as_dict())
    if canary.requests < options.min_requests or math.isnan(canary.ttft_p95_s):
        decision.verdict = "no-data"
        decision.reasons.append(
            f"{canary.requests:.0f} requests reached the canary (need {options.min_requests})"
        )
        return decision
    errors = 0.0 if math.isnan(canary.error_ratio) else canary.error_ratio
    stable_errors = 0.0 if math.isnan(stable.error_ratio) else stable.error_ratio
    if errors > slo.error_ratio and errors > stable_errors:
        decision.reasons.append(
            f"error ratio {errors:.4f} > SLO {slo.error_ratio} and > stable {stable_errors:.4f}"
        )
    if canary.ttft_p95_s > slo.ttft_p95_s:
        decision.reasons.append(f"ttft p95 {canary.ttft_p95_s:.3f} s > SLO {slo.ttft_p95_s} s")
    if not math.isnan(stable.ttft_p95_s) and stable.ttft_p95_s > 0:
        ratio = canary.ttft_p95_s / stable.ttft_p95_s
        if ratio > options.max_ttft_ratio:
            decision.reasons.append(
                f"ttft p95 {ratio:.2f}x stable's (max {options.max_ttft_ratio}x)"
            )
    if not math.isnan(canary.itl_p95_s) and canary.itl_p95_s > slo.itl_p95_s:
        decision.reasons.append(f"itl p95 {canary.itl_p95_s:.3f} s > SLO {slo.itl_p95_s} s")
    if decision.reasons:
        decision.verdict = "fail"
    return decision


def _remove(api: client.ApiClient, spec: DeploymentSpec, timeout_s: float, say: Say) -> None:
    """Deletes the canary's objects and waits for its pods to drain and go."""
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    name = canary_name(spec)
    try:
        apps.delete_namespaced_deployment(name, spec.namespace, propagation_policy="Background")
        say(f"deployment/{name} deleted")
    except client.ApiException as exc:
        if exc.status != 404:
            raise
    # The pods first (each drains its streams), then what they read: a container restarting
    # meanwhile would not start without its ConfigMap.
    selector = selector_of(spec, **{TRACK_LABEL: CANARY})
    deadline = time.monotonic() + timeout_s
    while pods_of(api, spec.namespace, selector):
        if time.monotonic() > deadline:
            raise OpsError(f"the canary's pods did not go within {timeout_s:g} s")
        time.sleep(0.5)
    listed = core.list_namespaced_config_map(
        spec.namespace, label_selector=f"{TRACK_LABEL}={CANARY}"
    )
    maps: list[Obj] = api.sanitize_for_serialization(listed.items)
    for cm in maps:
        if not cm["metadata"]["name"].startswith(spec.app_name):
            continue
        try:
            core.delete_namespaced_config_map(cm["metadata"]["name"], spec.namespace)
            say(f"configmap/{cm['metadata']['name']} deleted")
        except client.ApiException as exc:
            if exc.status != 404:
                raise


def run_canary(
    api: client.ApiClient,
    options: CanaryOptions,
    say: Say = lambda _: None,
    sleep: Callable[[float], None] = time.sleep,
) -> CanaryResult:
    """Raises OpsError when the canary is aborted (after removing it)."""
    spec = options.spec
    if not 0 < options.weight < 1:
        raise UsageError(f"--weight has value {options.weight}: expected a share between 0 and 1")
    stable = deployment_of(api, spec)
    if stable is None:
        raise OpsError(
            f"deployment {spec.namespace}/{spec.app_name} does not exist: "
            "deploy the stable revision first"
        )
    running = spec_of(stable)
    if running is not None and running == spec:
        raise UsageError(
            "the spec is the one the stable Deployment runs: nothing to try as a canary"
        )
    ready = int((stable.get("status") or {}).get("readyReplicas", 0))
    if ready == 0:
        raise OpsError(
            f"the stable Deployment {spec.app_name} has no ready pod: fix it before a canary"
        )
    generation = stable["metadata"]["generation"]
    replicas, effective = canary_replicas(options.weight, ready)
    say(
        f"canary: {replicas} pod(s) beside {ready} stable: "
        f"{effective:.0%} of new connections (asked {options.weight:.0%})"
    )
    prom = Prometheus(options.prometheus_url)
    decisions: list[Decision] = []

    def abort(reason: str) -> OpsError:
        say(f"aborting: {reason}")
        _remove(api, spec, options.timeout_s, say)
        after = read_deployment(api, spec.namespace, spec.app_name) or {}
        untouched = after.get("metadata", {}).get("generation") == generation
        return OpsError(
            f"canary aborted: {reason}"
            + ("" if untouched else " (the stable Deployment changed meanwhile)")
        )

    apply_objects(api, canary_objects(spec, replicas))
    try:
        wait_for_rollout(
            api,
            spec.namespace,
            canary_name(spec),
            options.timeout_s,
            on_progress=lambda s: say(s.message),
        )
    except RolloutFailed as exc:
        details = why_not_ready(api, spec.namespace, selector_of(spec, **{TRACK_LABEL: CANARY}))
        raise abort("; ".join([f"the canary did not become ready: {exc}", *details])) from None
    window = f"{max(int(options.interval_s), 1)}s"
    canary_pods = pods_matcher(spec.namespace, f"{canary_name(spec)}-.*")
    stable_pods = pods_matcher(
        spec.namespace, f"{spec.app_name}-.*", exclude=f"{canary_name(spec)}-.*"
    )
    passed = empty = 0
    step = 0
    while passed < options.steps:
        step += 1
        sleep(options.interval_s)
        decision = decide(
            step, prom.slo(canary_pods, window), prom.slo(stable_pods, window), spec, options
        )
        decisions.append(decision)
        say(str(decision))
        if decision.verdict == "fail":
            raise abort("; ".join(decision.reasons))
        if decision.verdict == "no-data":
            empty += 1
            if empty >= options.steps:
                raise abort(f"no traffic reached the canary in {empty} intervals")
            continue
        passed += 1
    say(f"{passed} steps passed: promoting")
    result = deploy(
        api,
        DeployOptions(spec, timeout_s=options.timeout_s, cause="vllm-deploy canary promoted"),
        say,
    )
    _remove(api, spec, options.timeout_s, say)
    return CanaryResult(True, decisions, replicas, effective, result)


def decisions_as_dicts(decisions: list[Decision]) -> list[dict[str, Any]]:
    return [d.__dict__ for d in decisions]

"""The ops commands' decisions, without a cluster: the canary gate, the canary's objects, the
rollback target (kubectl's rollbacker), the dry run's changed fields, ages."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import pytest

from vllm_deploy.kube.apply import changed_paths
from vllm_deploy.kube.canary import CanaryOptions, canary_objects, canary_replicas, decide
from vllm_deploy.kube.deploy import SPEC_ANNOTATION, TRACK_LABEL, rendered_objects, spec_of
from vllm_deploy.kube.errors import OpsError, UsageError
from vllm_deploy.kube.history import _target
from vllm_deploy.kube.inspect import REVISION, age
from vllm_deploy.kube.prom import SloValues
from vllm_deploy.spec import load_spec

ROOT = Path(__file__).parents[2]
SPEC = load_spec(ROOT / "examples" / "local.yaml")
NAN = math.nan


@pytest.mark.parametrize(
    ("weight", "stable", "expected"),
    [
        (0.2, 4, (1, 0.2)),
        (0.3, 2, (1, 1 / 3)),
        (0.5, 3, (3, 0.5)),
        (0.01, 10, (1, 1 / 11)),
        (0.25, 9, (3, 0.25)),
    ],
)
def test_canary_replicas_reach_the_weight_by_pod_count(
    weight: float, stable: int, expected: tuple[int, float]
) -> None:
    replicas, share = canary_replicas(weight, stable)
    assert replicas == expected[0] and share == pytest.approx(expected[1])


def slo(ttft: float, errors: float = 0.0, requests: float = 100, itl: float = 0.01) -> SloValues:
    return SloValues(
        ttft_p95_s=ttft, itl_p95_s=itl, error_ratio=errors, requests=requests, waiting_per_pod=0
    )


@pytest.mark.parametrize(
    ("canary", "stable", "verdict", "reason"),
    [
        (slo(0.06), slo(0.06), "pass", None),
        (slo(0.09), slo(0.06), "pass", None),  # 1.5x exactly: allowed
        (slo(0.5), slo(0.06), "fail", "ttft p95 8.33x stable's (max 1.5x)"),
        (slo(2.5), slo(2.4), "fail", "ttft p95 2.500 s > SLO 2.0 s"),
        (
            slo(0.06, errors=0.05),
            slo(0.06, errors=0.0),
            "fail",
            "error ratio 0.0500 > SLO 0.001 and > stable 0.0000",
        ),
        (slo(0.06, errors=0.05), slo(0.06, errors=0.08), "pass", None),  # no worse than stable
        (slo(0.06, itl=0.2), slo(0.06), "fail", "itl p95 0.200 s > SLO 0.1 s"),
        (slo(0.06, requests=3), slo(0.06), "no-data", "3 requests reached the canary (need 10)"),
        (slo(NAN, requests=50), slo(0.06), "no-data", "50 requests reached the canary (need 10)"),
        (slo(0.06, errors=NAN), slo(NAN, errors=NAN), "pass", None),  # no stable data: SLO only
    ],
)
def test_the_gate_decides_on_the_slo_and_the_stable_pods(
    canary: SloValues, stable: SloValues, verdict: str, reason: str | None
) -> None:
    decision = decide(1, canary, stable, SPEC, CanaryOptions(SPEC, "http://prometheus"))
    assert decision.verdict == verdict
    assert decision.reasons == ([reason] if reason else [])
    assert f"step 1: {verdict.upper()}" in str(decision)


def test_canary_objects_are_renamed_labelled_and_own_their_config() -> None:
    objects = canary_objects(SPEC, 2)
    assert [(o["kind"], o["metadata"]["name"]) for o in objects] == [
        ("ConfigMap", "vllm-sim-canary"),
        ("Deployment", "vllm-sim-canary"),
    ]
    config, dep = objects
    stable = next(
        o
        for o in rendered_objects(SPEC)
        if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "vllm-sim"
    )
    assert (
        config["data"] == stable["data"] and config["metadata"]["labels"][TRACK_LABEL] == "canary"
    )
    assert dep["spec"]["replicas"] == 2
    assert dep["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "vllm",
        "app.kubernetes.io/instance": "sim",
        TRACK_LABEL: "canary",
    }
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert (
        labels[TRACK_LABEL] == "canary" and labels["app.kubernetes.io/instance"] == "sim"
    )  # the Service's
    refs = [
        r["configMapRef"]["name"]
        for c in dep["spec"]["template"]["spec"]["containers"]
        for r in c["envFrom"]
    ]
    assert refs == ["vllm-sim-canary"]
    assert spec_of(dep) == SPEC  # the canary carries the spec it tries


def test_rendered_deployment_carries_its_spec() -> None:
    dep = next(o for o in rendered_objects(SPEC, "why") if o["kind"] == "Deployment")
    assert spec_of(dep) == SPEC and SPEC_ANNOTATION in dep["metadata"]["annotations"]
    assert dep["metadata"]["annotations"]["kubernetes.io/change-cause"] == "why"


def rs(revision: int) -> dict[str, Any]:
    return {"metadata": {"name": f"rs{revision}", "annotations": {REVISION: str(revision)}}}


def test_rollback_target_is_kubectls() -> None:
    d = rs(5)
    sets = [rs(1), rs(3), rs(5)]
    assert _target(d, sets, 0)["metadata"]["name"] == "rs3"  # the newest before the current
    assert _target(d, sets, 1)["metadata"]["name"] == "rs1"
    with pytest.raises(
        UsageError, match=r"unable to find the specified revision 2 \(revisions: 1, 3, 5\)"
    ):
        _target(d, sets, 2)
    with pytest.raises(UsageError, match="revision 5 is the current one"):
        _target(d, sets, 5)
    with pytest.raises(OpsError, match="no rollout history found"):
        _target(rs(1), [rs(1)], 0)


def test_changed_paths_ignore_status_and_server_fields() -> None:
    before = {
        "metadata": {"resourceVersion": "1", "labels": {"a": "1"}},
        "spec": {"x": [1, 2]},
        "status": {"r": 1},
    }
    after = {
        "metadata": {"resourceVersion": "2", "labels": {"a": "2"}},
        "spec": {"x": [1, 3]},
        "status": {"r": 2},
    }
    assert changed_paths(before, after) == ["metadata.labels.a", "spec.x[1]"]
    assert changed_paths(before, before) == []
    assert changed_paths({"spec": {"x": [1]}}, {"spec": {"x": [1, 2]}}) == ["spec.x"]


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (5, "5s"),
        (119, "119s"),
        (120, "2m"),
        (3 * 3600 - 1, "179m"),
        (3 * 3600, "3h"),
        (47 * 3600, "47h"),
        (49 * 3600, "2d"),
    ],
)
def test_age_as_kubectl_prints_it(seconds: int, expected: str) -> None:
    now = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    stamp = (now - dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert age(stamp, now) == expected

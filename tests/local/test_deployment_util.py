"""The Deployment controller's helpers against upstream's own tables.

Sources: kubernetes/kubernetes ``pkg/controller/deployment/util/deployment_util_test.go``
(``TestResolveFenceposts``, ``TestNewRSNewReplicas``, ``TestEqualIgnoreHash``,
``TestSetCondition``, ``TestDeploymentComplete``, ``TestDeploymentProgressing``,
``TestDeploymentTimedOut``, ``TestMaxUnavailable``, ``TestMinAvailable``,
``TestGetReplicaSetFraction``, read at commit 00216e45) and kubernetes/kubectl
``pkg/polymorphichelpers/rollout_status_test.go`` (``TestDeploymentStatusViewerStatus``, read
at dee3483a). Each case keeps upstream's values; kubectl's messages end in a newline that
our viewer leaves to the caller.
"""

from __future__ import annotations

import calendar
import time
from typing import Any

import pytest

from vllm_deploy.kube.rollout import RolloutFailed, rollout_status
from vllm_deploy.local.controllers import deployment_util as du
from vllm_deploy.local.store import rfc3339


def deployment(
    replicas: int = 1,
    strategy: str = "RollingUpdate",
    max_surge: int | str | None = None,
    max_unavailable: int | str | None = None,
    status: dict[str, Any] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    rolling = {
        k: v
        for k, v in (("maxSurge", max_surge), ("maxUnavailable", max_unavailable))
        if v is not None
    }
    return {
        "metadata": {"name": "foo", "annotations": {}},
        "spec": {
            "replicas": replicas,
            "strategy": {"type": strategy, "rollingUpdate": rolling},
            "template": {"metadata": {"labels": {"name": "nginx"}}, "spec": {}},
            **spec,
        },
        "status": status or {},
    }


def replica_set(replicas: int, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": "rs", "annotations": annotations or {}},
        "spec": {"replicas": replicas},
    }


@pytest.mark.parametrize(
    ("surge", "unavailable", "desired", "expected"),
    [
        ("0%", "0%", 0, (0, 1)),
        ("39%", "39%", 10, (4, 3)),
        ("oops", "39%", 10, ValueError),
        ("55%", "urg", 10, ValueError),
        (None, "39%", 10, (0, 3)),
        ("39%", None, 10, (4, 0)),
        (None, None, 10, (0, 1)),
    ],
)
def test_resolve_fenceposts(
    surge: str | None, unavailable: str | None, desired: int, expected: Any
) -> None:
    if expected is ValueError:
        with pytest.raises(ValueError, match="percentage"):
            du.resolve_fenceposts(surge, unavailable, desired)
    else:
        assert du.resolve_fenceposts(surge, unavailable, desired) == expected


@pytest.mark.parametrize(
    ("strategy", "dep_replicas", "new_rs_replicas", "surge", "expected"),
    [
        ("RollingUpdate", 1, 5, 1, 5),  # can not scale up - to newRSReplicas
        ("RollingUpdate", 6, 2, 10, 6),  # scale up - to depReplicas
        ("Recreate", 3, 1, 1, 3),  # recreate - to depReplicas
    ],
)
def test_new_rs_new_replicas(
    strategy: str, dep_replicas: int, new_rs_replicas: int, surge: int, expected: int
) -> None:
    d = deployment(dep_replicas, strategy, max_surge=surge, max_unavailable=1)
    new_rs, rs5 = replica_set(new_rs_replicas), replica_set(5)
    assert du.new_rs_new_replicas(d, [rs5], new_rs) == expected


def template(
    name: str, node: str, annotations: dict[str, str], labels: dict[str, str]
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "annotations": annotations, "labels": labels},
        "spec": {"nodeName": node},
    }


HASH = du.TEMPLATE_HASH


@pytest.mark.parametrize(
    ("former", "latter", "expected"),
    [
        (
            template("foo", "foo-node", {}, {HASH: "value-1", "something": "else"}),
            template("foo", "foo-node", {}, {HASH: "value-1", "something": "else"}),
            True,
        ),
        (
            template("foo", "foo-node", {}, {HASH: "value-1", "something": "else"}),
            template("foo", "foo-node", {}, {HASH: "value-2", "something": "else"}),
            True,
        ),
        (
            template("foo", "foo-node", {}, {"something": "else"}),
            template("foo", "foo-node", {}, {HASH: "value-2", "something": "else"}),
            True,
        ),
        (
            template("foo", "foo-node", {}, {"something": "else"}),
            template("foo", "foo-node", {}, {HASH: "value-2"}),
            False,
        ),
        (
            template("foo", "foo-node", {}, {HASH: "value-1"}),
            template("foo", "foo-node", {}, {"something": "else"}),
            False,
        ),
        (
            template("foo", "foo-node", {}, {HASH: "value-1"}),
            template("foo", "foo-node", {}, {HASH: "value-1", "something": "else"}),
            False,
        ),
        (
            template(
                "foo", "foo-node", {"former": "value"}, {HASH: "value-1", "something": "else"}
            ),
            template(
                "foo", "foo-node", {"latter": "value"}, {HASH: "value-1", "something": "else"}
            ),
            False,
        ),
        (
            template("foo-1", "foo-node", {}, {HASH: "value-1", "something": "else"}),
            template("foo-2", "foo-node", {}, {HASH: "value-2", "something": "else"}),
            False,
        ),
        (
            template("foo-1", "foo-node-1", {}, {"something": "else"}),
            template("foo-2", "foo-node-2", {}, {HASH: "value-2", "something": "else"}),
            False,
        ),
        (
            template("foo", "foo-node-1", {}, {"something": "else"}),
            template("foo", "foo-node-2", {}, {"nothing": "else"}),
            False,
        ),
    ],
)
def test_equal_ignore_hash(former: dict[str, Any], latter: dict[str, Any], expected: bool) -> None:
    assert du.equal_ignore_hash(former, latter) is expected
    assert du.equal_ignore_hash(latter, former) is expected  # and in reverse order
    assert former["metadata"]["labels"] and latter["metadata"]["labels"]  # not mutated away


def condition(kind: str, status: str, reason: str) -> dict[str, Any]:
    return {"type": kind, "status": status, "reason": reason, "lastTransitionTime": "t0"}


def test_set_condition() -> None:
    progressing = condition("Progressing", "False", "ForSomeReason")
    progressing2 = condition("Progressing", "True", "BecauseItIs")
    available = condition("Available", "True", "AwesomeController")
    # set for the first time
    status: dict[str, Any] = {}
    du.set_condition(status, dict(available))
    assert status == {"conditions": [available]}
    # simple set
    status = {"conditions": [dict(progressing)]}
    du.set_condition(status, dict(available))
    assert status == {"conditions": [progressing, available]}
    # overwrite
    status = {"conditions": [dict(progressing)]}
    du.set_condition(status, dict(progressing2))
    assert status == {"conditions": [progressing2]}
    assert du.get_condition(status, "ReplicaFailure") is None


@pytest.mark.parametrize(
    ("desired", "current", "updated", "available", "unavailable", "surge", "expected"),
    [
        (5, 5, 5, 4, 1, 0, False),  # min but not all pods become available
        (5, 5, 5, 3, 1, 0, False),  # min availability is not honored
        (5, 5, 5, 5, 0, 0, True),  # complete
        (5, 5, 4, 5, 0, 0, False),  # all pods are available but not updated
        (1, 2, 1, 1, 0, 1, False),  # still running old pods
        (1, 1, 1, 0, 1, 1, False),  # one replica deployment never comes up
    ],
)
def test_deployment_complete(
    desired: int,
    current: int,
    updated: int,
    available: int,
    unavailable: int,
    surge: int,
    expected: bool,
) -> None:
    status = {"replicas": current, "updatedReplicas": updated, "availableReplicas": available}
    d = deployment(desired, max_surge=surge, max_unavailable=unavailable, status=status)
    assert du.deployment_complete(d, status) is expected


def counts(current: int, updated: int, ready: int, available: int) -> dict[str, int]:
    return {
        "replicas": current,
        "updatedReplicas": updated,
        "readyReplicas": ready,
        "availableReplicas": available,
    }


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (counts(10, 4, 4, 4), counts(10, 6, 4, 4), True),  # updated pods
        (counts(10, 4, 4, 4), counts(10, 4, 4, 4), False),  # not progressing
        (counts(10, 4, 6, 6), counts(8, 4, 6, 6), True),  # old pods removed
        (counts(10, 7, 3, 3), counts(10, 6, 3, 3), False),  # less new pods
        (counts(10, 4, 7, 7), counts(8, 8, 5, 5), True),  # less overall but more new pods
        (counts(10, 10, 9, 8), counts(10, 10, 10, 8), True),  # more ready pods
        (counts(10, 10, 10, 9), counts(10, 10, 10, 10), True),  # more available pods
    ],
)
def test_deployment_progressing(old: dict[str, int], new: dict[str, int], expected: bool) -> None:
    assert du.deployment_progressing(old, new) is expected


def at(minute: int, second: int) -> float:
    return float(calendar.timegm((2016, 1, 1, 0, minute, second, 0, 0, 0)))


@pytest.mark.parametrize(
    ("reason", "deadline", "updated_at", "now", "expected"),
    [
        ("", None, at(1, 9), at(1, 20), False),  # nil progressDeadlineSeconds - no timeout
        ("", du.MAX_INT32, at(1, 9), at(1, 20), False),  # infinite - no timeout
        ("", 10, at(1, 9), at(1, 20), True),  # 00:01:20 - 00:01:09 => 11s
        ("", 10, at(1, 11), at(1, 20), False),  # 00:01:20 - 00:01:11 => 9s
        ("NewReplicaSetAvailable", None, 0.0, time.time(), False),  # previously complete
    ],
)
def test_deployment_timed_out(
    reason: str, deadline: int | None, updated_at: float, now: float, expected: bool
) -> None:
    cond = {
        "type": "Progressing",
        "status": "True",
        "reason": reason,
        "lastUpdateTime": rfc3339(updated_at),
    }
    status = {"conditions": [cond]}
    spec = {} if deadline is None else {"progressDeadlineSeconds": deadline}
    assert du.deployment_timed_out(deployment(status=status, **spec), status, now) is expected


@pytest.mark.parametrize(
    ("replicas", "unavailable", "expected_max", "expected_min"),
    [
        (10, 5, 5, 5),
        (10, 10, 10, 0),
        (5, 10, 5, 0),
        (0, 10, 0, 0),
        (10, "50%", 5, 5),
        (10, "100%", 10, 0),
        (5, "100%", 5, 0),
        (10, "60%", 6, 4),
    ],
)
def test_max_unavailable_and_min_available(
    replicas: int, unavailable: int | str, expected_max: int, expected_min: int
) -> None:
    d = deployment(replicas, max_surge=1, max_unavailable=unavailable)
    assert du.max_unavailable(d) == expected_max
    assert du.min_available(d) == expected_min


def test_recreate_has_no_fenceposts() -> None:
    assert du.max_unavailable(deployment(strategy="Recreate")) == 0
    assert du.min_available(deployment(10, strategy="Recreate")) == 0
    assert du.max_surge(deployment(10, strategy="Recreate")) == 0


@pytest.mark.parametrize(
    ("dep_replicas", "status_replicas", "surge", "rs_replicas", "annotations", "expected"),
    [
        (0, 0, 0, 10, None, -10),  # empty deployment always scales to 0
        (10, 0, 0, 5, None, 0),  # unsynced, max-replicas missing
        (10, 0, 0, 5, {du.MAX_REPLICAS: "0"}, 0),  # unsynced, max-replicas 0
        (120, 100, 0, 50, None, 10),  # up by 1/5, max-replicas missing
        (120, 100, 0, 50, {du.MAX_REPLICAS: "0"}, 10),  # up by 1/5, max-replicas 0
        (120, 0, 0, 50, {du.MAX_REPLICAS: "100"}, 10),  # up by 1/5
        (120, 0, 10, 50, {du.MAX_REPLICAS: "110"}, 9),  # up by 1/5 with maxSurge
        (10, 0, 0, 6, {du.MAX_REPLICAS: "12"}, -1),  # down by 1/6
        (100, 0, 10, 50, {du.MAX_REPLICAS: "130"}, -8),  # down by 1/6 with maxSurge
    ],
)
def test_replica_set_fraction(
    dep_replicas: int,
    status_replicas: int,
    surge: int,
    rs_replicas: int,
    annotations: dict[str, str] | None,
    expected: int,
) -> None:
    d = deployment(
        dep_replicas, max_surge=surge, max_unavailable=1, status={"replicas": status_replicas}
    )
    assert du.replica_set_fraction(replica_set(rs_replicas, annotations), d) == expected


def viewed(generation: int, spec_replicas: int, **status: int) -> dict[str, Any]:
    return {
        "metadata": {"name": "foo", "namespace": "bar", "generation": generation},
        "spec": {"replicas": spec_replicas},
        "status": status,
    }


@pytest.mark.parametrize(
    ("d", "message", "done"),
    [
        (
            viewed(0, 1, observedGeneration=1, replicas=1, updatedReplicas=0, availableReplicas=1),
            'Waiting for deployment "foo" rollout to finish: '
            "0 out of 1 new replicas have been updated...",
            False,
        ),
        (
            viewed(1, 1, observedGeneration=1, replicas=2, updatedReplicas=1, availableReplicas=2),
            'Waiting for deployment "foo" rollout to finish: '
            "1 old replicas are pending termination...",
            False,
        ),
        (
            viewed(1, 2, observedGeneration=1, replicas=2, updatedReplicas=2, availableReplicas=1),
            'Waiting for deployment "foo" rollout to finish: '
            "1 of 2 updated replicas are available...",
            False,
        ),
        (
            viewed(1, 2, observedGeneration=1, replicas=2, updatedReplicas=2, availableReplicas=2),
            'deployment "foo" successfully rolled out',
            True,
        ),
        (
            viewed(2, 2, observedGeneration=1, replicas=2, updatedReplicas=2, availableReplicas=2),
            "Waiting for deployment spec update to be observed...",
            False,
        ),
    ],
)
def test_rollout_status_viewer(d: dict[str, Any], message: str, done: bool) -> None:
    status = rollout_status(d)
    assert (status.message, status.done) == (message, done)


def test_rollout_status_deadline_exceeded_and_revision() -> None:
    d = viewed(1, 1, observedGeneration=1)
    d["status"]["conditions"] = [condition("Progressing", "False", "ProgressDeadlineExceeded")]
    with pytest.raises(RolloutFailed, match='deployment "foo" exceeded its progress deadline'):
        rollout_status(d)
    d["metadata"]["annotations"] = {du.REVISION: "2"}
    with pytest.raises(
        RolloutFailed, match=r"desired revision \(3\) is different from the running revision \(2\)"
    ):
        rollout_status(d, revision=3)

"""The store's API-server semantics, with a fixed clock.

Sources: k8s.io/apiserver ``pkg/registry/rest/delete.go`` ``BeforeDelete`` (graceful
deletion: a second delete may only shorten the grace period, moving deletionTimestamp back by
the difference; an object already being deleted keeps its generation), the API concepts page
(kubernetes.io/docs/reference/using-api/api-concepts/: one increasing resourceVersion, a no-op
write keeps it, watches resume after a resourceVersion and a too-old one is 410 Expired) and
``metadata.finalizers`` (kubernetes.io/docs/concepts/overview/working-with-objects/finalizers/:
delete marks the object, removing the last finalizer removes it).
"""

from __future__ import annotations

import pytest

from vllm_deploy.local import store as store_module
from vllm_deploy.local.controllers.base import KINDS
from vllm_deploy.local.errors import ApiError
from vllm_deploy.local.store import Store, parse_rfc3339

T0 = 1_000_000.0


def _store() -> Store:
    return Store(clock=lambda: T0)


def _pod(store: Store) -> None:
    store.create(
        KINDS["Pod"],
        "default",
        {
            "metadata": {"name": "p"},
            "spec": {"nodeName": "n1", "terminationGracePeriodSeconds": 30},
        },
    )


def test_graceful_pod_deletion_may_only_shorten() -> None:
    store = _store()
    _pod(store)
    first = store.delete(KINDS["Pod"], "default", "p")
    assert first["metadata"]["deletionGracePeriodSeconds"] == 30
    assert parse_rfc3339(first["metadata"]["deletionTimestamp"]) == T0 + 30
    longer = store.delete(KINDS["Pod"], "default", "p", grace_period_s=60)
    assert longer == first  # a longer grace period changes nothing
    shorter = store.delete(KINDS["Pod"], "default", "p", grace_period_s=10)
    assert shorter["metadata"]["deletionGracePeriodSeconds"] == 10
    assert parse_rfc3339(shorter["metadata"]["deletionTimestamp"]) == T0 + 10
    store.delete(KINDS["Pod"], "default", "p", grace_period_s=0)
    assert store.peek(KINDS["Pod"], "default", "p") is None


def test_finalizers_hold_deletion_and_generation_moves_once() -> None:
    store = _store()
    deployments = KINDS["Deployment"]
    store.create(
        deployments, "default", {"metadata": {"name": "d", "finalizers": ["x/y"]}, "spec": {}}
    )
    marked = store.delete(deployments, "default", "d")
    assert marked["metadata"]["generation"] == 2
    again = store.delete(deployments, "default", "d")
    assert again["metadata"]["generation"] == 2
    assert again["metadata"]["deletionTimestamp"] == marked["metadata"]["deletionTimestamp"]
    done = store.get(deployments, "default", "d")
    done["metadata"]["finalizers"] = []
    store.update(deployments, "default", done)
    assert store.peek(deployments, "default", "d") is None


def test_resource_versions_and_no_op_updates() -> None:
    store = _store()
    cms = KINDS["ConfigMap"]
    created = store.create(cms, "default", {"metadata": {"name": "c"}, "data": {"a": "1"}})
    same = store.update(cms, "default", created)
    assert same["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    changed = store.update(cms, "default", {**created, "data": {"a": "2"}})
    assert int(changed["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    with pytest.raises(ApiError) as err:
        store.update(cms, "default", {**created, "data": {"a": "3"}})
    assert (err.value.code, err.value.reason) == (409, "Conflict")


def test_watch_resumes_and_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "HISTORY", 2)
    store = _store()
    cms = KINDS["ConfigMap"]
    for name in ("a", "b", "c", "d"):  # events 1-4; 1 and 2 fall out of the history
        store.create(cms, "default", {"metadata": {"name": name}})
    resumed = store.watch(cms, "default", lambda _: True, "3")
    assert [(kind, obj["metadata"]["name"]) for kind, obj in [resumed.queue.get_nowait()]] == [
        ("ADDED", "d")
    ]
    with pytest.raises(ApiError) as err:
        store.watch(cms, "default", lambda _: True, "1")
    assert (err.value.code, err.value.reason) == (410, "Expired")


def test_a_terminating_pod_outlives_its_status_updates() -> None:
    """ShouldDeleteDuringUpdate (k8s.io/apiserver pkg/registry/generic/registry/store.go): an
    update deletes only an object without finalizers whose grace period is over; the kubelet's
    status writes during a pod's grace period keep it (its exit must reach watchers)."""
    store = _store()
    _pod(store)
    store.delete(KINDS["Pod"], "default", "p")
    pod = store.peek(KINDS["Pod"], "default", "p")
    assert pod is not None
    updated = {**pod, "status": {"phase": "Succeeded"}}
    store.update(KINDS["Pod"], "default", updated, subresource="status")
    after = store.peek(KINDS["Pod"], "default", "p")
    assert after is not None and after["status"] == {"phase": "Succeeded"}
    store.delete(KINDS["Pod"], "default", "p", grace_period_s=0)  # the kubelet, once it stopped
    assert store.peek(KINDS["Pod"], "default", "p") is None

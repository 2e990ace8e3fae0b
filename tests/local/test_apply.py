"""Server-side apply and managedFields against upstream's own cases.

Sources:
- kubernetes-sigs/structured-merge-diff (15d07547) ``merge/leaf_test.go`` ``TestUpdateLeaf``
  (the single-version cases: apply_twice, apply_update_apply_no_conflict,
  apply_update_apply_with_conflict, apply_twice_remove, update_apply_omits) and
  ``merge/multiple_appliers_test.go`` ``TestMultipleAppliersSet`` (remove_one,
  same_value_no_conflict, change_value_yes_conflict, remove_one_keep_one). Their associative
  ``list`` keyed by ``name`` is our ``containers`` (listMapKeys name); expected ownership is
  written in the FieldsV1 form the API server stores (``f:`` fields, ``k:`` keys, ``.`` the
  element itself).
- kubernetes/apimachinery (eed236ce) ``pkg/util/managedfields/internal/conflict_test.go``
  ``TestNewConflictError`` (the 409's message and causes), ``pkg/util/managedfields/
  fieldmanager_test.go`` ``TestUpdateApplyConflict``, ``TestApplyFailsWithManagedFields``,
  ``TestNoOpChanges``, and structured-merge-diff ``fieldpath/path_test.go``
  ``TestPathString`` for how a conflicting path is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from vllm_deploy.local.apply import apply_config, record_update
from vllm_deploy.local.errors import ApiError
from vllm_deploy.local.resources import by_kind

RT = by_kind("v1", "ConfigMap")  # a v1 kind: managers print as "using v1"
NOW = "2001-02-03T04:05:06Z"
assert RT is not None


@dataclass
class Apply:
    manager: str
    obj: dict[str, Any]
    conflicts: list[tuple[str, str]] = field(default_factory=list)  # (manager, path)
    force: bool = False


@dataclass
class Update:
    manager: str
    obj: dict[str, Any]


def _run(ops: list[Apply | Update]) -> dict[str, Any]:
    live: dict[str, Any] = {}
    for op in ops:
        config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, **op.obj}
        if isinstance(op, Update):
            new = {**config, "metadata": {**config["metadata"]}}
            new["metadata"]["managedFields"] = live.get("metadata", {}).get("managedFields")
            record_update(RT, live, new, op.manager, NOW)
            live = new
        elif op.conflicts:
            with pytest.raises(ApiError) as err:
                apply_config(RT, live, config, op.manager, op.force, NOW)
            assert err.value.code == 409
            causes = (err.value.details or {})["causes"]
            got = [(c["message"], c["field"]) for c in causes]
            assert [(m.split('"')[1], f) for m, f in got] == op.conflicts
        else:
            live = apply_config(RT, live, config, op.manager, op.force, NOW)
    return live


def _owned(live: dict[str, Any]) -> dict[str, Any]:
    return {e["manager"]: e["fieldsV1"] for e in live["metadata"].get("managedFields", [])}


def _content(live: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in live.items() if k not in ("apiVersion", "kind", "metadata")}


LEAF = {
    "apply_twice": (
        [
            Apply("default", {"numeric": 1, "string": "string"}),
            Apply("default", {"numeric": 2, "string": "string", "bool": False}),
        ],
        {"numeric": 2, "string": "string", "bool": False},
        {"default": {"f:numeric": {}, "f:string": {}, "f:bool": {}}},
    ),
    "apply_update_apply_no_conflict": (
        [
            Apply("default", {"numeric": 1, "string": "string"}),
            Update("controller", {"numeric": 1, "string": "string", "bool": True}),
            Apply("default", {"numeric": 2, "string": "string"}),
        ],
        {"numeric": 2, "string": "string", "bool": True},
        {"default": {"f:numeric": {}, "f:string": {}}, "controller": {"f:bool": {}}},
    ),
    "apply_update_apply_with_conflict": (
        [
            Apply("default", {"numeric": 1, "string": "string"}),
            Update("controller", {"numeric": 1, "string": "controller string", "bool": True}),
            Apply("default", {"numeric": 2, "string": "user string"}, [("controller", ".string")]),
            Apply("default", {"numeric": 2, "string": "user string"}, force=True),
        ],
        {"numeric": 2, "string": "user string", "bool": True},
        {"default": {"f:numeric": {}, "f:string": {}}, "controller": {"f:bool": {}}},
    ),
    "apply_twice_remove": (
        [
            Apply("default", {"numeric": 1, "string": "string", "bool": False}),
            Apply("default", {"string": "new string"}),
        ],
        {"string": "new string"},
        {"default": {"f:string": {}}},
    ),
    "update_apply_omits": (
        [
            Apply("default", {"numeric": 2}),
            Update("controller", {"numeric": 1}),
            Apply("default", {}),
        ],
        {"numeric": 1},
        {"controller": {"f:numeric": {}}},
    ),
}


def _list(*names: str, **values: Any) -> list[dict[str, Any]]:
    return [{"name": n, **values} for n in names]


def _elements(*names: str, value: bool = False) -> dict[str, Any]:
    def element() -> dict[str, Any]:
        return {".": {}, "f:name": {}, **({"f:value": {}} if value else {})}

    return {"f:containers": {f'k:{{"name":"{n}"}}': element() for n in names}}


MULTIPLE_APPLIERS = {
    "remove_one": (
        [
            Apply("apply-one", {"containers": _list("a", "b")}),
            Apply("apply-two", {"containers": _list("c")}),
            Apply("apply-one", {"containers": _list("a")}),
        ],
        {"containers": _list("a", "c")},
        {"apply-one": _elements("a"), "apply-two": _elements("c")},
    ),
    "same_value_no_conflict": (
        [
            Apply("apply-one", {"containers": _list("a", value=0)}),
            Apply("apply-two", {"containers": _list("a", value=0)}),
        ],
        {"containers": _list("a", value=0)},
        {"apply-one": _elements("a", value=True), "apply-two": _elements("a", value=True)},
    ),
    "change_value_yes_conflict": (
        [
            Apply("apply-one", {"containers": _list("a", value=0)}),
            Apply(
                "apply-two",
                {"containers": _list("a", value=1)},
                [("apply-one", '.containers[name="a"].value')],
            ),
        ],
        {"containers": _list("a", value=0)},
        {"apply-one": _elements("a", value=True)},
    ),
    "remove_one_keep_one": (
        [
            Apply("apply-one", {"containers": _list("a", "b", "c")}),
            Apply("apply-two", {"containers": _list("c", "d")}),
            Apply("apply-one", {"containers": _list("a")}),
        ],
        {"containers": _list("a", "c", "d")},
        {"apply-one": _elements("a"), "apply-two": _elements("c", "d")},
    ),
}


@pytest.mark.parametrize(("ops", "obj", "managed"), LEAF.values(), ids=LEAF.keys())
def test_update_leaf(ops: list[Apply | Update], obj: dict[str, Any], managed: Any) -> None:
    live = _run(ops)
    assert _content(live) == obj
    assert _owned(live) == managed


@pytest.mark.parametrize(
    ("ops", "obj", "managed"), MULTIPLE_APPLIERS.values(), ids=MULTIPLE_APPLIERS.keys()
)
def test_multiple_appliers_set(
    ops: list[Apply | Update], obj: dict[str, Any], managed: Any
) -> None:
    live = _run(ops)
    assert _content(live) == obj
    assert _owned(live) == managed


def _conflict(live: dict[str, Any], config: dict[str, Any]) -> ApiError:
    with pytest.raises(ApiError) as err:
        apply_config(RT, live, config, "applier", False, NOW)
    return err.value


def test_conflict_error_names_update_manager_version_and_time() -> None:
    """TestNewConflictError, first case."""
    live = _run([Update("foo", {"spec": {"replicas": 3}})])
    err = _conflict(live, {"apiVersion": "v1", "kind": "ConfigMap", "spec": {"replicas": 101}})
    assert (err.code, err.reason) == (409, "Conflict")
    assert err.message == (
        'Apply failed with 1 conflict: conflict with "foo" using v1 at 2001-02-03T04:05:06Z: '
        ".spec.replicas"
    )
    assert (err.details or {})["causes"] == [
        {
            "reason": "FieldManagerConflict",
            "message": 'conflict with "foo" using v1 at 2001-02-03T04:05:06Z',
            "field": ".spec.replicas",
        }
    ]


def test_conflict_error_groups_conflicts_by_manager() -> None:
    """TestNewConflictError, second case: an Update manager and an Apply manager."""
    live = _run(
        [
            Update("foo", {"spec": {"replicas": 3}}),
            Apply("bar", {"metadata": {"name": "x", "labels": {"app": "a"}}}),
        ]
    )
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "x", "labels": {"app": "b"}},
        "spec": {"replicas": 101},
    }
    err = _conflict(live, config)
    assert err.message == (
        'Apply failed with 2 conflicts: conflicts with "bar":\n- .metadata.labels.app\n'
        'conflicts with "foo" using v1 at 2001-02-03T04:05:06Z:\n- .spec.replicas'
    )
    causes = {(c["message"], c["field"]) for c in (err.details or {})["causes"]}
    assert causes == {
        ('conflict with "foo" using v1 at 2001-02-03T04:05:06Z', ".spec.replicas"),
        ('conflict with "bar"', ".metadata.labels.app"),
    }


def test_conflict_with_a_subresource_manager() -> None:
    """TestNewConflictError, third case: the owner wrote through /scale."""
    live = _run([Update("foo", {"spec": {"replicas": 3}})])
    live["metadata"]["managedFields"][0]["subresource"] = "scale"
    err = _conflict(live, {"apiVersion": "v1", "kind": "ConfigMap", "spec": {"replicas": 101}})
    assert err.message == (
        'Apply failed with 1 conflict: conflict with "foo" with subresource "scale" using v1 '
        "at 2001-02-03T04:05:06Z: .spec.replicas"
    )


def test_conflict_path_names_a_keyed_element_as_fieldpath_does() -> None:
    """TestPathString "associative-list-ref": ``[key=value,...]``, keys sorted, strings
    quoted; a Service port is keyed by port and protocol (TCP when unset)."""
    live = _run([Apply("owner", {"spec": {"ports": [{"port": 80, "name": "b"}]}})])
    err = _conflict(
        live,
        {"apiVersion": "v1", "kind": "ConfigMap", "spec": {"ports": [{"port": 80, "name": "c"}]}},
    )
    fields = [c["field"] for c in (err.details or {})["causes"]]
    assert fields == ['.spec.ports[port=80,protocol="TCP"].name']


def test_set_members_are_owned_by_value() -> None:
    """FieldsV1 writes a set member as ``v:<json>`` (fieldpath/serialize-pe.go)."""
    live = _run([Apply("owner", {"metadata": {"name": "x", "finalizers": ["b"]}})])
    assert _owned(live)["owner"] == {"f:metadata": {"f:finalizers": {'v:"b"': {}}}}


def test_update_apply_conflict() -> None:
    """fieldmanager_test.go TestUpdateApplyConflict: replicas set by an update, applied with
    another value by another manager: a 409."""
    live = _run([Update("fieldmanager_test", {"spec": {"replicas": 3}})])
    err = _conflict(live, {"apiVersion": "v1", "kind": "ConfigMap", "spec": {"replicas": 101}})
    assert err.code == 409


def test_apply_fails_with_managed_fields() -> None:
    """fieldmanager_test.go TestApplyFailsWithManagedFields: a 400."""
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"managedFields": [{"manager": "test"}]},
    }
    with pytest.raises(ApiError) as err:
        apply_config(RT, {}, config, "fieldmanager_test", False, NOW)
    assert err.value.code == 400


def test_no_op_changes() -> None:
    """fieldmanager_test.go TestNoOpChanges: a no-op update, and a no-op apply by the same
    manager, leave the object (and its managedFields' times) alone; a no-op apply by a new
    manager adds its entry."""
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "labels": {"a": "b"}}}
    live = apply_config(RT, {}, obj, "fieldmanager_test_apply", False, "2001-01-01T00:00:00Z")
    before = live
    live = apply_config(
        RT, live, obj, "fieldmanager_test_apply_other", False, "2001-01-01T00:00:01Z"
    )
    assert live != before
    before = live
    updated = {
        **obj,
        "metadata": {**obj["metadata"], "managedFields": live["metadata"]["managedFields"]},
    }
    record_update(RT, live, updated, "fieldmanager_test_update", "2001-01-01T00:00:02Z")
    assert updated["metadata"]["managedFields"] == before["metadata"]["managedFields"]
    live = apply_config(RT, live, obj, "fieldmanager_test_apply", True, "2001-01-01T00:00:03Z")
    assert live == before

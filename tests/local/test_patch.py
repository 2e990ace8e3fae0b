"""PATCH bodies against the specifications' and upstream's own cases.

Sources:
- JSON merge patch: RFC 7386 appendix A, as evanphx/json-patch ``merge_test.go``
  ``rfcTests`` lists them (84a4bb10; the library the API server merges with); the two cases it
  comments out (a ``null`` and a string patch) are RFC cases too, and evanphx refuses them
  (``TestMergePatchFailRFCCases``), which the API tests check as a 400.
- JSON patch: json-patch/json-patch-tests ``spec_tests.json`` (RFC 6902 appendix A) and
  ``tests.json`` (2a928f90), copied verbatim to ``data/json-patch-tests/``; every case not
  marked ``disabled``. The API server answers a patch that fails to apply with 422
  (k8s.io/apiserver ``handlers/patch.go`` ``applyJSPatch``).
- Strategic merge patch: kubernetes/apimachinery ``pkg/util/strategicpatch/patch_test.go``
  (eed236ce), the tables ``createStrategicMergePatchTestCaseData``,
  ``strategicMergePatchRawTestCases`` and ``customStrategicMergePatchRawTestCases``, copied to
  ``data/strategicpatch_cases.yaml`` (which says what was left out and why). Upstream's test
  struct ``MergeItem`` declares the patch strategy on its fields; our schema declares it by
  Kubernetes field name, so each document is read as an object's ``metadata`` with
  ``mergingList`` (``patchMergeKey:"name"``) named ``containers`` (merge key ``name``) and the
  top-level ``mergingIntList`` (``patchStrategy:"merge"``) named ``finalizers`` (a set list);
  ``nonMergingList``, ``simpleMap`` and the rest keep their names and stay atomic/maps.
- The Kubernetes task page "Update API Objects in Place Using kubectl patch"
  (kubernetes.io/docs/tasks/manage-kubernetes-objects/update-api-object-kubectl-patch/):
  containers merged by name with the patch's container first, tolerations replaced, and
  ``$retainKeys`` clearing ``rollingUpdate`` when the strategy becomes Recreate.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from vllm_deploy.local.errors import ApiError
from vllm_deploy.local.patch import json_patch, merge_patch, strategic_merge_patch

DATA = Path(__file__).parent / "data"

# RFC 7386 appendix A: (target, patch, expected).
RFC7386 = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"a": 1, "e": None}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "expected"), RFC7386)
def test_merge_patch_rfc7386(target: Any, patch: Any, expected: Any) -> None:
    before = json.dumps(target)
    assert merge_patch(target, patch) == expected
    assert json.dumps(target) == before  # the target is not modified


def _json_patch_cases() -> list[Any]:
    cases = []
    for name in ("spec_tests.json", "tests.json"):
        for i, case in enumerate(json.loads((DATA / "json-patch-tests" / name).read_text())):
            if "patch" in case and not case.get("disabled"):
                label = f"{name}[{i}] {case.get('comment', '')}".strip()
                cases.append(pytest.param(case, id=label))
    return cases


@pytest.mark.parametrize("case", _json_patch_cases())
def test_json_patch_suite(case: dict[str, Any]) -> None:
    if "error" in case:
        with pytest.raises(ApiError) as err:
            json_patch(case["doc"], case["patch"])
        assert err.value.code == 422, case["error"]
    else:
        result = json_patch(case["doc"], case["patch"])
        if "expected" in case:
            assert result == case["expected"]


def test_json_patch_not_a_list_is_a_bad_request() -> None:
    """DecodePatch fails: the API server answers 400 (handlers/patch.go applyJSPatch)."""
    with pytest.raises(ApiError) as err:
        json_patch({}, {"op": "add", "path": "/a", "value": 1})
    assert err.value.code == 400


_RENAMES = {"mergingList": "containers", "mergingIntList": "finalizers"}


def _ours(doc: Any) -> Any:
    """An upstream MergeItem document as the ``metadata`` of an object, with the field names
    of our schema that carry the same patch strategy."""

    def rename(value: Any) -> Any:
        if isinstance(value, dict):
            out = {}
            for key, item in value.items():
                prefix, slash, field = key.rpartition("/")  # $setElementOrder/<field> too
                new = prefix + slash + _RENAMES.get(field, field)
                out[new] = (
                    [_RENAMES.get(v, v) for v in item] if key == "$retainKeys" else rename(item)
                )
            return out
        if isinstance(value, list):
            return [rename(v) for v in value]
        return value

    return {"metadata": rename(doc if doc is not None else {})}


def _smp_cases() -> list[Any]:
    cases = yaml.safe_load((DATA / "strategicpatch_cases.yaml").read_text())
    return [pytest.param(case, id=f"{i}: {case['description']}") for i, case in enumerate(cases)]


@pytest.mark.parametrize("case", _smp_cases())
def test_strategic_merge_patch_upstream(case: dict[str, Any]) -> None:
    if "expectedError" in case:
        with pytest.raises(ApiError):
            strategic_merge_patch(_ours(case.get("original")), _ours(case["twoWay"]))
        return
    if "twoWay" in case:
        expected = case.get("twoWayResult", case.get("modified"))
        assert strategic_merge_patch(_ours(case.get("original")), _ours(case["twoWay"])) == _ours(
            expected
        )
    if "threeWay" in case and "result" in case:
        assert strategic_merge_patch(_ours(case.get("current")), _ours(case["threeWay"])) == _ours(
            case["result"]
        )


def test_missing_merge_key_is_an_internal_error() -> None:
    """customStrategicMergePatchRawTestCases "missing merge key should error out": the API
    server passes mergepatch.ErrNoMergeKey on as a plain error, a 500."""
    with pytest.raises(ApiError) as err:
        strategic_merge_patch(
            _ours({"mergingList": [{"name": 1, "value": "a"}]}),
            _ours({"mergingList": [{"value": "b"}]}),
        )
    assert err.value.code == 500
    assert "does not contain declared merge key: name" in err.value.message


PATCH_DEMO = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "patch-demo"},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "nginx"}},
        "template": {
            "metadata": {"labels": {"app": "nginx"}},
            "spec": {
                "containers": [{"name": "patch-demo-ctr", "image": "nginx"}],
                "tolerations": [{"effect": "NoSchedule", "key": "dedicated", "value": "test-team"}],
            },
        },
    },
}


def test_kubectl_patch_task_containers_merge_by_name() -> None:
    patch = {
        "spec": {
            "template": {"spec": {"containers": [{"name": "patch-demo-ctr-2", "image": "redis"}]}}
        }
    }
    result = strategic_merge_patch(PATCH_DEMO, patch)
    assert result["spec"]["template"]["spec"]["containers"] == [
        {"name": "patch-demo-ctr-2", "image": "redis"},
        {"name": "patch-demo-ctr", "image": "nginx"},
    ]


def test_kubectl_patch_task_tolerations_are_replaced() -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "tolerations": [{"effect": "NoSchedule", "key": "disktype", "value": "ssd"}]
                }
            }
        }
    }
    result = strategic_merge_patch(PATCH_DEMO, patch)
    assert result["spec"]["template"]["spec"]["tolerations"] == [
        {"effect": "NoSchedule", "key": "disktype", "value": "ssd"}
    ]


def test_kubectl_patch_task_retain_keys() -> None:
    live = {
        "spec": {
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            }
        }
    }
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    assert strategic_merge_patch(live, patch) == {"spec": {"strategy": {"type": "Recreate"}}}
    # A field the patch sets but does not retain is refused (ErrPatchContentNotMatchRetainKeys).
    with pytest.raises(ApiError) as err:
        strategic_merge_patch(live, {"spec": {"strategy": {"$retainKeys": [], "type": "Recreate"}}})
    assert err.value.code == 422

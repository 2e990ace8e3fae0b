"""PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge patch.

Strategic merge patch follows k8s.io/apimachinery pkg/util/strategicpatch/patch.go for what
clients send: maps merged and ``null`` deleting a key; keyed lists (``schema.list_keys``)
merged element by element, ``$patch: delete`` removing one and ``$patch: replace`` replacing
the list or map; set lists unioned, ``$deleteFromPrimitiveList/<field>`` removing members;
``$retainKeys`` clearing the fields it does not list; ``$setElementOrder/<field>`` accepted
but not applied (merged lists keep the live order, new elements last).
Other lists are replaced.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from vllm_deploy.local.errors import ApiError
from vllm_deploy.local.schema import SET_LISTS, key_of, list_keys

__all__ = ["PATCHERS", "json_patch", "merge_patch", "strategic_merge_patch"]


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: maps merge, ``null`` removes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):  # DecodePatch accepts it, Apply fails: a 422 (applyJSPatch)
        raise ValueError(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _index(part: str, items: list[Any], adding: bool = False) -> int:
    """An array index as RFC 6901 section 4 writes it (``0`` or digits without a leading zero)
    and RFC 6902 section 4.1 bounds it: at most the length to add (``-`` is the end), below
    it otherwise. Python's negative and clamped indexes would silently touch another element."""
    if adding and part == "-":
        return len(items)
    if not re.fullmatch(r"0|[1-9][0-9]*", part) or int(part) > len(items) - (not adding):
        raise IndexError(f"index {part!r} is out of bounds for an array of {len(items)}")
    return int(part)


def _parent(doc: Any, parts: list[str]) -> Any:
    return _get(doc, parts[:-1])


def _get(doc: Any, parts: list[str]) -> Any:
    node = doc
    for part in parts:
        node = node[_index(part, node)] if isinstance(node, list) else node[part]
    return node


def _add(doc: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    parent, last = _parent(doc, parts), parts[-1]
    if isinstance(parent, list):
        parent.insert(_index(last, parent, adding=True), value)
    else:
        parent[last] = value
    return doc


def _remove(doc: Any, parts: list[str]) -> Any:
    parent, last = _parent(doc, parts), parts[-1]
    if isinstance(parent, list):
        return parent.pop(_index(last, parent))
    return parent.pop(last)


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902 (add, remove, replace, move, copy, test), as ``kubectl rollout undo`` sends."""
    if not isinstance(operations, list):
        raise ApiError.bad_request("a JSON patch must be a list of operations")
    doc = copy.deepcopy(target)
    for op in operations:
        try:
            kind, parts = op["op"], _pointer(op["path"])
            if kind == "add":
                doc = _add(doc, parts, copy.deepcopy(op["value"]))
            elif kind == "remove":
                _remove(doc, parts)
            elif kind == "replace":  # remove (which must succeed), then add at the same place
                if parts:
                    _remove(doc, parts)
                doc = _add(doc, parts, copy.deepcopy(op["value"]))
            elif kind in ("move", "copy"):
                source = _pointer(op["from"])
                value = _remove(doc, source) if kind == "move" else copy.deepcopy(_get(doc, source))
                doc = _add(doc, parts, value)
            elif kind == "test":
                if _get(doc, parts) != op["value"]:
                    raise ApiError(422, "Invalid", f"the test operation failed on {op['path']}")
            else:  # evanphx/json-patch fails to apply it; the API server answers 422
                raise ValueError(f"unknown JSON patch operation {kind!r}")
        except (KeyError, IndexError, ValueError, TypeError, AttributeError) as exc:
            raise ApiError(
                422, "Invalid", f"the JSON patch {op!r} does not apply: {exc!r}"
            ) from None
    return doc


_DIRECTIVES = ("$setElementOrder/", "$deleteFromPrimitiveList/", "$retainKeys", "$patch")


def strategic_merge_patch(target: Any, patch: Any, path: tuple[str, ...] = ()) -> Any:
    """Kubernetes' strategic merge patch of ``target`` (a map) with ``patch`` (a map)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if not k.startswith(_DIRECTIVES)}
    if directive == "delete":
        return None
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    if "$retainKeys" in patch:
        result = _retain_keys(result, patch)
    for key, value in patch.items():
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            # A list that is absent (or null) stays so: patch.go mergeMap skips a deletion
            # list whose original is missing or of another type.
            if isinstance(result.get(name), list):
                result[name] = [v for v in result[name] if v not in value]
            continue
        if key.startswith(_DIRECTIVES):
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list):
            result[key] = _merge_list(result.get(key), value, (*path, key))
        else:
            merged = strategic_merge_patch(result.get(key), value, (*path, key))
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
    for key, order in patch.items():
        if key.startswith("$setElementOrder/"):
            name = key.split("/", 1)[1]
            _set_element_order(result, target, patch.get(name), order, (*path, name))
    return result


def _identity(path: tuple[str, ...]) -> Any:
    """What identifies an element of the list at ``path`` (its merge key, or itself for a set
    list); None for an atomic list."""
    keys = list_keys(path)
    if keys is not None:
        return lambda item: key_of(item, keys)
    if path[-2:] in SET_LISTS:
        return lambda item: item
    return None


def _normalize(merged: list[Any], order: list[Any], server: list[Any], ident: Any) -> list[Any]:
    """patch.go normalizeElementOrder: the elements named in ``order`` in that order, the
    others (server-only) kept in ``server``'s order and each put before the first ordered
    element that comes after it in ``server`` (mergeSortedSlice)."""
    wanted = [ident(v) for v in order]
    server_ids = [ident(v) for v in server]
    ordered = sorted(
        (v for v in merged if ident(v) in wanted), key=lambda v: wanted.index(ident(v))
    )
    server_only = [v for v in merged if ident(v) not in wanted]
    out: list[Any] = []
    while server_only and ordered:
        left, right = ident(server_only[0]), ident(ordered[0])
        before = left in server_ids and right in server_ids
        if before and server_ids.index(left) < server_ids.index(right):
            out.append(server_only.pop(0))
        else:
            out.append(ordered.pop(0))
    return out + server_only + ordered


def _set_element_order(
    result: dict[str, Any], target: Any, patch_list: Any, order: Any, path: tuple[str, ...]
) -> None:
    """patch.go mergePatchIntoOriginal: the merged list in the order ``$setElementOrder``
    gives (which the patch list must follow), the live object's other elements interleaved
    by their live order."""
    name = path[-1]
    if not isinstance(order, list) or (patch_list is not None and not isinstance(patch_list, list)):
        raise ApiError.bad_request("invalid patch format of setElementOrder list")
    ident = _identity(path)
    merged = result.get(name)
    if ident is None or not isinstance(merged, list):
        return
    wanted = iter([ident(v) for v in order])
    listed = [ident(v) for v in patch_list or [] if not (isinstance(v, dict) and "$patch" in v)]
    if not all(any(k == w for w in wanted) for k in listed):  # validatePatchWithSetOrderList
        raise ApiError(
            500, "InternalError", f"The order in patch list doesn't match $setElementOrder/{name}"
        )
    live = target.get(name) if isinstance(target, dict) else None
    result[name] = _normalize(merged, order, live if isinstance(live, list) else [], ident)


def _retain_keys(result: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """patch.go applyRetainKeysDirective: every field the patch sets must be listed; the
    fields of the original that are not listed are cleared."""
    retain = patch["$retainKeys"]
    if not isinstance(retain, list):
        raise ApiError.bad_request("invalid patch format of retainKeys")
    for key, value in patch.items():
        if value is not None and not key.startswith(_DIRECTIVES) and key not in retain:
            raise ApiError(422, "Invalid", "patch content doesn't match retainKeys list")
    return {k: v for k, v in result.items() if k in retain}


def _go_map(item: dict[str, Any]) -> str:
    return "map[" + " ".join(f"{k}:{item[k]}" for k in sorted(item)) + "]"


def _merge_list(current: Any, patch: list[Any], path: tuple[str, ...]) -> list[Any]:
    """patch.go mergeSlice: set lists unioned, keyed lists merged by key (``$patch: delete``
    first, then the other elements), then ordered as the patch lists them, the live
    object's other elements interleaved (normalizeElementOrder)."""
    current = current if isinstance(current, list) else []
    keys = list_keys(path)
    if path[-2:] in SET_LISTS or path in SET_LISTS:
        union = [v for i, v in enumerate([*current, *patch]) if v not in [*current, *patch][:i]]
        return _normalize(union, patch, current, lambda item: item)
    if keys is None:
        return [v for v in copy.deepcopy(patch) if not (isinstance(v, dict) and "$patch" in v)]
    if any(isinstance(v, dict) and v.get("$patch") == "replace" for v in patch):
        return [copy.deepcopy(v) for v in patch if not (isinstance(v, dict) and "$patch" in v)]
    for item in patch:
        key = key_of(item, keys)
        if key is not None and None in key:
            # mergepatch.ErrNoMergeKey; the API server passes it on as a plain error, a 500.
            missing = keys[key.index(None)]
            raise ApiError(
                500,
                "InternalError",
                f"map: {_go_map(item)} does not contain declared merge key: {missing}",
            )
    deleted = {
        key_of(v, keys) for v in patch if isinstance(v, dict) and v.get("$patch") == "delete"
    }
    result: list[Any] = [copy.deepcopy(v) for v in current if key_of(v, keys) not in deleted]
    server = list(result)
    items = [v for v in patch if not (isinstance(v, dict) and "$patch" in v)]
    for item in items:
        key = key_of(item, keys)
        index = next((i for i, old in enumerate(result) if key_of(old, keys) == key), None)
        if index is None:
            result.append(copy.deepcopy(item))
        else:
            result[index] = strategic_merge_patch(result[index], item, path)
    return _normalize(result, items, server, lambda item: key_of(item, keys))


PATCHERS = {
    "application/merge-patch+json": merge_patch,
    "application/json-patch+json": json_patch,
    "application/strategic-merge-patch+json": strategic_merge_patch,
}

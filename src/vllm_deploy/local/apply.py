"""Server-side apply and ``metadata.managedFields``: who owns which field.

A reduced model of sigs.k8s.io/structured-merge-diff as the API server uses it
(k8s.io/apiserver pkg/endpoints/handlers/patch.go ``applyPatcher``; field sets in the
``FieldsV1`` format): each manager owns a set of field paths, written ``f:<field>``,
``k:<json key>`` for an element of a keyed list (``schema.list_keys``), ``v:<json>`` for a
member of a set list, and ``.`` for an element itself; other lists are atomic leaves.
- Apply by manager M: a field M sets that another manager owns **with a different value**
  is a conflict (409, ``FieldManagerConflict`` causes) unless ``force=true``, which moves
  ownership to M. The configuration is merged into the live object; fields M owned before
  and no longer sets are removed, unless another manager still owns them. M now owns
  exactly the fields it set. An apply to a missing object creates it.
- Any other write by manager U: U takes the fields whose values it changed or added, others
  lose them; removed fields leave every set.
Not modelled: per-version field-set conversion, listType=set on non-metadata lists,
``granular`` maps.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from typing import Any

from vllm_deploy.local.errors import ApiError
from vllm_deploy.local.resources import ResourceType
from vllm_deploy.local.schema import SET_LISTS, key_of, list_keys

__all__ = ["FieldPath", "apply_config", "field_set", "record_update"]

FieldPath = tuple[str, ...]
Obj = dict[str, Any]
# Server-set or identity fields: nobody manages them.
_UNMANAGED_META = (
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)
_MISSING = object()


def _dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _managed_part(obj: Obj, subresource: str | None) -> Obj:
    if subresource == "status":
        return {"status": obj.get("status", {})}
    part = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "status")}
    meta = {k: v for k, v in obj.get("metadata", {}).items() if k not in _UNMANAGED_META}
    if meta:
        part["metadata"] = meta
    else:
        part.pop("metadata", None)
    return part


def field_set(obj: Obj, subresource: str | None = None) -> set[FieldPath]:
    """The leaf (and element) paths an object sets."""
    out: set[FieldPath] = set()
    _walk(_managed_part(obj, subresource), (), (), out)
    return out


def _walk(value: Any, path: FieldPath, names: tuple[str, ...], out: set[FieldPath]) -> None:
    if isinstance(value, dict):
        if not value and path:
            out.add(path)
        for key, item in value.items():
            _walk(item, (*path, f"f:{key}"), (*names, key), out)
        return
    if isinstance(value, list):
        keys = list_keys(names)
        if names[-2:] in SET_LISTS and value:
            out.update((*path, f"v:{_dump(v)}") for v in value)
        elif keys is not None and value and all(isinstance(v, dict) for v in value):
            for item in value:
                ident = dict(zip(keys, key_of(item, keys) or (), strict=True))
                element = (*path, f"k:{_dump(ident)}")
                out.add((*element, "."))
                _walk(item, element, names, out)
        else:
            out.add(path)
        return
    out.add(path)


def _step(node: Any, part: str, names: tuple[str, ...]) -> tuple[Any, tuple[str, ...]]:
    kind, _, rest = part.partition(":")
    if part == ".":
        return node, names
    if kind == "f":
        return (node.get(rest, _MISSING) if isinstance(node, dict) else _MISSING), (*names, rest)
    if not isinstance(node, list):
        return _MISSING, names
    if kind == "v":
        return (True if json.loads(rest) in node else _MISSING), names
    keys = list_keys(names) or ()
    wanted = json.loads(rest)
    for item in node:
        if key_of(item, keys) == tuple(wanted.get(k) for k in keys):
            return item, names
    return _MISSING, names


def value_at(obj: Any, path: FieldPath) -> Any:
    node: Any = obj
    names: tuple[str, ...] = ()
    for part in path:
        node, names = _step(node, part, names)
        if node is _MISSING:
            return _MISSING
    return node


def _delete_at(obj: Any, path: FieldPath) -> None:
    """Removes the field (or list element) a path names, if present."""
    if path[-1] == ".":
        path = path[:-1]
    parent = value_at(obj, path[:-1]) if len(path) > 1 else obj
    kind, _, rest = path[-1].partition(":")
    if kind == "f" and isinstance(parent, dict):
        parent.pop(rest, None)
    elif kind in ("k", "v") and isinstance(parent, list):
        target = value_at(obj, path)
        if kind == "v":
            target = json.loads(rest)
        for i, item in enumerate(parent):
            if item is target or (kind == "v" and item == target):
                parent.pop(i)
                break


def _delete_all(obj: Obj, paths: set[FieldPath]) -> None:
    """Removes fields and elements, shortest path first (an element goes with its fields),
    then the maps and lists that the removals emptied."""
    done: list[FieldPath] = []
    for path in sorted(paths, key=lambda p: (len(p) - (p[-1] == "."), p)):
        element = path[:-1] if path[-1] == "." else path
        if any(element[: len(d)] == d for d in done):
            continue
        _delete_at(obj, path)
        done.append(element)
        for depth in range(len(element) - 1, 0, -1):  # prune what became empty
            container = value_at(obj, element[:depth])
            if container is _MISSING or container:
                break
            _delete_at(obj, element[:depth])


def _merge(live: Any, config: Any, names: tuple[str, ...]) -> Any:
    if isinstance(config, dict) and isinstance(live, dict):
        out = copy.deepcopy(live)
        for key, value in config.items():
            out[key] = _merge(live.get(key), value, (*names, key))
        return out
    if isinstance(config, list) and isinstance(live, list):
        if names[-2:] in SET_LISTS:
            return [*live, *(v for v in config if v not in live)]
        keys = list_keys(names)
        if keys is not None and all(isinstance(v, dict) for v in [*live, *config]):
            elements: list[Any] = copy.deepcopy(live)
            for item in config:
                k = key_of(item, keys)
                i = next((i for i, o in enumerate(elements) if key_of(o, keys) == k), None)
                if i is None:
                    elements.append(copy.deepcopy(item))
                else:
                    elements[i] = _merge(elements[i], item, names)
            return elements
    return copy.deepcopy(config)


def _entries(obj: Obj) -> list[dict[str, Any]]:
    return list(obj.get("metadata", {}).get("managedFields") or [])


def _paths(entry: dict[str, Any]) -> set[FieldPath]:
    out: set[FieldPath] = set()

    def walk(node: dict[str, Any], path: FieldPath) -> None:
        if not node:
            out.add(path)
        for key, child in node.items():
            if key == ".":
                out.add((*path, "."))
            else:
                walk(child, (*path, key))

    walk(entry.get("fieldsV1") or {}, ())
    return out


def _fields_v1(paths: Iterable[FieldPath]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for path in sorted(paths):
        node = root
        for part in path:
            node = node.setdefault(part, {})
    return root


def _entry(
    manager: str,
    operation: str,
    rt: ResourceType,
    paths: set[FieldPath],
    now: str,
    subresource: str | None,
) -> dict[str, Any]:
    entry = {
        "manager": manager,
        "operation": operation,
        "apiVersion": rt.api_version,
        "time": now,
        "fieldsType": "FieldsV1",
        "fieldsV1": _fields_v1(paths),
    }
    if subresource:
        entry["subresource"] = subresource
    return entry


def _store(obj: Obj, entries: list[dict[str, Any]]) -> None:
    # Stored sorted as managedfields.go sortEncodedManagedFields does: operation, time (none
    # first), manager, apiVersion, subresource.
    kept = sorted(
        (e for e in entries if e.get("fieldsV1")),
        key=lambda e: (
            e.get("operation", ""),
            e.get("time") or "",
            e.get("manager", ""),
            e.get("apiVersion", ""),
            e.get("subresource") or "",
        ),
    )
    if kept:
        obj.setdefault("metadata", {})["managedFields"] = kept
    else:
        obj.get("metadata", {}).pop("managedFields", None)


def _same(entry: dict[str, Any], manager: str, operation: str, sub: str | None) -> bool:
    return (entry.get("manager"), entry.get("operation"), entry.get("subresource")) == (
        manager,
        operation,
        sub,
    )


def _differs(live: Obj, config: Obj, path: FieldPath) -> bool:
    """Whether applying changes what ``path`` names: a leaf's value, or the presence of a list
    element (structured-merge-diff compares leaves; an element itself is only added or
    removed, a change inside it is a change of its fields)."""
    if path[-1] == ".":
        return (value_at(live, path) is _MISSING) != (value_at(config, path) is _MISSING)
    return bool(value_at(live, path) != value_at(config, path))


def apply_config(
    rt: ResourceType,
    live: Obj,
    config: Obj,
    manager: str,
    force: bool,
    now: str,
    subresource: str | None = None,
) -> Obj:
    """The object after manager ``manager`` applies ``config`` to ``live`` (``{}`` if new)."""
    if config.get("metadata", {}).get("managedFields") is not None:
        # structuredmerge.go Apply: the configuration may not carry ownership itself.
        raise ApiError.bad_request("metadata.managedFields must be nil")
    new_paths = field_set(config, subresource)
    entries = _entries(live)
    mine = next((e for e in entries if _same(e, manager, "Apply", subresource)), None)
    conflicts: list[tuple[dict[str, Any], FieldPath]] = []
    others: list[tuple[dict[str, Any], set[FieldPath]]] = []
    for entry in entries:  # every manager, of any subresource, can conflict (conflict.go)
        if entry is mine:
            continue
        owned = _paths(entry)
        clash = {p for p in owned & new_paths if _differs(live, config, p)}
        if clash and not force:
            conflicts += [(entry, p) for p in sorted(clash)]
        others.append((entry, owned - clash))
    if conflicts:
        raise _conflict(rt, live, config, conflicts)
    merged: Obj = _merge(live, _managed_part(config, subresource), ())
    still_owned = set().union(*(owned for _, owned in others)) if others else set()
    _delete_all(merged, (_paths(mine) if mine else set()) - new_paths - still_owned)
    kept = [
        _entry(e["manager"], e["operation"], rt, owned, e.get("time", now), e.get("subresource"))
        if owned != _paths(e)
        else e
        for e, owned in others
    ]
    applied = _entry(manager, "Apply", rt, new_paths, now, subresource)
    if _without_ownership(merged) == _without_ownership(live):
        # merge.Updater.Apply returns no object for a no-op, and managedFieldsUpdater then
        # leaves the manager's time as it was (none for a new manager).
        if mine is not None and "time" in mine:
            applied["time"] = mine["time"]
        else:
            applied.pop("time")
    _store(merged, [*kept, applied])
    return merged


def _without_ownership(obj: Obj) -> Obj:
    meta = {k: v for k, v in obj.get("metadata", {}).items() if k != "managedFields"}
    return {**obj, "metadata": meta}


def record_update(
    rt: ResourceType, old: Obj, new: Obj, manager: str, now: str, subresource: str | None = None
) -> None:
    """Moves the fields an update changed to ``manager`` (operation Update), in ``new``."""
    before, after = field_set(old, subresource), field_set(new, subresource)
    changed = {p for p in after if value_at(old, p) != value_at(new, p)}
    removed = before - after
    entries = []
    mine: set[FieldPath] = set()
    for entry in _entries(old):
        owned = _paths(entry) - removed
        if _same(entry, manager, "Update", subresource) and changed:
            # managedFieldsUpdater.Update: a write that took fields merges them into the
            # manager's entry and stamps it; one that took none leaves the entry alone.
            mine = owned
            continue
        owned -= changed  # from every manager, whatever subresource it wrote through
        entries.append(
            entry
            if owned == _paths(entry)
            else _entry(
                entry["manager"],
                entry["operation"],
                rt,
                owned,
                entry.get("time", now),
                entry.get("subresource"),
            )
        )
    mine |= changed
    if mine:
        entries.append(_entry(manager, "Update", rt, mine, now, subresource))
    _store(new, entries)


def _go_quote(text: str) -> str:
    """Go's ``%q`` of a string, for the printable strings managers and keys are."""
    return json.dumps(text, ensure_ascii=False)


def _path_string(path: FieldPath) -> str:
    """A field path as sigs.k8s.io/structured-merge-diff fieldpath.Path.String writes it:
    ``.spec.containers[name="app"].image``, ``.metadata.finalizers[="x"]``."""

    def scalar(value: Any) -> str:  # value.ToString
        if isinstance(value, str):
            return _go_quote(value)
        if isinstance(value, bool):
            return "true" if value else "false"
        return "null" if value is None else str(value)

    out = []
    for part in path:
        kind, _, rest = part.partition(":")
        if part == ".":
            continue
        if kind == "f":
            out.append(f".{rest}")
        elif kind == "k":
            fields = json.loads(rest)
            out.append("[" + ",".join(f"{k}={scalar(fields[k])}" for k in sorted(fields)) + "]")
        else:
            out.append(f"[={scalar(json.loads(rest))}]")
    return "".join(out)


def _manager_string(entry: dict[str, Any]) -> str:
    """pkg/util/managedfields/internal/conflict.go printManager."""
    text = _go_quote(entry.get("manager", ""))
    if entry.get("subresource"):
        text += f" with subresource {_go_quote(entry['subresource'])}"
    if entry.get("operation") == "Update":
        if entry.get("time") is None:
            return f"{text} using {entry.get('apiVersion')}"
        return f"{text} using {entry.get('apiVersion')} at {entry['time']}"
    return text


def _conflict(
    rt: ResourceType, live: Obj, config: Obj, conflicts: list[tuple[dict[str, Any], FieldPath]]
) -> ApiError:
    """As pkg/util/managedfields/internal/conflict.go NewConflictError words it."""
    causes = [
        {
            "reason": "FieldManagerConflict",
            "field": _path_string(p),
            "message": f"conflict with {_manager_string(e)}",
        }
        for e, p in conflicts
    ]
    if len(conflicts) == 1:
        entry, path = conflicts[0]
        message = (
            "Apply failed with 1 conflict: "
            f"conflict with {_manager_string(entry)}: {_path_string(path)}"
        )
    else:
        by_manager: dict[str, list[str]] = {}
        for entry, path in conflicts:
            by_manager.setdefault(_manager_string(entry), []).append(_path_string(path))
        lines = []
        for manager in sorted(by_manager):
            lines.append(f"conflicts with {manager}:")
            lines += [f"- {p}" for p in by_manager[manager]]
        joined = "\n".join(lines)
        message = f"Apply failed with {len(conflicts)} conflicts: {joined}"
    name = config.get("metadata", {}).get("name") or live.get("metadata", {}).get("name", "")
    return ApiError(
        409,
        "Conflict",
        message,
        {"name": name, "group": rt.group, "kind": rt.plural, "causes": causes},
    )

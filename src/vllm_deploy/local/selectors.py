"""Label and field selectors, with k8s.io/apimachinery's grammar (pkg/labels/selector.go,
pkg/fields/selector.go): ``a=b,c!=d,e in (x,y),f notin (z),g,!h`` and ``metadata.name=web``."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from vllm_deploy.local.errors import ApiError

__all__ = ["Predicate", "field_selector", "label_selector", "match_selector_object"]

Predicate = Callable[[Mapping[str, str]], bool]
_SET = re.compile(r"^\s*(!?)\s*([\w./-]+)\s*(?:(in|notin)\s*\(([^)]*)\))?\s*$")
_EQ = re.compile(r"^\s*([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)\s*$")


def _split(expr: str) -> list[str]:
    """Splits on commas outside parentheses."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(expr):
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(expr[start:i])
            start = i + 1
    parts.append(expr[start:])
    return [p for p in parts if p.strip()]


def _requirement(text: str) -> Predicate:
    if (m := _EQ.match(text)) is not None:
        key, op, value = m.groups()
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if (m := _SET.match(text)) is not None:
        negate, key, op, values = m.groups()
        if op is None:
            return (lambda labels: key not in labels) if negate else (lambda labels: key in labels)
        if negate:
            raise ApiError.bad_request(f"unable to parse requirement: {text!r}")
        members = {v.strip() for v in values.split(",") if v.strip()}
        if op == "in":
            return lambda labels: labels.get(key) in members
        return lambda labels: labels.get(key) not in members
    raise ApiError.bad_request(f"unable to parse requirement: {text!r}")


def label_selector(expr: str | None) -> Predicate:
    """The predicate of a ``labelSelector`` query string; empty selects everything."""
    requirements = [_requirement(part) for part in _split(expr or "")]
    return lambda labels: all(r(labels) for r in requirements)


def _get_path(obj: Mapping[str, Any], path: str) -> str:
    node: Any = obj
    for part in path.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    return "" if node is None else str(node)


def field_selector(expr: str | None) -> Callable[[Mapping[str, Any]], bool]:
    """The predicate of a ``fieldSelector``: ``metadata.name=web,status.phase!=Running``."""
    tests: list[tuple[str, bool, str]] = []
    for part in _split(expr or ""):
        m = _EQ.match(part)
        if m is None:
            raise ApiError.bad_request(f"invalid field selector: {part!r}")
        path, op, value = m.groups()
        tests.append((path, op != "!=", value))
    return lambda obj: all((_get_path(obj, p) == v) == eq for p, eq, v in tests)


_OPS: dict[str, Callable[[Mapping[str, str], str, list[str]], bool]] = {
    "In": lambda labels, key, values: labels.get(key) in values,
    "NotIn": lambda labels, key, values: labels.get(key) not in values,
    "Exists": lambda labels, key, values: key in labels,
    "DoesNotExist": lambda labels, key, values: key not in labels,
}


def match_selector_object(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A ``LabelSelector`` object (matchLabels + matchExpressions). None matches nothing, as
    for a Service without a selector; an empty one matches everything (metav1)."""
    if selector is None:
        return False
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    return all(
        _OPS[e["operator"]](labels, e["key"], list(e.get("values") or []))
        for e in selector.get("matchExpressions") or []
    )

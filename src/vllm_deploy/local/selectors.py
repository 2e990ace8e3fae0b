"""Label and field selectors, with k8s.io/apimachinery's grammar (pkg/labels/selector.go,
pkg/fields/selector.go): ``a=b,c!=d,e in (x,y),f notin (z),g,!h`` and ``metadata.name=web``."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from vllm_deploy.local.errors import ApiError

__all__ = ["Predicate", "field_selector", "label_selector", "match_selector_object"]

Predicate = Callable[[Mapping[str, str]], bool]

# The label selector grammar, as pkg/labels/selector.go's Lexer and Parser read it: identifiers
# run up to whitespace or one of ``!=(),<>``; ``in`` and ``notin`` are keywords only where an
# operator is expected.
_TOKEN = re.compile(r"\s*(!=|==|[!=(),<>]|[^\s!=(),<>]+)")
_OPERATORS = ("=", "==", "!=", "in", "notin", ">", "<")
_NAME = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE = re.compile(rf"^({_NAME})?$")
_KEY_NAME = re.compile(rf"^{_NAME}$")
_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_INTEGER = re.compile(r"^[+-]?[0-9]+$")


def _bad(expr: str, why: str) -> ApiError:
    return ApiError.bad_request(f"unable to parse requirement: {expr!r}: {why}")


def _valid_key(key: str) -> bool:
    """IsQualifiedName: an optional DNS subdomain prefix and a name of at most 63 characters."""
    prefix, _, name = key.rpartition("/")
    if "/" in key and (not prefix or len(prefix) > 253 or not _DNS1123_SUBDOMAIN.match(prefix)):
        return False
    return len(name) <= 63 and _KEY_NAME.match(name) is not None


def _requirement(expr: str, key: str, op: str, values: list[str]) -> Predicate:
    """NewRequirement's checks, then Requirement.Matches."""
    if not _valid_key(key):
        raise _bad(expr, f"invalid label key {key!r}")
    for value in values:
        if len(value) > 63 or not _LABEL_VALUE.match(value):
            raise _bad(expr, f"invalid label value {value!r}")
    members = set(values)
    if op in ("in", "=", "=="):
        return lambda labels: key in labels and labels[key] in members
    if op in ("notin", "!="):
        return lambda labels: key not in labels or labels[key] not in members
    if op == "exists":
        return lambda labels: key in labels
    if op == "!":
        return lambda labels: key not in labels
    if not _INTEGER.match(values[0]):
        raise _bad(expr, f"for 'Gt', 'Lt' operators, the value must be an integer: {values[0]!r}")
    bound = int(values[0])
    greater = op == ">"

    def compare(labels: Mapping[str, str]) -> bool:
        value = labels.get(key)
        if value is None or not _INTEGER.match(value):
            return False
        return int(value) > bound if greater else int(value) < bound

    return compare


def _tokens(expr: str) -> list[str]:
    tokens, pos = [], 0
    while (m := _TOKEN.match(expr, pos)) is not None and m.end() > pos:
        tokens.append(m.group(1))
        pos = m.end()
    return tokens


def _is_identifier(token: str | None) -> bool:
    return token is not None and token not in ("!=", "==", "!", "=", "(", ")", ",", "<", ">")


def _values(expr: str, tokens: list[str], i: int) -> tuple[list[str], int]:
    """parseValues: ``( a, b )``; ``()`` and empty members are the empty string."""
    if tokens[i : i + 1] != ["("]:
        raise _bad(expr, "expected '('")
    i += 1
    values: list[str] = []
    expect_value = True
    while i < len(tokens) and tokens[i] != ")":
        token = tokens[i]
        if token == ",":
            if expect_value:
                values.append("")
            expect_value = True
        elif _is_identifier(token) and expect_value:
            values.append(token)
            expect_value = False
        else:
            raise _bad(expr, f"found {token!r}, expected: ',', or identifier")
        i += 1
    if i >= len(tokens):
        raise _bad(expr, "expected ')'")
    if expect_value:
        values.append("")
    return values, i + 1


def label_selector(expr: str | None) -> Predicate:
    """The predicate of a ``labelSelector`` query string; empty selects everything
    (labels.Parse: ``a=b,c!=d,e in (x,y),f notin (z),g,!h,n>1,m<5``)."""
    text = expr or ""
    tokens = _tokens(text)
    requirements: list[Predicate] = []
    i = 0
    while i < len(tokens):
        negate = tokens[i] == "!"
        i += negate
        if i >= len(tokens) or not _is_identifier(tokens[i]):
            raise _bad(text, "expected: !, identifier, or 'end of string'")
        key = tokens[i]
        i += 1
        following = tokens[i] if i < len(tokens) else ","
        if negate or following == ",":
            requirements.append(_requirement(text, key, "!" if negate else "exists", []))
        elif following in _OPERATORS:
            i += 1
            if following in ("in", "notin"):
                values, i = _values(text, tokens, i)
            elif i < len(tokens) and _is_identifier(tokens[i]):
                values, i = [tokens[i]], i + 1
            elif i >= len(tokens) or tokens[i] == ",":
                values = [""]
            else:
                raise _bad(text, f"found {tokens[i]!r}, expected: identifier")
            requirements.append(_requirement(text, key, following, values))
        else:
            raise _bad(text, f"found {following!r}, expected: operator")
        if i < len(tokens):
            if tokens[i] != ",":
                raise _bad(text, f"found {tokens[i]!r}, expected: ',' or 'end of string'")
            i += 1
            if i >= len(tokens) or not (_is_identifier(tokens[i]) or tokens[i] == "!"):
                raise _bad(text, "expected: identifier after ','")
    return lambda labels: all(r(labels) for r in requirements)


def _get_path(obj: Mapping[str, Any], path: str) -> str:
    node: Any = obj
    for part in path.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    return "" if node is None else str(node)


def _split_terms(expr: str) -> list[str]:
    """pkg/fields/selector.go splitTerms: commas split, unless escaped with a backslash."""
    terms, start, escaped = [], 0, False
    for i, ch in enumerate(expr):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ",":
            terms.append(expr[start:i])
            start = i + 1
    terms.append(expr[start:])
    return terms


def _unescape(expr: str, value: str) -> str:
    r"""UnescapeValue: ``\\``, ``\,`` and ``\=`` are the only escapes; bare ``,`` and ``=``
    are refused."""
    out, escaped = [], False
    for ch in value:
        if escaped:
            if ch not in "\\,=":
                raise ApiError.bad_request(
                    f"invalid field selector {expr!r}: invalid escape \\{ch}"
                )
            out.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in ",=":
            raise ApiError.bad_request(f"invalid field selector {expr!r}: unescaped {ch!r}")
        else:
            out.append(ch)
    if escaped:
        raise ApiError.bad_request(f"invalid field selector {expr!r}: invalid escape \\")
    return "".join(out)


def field_selector(expr: str | None) -> Callable[[Mapping[str, Any]], bool]:
    """The predicate of a ``fieldSelector``: ``metadata.name=web,status.phase!=Running``
    (fields.ParseSelector: empty terms are skipped, the first ``!=``, ``==`` or ``=`` splits)."""
    text = expr or ""
    tests: list[tuple[str, bool, str]] = []
    for part in _split_terms(text) if text else []:
        if not part:
            continue
        m = re.search(r"!=|==|=", part)
        if m is None:
            raise ApiError.bad_request(f"invalid selector: {text!r}; can't understand {part!r}")
        path, op, value = part[: m.start()], m.group(), _unescape(text, part[m.end() :])
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

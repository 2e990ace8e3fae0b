"""Label and field selectors against upstream's own tables.

Sources, kubernetes/apimachinery at eed236ce:
- ``pkg/labels/selector_test.go``: ``TestSelectorParse``, ``TestSelectorMatches``,
  ``TestSetSelectorParser`` (validity), ``TestRequirementSelectorMatching`` (each requirement
  written as the string ``TestSetSelectorParser`` parses to it, e.g. ``x notin ()`` is NotIn {""}).
- ``pkg/fields/selector_test.go``: ``TestSplitTerms``, ``TestSelectorParse``,
  ``TestSelectorMatches`` (a field set is an object whose top-level keys are the fields).
- ``pkg/apis/meta/v1/helpers_test.go``: ``TestLabelSelectorAsSelector``: a LabelSelector object
  selects what its string form selects; nil selects nothing, an empty one everything.
"""

from __future__ import annotations

import pytest

from vllm_deploy.local.errors import ApiError
from vllm_deploy.local.selectors import _split_terms as split_terms
from vllm_deploy.local.selectors import field_selector, label_selector, match_selector_object

# TestSelectorParse (labels): testGoodStrings, testBadStrings. Upstream also checks each
# good string's restring; here each parse is checked by what it selects in three label sets
# (apimachinery's Requirement.Matches: =, in and > need the key; != and notin hold without it).
PARSED_ON = ({"x": "a", "y": "b", "z": "c"}, {"x": "", "y": "b", "z": ""}, {"x": "2", "z": "4"})
LABEL_GOOD = {
    "x=a,y=b,z=c": (True, False, False),
    "": (True, True, True),
    "x!=a,y=b": (False, True, False),
    "x=": (False, True, False),
    "x= ": (False, True, False),
    "x=,z= ": (False, True, False),
    "x= ,z= ": (False, True, False),
    "!x": (False, False, False),
    "x>1": (False, False, True),
    "x>1,z<5": (False, False, True),
}
LABEL_BAD = ["x=a||y=b", "x==a==b", "!x=a", "x<a"]

# TestSetSelectorParser: (selector, valid).
SET_PARSER = [
    ("", True),
    ("\rx", True),
    ("this-is-a-dns.domain.com/key-with-dash", True),
    ("this-is-another-dns.domain.com/key-with-dash in (so,what)", True),
    ("0.1.2.domain/99 notin (10.10.100.1, tick.tack.clock)", True),
    ("foo  in\t (abc)", True),
    ("x notin\n (abc)", True),
    ("x  notin\t\t\t(abc,def)", True),
    ("x in (abc,def)", True),
    ("x in (abc,)", True),
    ("x in (abc,abc)", True),
    ("x in ()", True),
    ("x in (a,,)", True),
    ("x in (a,,,)", True),
    ("x in (a,,,,,,)", True),
    ("x in (a,,a,,a,,a,,)", True),
    ("x notin (abc,,def),bar,z in (),w", True),
    ("x,y in (a)", True),
    ("x=a", True),
    ("x>1", True),
    ("x<7", True),
    ("x=a,y!=b", True),
    ("x=a,y!=b,z in (h,i,j)", True),
    ("x=a||y=b", False),
    ("x,,y", False),
    (",x,y", False),
    ("x nott in (y)", False),
    ("x notin ( )", True),
    ("x notin (, a)", True),
    ("a in (xyz),", False),
    ("a in (xyz)b notin ()", False),
    ("a ", True),
    ("a in (x,y,notin, z,in)", True),
    ("a in (xyz abc)", False),
    ("a notin(", False),
    ("a (", False),
    ("(", False),
]

# TestSelectorMatches (labels): (selector, labels, matches).
LABEL_MATCHES = [
    ("", {"x": "y"}, True),
    ("x=y", {"x": "y"}, True),
    ("x=y,z=w", {"x": "y", "z": "w"}, True),
    ("x!=y,z!=w", {"x": "z", "z": "a"}, True),
    ("notin=in", {"notin": "in"}, True),
    ("x", {"x": "z"}, True),
    ("!x", {"y": "z"}, True),
    ("x>1", {"x": "2"}, True),
    ("x<1", {"x": "0"}, True),
    ("x=z", {}, False),
    ("x=y", {"x": "z"}, False),
    ("x=y,z=w", {"x": "w", "z": "w"}, False),
    ("x!=y,z!=w", {"x": "z", "z": "w"}, False),
    ("x", {"y": "z"}, False),
    ("!x", {"x": "z"}, False),
    ("x>1", {"x": "0"}, False),
    ("x<1", {"x": "2"}, False),
    ("foo=bar", {"foo": "bar", "baz": "blah"}, True),
    ("baz=blah", {"foo": "bar", "baz": "blah"}, True),
    ("foo=bar,baz=blah", {"foo": "bar", "baz": "blah"}, True),
    ("foo=blah", {"foo": "bar", "baz": "blah"}, False),
    ("baz=bar", {"foo": "bar", "baz": "blah"}, False),
    ("foo=bar,foobar=bar,baz=blah", {"foo": "bar", "baz": "blah"}, False),
]

# TestRequirementSelectorMatching: (selector, labels, matches).
REQUIREMENT_MATCHING = [
    ("x in (foo),y notin (alpha)", {"x": "foo", "y": "baz"}, True),
    ("x in (foo),y in (alpha)", {"x": "foo", "y": "baz"}, False),
    ("x notin (),y", {"y": ""}, True),
    ("!x,y", {"y": ""}, True),
    ("x notin (),!y", {"y": ""}, False),
    ("x in ()", {"y": "baz"}, False),
    ("z>1", {"z": "2"}, True),
    ("z>1", {"z": "v2"}, False),
]


@pytest.mark.parametrize(("selector", "selects"), LABEL_GOOD.items())
def test_label_selector_parses(selector: str, selects: tuple[bool, bool, bool]) -> None:
    matches = label_selector(selector)
    assert tuple(matches(labels) for labels in PARSED_ON) == selects


@pytest.mark.parametrize("selector", LABEL_BAD)
def test_label_selector_refuses(selector: str) -> None:
    with pytest.raises(ApiError) as err:
        label_selector(selector)
    assert err.value.code == 400


@pytest.mark.parametrize(("selector", "valid"), SET_PARSER)
def test_set_selector_parser(selector: str, valid: bool) -> None:
    if valid:
        label_selector(selector)
    else:
        with pytest.raises(ApiError):
            label_selector(selector)


@pytest.mark.parametrize(("selector", "labels", "matches"), LABEL_MATCHES + REQUIREMENT_MATCHING)
def test_label_selector_matches(selector: str, labels: dict[str, str], matches: bool) -> None:
    assert label_selector(selector)(labels) is matches


# TestLabelSelectorAsSelector: (LabelSelector, the selector string it equals).
AS_SELECTOR = [
    ({}, ""),
    ({"matchLabels": {"foo": "bar"}}, "foo=bar"),
    (
        {"matchExpressions": [{"key": "baz", "operator": "In", "values": ["qux", "norf"]}]},
        "baz in (norf,qux)",
    ),
    (
        {
            "matchLabels": {"foo": "bar"},
            "matchExpressions": [{"key": "baz", "operator": "In", "values": ["qux", "norf"]}],
        },
        "baz in (norf,qux),foo=bar",
    ),
]
LABEL_SETS = [{}, {"foo": "bar"}, {"baz": "qux"}, {"baz": "norf", "foo": "bar"}, {"foo": "baz"}]


@pytest.mark.parametrize(("selector", "expr"), AS_SELECTOR)
@pytest.mark.parametrize("labels", LABEL_SETS)
def test_label_selector_object_as_selector(
    selector: dict[str, object], expr: str, labels: dict[str, str]
) -> None:
    assert match_selector_object(selector, labels) is label_selector(expr)(labels)


def test_nil_label_selector_object_selects_nothing() -> None:
    assert not any(match_selector_object(None, labels) for labels in LABEL_SETS)


# fields TestSplitTerms.
SPLIT_TERMS = {
    "a": ["a"],
    "a=avalue": ["a=avalue"],
    "a=avalue,b=bvalue": ["a=avalue", "b=bvalue"],
    "a=avalue,b==bvalue,c!=cvalue": ["a=avalue", "b==bvalue", "c!=cvalue"],
    "a=a,": ["a=a", ""],
    ",a=a": ["", "a=a"],
    "k=\\,,k2=v2": ["k=\\,", "k2=v2"],
    "k=\\\\,k2=v2": ["k=\\\\", "k2=v2"],
    "k=\\\\\\,,k2=v2": ["k=\\\\\\,", "k2=v2"],
    "k=\\a\\b\\": ["k=\\a\\b\\"],
    "k=\\": ["k=\\"],
    "함=수,목=록": ["함=수", "목=록"],
}


@pytest.mark.parametrize(("selector", "terms"), SPLIT_TERMS.items())
def test_field_selector_split_terms(selector: str, terms: list[str]) -> None:
    assert split_terms(selector) == terms


# TestSelectorParse (fields): testGoodStrings, each checked by what it selects; an escaped
# "=" is part of the value, so "x=a||y\\=b" requires x to be "a||y=b".
FIELDS_PARSED_ON = (
    {"x": "a", "y": "b", "z": "c"},
    {"x": "b", "y": "b"},
    {"x": "a||y=b"},
    {"x": "a==b"},
)
FIELD_GOOD = {
    "x=a,y=b,z=c": (True, False, False, False),
    "": (True, True, True, True),
    "x!=a,y=b": (False, True, False, False),
    "x=a||y\\=b": (False, False, True, False),
    "x=a\\=\\=b": (False, False, False, True),
}


@pytest.mark.parametrize(("selector", "selects"), FIELD_GOOD.items())
def test_field_selector_parses(selector: str, selects: tuple[bool, ...]) -> None:
    matches = field_selector(selector)
    assert tuple(matches(fields) for fields in FIELDS_PARSED_ON) == selects


@pytest.mark.parametrize(
    "selector", ["x=a||y=b", "x==a==b", "x=a,b", "x in (a)", "x in (a,b,c)", "x"]
)
def test_field_selector_refuses(selector: str) -> None:
    with pytest.raises(ApiError) as err:
        field_selector(selector)
    assert err.value.code == 400


FIELDSET = {"foo": "bar", "baz": "blah", "complex": "=value\\,\\"}
FIELD_MATCHES = [
    ("", {"x": "y"}, True),
    ("x=y", {"x": "y"}, True),
    ("x=y,z=w", {"x": "y", "z": "w"}, True),
    ("x!=y,z!=w", {"x": "z", "z": "a"}, True),
    ("notin=in", {"notin": "in"}, True),
    ("x=y", {"x": "z"}, False),
    ("x=y,z=w", {"x": "w", "z": "w"}, False),
    ("x!=y,z!=w", {"x": "z", "z": "w"}, False),
    ("foo=bar", FIELDSET, True),
    ("baz=blah", FIELDSET, True),
    ("foo=bar,baz=blah", FIELDSET, True),
    ("foo=bar,baz=blah,complex=\\=value\\\\\\,\\\\", FIELDSET, True),
    ("foo=blah", FIELDSET, False),
    ("baz=bar", FIELDSET, False),
    ("foo=bar,foobar=bar,baz=blah", FIELDSET, False),
]


@pytest.mark.parametrize(("selector", "fields", "matches"), FIELD_MATCHES)
def test_field_selector_matches(selector: str, fields: dict[str, str], matches: bool) -> None:
    assert field_selector(selector)(fields) is matches


def test_field_selector_reads_nested_paths() -> None:
    """The API server's field labels (metadata.name, status.phase) name nested fields."""
    pod = {"metadata": {"name": "web-0", "namespace": "default"}, "status": {"phase": "Running"}}
    assert field_selector("metadata.name=web-0,status.phase!=Pending")(pod)
    assert not field_selector("metadata.name=web-1")(pod)

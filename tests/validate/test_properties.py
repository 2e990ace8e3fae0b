"""Any valid spec renders objects that pass validation; rendering is deterministic."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vllm_deploy.render import dump, render
from vllm_deploy.spec import spec_from_mapping
from vllm_deploy.validate import validate_objects
from vllm_deploy.validate.schemas import SUPPORTED_VERSIONS

names = st.from_regex(r"[a-z][a-z0-9]{0,10}", fullmatch=True)


@st.composite
def specs(draw: st.DrawFn) -> dict[str, Any]:
    name = draw(names)
    engine = draw(st.sampled_from(["hpa", "keda"]))
    min_replicas = draw(st.integers(1, 4))
    flags = st.sampled_from(
        [("--dtype", "half"), ("--enforce-eager",), ("--api-server-count", "1")]
    )
    data: dict[str, Any] = {
        "name": name, "namespace": draw(names), "profile": draw(st.sampled_from(["dev", "prod"])),
        "model": draw(st.one_of(st.just({"name": name, "huggingface": "org/model"}),
                                st.just({"name": name, "path": f"/models/{name}"}))),
        "replicas": draw(st.integers(1, 6)),
        "gpu": {"count": draw(st.integers(0, 8))},
        "autoscaling": {"enabled": draw(st.booleans()), "engine": engine,
                        "min_replicas": min_replicas,
                        "max_replicas": min_replicas + draw(st.integers(1, 10)),
                        "gpu_utilisation_target": draw(st.one_of(st.none(), st.integers(10, 95)))},
        "drain": {"timeout_s": draw(st.integers(1, 3600)), "quiet_s": draw(st.floats(0, 60)),
                  "margin_s": draw(st.integers(5, 120))},
        "engine": {"shutdown_timeout_s": draw(st.integers(0, 600)),
                   "extra_args": [a for group in draw(st.lists(flags, max_size=3)) for a in group]},
        "probes": {"expected_load_s": draw(st.integers(10, 7200))},
        "ingress": draw(st.one_of(st.just({"enabled": False}),
                                  st.just({"enabled": True, "host": "llm.example.org",
                                           "tls_secret": "tls"}))),
        "observability": {"prometheus_operator": draw(st.booleans()), "rules": draw(st.booleans()),
                          "dashboards": draw(st.booleans())},
        "create_namespace": draw(st.booleans()),
        "cache": draw(st.one_of(st.just({"kind": "ephemeral"}), st.just({"kind": "node"}),
                                st.just({"kind": "shared", "access_mode": "ReadWriteMany"}))),
    }  # fmt: skip
    return data


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs())
def test_any_valid_spec_renders_valid_manifests(data: dict[str, Any]) -> None:
    spec = spec_from_mapping(data)
    first, second = render(spec), render(spec)
    assert {k: dump(v) for k, v in first.items()} == {k: dump(v) for k, v in second.items()}
    objs = [o for group in first.values() for o in group]
    # Schemas for the oldest and newest supported version keep this fast; the examples test all.
    problems = validate_objects(objs, versions=(SUPPORTED_VERSIONS[0], SUPPORTED_VERSIONS[-1]))
    assert problems == [], [str(p) for p in problems]

from __future__ import annotations

from pathlib import Path

import pytest

from vllm_deploy.spec import SpecError, load_spec, spec_from_mapping

BASE = {"name": "m", "model": {"name": "m", "huggingface": "org/model"}}


@pytest.mark.parametrize(
    ("change", "field"),
    [({"replicaz": 2}, "replicaz: unknown field"),
     ({"model": {"name": "m", "huggingface": "org/model", "color": "red"}},
      "model.color: unknown field"),
     ({"model": {"name": "m"}}, "set exactly one of model.huggingface or model.path"),
     ({"replicas": 0}, "replicas: has value 0"),
     ({"autoscaling": {"engine": "keda", "min_replicas": 0}},
      "autoscaling.min_replicas: has value 0"),
     ({"engine": {"extra_args": ["--port", "9000"]}}, "--port cannot be passed here"),
     ({"engine": {"extra_args": ["--api-key=sk-1"]}}, "--api-key cannot be passed here"),
     ({"engine": {"extra_args": ["--max_num_seqs", "8"]}}, "--max-num-seqs cannot be passed here"),
     ({"engine": {"extra_args": ["--max-num-se", "8"]}}, "--max-num-seqs cannot be passed here"),
     ({"engine": {"extra_args": ["--api_server_count", "2"]}},
      "--api-server-count 2: vllm-deploy runs one"),
     ({"engine": {"extra_args": ["-dp", "2"]}}, "data parallelism starts 2 API servers"),
     ({"engine": {"extra_args": ["--disable-log-stats"]}}, "--disable-log-stats removes every"),
     ({"engine": {"extra_args": ["--dtype"]}}, "argument --dtype: expected one argument"),
     ({"engine": {"extra_args": ["--enforce-eagre"]}}, "unrecognized arguments: --enforce-eagre"),
     ({"ingress": {"enabled": True, "host": "h.example", "body_size": "32Mi"}},
      "ingress.body_size"),
     ({"cache": {"kind": "shared", "access_mode": "ReadWriteOnce"}},
      "cache.access_mode ReadWriteOnce with cache.kind shared"),
     ({"cache": {"kind": "shared", "access_mode": "ReadOnlyMany"}},
      "cache.access_mode: has value 'ReadOnlyMany'"),
     ({"cache": {"kind": "node", "access_mode": "ReadWriteMany"}},
      "cache.access_mode applies to a volume claim"),
     ({"cache": {"kind": "nfs"}}, "cache.kind: has value 'nfs'"),
     ({"cache": {"node_path": "relative/dir"}}, "cache.node_path: has value 'relative/dir'"),
     ({"cache": {"download_timeout_s": 5}}, "cache.download_timeout_s: has value 5"),
     ({"autoscaling": {"min_replicas": 5, "max_replicas": 2}}, "min_replicas must be <="),
     ({"drain": {"longest_request_s": 30}}, "drain.longest_request_s is now drain.timeout_s"),
     ({"ingress": {"enabled": True}}, "ingress.host is required"),
     ({"resources": {"memory": "lots"}}, "resources.memory: has value 'lots'"),
     ({"profile": "staging"}, "profile: has value 'staging'"),
     ({"name": "Bad_Name"}, "name: has value 'Bad_Name'")],
)  # fmt: skip
def test_wrong_fields_are_named(change: dict[str, object], field: str) -> None:
    with pytest.raises(SpecError, match=field.replace(".", r"\.").replace("(", r"\(")):
        spec_from_mapping({**BASE, **change})


def test_extra_args_that_run_one_api_server_are_kept_as_written() -> None:
    args = ["-dp", "2", "--api-server-count", "1", "--config", "/etc/vllm/extra.yaml"]
    assert spec_from_mapping({**BASE, "engine": {"extra_args": args}}).engine.extra_args == args


def test_profiles_give_defaults_and_the_spec_wins() -> None:
    dev = spec_from_mapping({**BASE, "profile": "dev"})
    assert (
        dev.replicas == 1 and not dev.autoscaling.enabled and dev.observability.log_level == "DEBUG"
    )
    prod = spec_from_mapping({**BASE, "profile": "prod", "autoscaling": {"max_replicas": 20}})
    assert (
        prod.autoscaling.enabled
        and prod.autoscaling.min_replicas == 2
        and prod.autoscaling.max_replicas == 20
    )


def test_prod_is_the_models_defaults_and_dev_changes_only_what_differs() -> None:
    from vllm_deploy.spec.models import DeploymentSpec
    from vllm_deploy.spec.profiles import PROFILES

    assert spec_from_mapping({**BASE, "profile": "prod"}) == DeploymentSpec.model_validate(BASE)
    defaults = DeploymentSpec.model_validate(BASE).model_dump()

    def restated(profile: dict[str, object], base: dict[str, object]) -> list[str]:
        same = []
        for key, value in profile.items():
            if isinstance(value, dict):
                same += [f"{key}.{k}" for k in restated(value, base[key])]  # type: ignore[arg-type]
            elif base[key] == value:
                same.append(key)
        return same

    assert {name: restated(p, defaults) for name, p in PROFILES.items()} == {"dev": [], "prod": []}


def test_grace_period_follows_the_rule() -> None:
    spec = spec_from_mapping(
        {**BASE, "drain": {"timeout_s": 200, "margin_s": 15}, "engine": {"shutdown_timeout_s": 40}}
    )
    assert spec.grace_period_s == 200 + 40 + 15


def test_load_spec_reports_yaml_errors(tmp_path: Path) -> None:
    bad = tmp_path / "spec.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(SpecError, match=r"spec\.yaml"):
        load_spec(bad)


def test_the_cache_kind_defaults_by_profile() -> None:
    prod, dev = spec_from_mapping(BASE), spec_from_mapping({**BASE, "profile": "dev"})
    assert (prod.cache.kind, prod.cache.volume_access_mode) == ("shared", "ReadWriteMany")
    assert (dev.cache.kind, dev.cache.volume_access_mode) == ("ephemeral", "ReadWriteOnce")


def test_each_revision_has_its_own_directory() -> None:
    spec = spec_from_mapping(
        {**BASE, "model": {"name": "m", "huggingface": "org/model", "revision": "refs/pr/1"}}
    )
    assert spec.model.local_path == "/models/m/refs--pr--1"
    own = spec_from_mapping({**BASE, "model": {"name": "m", "path": "/models/mine"}})
    assert own.model.local_path == "/models/mine"

"""docs/deploy.md documents every spec field and every policy."""

from __future__ import annotations

import typing
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel

from vllm_deploy.spec.models import DeploymentSpec, SecretRef
from vllm_deploy.validate import POLICIES

DOC = (Path(__file__).parents[2] / "docs" / "deploy.md").read_text()


def _fields(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    for name, field in model.model_fields.items():
        nested = [
            c
            for c in typing.get_args(field.annotation) or (field.annotation,)
            if isinstance(c, type) and issubclass(c, BaseModel) and c is not SecretRef
        ]
        if nested:
            yield from _fields(nested[0], f"{prefix}{name}.")
        else:
            yield prefix + name


def test_every_spec_field_is_documented() -> None:
    missing = [f for f in _fields(DeploymentSpec) if f"| `{f}` |" not in DOC]
    assert not missing


def test_every_policy_is_documented() -> None:
    assert all(f"| `{name}` |" in DOC for name in POLICIES)

"""Strict validation of rendered manifests: schemas, then named policy checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from vllm_deploy.validate.policies import POLICIES, check_policies
from vllm_deploy.validate.problems import Problem
from vllm_deploy.validate.schemas import SUPPORTED_VERSIONS, validate_schema

__all__ = [
    "POLICIES",
    "SUPPORTED_VERSIONS",
    "Problem",
    "load_dir",
    "validate_dir",
    "validate_objects",
]


def load_dir(path: Path) -> list[dict[str, Any]]:
    """Every object of every YAML file in ``path`` (the kustomization itself excluded)."""
    objs = []
    for file in sorted(path.glob("*.yaml")):
        if file.name == "kustomization.yaml":
            continue
        objs += [o for o in yaml.safe_load_all(file.read_text()) if o]
    return objs


def validate_objects(
    objs: list[dict[str, Any]], versions: tuple[str, ...] = SUPPORTED_VERSIONS
) -> list[Problem]:
    problems = [p for obj in objs for p in validate_schema(obj, versions)]
    return problems + check_policies(objs)


def validate_dir(path: Path) -> list[Problem]:
    return validate_objects(load_dir(path))

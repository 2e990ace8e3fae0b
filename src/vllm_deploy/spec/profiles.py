"""Profiles: defaults per environment, under the user's spec (no copy-paste between files).

A spec names ``profile: dev`` or ``profile: prod``; the profile's values apply wherever the
spec is silent, field by field (nested mappings merge, the spec's values win).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from vllm_deploy.spec.models import DeploymentSpec

__all__ = ["PROFILES", "SpecError", "load_spec", "spec_from_mapping"]

PROFILES: dict[str, dict[str, Any]] = {
    "dev": {
        "replicas": 1,
        "autoscaling": {"enabled": False, "min_replicas": 1, "max_replicas": 1},
        "rollout": {"max_surge": 0, "max_unavailable": 1, "min_ready_seconds": 0},
        "resources": {"cpu": "2", "memory": "16Gi", "shm": "2Gi"},
        "cache": {"kind": "ephemeral", "size": "50Gi"},
        "observability": {"log_level": "DEBUG"},
    },
    # The models' defaults are the production settings (two replicas minimum, HPA up to 8,
    # surge rollout with no unavailable pod): prod restates none of them.
    "prod": {},
}


class SpecError(ValueError):
    """The spec is wrong: each line names the field, the bad value and what is expected."""


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def spec_from_mapping(data: Any) -> DeploymentSpec:
    if not isinstance(data, dict):
        raise SpecError("the spec must be a YAML mapping")
    profile = data.get("profile", "prod")
    if profile not in PROFILES:
        raise SpecError(f"profile: has value {profile!r}; expected one of {sorted(PROFILES)}")
    try:
        return DeploymentSpec.model_validate(_merge(PROFILES[profile], data))
    except ValidationError as exc:
        lines = []
        for err in exc.errors(include_url=False):
            field = ".".join(str(p) for p in err["loc"]) or "(spec)"
            shown = (
                ""
                if err["type"] in ("missing", "extra_forbidden")
                else f" has value {err.get('input')!r}"
            )
            msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
            lines.append(f"{field}:{shown}: {msg}" if shown else f"{field}: {msg}")
        raise SpecError("\n".join(lines)) from None


def load_spec(path: Path) -> DeploymentSpec:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise SpecError(f"{path}: {exc}") from None
    return spec_from_mapping(data)

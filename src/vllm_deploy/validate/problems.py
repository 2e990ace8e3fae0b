"""What validation reports: which check, which object, which field, what is wrong."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Problem", "obj_id"]


def obj_id(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind', '?')}/{meta.get('name', '?')}"


@dataclass(frozen=True, order=True)
class Problem:
    """Usage: ``str(problem)`` -> ``"[grace-period] Deployment/vllm-x spec...: message"``."""

    check: str
    obj: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"[{self.check}] {self.obj} {self.field}: {self.message}"

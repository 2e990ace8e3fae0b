"""``GET /v1/models`` and ``GET /version``, in vLLM 0.33.0's shapes.

/v1/models: vLLM's ``ModelList`` of one ``ModelCard`` with one ``ModelPermission``
(openai/models/serving.py). /version: vLLM answers ``{"version": "<vLLM version>"}``
(serve/instrumentator/basic.py); these engines answer the vLLM version whose API they
serve, and say which engine and vllm-deploy release they are.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from vllm_deploy import __version__
from vllm_deploy.contract import VLLM_VERSION

__all__ = ["model_list", "version"]


def _permission() -> dict[str, Any]:
    return {
        "id": f"modelperm-{uuid.uuid4().hex}",
        "object": "model_permission",
        "created": int(time.time()),
        "allow_create_engine": False,
        "allow_sampling": True,
        "allow_logprobs": True,
        "allow_search_indices": False,
        "allow_view": True,
        "allow_fine_tuning": False,
        "organization": "*",
        "group": None,
        "is_blocking": False,
    }


def model_list(served_name: str, root: str, max_model_len: int) -> dict[str, Any]:
    card = {
        "id": served_name,
        "object": "model",
        "created": int(time.time()),
        "owned_by": "vllm",
        "root": root,
        "parent": None,
        "max_model_len": max_model_len,
        "permission": [_permission()],
    }
    return {"object": "list", "data": [card]}


def version(engine: str) -> dict[str, str]:
    return {"version": VLLM_VERSION, "engine": engine, "vllm_deploy_version": __version__}

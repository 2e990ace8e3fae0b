"""What the OpenAI routes share: the served model, body parsing as vLLM's, and refusals.

Bodies are read and refused as vLLM 0.33.0's FastAPI routes refuse them
(serve/utils/api_utils.py ``validate_json_request``; FastAPI's body validation and vLLM's
handlers/validation.py), except that a body over ``--max-request-body-bytes`` gets 413.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from vllm_deploy.engines.base import Engine
from vllm_deploy.engines.errors import OpenAIError, from_validation_error, from_validation_errors
from vllm_deploy.engines.generation import Generator
from vllm_deploy.engines.http_io import read_bounded
from vllm_deploy.engines.model_checks import verify_for_model
from vllm_deploy.engines.params import Limits
from vllm_deploy.engines.prompts import check_prompt_ids
from vllm_deploy.engines.protocol.base import log_ignored_fields, random_id
from vllm_deploy.engines.protocol.sampling import SamplingRequest
from vllm_deploy.engines.runs import Run

__all__ = [
    "EngineStart",
    "Served",
    "parse_model",
    "priority",
    "read_body",
    "refuse_not_implemented",
    "request_id",
]

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Served:
    """The engine as the routes see it. ``ready`` is False while it loads."""

    engine: Engine
    generator: Generator
    limits: Limits
    model_name: str
    engine_name: str
    body_limit: int
    ready: Callable[[], bool]

    @property
    def fingerprint(self) -> str:
        """``system_fingerprint`` (vLLM: ``vllm-<version>-<config hash>``)."""
        return f"vllm-deploy-{self.engine_name}"

    def check_model(self, model: str | None) -> None:
        """503 while loading; 404 for a model that is not the served one (empty means it)."""
        if not self.ready():
            raise OpenAIError(503, "The engine is still loading the model; retry shortly.")
        if model and model != self.model_name:
            raise OpenAIError(
                404,
                f"The model `{model}` does not exist. Valid aliases: {self.model_name}.",
                param="model",
            )


@dataclass(frozen=True)
class EngineStart:
    """What vLLM's engine does as it takes a request: its checks, then prompt logprobs.

    Awaited before a non-streamed answer (a failed check is a 400), and at the start of a
    stream (a failed check is an error event after the 200), where vLLM runs them.
    """

    served: Served
    req: SamplingRequest
    run: Run
    logprobs: int | None
    prompt_logprobs: int | None

    async def __call__(self) -> None:
        served, req = self.served, self.req
        firsts = {seq.prompt_index: seq for seq in self.run.sequences}
        for seq in firsts.values():
            verify_for_model(req, self.logprobs, served.limits)
            check_prompt_ids(
                seq.prompt.ids, served.limits.vocab_size, req.routed_experts_prompt_start
            )
        if self.prompt_logprobs is None:
            return
        for first in firsts.values():
            scored = await served.engine.prompt_logprobs(first.prompt.ids, self.prompt_logprobs)
            for seq in self.run.sequences:
                if seq.prompt_index == first.prompt_index:
                    seq.prompt_logprobs = scored


def request_id(request: Request, requested: str | None) -> str:
    """vLLM's ``_base_request_id``: the X-Request-Id header, else the body's, else random."""
    return request.headers.get("x-request-id") or requested or random_id()


def priority(request: Request, value: int) -> int:
    """vLLM's ``_get_priority``: the X-Vllm-Priority header wins when it is an integer."""
    header = request.headers.get("x-vllm-priority")
    try:
        return int(header) if header is not None else value
    except ValueError:
        return value


async def read_body(request: Request, limit: int) -> Any:
    """The JSON body; 400 as vLLM answers a wrong content type or malformed JSON."""
    media_type = request.headers.get("content-type", "").lower().split(";", 1)[0].strip()
    if media_type != "application/json":
        raise from_validation_errors(["Unsupported Media Type: Only 'application/json' is allowed"])
    body = await read_bounded(request, limit)
    if not body:
        raise from_validation_errors(
            [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
        )
    try:
        return json.loads(body)
    except ValueError as exc:
        pos, msg = getattr(exc, "pos", 0), getattr(exc, "msg", str(exc))
        raise from_validation_errors(
            [
                {
                    "type": "json_invalid",
                    "loc": ("body", pos),
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": msg},
                }
            ]
        ) from None


def parse_model(model: type[M], data: Any) -> M:
    """``data`` validated as ``model``, refused as FastAPI and vLLM refuse it."""
    if not isinstance(data, dict):
        raise from_validation_errors(
            [
                {
                    "type": "model_attributes_type",
                    "loc": ("body",),
                    "msg": "Input should be a valid dictionary or object to extract fields from",
                    "input": data,
                }
            ]
        )
    try:
        parsed = model.model_validate(data)
    except ValidationError as exc:
        raise from_validation_error(exc) from None
    log_ignored_fields(data, model)
    return parsed


# Fields vLLM serves that these engines do not implement: refused, naming the field.
_NOT_IMPLEMENTED: dict[str, Callable[[SamplingRequest], bool]] = {
    "use_beam_search": lambda r: r.use_beam_search,
    "response_format": lambda r: r.response_format is not None and r.response_format.type != "text",
    "structured_outputs": lambda r: r.structured_outputs is not None,
}


def refuse_not_implemented(req: SamplingRequest, engine_name: str) -> None:
    for name, used in _NOT_IMPLEMENTED.items():
        if used(req):
            raise OpenAIError(
                400,
                f"{name}: not implemented by the {engine_name} engine of vllm-deploy (vLLM "
                "0.33.0 serves it); send the request without it, or use a vLLM server.",
                param=name,
            )

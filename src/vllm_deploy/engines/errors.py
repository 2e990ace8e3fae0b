"""Errors in vLLM 0.33.0's shapes: its types, statuses, messages and ``param`` values.

Two kinds reach clients, as in vLLM (vllm/entrypoints/serve/exception_handling/):
- a request vLLM's code refuses (``VLLMValidationError``): 400, type ``BadRequestError``,
  the message with `` (parameter=..., value=...)`` appended, ``param`` the field;
- a body that fails schema validation (FastAPI's ``RequestValidationError``): 400, type
  ``Bad Request``, ``N validation error(s):`` and one line per error, ``param`` the dotted
  location (``body.max_tokens``), written by ``from_validation_errors`` as
  handlers/validation.py writes it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from pydantic import ValidationError
from starlette.responses import JSONResponse

from vllm_deploy.contract import error_body

__all__ = [
    "OpenAIError",
    "VllmValidationError",
    "bad_request",
    "from_validation_error",
    "from_validation_errors",
    "from_vllm_error",
]


class VllmValidationError(Exception):
    """vLLM's ``VLLMValidationError`` (vllm/exceptions.py): a request its code refuses.

    Usage: ``raise VllmValidationError("top_p must be in (0, 1], got 0.0.", parameter="top_p")``.
    Raised inside a pydantic ``mode="before"`` validator it is not a ``ValueError``, so it
    leaves ``model_validate`` unchanged, as vLLM's does.
    """

    def __init__(self, message: str, *, parameter: str | None = None, value: Any = None) -> None:
        super().__init__(message)
        self.parameter = parameter
        self.value = value

    def __str__(self) -> str:
        extras = []
        if self.parameter is not None:
            extras.append(f"parameter={self.parameter}")
        if self.value is not None:
            extras.append(f"value={self.value}")
        base = super().__str__()
        return f"{base} ({', '.join(extras)})" if extras else base


class OpenAIError(Exception):
    """An error the API returns as ``{"error": {"message", "type", "param", "code"}}``.

    Usage: ``raise OpenAIError(404, "The model `x` does not exist.", param="model")``.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        err_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.err_type = err_type or _default_type(status)
        self.headers = headers

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.err_type, self.status, self.param)

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def _default_type(status: int) -> str:
    # The `type` names vLLM's create_error_response gives (error_response.py).
    return {
        400: "BadRequestError",
        404: "NotFoundError",
        413: "RequestTooLargeError",
        422: "UnprocessableEntityError",
        429: "RateLimitError",
        503: "ServiceUnavailableError",
    }.get(status, "InternalServerError" if status >= 500 else HTTPStatus(status).phrase)


def bad_request(message: str, param: str | None = None) -> OpenAIError:
    """vLLM's ``create_error_response(message, param=...)``: 400, the message as it is."""
    return OpenAIError(400, message, param=param, err_type="BadRequestError")


def from_vllm_error(exc: VllmValidationError) -> OpenAIError:
    """As vLLM's ``create_error_response`` answers a ``VLLMValidationError``."""
    return OpenAIError(400, str(exc), param=exc.parameter, err_type="BadRequestError")


# handlers/validation.py: pydantic-core's schema-kind names that are not field names.
_INTERNAL_LOC = frozenset(
    {
        "function-wrap",
        "function-after",
        "function-before",
        "function-plain",
        "json-or-python",
        "lax-or-strict",
        "chain",
        "default",
        "nullable",
        "tagged-union",
        "union",
        "call",
        "arguments",
        "is-instance",
        "is-subclass",
        "callable",
        "str",
        "int",
        "float",
        "bool",
        "bytes",
        "bytearray",
        "list",
        "tuple",
        "dict",
        "set",
        "frozenset",
        "complex",
        "none",
        "nonetype",
    }
)
_BRACKETED = re.compile(r"[\[\]{}()]")
_MAX_REPORTED, _MAX_INPUT_CHARS, _MAX_ERROR_CHARS = 10, 200, 1000


def _clean_loc(loc: Sequence[Any]) -> str:
    parts = [
        str(p) for p in loc if not (_BRACKETED.search(str(p)) or str(p).lower() in _INTERNAL_LOC)
    ]
    return ".".join(parts) if parts else ".".join(str(p) for p in loc)


def _summarize(value: Any) -> Any:
    if isinstance(value, str):
        return (
            value[:_MAX_INPUT_CHARS] + "...[truncated]" if len(value) > _MAX_INPUT_CHARS else value
        )
    if isinstance(value, bytes | bytearray):
        return f"<{type(value).__name__} of {len(value)} bytes>"
    if isinstance(value, list | tuple | set | frozenset | dict):
        return f"<{type(value).__name__} of {len(value)} items>"
    text = str(value)
    return text[:_MAX_INPUT_CHARS] + "...[truncated]" if len(text) > _MAX_INPUT_CHARS else text


def _format(err: Any) -> str:
    if isinstance(err, dict):
        err = dict(err)
        if "input" in err:
            err["input"] = _summarize(err["input"])
        if isinstance(err.get("loc"), tuple | list):
            err["loc"] = _clean_loc(tuple(err["loc"]))
    text = str(err)
    return text[:_MAX_ERROR_CHARS] + "...[truncated]" if len(text) > _MAX_ERROR_CHARS else text


def from_validation_errors(errors: Sequence[Any]) -> OpenAIError:
    """vLLM's answer to a body FastAPI could not validate (handlers/validation.py)."""
    param = None
    first = errors[0] if errors else None
    if isinstance(first, dict) and first.get("loc"):
        param = _clean_loc(first["loc"])
    if errors:
        label = "error" if len(errors) == 1 else "errors"
        message = f"{len(errors)} validation {label}:\n"
        message += "".join(f"  {_format(err)}\n" for err in errors[:_MAX_REPORTED])
        if len(errors) > _MAX_REPORTED:
            message += f"  ...and {len(errors) - _MAX_REPORTED} more {label}\n"
        message = message.rstrip()
    else:
        message = "Validation error"
    return OpenAIError(400, message, param=param, err_type=HTTPStatus.BAD_REQUEST.phrase)


def from_validation_error(exc: ValidationError, prefix: tuple[str, ...] = ("body",)) -> OpenAIError:
    """A pydantic error on a request body, located as FastAPI locates it (``body.<field>``)."""
    errors = [
        {
            "type": e["type"],
            "loc": (*prefix, *e["loc"]),
            "msg": e["msg"],
            "input": e["input"],
            **({"ctx": e["ctx"]} if "ctx" in e else {}),
        }
        for e in exc.errors(include_url=False)
    ]
    return from_validation_errors(errors)

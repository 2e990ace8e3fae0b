"""OpenAI-shaped errors, with the status codes vLLM's server uses."""

from __future__ import annotations

from http import HTTPStatus

from pydantic import ValidationError
from starlette.responses import JSONResponse

from vllm_deploy.contract import error_body

__all__ = ["OpenAIError", "from_validation_error"]


class OpenAIError(Exception):
    """An error the API returns as ``{"error": {"message", "type", "param", "code"}}``.

    Usage: ``raise OpenAIError(400, "max_tokens: must be >= 1", param="max_tokens")``.
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

    def response(self) -> JSONResponse:
        return JSONResponse(
            error_body(self.message, self.err_type, self.status, self.param),
            status_code=self.status,
            headers=self.headers,
        )


def _default_type(status: int) -> str:
    # The `type` strings vLLM's ErrorResponse uses are the HTTP reason phrases' class names.
    return {
        400: "BadRequestError",
        401: "AuthenticationError",
        403: "PermissionDeniedError",
        404: "NotFoundError",
        413: "RequestTooLargeError",
        429: "RateLimitError",
        503: "ServiceUnavailableError",
    }.get(status, "InternalServerError" if status >= 500 else HTTPStatus(status).phrase)


_TYPE_TAGS = frozenset({"str", "int", "float", "bool", "list", "dict", "none"})


def _is_union_tag(part: int | str) -> bool:
    """Pydantic names the member of a union it tried (``constrained-str``, ``list[int]``)."""
    return isinstance(part, str) and (part in _TYPE_TAGS or not part.isidentifier())


def from_validation_error(exc: ValidationError) -> OpenAIError:
    """The first validation problem as a 400 naming the field (dotted path) it concerns."""
    err = exc.errors(include_url=False)[0]
    loc = ".".join(str(part) for part in err["loc"] if not _is_union_tag(part))
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unrecognized request argument"
    elif err["type"] == "missing":
        msg = "field required"
    text = f"{loc}: {msg}" if loc else msg
    return OpenAIError(400, text, param=loc or None)

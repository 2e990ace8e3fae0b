"""Kubernetes-shaped ``Status`` errors, as k8s.io/apimachinery pkg/api/errors/errors.go builds
them."""

from __future__ import annotations

from typing import Any

from vllm_deploy.local.resources import ResourceType

__all__ = ["ApiError", "FieldError"]


class FieldError:
    """One cause of a 422: ``FieldValueRequired`` / ``FieldValueInvalid`` / ... on a field path."""

    def __init__(self, field: str, message: str, kind: str = "FieldValueInvalid") -> None:
        self.field, self.message, self.kind = field, message, kind

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class ApiError(Exception):
    """An error the API server answers as a ``Status`` object with its HTTP code."""

    def __init__(
        self, code: int, reason: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body

    # The constructors of errors.go, by the same names.
    @classmethod
    def not_found(cls, rt: ResourceType, name: str) -> ApiError:
        return cls(
            404,
            "NotFound",
            f'{rt.qualified} "{name}" not found',
            {"name": name, "group": rt.group, "kind": rt.plural},
        )

    @classmethod
    def already_exists(cls, rt: ResourceType, name: str) -> ApiError:
        return cls(
            409,
            "AlreadyExists",
            f'{rt.qualified} "{name}" already exists',
            {"name": name, "group": rt.group, "kind": rt.plural},
        )

    @classmethod
    def conflict(cls, rt: ResourceType, name: str, why: str) -> ApiError:
        return cls(
            409,
            "Conflict",
            f'Operation cannot be fulfilled on {rt.qualified} "{name}": {why}',
            {"name": name, "group": rt.group, "kind": rt.plural},
        )

    @classmethod
    def stale(cls, rt: ResourceType, name: str) -> ApiError:
        return cls.conflict(
            rt,
            name,
            "the object has been modified; please apply your changes "
            "to the latest version and try again",
        )

    @classmethod
    def invalid(cls, rt: ResourceType, name: str, causes: list[FieldError]) -> ApiError:
        group = f".{rt.group}" if rt.group else ""
        text = ", ".join(str(c) for c in causes)
        return cls(
            422,
            "Invalid",
            f'{rt.kind}{group} "{name}" is invalid: {text}',
            {
                "name": name,
                "group": rt.group,
                "kind": rt.kind,
                "causes": [
                    {"reason": c.kind, "message": c.message, "field": c.field} for c in causes
                ],
            },
        )

    @classmethod
    def bad_request(cls, message: str) -> ApiError:
        return cls(400, "BadRequest", message)

    @classmethod
    def expired(cls, message: str) -> ApiError:
        return cls(410, "Expired", message)

    @classmethod
    def method_not_allowed(cls, message: str) -> ApiError:
        return cls(405, "MethodNotAllowed", message)

    @classmethod
    def unsupported_media_type(cls, content_type: str) -> ApiError:
        return cls(
            415,
            "UnsupportedMediaType",
            f"the body of the request was in an unknown format - accepted media types "
            f"include: application/json-patch+json, application/merge-patch+json, "
            f"application/apply-patch+yaml, application/strategic-merge-patch+json "
            f"(got {content_type!r})",
        )

    @classmethod
    def too_many_requests(cls, message: str, retry_after: int) -> ApiError:
        return cls(429, "TooManyRequests", message, {"retryAfterSeconds": retry_after})

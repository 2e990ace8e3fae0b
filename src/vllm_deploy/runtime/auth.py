"""API keys: stored as SHA-256 digests, compared in constant time, never logged."""

from __future__ import annotations

import hashlib
import hmac

from vllm_deploy.runtime.settings import MiddlewareSettings

__all__ = ["ApiKeys", "configured_keys", "token_matches"]


def configured_keys(settings: MiddlewareSettings) -> list[str]:
    """``VLLMDEPLOY_API_KEY`` (comma-separated) then ``VLLMDEPLOY_API_KEY_FILE`` (one a line)."""
    keys = [k.strip() for k in settings.api_key.split(",")]
    if settings.api_key_file is not None:
        lines = [line.strip() for line in settings.api_key_file.read_text().splitlines()]
        keys += [line for line in lines if not line.startswith("#")]
    return [k for k in keys if k]


class ApiKeys:
    """Usage: ``ApiKeys.from_settings(s).allows(headers.get(b"authorization"))``."""

    def __init__(self, keys: list[str]) -> None:
        self._digests = [hashlib.sha256(k.encode()).digest() for k in keys if k]

    @classmethod
    def from_settings(cls, settings: MiddlewareSettings) -> ApiKeys:
        return cls(configured_keys(settings))

    @property
    def enabled(self) -> bool:
        return bool(self._digests)

    def __len__(self) -> int:
        return len(self._digests)

    def allows(self, authorization: bytes | None) -> bool:
        """True for ``Bearer <a configured key>`` (or when no keys are configured)."""
        if not self._digests:
            return True
        scheme, _, token = (authorization or b"").partition(b" ")
        presented = hashlib.sha256(token.strip()).digest()
        # Compare against every key so the time taken does not reveal which one matched.
        matched = False
        for digest in self._digests:
            matched |= hmac.compare_digest(presented, digest)
        return matched and scheme.lower() == b"bearer"


def token_matches(presented: bytes | None, expected: str) -> bool:
    """Constant-time comparison of a shared secret (the admin token)."""
    return hmac.compare_digest(
        hashlib.sha256(presented or b"").digest(), hashlib.sha256(expected.encode()).digest()
    )

"""The two ways an ops command fails: the user asked for something that cannot be (exit 2),
or the cluster did not do what was asked (exit 1). Both carry one line for the user."""

from __future__ import annotations

__all__ = ["OpsError", "UsageError"]


class UsageError(Exception):
    """Bad input: an unknown context, a missing file, a spec field that does not validate."""

    exit_code = 2


class OpsError(Exception):
    """The operation failed: an unreachable API server, a failed preflight, a rollout that did
    not finish."""

    exit_code = 1

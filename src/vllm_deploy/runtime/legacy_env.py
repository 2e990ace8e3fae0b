"""Deprecated: the middleware settings' old names, still read until 0.3.0, with a warning.

Up to 0.1 the settings were ``VLLM_DEPLOY_<FIELD>``. That prefix sits in vLLM's own ``VLLM_``
namespace: vLLM 0.33.0 logs "Unknown vLLM environment variable detected" for each such
variable at every start, and refuses to start with ``--fail-on-environ-validation``
(vllm/platforms/interface.py ``validate_environ``). The settings are now
``VLLMDEPLOY_<FIELD>`` (``vllm_deploy.contract.ENV_PREFIX``); this module is the only place
that knows the old names.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping

__all__ = ["LEGACY_PREFIX", "LegacyNameError", "translate_legacy"]

LEGACY_PREFIX = "VLLM_DEPLOY_"
REMOVED_IN = "0.3.0"
logger = logging.getLogger("vllm_deploy.runtime")


class LegacyNameError(ValueError):
    """An old name that cannot be read: unknown, or set beside its new name differently."""


def translate_legacy(
    environ: Mapping[str, str], prefix: str, known: Collection[str]
) -> dict[str, str]:
    """``environ`` with each old ``VLLM_DEPLOY_X`` also under ``<prefix>X``; warns per name."""
    out = dict(environ)
    for old in sorted(name for name in environ if name.startswith(LEGACY_PREFIX)):
        new = prefix + old.removeprefix(LEGACY_PREFIX)
        if new not in known:
            raise LegacyNameError(f"{old} is not a setting (and the prefix is now {prefix})")
        if new in environ and environ[new] != environ[old]:
            raise LegacyNameError(
                f"{old} and {new} are both set, to different values: keep only {new}"
            )
        out[new] = environ[old]
        logger.warning(
            "%s is deprecated and stops working in vllm-deploy %s: rename it to %s "
            "(vLLM warns about, or with --fail-on-environ-validation refuses, unknown VLLM_ "
            "variables)",
            old,
            REMOVED_IN,
            new,
        )
    return out

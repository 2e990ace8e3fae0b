"""Builds the `vllm serve` command line from our serve settings and execs it.

Flags as vLLM 0.33.0 defines them (`vllm/entrypoints/common/cli_args.py`,
`vllm/engine/arg_utils.py`); a unit test parses our argv with a parser built from those
definitions, so a renamed or removed flag fails in CI, not in a pod.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Mapping, Sequence

from vllm_deploy.engines.config import ServeConfig
from vllm_deploy.runtime.logs import LOGGING_CONFIG_PATH
from vllm_deploy.runtime.settings import load_settings

__all__ = [
    "MIDDLEWARE_PATH",
    "VLLM_VERSION",
    "VllmNotInstalled",
    "build_vllm_argv",
    "exec_vllm",
    "vllm_env",
]

VLLM_VERSION = "0.33.0"
# The import path vLLM resolves with `importlib` and applies with `app.add_middleware(cls)`.
MIDDLEWARE_PATH = "vllm_deploy.runtime.ProductionMiddleware"


class VllmNotInstalled(RuntimeError):
    """`vllm` cannot be imported by this Python."""


def build_vllm_argv(config: ServeConfig, extra_args: Sequence[str] = ()) -> list[str]:
    """The argv for ``vllm serve``; ``extra_args`` pass through unchanged, last."""
    argv = ["vllm", "serve", config.model, "--host", config.host, "--port", str(config.port)]
    if config.served_model_name:
        argv += ["--served-model-name", config.served_model_name]
    if config.max_model_len:
        argv += ["--max-model-len", str(config.max_model_len)]
    if config.max_num_seqs:
        argv += ["--max-num-seqs", str(config.max_num_seqs)]
    argv += ["--shutdown-timeout", str(config.shutdown_timeout)]
    if config.middleware:
        # Our middleware writes the access log (JSON, with tokens and trace ids).
        argv += ["--middleware", MIDDLEWARE_PATH, "--disable-uvicorn-access-log"]
    _refuse_several_api_servers(extra_args)
    return [*argv, *extra_args]


def _refuse_several_api_servers(extra_args: Sequence[str]) -> None:
    """The middleware's drain, admission and watchdog state lives in one process."""
    args = list(extra_args)
    for i, arg in enumerate(args):
        name, _, value = arg.partition("=")
        if name in ("--api-server-count", "-asc"):
            value = value or (args[i + 1] if i + 1 < len(args) else "")
            if value != "1":
                raise ValueError(
                    f"{name} has value {value!r}: ProductionMiddleware keeps its drain, admission "
                    "and watchdog state per process, so vLLM must run one API server process (1)"
                )


def vllm_env(environ: Mapping[str, str]) -> dict[str, str]:
    """vLLM's environment: our JSON logging config unless the user set their own."""
    env = dict(environ)
    env.setdefault("VLLM_LOGGING_CONFIG_PATH", str(LOGGING_CONFIG_PATH))
    return env


def exec_vllm(config: ServeConfig, extra_args: Sequence[str] = ()) -> None:
    """Replaces this process with vLLM's server (so signals reach it directly)."""
    if importlib.util.find_spec("vllm") is None:
        raise VllmNotInstalled(
            f"--engine vllm needs vLLM, which is not importable by {sys.executable}; "
            f"install vllm=={VLLM_VERSION} (GPU image) or use --engine reference|simulated"
        )
    if config.middleware:
        load_settings()  # a bad VLLM_DEPLOY_* value fails here, in one line, not inside vLLM
    argv = build_vllm_argv(config, extra_args)
    executable = shutil.which("vllm") or os.path.join(os.path.dirname(sys.executable), "vllm")
    os.execve(executable, argv, vllm_env(os.environ))

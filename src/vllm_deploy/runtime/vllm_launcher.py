"""Builds the `vllm serve` command line from our serve settings, checks it, and execs it.

The whole command line, ``extra_args`` included, is parsed as vLLM 0.33.0 parses it (the
option table vendored from vLLM's own parser, see ``vllm_deploy.vllm_cli``), and refused
unless exactly one HTTP API server runs the middleware: every spelling of
``--api-server-count``, data parallelism's default of one API server per rank, options
inside a ``--config`` file, ``--headless``, ``--grpc``, the Rust front end, and
``--disable-log-stats`` (which takes away the metrics the autoscaler and watchdog read).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import sys
from collections.abc import Mapping, Sequence

from vllm_deploy.contract import MIDDLEWARE_PATH
from vllm_deploy.runtime.logs import LOGGING_CONFIG_PATH
from vllm_deploy.runtime.settings import load_settings
from vllm_deploy.serve_config import ServeConfig
from vllm_deploy.vllm_cli import VLLM_VERSION, check_serve_args, parse_serve_args

__all__ = ["VLLM_VERSION", "VllmNotInstalled", "build_vllm_argv", "exec_vllm", "vllm_env"]

logger = logging.getLogger("vllm_deploy.runtime")


class VllmNotInstalled(RuntimeError):
    """`vllm` cannot be imported by this Python."""


def build_vllm_argv(
    config: ServeConfig, extra_args: Sequence[str] = (), environ: Mapping[str, str] | None = None
) -> list[str]:
    """The argv for ``vllm serve``; ``extra_args`` pass through unchanged, last.

    Raises VllmArgsError (a ValueError) for arguments vLLM would refuse, and for those that
    would not run exactly one API server with the middleware (``environ``: vLLM's, for
    ``VLLM_USE_RUST_FRONTEND``).
    """
    argv = ["vllm", "serve", config.model, "--host", config.host, "--port", str(config.port)]
    if config.served_model_name:
        argv += ["--served-model-name", config.served_model_name]
    if config.max_model_len:
        argv += ["--max-model-len", str(config.max_model_len)]
    if config.max_num_seqs:
        argv += ["--max-num-seqs", str(config.max_num_seqs)]
    argv += ["--shutdown-timeout", str(config.shutdown_timeout)]
    if config.allowed_origins:
        argv += ["--allowed-origins", json.dumps(config.allowed_origins)]
    if config.scheduling_policy != "fcfs":
        argv += ["--scheduling-policy", config.scheduling_policy]
    if config.max_logprobs != 20:  # vLLM's default
        argv += ["--max-logprobs", str(config.max_logprobs)]
    if config.middleware:
        # Our middleware writes the access log (JSON, with tokens and trace ids).
        argv += ["--middleware", MIDDLEWARE_PATH, "--disable-uvicorn-access-log"]
    argv += extra_args
    if config.middleware:
        check_serve_args(argv[2:], os.environ if environ is None else environ)
    else:
        parse_serve_args(argv[2:])
    return argv


def vllm_env(environ: Mapping[str, str]) -> dict[str, str]:
    """vLLM's environment: our JSON logging config unless the user set their own."""
    env = dict(environ)
    env.setdefault("VLLM_LOGGING_CONFIG_PATH", str(LOGGING_CONFIG_PATH))
    return env


def exec_vllm(config: ServeConfig, extra_args: Sequence[str] = ()) -> None:
    """Replaces this process with vLLM's server (so signals reach it directly)."""
    # Our own checks first: each fails in one line, without vLLM's start-up cost.
    if config.middleware:
        load_settings()  # a bad VLLMDEPLOY_* value fails here, not inside vLLM
    argv = build_vllm_argv(config, extra_args)
    if importlib.util.find_spec("vllm") is None:
        raise VllmNotInstalled(
            f"--engine vllm needs vLLM, which is not importable by {sys.executable}; "
            f"install vllm=={VLLM_VERSION} (GPU image) or use --engine reference|simulated"
        )
    installed = importlib.metadata.version("vllm")
    if installed != VLLM_VERSION:
        logger.warning(
            "vLLM %s is installed; vllm-deploy checks arguments against vLLM %s's options",
            installed,
            VLLM_VERSION,
        )
    executable = shutil.which("vllm") or os.path.join(os.path.dirname(sys.executable), "vllm")
    os.execve(executable, argv, vllm_env(os.environ))

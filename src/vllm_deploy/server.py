"""`vllm-deploy serve`: runs the chosen engine, from the ``RUNNERS`` lookup table.

Each runner imports what it needs when called: `--engine vllm` runs in vLLM's image, where
vllm-deploy is installed without the GPU-free engines' server (see pyproject's extras).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from vllm_deploy.serve_config import ServeConfig

__all__ = ["RUNNERS", "run"]


def _gpu_free_engine(config: ServeConfig, extra_args: Sequence[str]) -> None:
    from vllm_deploy.engine_server import run_engine

    run_engine(config, extra_args)


def _vllm(config: ServeConfig, extra_args: Sequence[str]) -> None:
    from vllm_deploy.runtime.vllm_launcher import exec_vllm

    exec_vllm(config, extra_args)


RUNNERS: dict[str, Callable[[ServeConfig, Sequence[str]], None]] = {
    "reference": _gpu_free_engine,
    "simulated": _gpu_free_engine,
    "vllm": _vllm,
}


def run(config: ServeConfig, extra_args: Sequence[str] = ()) -> None:
    RUNNERS[config.engine](config, extra_args)

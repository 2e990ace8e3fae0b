"""Which `vllm serve` command lines run ProductionMiddleware in exactly one HTTP server.

The middleware keeps its drain state, in-flight count, admission limit and stall watchdog
in the process that serves HTTP. vLLM 0.33.0 can start several API server processes, or
none, or serve without its Python HTTP server; each of those would leave the middleware
blind to part of the traffic or not running at all, so vllm-deploy refuses them, with the
reason and what to use instead. The rules follow ``ServeSubcommand.cmd`` in
``vllm/entrypoints/cli/serve.py`` (vLLM 0.33.0, lines 54-155) and vLLM's ``cli/main.py``.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence

from vllm_deploy.vllm_cli.parser import VllmArgsError, parse_serve_args

__all__ = ["api_server_count", "check_serve_args"]

_WHY = (
    "vllm-deploy runs one vLLM API server process per pod, because drain, readiness, "
    "admission and the stall watchdog live in that process"
)


def _rust_frontend(environ: Mapping[str, str]) -> bool:
    # vllm/envs.py: bool(int(os.getenv("VLLM_USE_RUST_FRONTEND", "0"))).
    try:
        return int(environ.get("VLLM_USE_RUST_FRONTEND", "0")) != 0
    except ValueError:
        return False  # vLLM itself fails on this value at start


def api_server_count(ns: argparse.Namespace) -> int:
    """How many HTTP API server processes `vllm serve` starts for these arguments.

    serve.py lines 79-145: without ``--api-server-count`` it defaults to the data-parallel
    size (internal load balancing), the local data-parallel size (hybrid), or 1 (external
    load balancing, one server per rank); elastic EP caps it at 1.
    """
    is_external_lb = ns.data_parallel_external_lb or ns.data_parallel_rank is not None
    if not ns.data_parallel_hybrid_lb and not ns.data_parallel_multi_port_external_lb:
        is_hybrid_lb = ns.data_parallel_start_rank is not None
    else:
        is_hybrid_lb = ns.data_parallel_hybrid_lb
    count: int | None = ns.api_server_count
    if count is None:
        if ns.data_parallel_multi_port_external_lb or is_external_lb:
            count = 1
        elif is_hybrid_lb:
            count = ns.data_parallel_size_local or 1
        else:
            count = ns.data_parallel_size
    if ns.enable_elastic_ep and count > 1:
        count = 1
    return count


def check_serve_args(
    args: Sequence[str], environ: Mapping[str, str], *, read_config: bool = True
) -> argparse.Namespace:
    """`vllm serve ARGS` parsed, or VllmArgsError naming the argument vLLM would refuse or
    that would not run the middleware in exactly one HTTP API server.

    ``environ`` is vLLM's environment; ``read_config`` as in :func:`parse_serve_args`.
    """
    if "--omni" in args:  # cli/main.py maybe_run_omni: handed over before parsing
        raise VllmArgsError(
            f"--omni hands the server to vllm-omni, which loads no --middleware; {_WHY}"
        )
    ns = parse_serve_args(args, read_config=read_config)
    if _rust_frontend(environ):
        raise VllmArgsError(
            f"VLLM_USE_RUST_FRONTEND={environ['VLLM_USE_RUST_FRONTEND']} replaces vLLM's Python "
            f"HTTP server, which loads --middleware, with a Rust one; {_WHY}; unset it"
        )
    if ns.grpc:
        raise VllmArgsError(f"--grpc serves gRPC instead of HTTP, without --middleware; {_WHY}")
    if ns.headless:
        raise VllmArgsError(f"--headless starts no API server; {_WHY}")
    if ns.data_parallel_multi_port_external_lb:
        raise VllmArgsError(
            "--data-parallel-multi-port-external-lb starts one API server per local "
            f"data-parallel rank; {_WHY}: use --api-server-count 1 with internal load balancing"
        )
    count = api_server_count(ns)
    if count != 1:
        cause = (
            f"--api-server-count {count}"
            if ns.api_server_count is not None
            else f"data parallelism starts {count} API servers (vLLM's default)"
        )
        raise VllmArgsError(
            f"{cause}: {_WHY}; add --api-server-count 1 (one API server in front of every "
            "data-parallel rank), or scale out with more replicas"
        )
    if ns.disable_log_stats:
        raise VllmArgsError(
            "--disable-log-stats removes every vllm: metric, and the autoscaler, the alerts "
            "and the stall watchdog read them; leave it out"
        )
    return ns

"""vLLM's `vllm serve` command line, known without vLLM installed (vendored from its parser)."""

from vllm_deploy.vllm_cli.parser import VLLM_VERSION, VllmArgsError, option_flags, parse_serve_args
from vllm_deploy.vllm_cli.servers import api_server_count, check_serve_args

__all__ = [
    "VLLM_VERSION",
    "VllmArgsError",
    "api_server_count",
    "check_serve_args",
    "option_flags",
    "parse_serve_args",
]

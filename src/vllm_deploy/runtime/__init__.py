"""What runs inside each pod: the vLLM launcher (and, later, the production middleware)."""

from vllm_deploy.runtime.vllm_launcher import VLLM_VERSION, build_vllm_argv, exec_vllm

__all__ = ["VLLM_VERSION", "build_vllm_argv", "exec_vllm"]

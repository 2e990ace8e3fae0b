"""Local harness: real server processes on free ports, for tests and benchmarks."""

from vllm_deploy.harness.process import ServerProcess, free_port

__all__ = ["ServerProcess", "free_port"]

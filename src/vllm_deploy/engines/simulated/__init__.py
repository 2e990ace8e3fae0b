"""A latency model of vLLM for load, drain, rollout and autoscaling tests. Not real inference."""

from vllm_deploy.engines.simulated.engine import SimulatedEngine
from vllm_deploy.engines.simulated.tokenizer import WordTokenizer

__all__ = ["SimulatedEngine", "WordTokenizer"]

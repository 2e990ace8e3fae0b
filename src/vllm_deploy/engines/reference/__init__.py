"""Real inference on CPU with Hugging Face `transformers`."""

from vllm_deploy.engines.reference.engine import ReferenceEngine, default_max_model_len

__all__ = ["ReferenceEngine", "default_max_model_len"]

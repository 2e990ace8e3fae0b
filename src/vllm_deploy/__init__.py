"""vllm-deploy: the production deployment kit for vLLM on Kubernetes."""

__all__ = ["__version__"]

__version__ = "0.1.0"

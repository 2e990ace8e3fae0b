"""What runs inside each pod: the production middleware and the vLLM launcher.

vLLM loads the middleware with ``--middleware vllm_deploy.runtime.ProductionMiddleware``.
"""

from vllm_deploy.runtime.middleware import ProductionMiddleware
from vllm_deploy.runtime.settings import MiddlewareSettings, SettingsError, load_settings
from vllm_deploy.runtime.vllm_launcher import VLLM_VERSION, build_vllm_argv, exec_vllm

__all__ = [
    "VLLM_VERSION",
    "MiddlewareSettings",
    "ProductionMiddleware",
    "SettingsError",
    "build_vllm_argv",
    "exec_vllm",
    "load_settings",
]

"""The OpenAI-compatible routes of the GPU-free engines, one module per endpoint."""

from vllm_deploy.engines.routes.chat import ChatCompletions
from vllm_deploy.engines.routes.common import Served
from vllm_deploy.engines.routes.completions import Completions
from vllm_deploy.engines.routes.info import model_list, version
from vllm_deploy.engines.routes.responses import Responses
from vllm_deploy.engines.routes.tokenize import Detokenize, Tokenize

__all__ = [
    "ChatCompletions",
    "Completions",
    "Detokenize",
    "Responses",
    "Served",
    "Tokenize",
    "model_list",
    "version",
]

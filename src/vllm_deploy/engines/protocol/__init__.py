"""vLLM 0.33.0's request models of its OpenAI server, and how the engines handle each field."""

from vllm_deploy.engines.protocol.base import StreamOptions, VllmModel, log_ignored_fields
from vllm_deploy.engines.protocol.chat import ChatCompletionRequest, ChatMessage
from vllm_deploy.engines.protocol.completions import CompletionRequest
from vllm_deploy.engines.protocol.sampling import SamplingRequest
from vllm_deploy.engines.protocol.tokenize import (
    DetokenizeRequest,
    TokenizeChatRequest,
    TokenizeCompletionRequest,
)

__all__ = [
    "ChatCompletionRequest",
    "ChatMessage",
    "CompletionRequest",
    "DetokenizeRequest",
    "SamplingRequest",
    "StreamOptions",
    "TokenizeChatRequest",
    "TokenizeCompletionRequest",
    "VllmModel",
    "log_ignored_fields",
]

"""``POST /tokenize`` and ``POST /detokenize`` as vLLM 0.33.0 serves them (serve/tokenize/).

``/tokenize`` takes a prompt, or chat messages rendered with the chat template (vLLM's
refusals for request chat templates and multimodal kwargs apply); it answers
``{count, max_model_len, tokens, token_strs}`` and checks no length. ``/detokenize``
decodes token ids, special tokens included.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from vllm_deploy.engines.errors import from_validation_errors
from vllm_deploy.engines.prompts import check_chat_options, render_messages
from vllm_deploy.engines.protocol.tokenize import (
    DetokenizeRequest,
    TokenizeChatRequest,
    TokenizeCompletionRequest,
)
from vllm_deploy.engines.routes.chat import render_chat
from vllm_deploy.engines.routes.common import Served, parse_model, read_body

__all__ = ["Detokenize", "Tokenize"]


class Tokenize:
    """``/tokenize``: a prompt or chat messages to token ids."""

    def __init__(self, served: Served) -> None:
        self._served = served

    async def __call__(self, request: Request) -> Response:
        served = self._served
        data = await read_body(request, served.body_limit)
        if isinstance(data, dict) and "prompt" not in data and "messages" not in data:
            # FastAPI tries both members of vLLM's TokenizeRequest union.
            missing = [
                {"type": "missing", "loc": ("body", name), "msg": "Field required", "input": data}
                for name in ("prompt", "messages")
            ]
            raise from_validation_errors(missing)
        tokenizer = served.engine.tokenizer
        req: TokenizeCompletionRequest | TokenizeChatRequest
        if isinstance(data, dict) and "messages" in data and "prompt" not in data:
            req = parse_model(TokenizeChatRequest, data)
            served.check_model(req.model)
            check_chat_options(req, check_tool_choice=False)
            messages = render_messages(req.messages, served.model_name)
            text = render_chat(served, messages, req.template_kwargs())
        else:
            req = parse_model(TokenizeCompletionRequest, data)
            served.check_model(req.model)
            text = req.prompt
        ids = tokenizer.encode(text, req.add_special_tokens)
        body: dict[str, Any] = {
            "count": len(ids),
            "max_model_len": served.limits.max_model_len,
            "tokens": ids,
            "token_strs": tokenizer.token_strings(ids) if req.return_token_strs else None,
        }
        return JSONResponse(body)


class Detokenize:
    """``/detokenize``: token ids to text."""

    def __init__(self, served: Served) -> None:
        self._served = served

    async def __call__(self, request: Request) -> Response:
        served = self._served
        req = parse_model(DetokenizeRequest, await read_body(request, served.body_limit))
        served.check_model(req.model)
        text = served.engine.tokenizer.decode(req.tokens, skip_special_tokens=False)
        return JSONResponse({"prompt": text})

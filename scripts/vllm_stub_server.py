"""vLLM's own OpenAI routes and serving classes over a stub engine, for recording probes.

Used by ``vendor_vllm_openai_api.py`` (run with a Python that imports vLLM). Everything a
request goes through in `vllm serve` runs for real: FastAPI's body validation, vLLM's
request models and their validators, the exception handlers, ``OpenAIServingChat`` /
``OpenAIServingCompletion`` / ``ServingTokenization`` with ``OnlineRenderer`` and ``HfRenderer``
(the chat template, tokenization, prompt-length checks), ``to_sampling_params``, and the
engine's request checks (``SamplingParams.verify``, the input processor's prompt checks). Only
the model is a stub: it emits a fixed token sequence with well-formed log-probabilities, so
the recorded answers show vLLM's statuses, error messages and response shapes, not its text.
The set-up follows vLLM's own tests (tests/entrypoints/openai/chat_completion/test_serving_chat.py).
"""

from __future__ import annotations

import asyncio
from argparse import Namespace
from dataclasses import dataclass, field
from typing import Any
from unittest.mock import MagicMock

MAX_MODEL_LEN = 256
MAX_LOGPROBS = 20  # vLLM's --max-logprobs default
SERVED_NAME = "tiny"
_OUTPUT = [40, 41, 42, 43, 44, 45, 46, 47]  # the stub's tokens, cycled


@dataclass
class _HFConfig:
    model_type: str = "llama"


@dataclass
class _ModelConfig:
    """The attributes vLLM's serving layer reads from ``ModelConfig`` (test_serving_chat.py)."""

    model: str
    tokenizer: str
    vocab_size: int
    task: str = "generate"
    runner_type: str = "generate"
    trust_remote_code: bool = False
    tokenizer_mode: str = "auto"
    max_model_len: int = MAX_MODEL_LEN
    max_logprobs: int = MAX_LOGPROBS
    revision: None = None
    code_revision: None = None
    tokenizer_revision: None = None
    hf_config: _HFConfig = field(default_factory=_HFConfig)
    hf_text_config: _HFConfig = field(default_factory=_HFConfig)
    logits_processors: None = None
    allowed_local_media_path: str = ""
    allowed_media_domains: None = None
    encoder_config: None = None
    generation_config: str = "auto"
    override_generation_config: dict[str, Any] = field(default_factory=dict)
    media_io_kwargs: dict[str, Any] = field(default_factory=dict)
    skip_tokenizer_init: bool = False
    is_encoder_decoder: bool = False
    is_multimodal_model: bool = False
    supports_multimodal_inputs: bool = False
    renderer_num_workers: int = 1
    enable_prompt_embeds: bool = False
    is_diffusion: bool = False
    enable_trace_replay: bool = False
    return_sampling_mask: bool = False
    served_model_name: str = SERVED_NAME

    def __post_init__(self) -> None:
        from vllm.config.multimodal import MultiModalConfig

        self.multimodal_config = MultiModalConfig()

    def get_diff_sampling_param(self) -> dict[str, Any]:
        return {}

    def get_vocab_size(self) -> int:
        return self.vocab_size


@dataclass
class _ParallelConfig:
    _api_process_rank: int = 0


@dataclass
class _VllmConfig:
    model_config: _ModelConfig
    parallel_config: _ParallelConfig


class StubEngine:
    """An ``EngineClient`` whose model always emits the same tokens."""

    errored = False
    vllm_config = None

    def __init__(self, model_dir: str) -> None:
        from vllm.renderers.hf import HfRenderer
        from vllm.tokenizers.registry import cached_tokenizer_from_config

        probe = _ModelConfig(model=model_dir, tokenizer=model_dir, vocab_size=0)
        tokenizer = cached_tokenizer_from_config(probe)
        self.model_config = _ModelConfig(
            model=model_dir, tokenizer=model_dir, vocab_size=len(tokenizer)
        )
        self.input_processor = MagicMock()
        self.renderer = HfRenderer(_VllmConfig(self.model_config, _ParallelConfig()), tokenizer)

    def check_admission(self, n: int = 1, request_id: str | None = None) -> None:
        pass

    def _check(self, prompt_ids: list[int], params: Any) -> None:
        """The engine-side checks of vLLM's InputProcessor.process_inputs."""
        from vllm.config import StructuredOutputsConfig
        from vllm.exceptions import VLLMValidationError

        mc = self.model_config
        params.verify(mc, None, StructuredOutputsConfig(), self.renderer.tokenizer)
        if params.thinking_token_budget is not None:
            raise VLLMValidationError(
                "thinking_token_budget is set but reasoning_config is not configured. Please "
                "set --reasoning-parser and/or --reasoning-config to use thinking_token_budget."
            )
        if not 0 <= params.routed_experts_prompt_start <= len(prompt_ids):
            raise VLLMValidationError(
                f"routed_experts_prompt_start must be between 0 and the prompt length "
                f"({len(prompt_ids)}), inclusive.",
                parameter="routed_experts_prompt_start",
                value=params.routed_experts_prompt_start,
            )
        if len(prompt_ids) > mc.max_model_len:
            raise VLLMValidationError(
                f"The decoder prompt (length {len(prompt_ids)}) is longer than the maximum "
                f"model length of {mc.max_model_len}. Make sure that `max_model_len` is no "
                "smaller than the number of text tokens."
            )
        self.renderer.validate_token_ids(prompt_ids)
        params.update_from_tokenizer(self.renderer.tokenizer)

    def _logprobs(self, token: int, k: int | None, ids: list[int] | None) -> Any:
        from vllm.logprobs import Logprob

        if k is None and not ids:
            return None
        tokenizer = self.renderer.tokenizer
        out = {token: Logprob(-0.25, 1, tokenizer.decode([token]))}
        others = ids or [50 + j for j in range(k or 0)]
        for rank, other in enumerate(others, start=2):
            out.setdefault(other, Logprob(-1.0 - rank, rank, tokenizer.decode([other])))
        return out

    async def generate(self, engine_input: Any, params: Any, request_id: str, **_: Any) -> Any:
        from vllm.outputs import CompletionOutput, RequestOutput
        from vllm.sampling_params import RequestOutputKind

        prompt_ids = list(engine_input["prompt_token_ids"])
        self._check(prompt_ids, params)
        tokenizer = self.renderer.tokenizer
        delta = params.output_kind == RequestOutputKind.DELTA
        count = max(1, params.max_tokens or 1)
        tokens = [_OUTPUT[i % len(_OUTPUT)] for i in range(count)]
        prompt_lp = None
        if params.prompt_logprobs is not None:
            prompt_lp = [None] + [
                self._logprobs(t, params.prompt_logprobs, None) for t in prompt_ids[1:]
            ]
        for step in range(count):
            last = step == count - 1
            if not (delta or last):
                continue
            window = tokens[step : step + 1] if delta else tokens
            outputs = [
                CompletionOutput(
                    index=i,
                    text=tokenizer.decode(window),
                    token_ids=window,
                    cumulative_logprob=None,
                    logprobs=(
                        [
                            self._logprobs(t, params.logprobs, params.logprob_token_ids)
                            for t in window
                        ]
                        if params.logprobs is not None or params.logprob_token_ids
                        else None
                    ),
                    finish_reason="length" if last else None,
                    stop_reason=None,
                )
                for i in range(params.n)
            ]
            yield RequestOutput(
                request_id=request_id,
                prompt=engine_input.get("prompt"),  # the rendered text, as vLLM's engine keeps it
                prompt_token_ids=prompt_ids,
                prompt_logprobs=prompt_lp if step == 0 or not delta else None,
                outputs=outputs,
                finished=last,
            )
            await asyncio.sleep(0)


def build_app(model_dir: str) -> Any:
    """A FastAPI app with vLLM's routes and exception handlers, as `vllm serve` builds it."""
    from fastapi import FastAPI
    from vllm.entrypoints.openai.chat_completion.api_router import attach_router as chat
    from vllm.entrypoints.openai.chat_completion.serving import OpenAIServingChat
    from vllm.entrypoints.openai.completion.api_router import attach_router as completion
    from vllm.entrypoints.openai.completion.serving import OpenAIServingCompletion
    from vllm.entrypoints.openai.models.protocol import BaseModelPath
    from vllm.entrypoints.openai.models.serving import OpenAIServingModels
    from vllm.entrypoints.openai.responses.api_router import attach_router as responses
    from vllm.entrypoints.openai.responses.serving import OpenAIServingResponses
    from vllm.entrypoints.serve.exception_handling.register import init_exception_handler
    from vllm.entrypoints.serve.tokenize.api_router import attach_router as tokenize
    from vllm.entrypoints.serve.tokenize.serving import ServingTokenization
    from vllm.renderers.online_renderer import OnlineRenderer

    engine = StubEngine(model_dir)
    models = OpenAIServingModels(engine, [BaseModelPath(name=SERVED_NAME, model_path=model_dir)])  # type: ignore[arg-type]
    renderer = OnlineRenderer(
        model_config=engine.model_config,  # type: ignore[arg-type]
        renderer=engine.renderer,
        request_logger=None,
        chat_template=None,
        chat_template_content_format="auto",
    )
    app = FastAPI()
    app.state.args = Namespace(
        log_error_stack=False, sse_keep_alive_interval=0, enable_tokenizer_info_endpoint=False
    )
    for attach in (chat, completion, tokenize, responses):
        attach(app)
    init_exception_handler(app)
    app.state.openai_serving_models = models
    app.state.openai_serving_chat = OpenAIServingChat(
        engine,  # type: ignore[arg-type]
        models,
        response_role="assistant",
        online_renderer=renderer,
        chat_template=None,
        chat_template_content_format="auto",
        request_logger=None,
    )
    app.state.openai_serving_completion = OpenAIServingCompletion(
        engine,  # type: ignore[arg-type]
        models,
        online_renderer=renderer,
        request_logger=None,
    )
    app.state.openai_serving_responses = OpenAIServingResponses(
        engine,  # type: ignore[arg-type]
        models,
        renderer,
        request_logger=None,
        chat_template=None,
        chat_template_content_format="auto",
    )
    app.state.serving_tokenization = ServingTokenization(
        models, renderer, chat_template=None, chat_template_content_format="auto"
    )
    return app

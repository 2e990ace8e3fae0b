"""The reference engine: real forward passes, a real tokenizer and real sampling, on CPU.

Requests past the batch size wait in the shared scheduler. Forward passes of all running
requests go through one worker thread, one decode step at a time, interleaved; each request
keeps its own KV cache. That is continuous scheduling without batched kernels: honest
numbers first, speed second.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncGenerator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from starlette.routing import BaseRoute

from vllm_deploy.engines.base import EngineError, PromptLogprob, Sampled, SamplingParams
from vllm_deploy.engines.reference.sampling import Sampler
from vllm_deploy.serve_config import ServeConfig

__all__ = ["HFTokenizer", "ReferenceEngine", "default_max_model_len"]

# The generation_config.json keys vLLM reads as sampling defaults (config/model.py
# get_diff_sampling_param), with max_new_tokens renamed to max_tokens.
_SAMPLING_DEFAULTS = (
    "repetition_penalty",
    "presence_penalty",
    "frequency_penalty",
    "temperature",
    "top_k",
    "top_p",
    "min_p",
    "max_new_tokens",
    "skip_special_tokens",
)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def default_max_model_len(config: ServeConfig) -> int:
    """The model's own context length, from its ``config.json``."""
    path = Path(config.model) / "config.json"
    try:
        model_config = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(
            f"--model has value '{config.model}': not a local model directory with a readable "
            f"config.json ({exc.__class__.__name__}). The reference engine loads local models only."
        ) from None
    return int(model_config.get("max_position_embeddings", 2048))


def _route_transformers_logs() -> None:
    """No progress bars, and logs through the process's (JSON) handlers, not transformers' own."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.disable_default_handler()
    hf_logging.enable_propagation()


class HFTokenizer:
    """A `transformers` tokenizer behind the engine Tokenizer protocol."""

    additive_decode = False  # byte-level and SentencePiece pieces merge across tokens

    def __init__(self, model_dir: str) -> None:
        from transformers import AutoTokenizer

        _route_transformers_logs()

        self._tok: Any = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        self.vocab_size: int = len(self._tok)
        self.eos_token_id: int | None = self._tok.eos_token_id

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        return list(self._tok.encode(text, add_special_tokens=add_special_tokens))

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str:
        return str(self._tok.decode(list(ids), skip_special_tokens=skip_special_tokens))

    def token_strings(self, ids: Sequence[int]) -> list[str]:
        return [str(t) for t in self._tok.convert_ids_to_tokens(list(ids))]

    def apply_chat_template(self, messages: list[dict[str, Any]], **kwargs: Any) -> str:
        text = self._tok.apply_chat_template(messages, tokenize=False, **kwargs)
        return str(text)


class ReferenceEngine:
    """Usage: ``engine = ReferenceEngine(config); await engine.load()``."""

    def __init__(self, config: ServeConfig) -> None:
        self._model_dir = config.model
        # The tokenizer loads here (fast), so requests can be validated while weights load.
        self.tokenizer = HFTokenizer(config.model)
        generation = _read_json(Path(config.model) / "generation_config.json")
        self._defaults = {
            k: generation[k] for k in _SAMPLING_DEFAULTS if generation.get(k) is not None
        }
        if "max_new_tokens" in self._defaults:
            self._defaults["max_tokens"] = self._defaults.pop("max_new_tokens")
        eos = generation.get("eos_token_id")
        self.extra_eos_ids = frozenset(
            [eos] if isinstance(eos, int) else eos if isinstance(eos, list) else []
        ) - {self.tokenizer.eos_token_id}
        self._model: Any = None
        self._torch: Any = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reference-engine")

    def routes(self) -> list[BaseRoute]:
        return []

    def default_sampling(self) -> dict[str, Any]:
        return dict(self._defaults)

    async def load(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self._load_model)

    def _load_model(self) -> None:
        import torch
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(self._model_dir, local_files_only=True)
        model.eval()
        self._torch, self._model = torch, model

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _step(self, input_ids: list[int], past: Any) -> tuple[Any, Any]:
        torch = self._torch
        with torch.inference_mode():
            out = self._model(
                input_ids=torch.tensor([input_ids], dtype=torch.long),
                cache=past,
                use_cache=True,
                logits_to_keep=1,
            )
        return out.logits[0, -1, :].float(), out.cache

    def _score(self, prompt_ids: list[int], top_k: int) -> list[PromptLogprob | None]:
        torch = self._torch
        with torch.inference_mode():
            logits = self._model(input_ids=torch.tensor([prompt_ids], dtype=torch.long)).logits
        logprobs = torch.log_softmax(logits[0].float(), dim=-1)
        out: list[PromptLogprob | None] = [None]
        for pos in range(1, len(prompt_ids)):
            row, token = logprobs[pos - 1], prompt_ids[pos]
            entry = {token: float(row[token])}
            rank = int((row > row[token]).sum().item()) + 1
            k = row.shape[-1] if top_k == -1 else top_k
            if k:
                values, ids = torch.topk(row, k)
                for t, v in zip(ids.tolist(), values.tolist(), strict=True):
                    entry.setdefault(t, v)
            out.append(PromptLogprob(entry, rank))
        return out

    async def prompt_logprobs(
        self, prompt_ids: list[int], top_k: int
    ) -> list[PromptLogprob | None]:
        if self._model is None:
            raise EngineError("model is not loaded")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, self._score, prompt_ids, top_k)
        except RuntimeError as exc:
            raise EngineError(str(exc)) from exc

    async def generate(
        self, prompt_ids: list[int], params: SamplingParams
    ) -> AsyncGenerator[Sampled, None]:
        if self._model is None:
            raise EngineError("model is not loaded")
        seed = params.seed if params.seed is not None else random.getrandbits(63)
        sampler = Sampler(self._torch, params, prompt_ids, seed)
        loop = asyncio.get_running_loop()
        past: Any = None
        next_input = prompt_ids
        output: list[int] = []
        for _ in range(params.max_tokens):
            try:
                logits, past = await loop.run_in_executor(
                    self._executor, self._step, next_input, past
                )
            except RuntimeError as exc:
                raise EngineError(str(exc)) from exc
            token, logprobs = sampler.step(logits, output)
            output.append(token)
            yield Sampled(token, logprobs)
            next_input = [token]

"""The simulated engine: vLLM's latency shape without a model.

Latency model (all times scaled by the ``slowdown`` fault):
- time to first token = ``ttft_ms`` + ``prefill_ms_per_token`` x prompt tokens;
- inter-token latency = ``itl_ms`` x (1 + ``load_factor`` x batch fullness), where batch
  fullness goes from 0 (one running request) to 1 (``max_num_seqs`` running);
- output length = ``max_tokens`` when the request sets it (or ``ignore_eos``), else the
  simulator's EOS comes after a length drawn from the seed in [1, ``output_tokens``]
  (never before ``min_tokens``);
- tokens come from ``WordModel``: a deterministic distribution over 68 words, sampled with
  vLLM's steps, so a seeded request repeats exactly and log-probabilities are well-formed.
Faults: ``error_rate`` fails that share of requests with a 500; ``hang`` stops every running
request from producing tokens until cleared; ``slowdown`` multiplies every latency.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncGenerator
from typing import Any

from starlette.routing import BaseRoute

from vllm_deploy.engines.base import EngineError, PromptLogprob, Sampled, SamplingParams
from vllm_deploy.engines.scheduler import Scheduler
from vllm_deploy.engines.simulated.admin import fault_routes
from vllm_deploy.engines.simulated.model import WordModel, prompt_logprobs
from vllm_deploy.engines.simulated.tokenizer import WordTokenizer
from vllm_deploy.serve_config import FaultSettings, ServeConfig

__all__ = ["SimulatedEngine"]

DEFAULT_MAX_MODEL_LEN = 4096


class SimulatedEngine:
    """Usage: ``SimulatedEngine(ServeConfig(engine="simulated", model="sim"), scheduler)``."""

    extra_eos_ids: frozenset[int] = frozenset()

    def __init__(self, config: ServeConfig, scheduler: Scheduler) -> None:
        self.tokenizer = WordTokenizer()
        self._sim = config.sim
        self._scheduler = scheduler
        self.faults = config.sim.faults.model_copy()
        self._resumed = asyncio.Event()
        self._resumed.set()
        self._rng = random.Random()

    def routes(self) -> list[BaseRoute]:
        return fault_routes(lambda: self.faults, self.set_faults)

    def default_sampling(self) -> dict[str, Any]:
        return {}

    def set_faults(self, faults: FaultSettings) -> None:
        self.faults = faults
        if faults.hang:
            self._resumed.clear()
        else:
            self._resumed.set()

    async def load(self) -> None:
        await asyncio.sleep(self._sim.startup_s)

    async def close(self) -> None:
        self._resumed.set()

    async def _pause(self, ms: float) -> None:
        # Zero latency still yields, so a zero-latency engine never starves the event loop.
        await asyncio.sleep(ms * self.faults.slowdown / 1000.0)
        if not self._resumed.is_set():
            await self._resumed.wait()

    async def prompt_logprobs(
        self, prompt_ids: list[int], top_k: int
    ) -> list[PromptLogprob | None]:
        return prompt_logprobs(prompt_ids, top_k)

    async def generate(
        self, prompt_ids: list[int], params: SamplingParams
    ) -> AsyncGenerator[Sampled, None]:
        sim = self._sim
        if self.faults.error_rate and self._rng.random() < self.faults.error_rate:
            raise EngineError("injected fault (simulated engine error_rate)")
        rng = random.Random(params.seed if params.seed is not None else self._rng.getrandbits(63))
        eos_at = params.max_tokens  # never, within max_tokens
        if not params.explicit_max_tokens and not params.ignore_eos:
            eos_at = max(rng.randint(1, sim.output_tokens) - 1, params.min_tokens)
        model = WordModel(prompt_ids, params, rng)
        output: list[int] = []
        await self._pause(sim.ttft_ms + sim.prefill_ms_per_token * len(prompt_ids))
        for i in range(params.max_tokens):
            if i:
                await self._pause(sim.itl_ms * (1.0 + sim.load_factor * self._scheduler.load))
            token, logprobs = model.step(output, eos_due=i >= eos_at)
            output.append(token)
            yield Sampled(token, logprobs)

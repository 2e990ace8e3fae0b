"""The simulated engine: vLLM's latency shape without a model.

Latency model (all times scaled by the ``slowdown`` fault):
- time to first token = ``ttft_ms`` + ``prefill_ms_per_token`` x prompt tokens;
- inter-token latency = ``itl_ms`` x (1 + ``load_factor`` x batch fullness), where batch
  fullness goes from 0 (one running request) to 1 (``max_num_seqs`` running);
- output length = ``max_tokens`` when the request sets it, else a length drawn from the seed
  in [1, ``output_tokens``] (the simulator's EOS);
- output words are drawn from the request's seed, so a seeded request repeats exactly.
Faults: ``error_rate`` fails that share of requests with a 500; ``hang`` stops every running
request from producing tokens until cleared; ``slowdown`` multiplies every latency.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncGenerator

from starlette.routing import BaseRoute

from vllm_deploy.engines.base import EngineError, SamplingParams
from vllm_deploy.engines.scheduler import Scheduler
from vllm_deploy.engines.simulated.admin import fault_routes
from vllm_deploy.engines.simulated.tokenizer import WordTokenizer
from vllm_deploy.serve_config import FaultSettings, ServeConfig

__all__ = ["SimulatedEngine"]

DEFAULT_MAX_MODEL_LEN = 4096


class SimulatedEngine:
    """Usage: ``SimulatedEngine(ServeConfig(engine="simulated", model="sim"), scheduler)``."""

    def __init__(self, config: ServeConfig, scheduler: Scheduler) -> None:
        self.tokenizer = WordTokenizer()
        self._sim = config.sim
        self._scheduler = scheduler
        self.faults = config.sim.faults.model_copy()
        self._resumed = asyncio.Event()
        self._resumed.set()
        self._rng = random.Random()

    def routes(self) -> list[BaseRoute]:
        return fault_routes(self)

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

    async def generate(
        self, prompt_ids: list[int], params: SamplingParams
    ) -> AsyncGenerator[int, None]:
        sim = self._sim
        if self.faults.error_rate and self._rng.random() < self.faults.error_rate:
            raise EngineError("injected fault (simulated engine error_rate)")
        rng = random.Random(params.seed if params.seed is not None else self._rng.getrandbits(63))
        count = params.max_tokens
        if not params.explicit_max_tokens and not params.ignore_eos:
            count = min(count, rng.randint(1, sim.output_tokens))
        await self._pause(sim.ttft_ms + sim.prefill_ms_per_token * len(prompt_ids))
        words = WordTokenizer.word_count()
        for i in range(count):
            if i:
                await self._pause(sim.itl_ms * (1.0 + sim.load_factor * self._scheduler.load))
            yield rng.randrange(words)

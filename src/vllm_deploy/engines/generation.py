"""One request's trip through the scheduler and the engine, with vLLM's per-request metrics."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import Literal

from vllm_deploy.engines.base import Engine, SamplingParams
from vllm_deploy.engines.detokenizer import IncrementalDetokenizer
from vllm_deploy.engines.metrics import EngineMetrics
from vllm_deploy.engines.scheduler import Scheduler

__all__ = ["FinishReason", "Generation", "Generator"]

FinishReason = Literal["stop", "length", "abort", "error"]


@dataclass
class Generation:
    """What a request produced; filled in while its text streams out."""

    prompt_tokens: int
    completion_tokens: int = 0
    finish_reason: FinishReason | None = None


class Generator:
    """Runs requests on an engine: queueing, detokenization, stop strings and metrics.

    Usage: ``async for delta in generator.stream(ids, params, stop, outcome): ...``.
    """

    def __init__(
        self,
        engine: Engine,
        scheduler: Scheduler,
        metrics: EngineMetrics,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._scheduler = scheduler
        self._metrics = metrics
        self._clock = clock

    async def stream(
        self,
        prompt_ids: list[int],
        params: SamplingParams,
        stop: Sequence[str],
        outcome: Generation,
        max_tokens_param: int | None = None,
    ) -> AsyncIterator[str]:
        m, clock = self._metrics, self._clock
        arrival = clock()
        scheduled = first = last = None
        detok = IncrementalDetokenizer(self._engine.tokenizer, stop)
        outcome.finish_reason = "abort"  # unless it ends otherwise: cancelled, disconnected
        try:
            async with self._scheduler.admit(len(prompt_ids)) as slot:
                scheduled = clock()
                m.request_queue_time.observe(scheduled - arrival)
                m.prompt_tokens.inc(len(prompt_ids))
                tokens = self._engine.generate(prompt_ids, params)
                async with aclosing(tokens):
                    async for token_id in tokens:
                        now = clock()
                        if first is None:
                            first = now
                            m.time_to_first_token.observe(now - arrival)
                        else:
                            assert last is not None
                            m.inter_token_latency.observe(now - last)
                        last = now
                        slot.add_token()
                        outcome.completion_tokens += 1
                        m.generation_tokens.inc()
                        delta = detok.push(token_id)
                        if delta:
                            yield delta
                        if detok.stopped:
                            break
                rest = detok.flush()
                if rest:
                    yield rest
                hit_length = outcome.completion_tokens >= params.max_tokens and not detok.stopped
                outcome.finish_reason = "length" if hit_length else "stop"
        except Exception:
            outcome.finish_reason = "error"
            raise
        finally:
            self._record(outcome, arrival, scheduled, first, last, max_tokens_param)

    def _record(
        self,
        outcome: Generation,
        arrival: float,
        scheduled: float | None,
        first: float | None,
        last: float | None,
        max_tokens_param: int | None,
    ) -> None:
        m, end = self._metrics, self._clock()
        reason = outcome.finish_reason or "abort"
        m.request_success[reason].inc()
        m.e2e_request_latency.observe(end - arrival)
        if scheduled is None:  # never left the queue
            return
        m.request_inference_time.observe(end - scheduled)
        m.request_prompt_tokens.observe(outcome.prompt_tokens)
        m.request_generation_tokens.observe(outcome.completion_tokens)
        if max_tokens_param:
            m.request_params_max_tokens.observe(max_tokens_param)
        if first is not None and last is not None:
            m.request_prefill_time.observe(first - scheduled)
            m.request_decode_time.observe(last - first)
            if outcome.completion_tokens > 1:
                tpot = (last - first) / (outcome.completion_tokens - 1)
                m.request_time_per_output_token.observe(tpot)

"""One sequence's trip through the scheduler and the engine, with vLLM's stop rules and metrics.

The order of the checks after each token is vLLM 0.33.0's: EOS, then ``stop_token_ids``
(``stop_reason`` = the id), then the length limits, then repetition once ``min_tokens``
are out (vllm/v1/core/sched/utils.py ``check_stop``); then the detokenizer's stop strings,
which win over a length finish on the same token (v1/engine/output_processor.py).
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Literal

from vllm_deploy.engines.base import Engine, EngineError, SamplingParams, TokenLogprobs
from vllm_deploy.engines.detokenizer import IncrementalDetokenizer
from vllm_deploy.engines.metrics import EngineMetrics
from vllm_deploy.engines.scheduler import Scheduler

__all__ = ["Delta", "FinishReason", "Generation", "Generator", "StopRules"]

FinishReason = Literal["stop", "length", "abort", "error", "repetition"]


@dataclass(frozen=True)
class StopRules:
    """When a sequence ends, besides ``max_tokens``."""

    eos_token_id: int | None  # None with ignore_eos
    stop_token_ids: frozenset[int] = frozenset()
    stop: tuple[str, ...] = ()
    include_stop_str_in_output: bool = False
    skip_special_tokens: bool = True
    min_tokens: int = 0
    max_total_tokens: int | None = None  # the context: prompt + output
    # vLLM's RepetitionDetectionParams: (min_pattern_size, max_pattern_size, min_count).
    repetition: tuple[int, int, int] | None = None


@dataclass
class Generation:
    """What a sequence produced; filled in while its text streams out."""

    prompt_tokens: int
    completion_tokens: int = 0
    finish_reason: FinishReason | None = None
    stop_reason: int | str | None = None
    token_ids: list[int] = field(default_factory=list)


@dataclass
class Delta:
    """One step of one sequence: the new text (held-back text excluded) and token."""

    text: str
    token_id: int
    logprobs: TokenLogprobs | None
    finish_reason: FinishReason | None = None
    stop_reason: int | str | None = None


def repeats(tokens: Sequence[int], rule: tuple[int, int, int]) -> bool:
    """vLLM's ``check_sequence_repetition``: does the output end in a repeated pattern?"""
    min_size, max_size, min_count = rule
    min_size = max(min_size, 1)
    if max_size <= 0 or min_count < 2 or min_size > max_size:
        return False
    for size in range(min_size, max_size + 1):
        if size * min_count > len(tokens):
            return False
        if all(
            tokens[-(size * m + n)] == tokens[-n]
            for n in range(1, size + 1)
            for m in range(1, min_count)
        ):
            return True
    return False


class Generator:
    """Runs sequences on an engine: queueing, stops, detokenization and metrics.

    Usage: ``async for delta in generator.run(ids, params, rules, outcome): ...``.
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

    def _finish(
        self, token: int, outcome: Generation, params: SamplingParams, rules: StopRules
    ) -> tuple[FinishReason | None, int | str | None]:
        if token == rules.eos_token_id:
            return "stop", None
        if token in rules.stop_token_ids:
            return "stop", token
        total = outcome.prompt_tokens + outcome.completion_tokens
        if outcome.completion_tokens >= params.max_tokens or (
            rules.max_total_tokens is not None and total >= rules.max_total_tokens
        ):
            return "length", None
        if (
            rules.repetition is not None
            and outcome.completion_tokens >= rules.min_tokens
            and repeats(outcome.token_ids, rules.repetition)
        ):
            return "repetition", "repetition_detected"
        return None, None

    async def run(
        self,
        prompt_ids: list[int],
        params: SamplingParams,
        rules: StopRules,
        outcome: Generation,
        max_tokens_param: int | None = None,
        priority: int = 0,
    ) -> AsyncGenerator[Delta, None]:
        m, clock = self._metrics, self._clock
        arrival = clock()
        scheduled = first = last = None
        detok = IncrementalDetokenizer(
            self._engine.tokenizer,
            rules.stop,
            include_stop_str_in_output=rules.include_stop_str_in_output,
            skip_special_tokens=rules.skip_special_tokens,
            min_tokens=rules.min_tokens,
        )
        outcome.finish_reason = "abort"  # unless it ends otherwise: cancelled, disconnected
        try:
            async with self._scheduler.admit(len(prompt_ids), priority) as slot:
                scheduled = clock()
                m.request_queue_time.observe(scheduled - arrival)
                m.prompt_tokens.inc(len(prompt_ids))
                finish: FinishReason | None = None
                stop_reason: int | str | None = None
                async with aclosing(self._engine.generate(prompt_ids, params)) as steps:
                    async for step in steps:
                        now = clock()
                        if first is None:
                            first = now
                            m.time_to_first_token.observe(now - arrival)
                        else:
                            assert last is not None
                            m.inter_token_latency.observe(now - last)
                        last = now
                        slot.add_token()
                        m.generation_tokens.inc()
                        outcome.completion_tokens += 1
                        outcome.token_ids.append(step.token_id)
                        finish, stop_reason = self._finish(step.token_id, outcome, params, rules)
                        if stop_string := detok.update(step.token_id, finish == "stop"):
                            finish, stop_reason = "stop", stop_string
                        if finish is not None:
                            detok.flush()
                        text = detok.next_text(finished=finish is not None)
                        yield Delta(text, step.token_id, step.logprobs, finish, stop_reason)
                        if finish is not None:
                            break
                if finish is None:
                    raise EngineError("the engine stopped before the sequence finished")
                outcome.finish_reason, outcome.stop_reason = finish, stop_reason
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

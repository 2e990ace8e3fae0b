"""The sequences of one request, run together: ``n`` choices of each prompt of a batch.

Choice ``j`` of prompt ``i`` has index ``i * n + j`` in the response, and seed
``seed + j`` (vllm/v1/engine/parallel_sampling.py ``ParentRequest``). Each sequence is
scheduled on its own, as vLLM schedules the child requests of ``n > 1``; their deltas are
merged in the order they arrive.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass, field, replace

from vllm_deploy.engines.base import PromptLogprob, TokenLogprobs
from vllm_deploy.engines.generation import Delta, FinishReason, Generation, Generator
from vllm_deploy.engines.params import SequenceSpec
from vllm_deploy.engines.prompts import Prompt

__all__ = ["Choice", "Run", "Sequence"]


@dataclass
class Sequence:
    """One choice: its place in the response, prompt, parameters and what it produced."""

    index: int
    prompt_index: int
    prompt: Prompt
    spec: SequenceSpec
    outcome: Generation
    prompt_logprobs: list[PromptLogprob | None] | None = None


@dataclass
class Choice:
    """A finished choice, put together from its deltas (non-streamed answers)."""

    text: str = ""
    token_ids: list[int] = field(default_factory=list)
    logprobs: list[TokenLogprobs | None] = field(default_factory=list)
    finish_reason: FinishReason | None = None
    stop_reason: int | str | None = None

    def add(self, delta: Delta) -> None:
        self.text += delta.text
        self.token_ids.append(delta.token_id)
        self.logprobs.append(delta.logprobs)
        if delta.finish_reason is not None:
            self.finish_reason, self.stop_reason = delta.finish_reason, delta.stop_reason


class Run:
    """Usage: ``async for seq, delta in Run(gen, prompts, specs, n).deltas(): ...``."""

    def __init__(
        self,
        generator: Generator,
        prompts: list[Prompt],
        specs: list[SequenceSpec],
        n: int,
        *,
        priority: int = 0,
    ) -> None:
        self._generator = generator
        self._priority = priority
        self.sequences = []
        for i, (prompt, spec) in enumerate(zip(prompts, specs, strict=True)):
            for j in range(n):
                seed = spec.params.seed
                child = (
                    spec
                    if seed is None or j == 0
                    else replace(spec, params=replace(spec.params, seed=seed + j))
                )
                outcome = Generation(prompt_tokens=len(prompt.ids))
                self.sequences.append(Sequence(i * n + j, i, prompt, child, outcome))

    def _run(self, seq: Sequence) -> AsyncGenerator[Delta, None]:
        return self._generator.run(
            seq.prompt.ids,
            seq.spec.params,
            seq.spec.rules,
            seq.outcome,
            seq.spec.params.max_tokens,  # vLLM observes the resolved value (output_processor.py)
            self._priority,
        )

    async def deltas(self) -> AsyncGenerator[tuple[Sequence, Delta], None]:
        if len(self.sequences) == 1:  # the common case, without tasks
            seq = self.sequences[0]
            async with aclosing(self._run(seq)) as deltas:
                async for delta in deltas:
                    yield seq, delta
            return
        queue: asyncio.Queue[tuple[Sequence, Delta | BaseException | None]] = asyncio.Queue()

        async def pump(seq: Sequence) -> None:
            try:
                async with aclosing(self._run(seq)) as deltas:
                    async for delta in deltas:
                        queue.put_nowait((seq, delta))
            except Exception as exc:
                queue.put_nowait((seq, exc))
            else:
                queue.put_nowait((seq, None))

        tasks = [asyncio.create_task(pump(seq)) for seq in self.sequences]
        try:
            remaining = len(tasks)
            while remaining:
                seq, item = await queue.get()
                if item is None:
                    remaining -= 1
                elif isinstance(item, BaseException):
                    raise item
                else:
                    yield seq, item
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def collect(self) -> dict[int, Choice]:
        choices = {seq.index: Choice() for seq in self.sequences}
        if len(self.sequences) == 1:  # one generator fewer on the common path
            seq = self.sequences[0]
            choice = choices[seq.index]
            async with aclosing(self._run(seq)) as one:
                async for delta in one:
                    choice.add(delta)
            return choices
        async with aclosing(self.deltas()) as deltas:
            async for seq, delta in deltas:
                choices[seq.index].add(delta)
        return choices

    def usage(self) -> tuple[int, int]:
        """Prompt tokens (each prompt once) and completion tokens (every choice)."""
        prompts = {seq.prompt_index: seq.outcome.prompt_tokens for seq in self.sequences}
        return sum(prompts.values()), sum(seq.outcome.completion_tokens for seq in self.sequences)

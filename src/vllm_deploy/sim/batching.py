"""Continuous batching inside one pod, advanced from event to event, not token by token.

Between two events (an admission, a first token, a completion) the batch is constant, so
every running request gains one token per decode step of the same length. Each pod keeps
a *decode clock* ``D``, the number of decode steps since it started: a request that enters
decoding at clock ``D0`` with ``n`` tokens left finishes at ``D0 + n``, and the next
completion is the smallest such target, found in a heap. A prefill adds its duration to a
pipeline (one prefill at a time, in admission order, when ``prefill_serial``); its first
token comes when it ends,
and ``prefill_interference`` of its per-token part pauses the decode clock (``stall_end``),
the cost of sharing the GPU's steps. Admission is vLLM's: first come first served while
``max_num_seqs`` and the KV-token budget allow; a request reserves its prompt plus output
tokens (vLLM allocates them as they come and preempts under pressure; reserving up front
never preempts, so the batch is slightly smaller when the KV budget binds).

The cost per request is a few heap operations, independent of its length.
"""

from __future__ import annotations

import heapq
from collections import deque

from vllm_deploy.sim.profile import Step

__all__ = [
    "ERROR_KILLED",
    "ERROR_NO_POD",
    "ERROR_OVERLOAD",
    "ERROR_TOO_LONG",
    "OK",
    "Batcher",
    "PodEngine",
]

INF = float("inf")
# Request outcomes (status array).
PENDING_STATUS, OK, ERROR_OVERLOAD, ERROR_NO_POD, ERROR_KILLED, ERROR_TOO_LONG = 0, 1, 2, 3, 4, 5


class PodEngine:
    """One pod's batch: running requests, waiting queue, decode clock."""

    __slots__ = (
        "busy_since",
        "busy_total",
        "clock",
        "finish",
        "kv",
        "last_arrival",
        "next_t",
        "prefill",
        "prefill_free",
        "running",
        "stall_end",
        "t_last",
        "version",
        "waiting",
    )

    def __init__(self, now: float) -> None:
        self.clock = 0.0  # decode steps done
        self.t_last = now  # when `clock` was last brought up to date
        self.stall_end = now  # decodes are paused until then (prefill interference)
        self.prefill_free = now  # the prefill pipeline is busy until then
        self.prefill: list[tuple[float, int]] = []  # heap of (first-token time, request)
        self.finish: list[tuple[float, int]] = []  # heap of (clock target, request)
        self.waiting: deque[int] = deque()
        self.running = 0  # admitted: prefilling or decoding
        self.kv = 0
        self.version = 0
        self.next_t = INF
        self.busy_since = -1.0
        self.busy_total = 0.0
        self.last_arrival = -INF


class Batcher:
    """Shared by all pods: the request arrays, the step model and the pod limits."""

    def __init__(
        self,
        step: Step,
        max_num_seqs: int,
        kv_cache_tokens: int,
        max_inflight: int,
        prompts: list[int],
        outputs: list[int],
    ) -> None:
        self.s0, self.s1 = step.decode_base_s, step.decode_per_seq_s
        self.pb, self.pt = step.prefill_base_s, step.prefill_per_token_s
        self.interference = step.prefill_interference * step.prefill_per_token_s
        self.serial = step.prefill_serial
        self.max_seqs, self.kv_cap = max_num_seqs, kv_cache_tokens
        self.max_inflight = max_inflight if max_inflight > 0 else 1 << 62
        self.prompts, self.outputs = prompts, outputs
        n = len(prompts)
        self.first = [-1.0] * n
        self.done = [-1.0] * n
        self.status = bytearray(n)

    def _sync(self, pod: PodEngine, t: float) -> None:
        """Bring the decode clock to ``t`` (the batch has been constant since ``t_last``)."""
        start = pod.t_last if pod.stall_end <= pod.t_last else pod.stall_end
        if t > start:
            pod.clock += (t - start) / (self.s0 + self.s1 * pod.running)
        pod.t_last = t

    def next_event(self, pod: PodEngine) -> float:
        """When this pod next produces a first token or finishes a request."""
        first_token = pod.prefill[0][0] if pod.prefill else INF
        if not pod.finish:
            return first_token
        start = pod.t_last if pod.stall_end <= pod.t_last else pod.stall_end
        left = pod.finish[0][0] - pod.clock
        done = start + left * (self.s0 + self.s1 * pod.running) if left > 0 else start
        return first_token if first_token <= done else done

    def _start(self, pod: PodEngine, r: int, t: float) -> None:
        """Admit request ``r`` at ``t`` (the clock is synced to ``t``)."""
        prompt = self.prompts[r]
        if pod.running == 0:
            pod.busy_since = t
        pod.running += 1
        pod.kv += prompt + self.outputs[r]
        begin = pod.prefill_free if self.serial and pod.prefill_free > t else t
        ready = begin + self.pb + self.pt * prompt
        if self.serial:
            pod.prefill_free = ready
        heapq.heappush(pod.prefill, (ready, r))
        if self.interference:
            pod.stall_end = (pod.stall_end if pod.stall_end > t else t) + self.interference * prompt

    def _release(self, pod: PodEngine, r: int, t: float) -> None:
        pod.running -= 1
        pod.kv -= self.prompts[r] + self.outputs[r]
        self.done[r] = t
        self.status[r] = OK
        if pod.running == 0:
            pod.busy_total += t - pod.busy_since
        self._admit_waiting(pod, t)

    def _admit_waiting(self, pod: PodEngine, t: float) -> None:
        waiting, prompts, outputs = pod.waiting, self.prompts, self.outputs
        while waiting and pod.running < self.max_seqs:
            r = waiting[0]
            if pod.kv + prompts[r] + outputs[r] > self.kv_cap:
                break
            waiting.popleft()
            self._start(pod, r, t)

    def process(self, pod: PodEngine, t: float) -> None:
        """Handle every first token and completion due by ``t``, in time order."""
        while True:
            nxt = self.next_event(pod)
            if nxt > t:
                break
            self._sync(pod, nxt)
            if pod.prefill and pod.prefill[0][0] == nxt:
                _, r = heapq.heappop(pod.prefill)
                self.first[r] = nxt
                if self.outputs[r] <= 1:
                    self._release(pod, r, nxt)
                else:
                    heapq.heappush(pod.finish, (pod.clock + self.outputs[r] - 1, r))
            else:
                _, r = heapq.heappop(pod.finish)
                self._release(pod, r, nxt)
        self._sync(pod, t)

    def arrive(self, pod: PodEngine, r: int, t: float) -> None:
        """Request ``r`` reaches the pod at ``t`` (``process(pod, t)`` has run)."""
        pod.last_arrival = t
        if pod.running + len(pod.waiting) >= self.max_inflight:
            self.status[r] = ERROR_OVERLOAD  # the middleware's 429
            return
        if self.prompts[r] + self.outputs[r] > self.kv_cap:
            self.status[r] = ERROR_TOO_LONG
            return
        if (
            not pod.waiting
            and pod.running < self.max_seqs
            and pod.kv + self.prompts[r] + self.outputs[r] <= self.kv_cap
        ):
            self._start(pod, r, t)
        else:
            pod.waiting.append(r)

    def kill(self, pod: PodEngine, t: float) -> int:
        """The process is gone: every request it holds fails. Returns how many."""
        lost = [r for _, r in pod.prefill] + [r for _, r in pod.finish] + list(pod.waiting)
        for r in lost:
            self.status[r] = ERROR_KILLED
            self.done[r] = t
        if pod.running:
            pod.busy_total += t - pod.busy_since
        pod.prefill.clear()
        pod.finish.clear()
        pod.waiting.clear()
        pod.running = pod.kv = 0
        return len(lost)

    def busy_time(self, pod: PodEngine, t: float) -> float:
        return pod.busy_total + (t - pod.busy_since if pod.running else 0.0)

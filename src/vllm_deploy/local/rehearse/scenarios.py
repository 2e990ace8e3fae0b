"""The rehearsal scenarios: what happens to the deployment while streamed load runs.

- ``rollout``: a new revision (the spec with one engine setting changed) is applied and
  rolled out under load.
- ``kill``: one serving pod's process gets SIGKILL under load; clients retry.
- ``stall``: one pod's engine hangs (the simulated engine's ``hang`` fault, set from inside
  the pod); liveness restarts it.
- ``burst``: load steps up ``burst_factor`` times, then stops; the HPA scales out and in.
  With a trace (``vllm_deploy.sim.trace``, the one ``vllm-deploy simulate`` reads), the load
  is open loop instead: each request at its arrival time, with its lengths; the trace's rate
  steps are noted as ``base load``, ``burst`` and ``burst ended``.
"""

from __future__ import annotations

import asyncio
import copy
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from vllm_deploy.local.rehearse.load import Load
from vllm_deploy.local.rehearse.observe import ClusterObserver
from vllm_deploy.sim.trace import Trace
from vllm_deploy.spec import DeploymentSpec

__all__ = ["SCENARIOS", "ScenarioContext"]


@dataclass
class ScenarioContext:
    """What a scenario works with."""

    spec: DeploymentSpec
    load: Load
    observer: ClusterObserver
    api_url: str  # the local API server, for its /local extension
    requests: int
    concurrency: int
    apply_spec: Callable[[DeploymentSpec], Awaitable[None]]
    wait_rollout: Callable[[], Awaitable[None]]
    burst_factor: int = 5
    burst_s: float = 30.0
    settle_s: float = 60.0
    trace: Trace | None = None  # burst: open-loop arrivals instead of closed-loop clients
    events: list[dict[str, Any]] = field(default_factory=list)

    def note(self, what: str, at: float | None = None, **details: Any) -> None:
        """Records an event now, or at ``at`` (seconds since the load began)."""
        t = time.monotonic() - self.load.started if at is None else at
        self.events.append({"t": round(t, 3), "event": what, **details})


async def _when(ctx: ScenarioContext, share: float) -> None:
    """Until ``share`` of the requests have been sent."""
    while len(ctx.load.records) < ctx.requests * share:
        await asyncio.sleep(0.05)


def _serving_pod(ctx: ScenarioContext) -> str:
    """A ready pod that has requests in flight soon: the first ready one, by name."""
    ready = sorted(
        p.name
        for p in ctx.observer.pods.values()
        if p.ready is not None and p.deleted is None and p.deletion_deadline is None
    )
    if not ready:
        raise RuntimeError("no ready pod to act on")
    return ready[0]


async def _local(ctx: ScenarioContext, pod: str, verb: str, body: dict[str, Any]) -> dict[str, Any]:
    async with httpx.AsyncClient() as client:
        resp = await client.post(
            f"{ctx.api_url}/local/v1/namespaces/{ctx.spec.namespace}/pods/{pod}/{verb}",
            json=body,
            timeout=30,
        )
    resp.raise_for_status()
    result: dict[str, Any] = resp.json()
    return result


async def rollout(ctx: ScenarioContext) -> None:
    async def change() -> None:
        await _when(ctx, 0.1)
        new = copy.deepcopy(ctx.spec.model_dump())
        new["engine"]["simulated"]["ttft_ms"] = ctx.spec.engine.simulated.ttft_ms + 1
        ctx.note("apply new revision", change="engine.simulated.ttft_ms +1")
        await ctx.apply_spec(DeploymentSpec.model_validate(new))
        await ctx.wait_rollout()
        ctx.note("rollout complete")

    await asyncio.gather(ctx.load.run(ctx.requests, ctx.concurrency), change())


async def kill(ctx: ScenarioContext) -> None:
    async def act() -> None:
        await _when(ctx, 0.2)
        pod = _serving_pod(ctx)
        sent = round(time.monotonic() - ctx.load.started, 3)
        result = await _local(ctx, pod, "signal", {"container": "vllm", "signal": "KILL"})
        # The kill happened between ``sent`` and this note.
        ctx.note("SIGKILL", pod=pod, pid=result["pid"], in_flight=ctx.load.in_flight, sent=sent)

    await asyncio.gather(ctx.load.run(ctx.requests, ctx.concurrency), act())


async def stall(ctx: ScenarioContext) -> None:
    async def act() -> None:
        await _when(ctx, 0.2)
        pod = _serving_pod(ctx)
        script = (
            "import httpx; r = httpx.post('http://127.0.0.1:8000/admin/sim/faults', "
            "json={'hang': True}, timeout=5); print(r.status_code, r.text)"
        )
        result = await _local(
            ctx, pod, "exec", {"container": "vllm", "command": [sys.executable, "-c", script]}
        )
        ctx.note("engine hang injected", pod=pod, output=result.get("output", "").strip())

    await asyncio.gather(ctx.load.run(ctx.requests, ctx.concurrency), act())


async def _replay(ctx: ScenarioContext, trace: Trace) -> None:
    """The trace open loop from now; its rate steps noted at their times."""
    load = ctx.load
    offset = round(time.monotonic() - load.started + 0.5, 3)  # t = 0 of the trace
    ctx.note("trace", at=offset, name=trace.name, requests=len(trace), duration_s=trace.duration_s)

    async def steps() -> None:
        previous: float | None = None
        for t, rate in trace.steps:
            await asyncio.sleep(max(0.0, load.started + offset + t - time.monotonic()))
            what = (
                "base load" if previous is None else "burst" if rate > previous else "burst ended"
            )
            ctx.note(what, at=offset + t, rate=rate)
            previous = rate

    # The trace's last phase runs to its end, even when its last request comes earlier.
    async def until_the_end() -> None:
        await asyncio.sleep(max(0.0, load.started + offset + trace.duration_s - time.monotonic()))

    await asyncio.gather(
        load.replay(trace.arrivals, trace.prompt_tokens, trace.output_tokens, offset),
        steps(),
        until_the_end(),
    )


async def burst(ctx: ScenarioContext) -> None:
    if ctx.trace is not None:
        await _replay(ctx, ctx.trace)
    else:
        base = ctx.concurrency
        quiet = ctx.settle_s / 4
        ctx.note("base load", concurrency=base)
        await ctx.load.run(concurrency=base, duration_s=quiet)
        ctx.note("burst", concurrency=base * ctx.burst_factor)
        await ctx.load.run(concurrency=base * ctx.burst_factor, duration_s=ctx.burst_s)
    ctx.note("load stopped")
    # Until the replicas are back at the minimum, or settle_s.
    floor = ctx.spec.autoscaling.min_replicas
    deadline = time.monotonic() + ctx.settle_s
    while time.monotonic() < deadline:
        timeline = ctx.observer.timeline
        if timeline and timeline[-1][1] <= floor and max(p[1] for p in timeline) > floor:
            break
        await asyncio.sleep(1)
    ctx.note("settled", replicas=ctx.observer.timeline[-1][1] if ctx.observer.timeline else None)


SCENARIOS: dict[str, Callable[[ScenarioContext], Awaitable[None]]] = {
    "rollout": rollout,
    "kill": kill,
    "stall": stall,
    "burst": burst,
}

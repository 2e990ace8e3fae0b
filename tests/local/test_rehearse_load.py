"""The rehearsal's load: open-loop replay of a trace (the arrival process `simulate` reads), and
the burst scenario driven by it, against a real server (no cluster: a stand-in observer)."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from vllm_deploy.harness import ServerProcess
from vllm_deploy.local.rehearse.load import Load, summarise
from vllm_deploy.local.rehearse.scenarios import ScenarioContext, burst
from vllm_deploy.sim.trace import parse_trace
from vllm_deploy.spec import load_spec

ROOT = Path(__file__).parents[2]


async def test_replay_sends_each_request_at_its_arrival_with_its_lengths(
    simulated_server: ServerProcess,
) -> None:
    load = Load(simulated_server.url, "sim-model")
    arrivals = [0.0, 0.05, 0.3, 0.3, 0.6]
    prompts, outputs = [5, 40, 20, 3, 8], [60, 1, 6, 2, 4]
    await load.replay(arrivals, prompts, outputs, offset_s=0.2)
    assert [r.scheduled for r in load.records] == pytest.approx([0.2 + a for a in arrivals])
    assert all(0 <= r.start - r.scheduled < 0.1 for r in load.records if r.scheduled is not None)
    assert [r.completion_tokens for r in load.records] == outputs
    assert [r.prompt_tokens for r in load.records] == prompts
    assert summarise(load.records)["ok"] == 5
    # Open loop: the second request went out while the first (60 tokens) was still streaming.
    first, second = load.records[:2]
    assert second.start < first.end


async def test_replay_stops_sending_when_stopped(simulated_server: ServerProcess) -> None:
    load = Load(simulated_server.url, "sim-model")
    load.stop()
    await load.replay([0.0, 0.1], [4, 4], [2, 2])
    assert load.records == []


@dataclass
class _Observer:
    """What the burst scenario reads of the cluster: the replicas timeline."""

    timeline: list[list[float]] = field(default_factory=list)


async def test_burst_with_a_trace_replays_it_and_notes_its_steps(
    simulated_server: ServerProcess,
) -> None:
    spec = load_spec(ROOT / "examples" / "local.yaml")
    trace = parse_trace(
        "burst:rate=10,factor=3,at=0.5,for=0.5,output=3,output_sd=1", duration=1.5, seed=2
    )
    load = Load(simulated_server.url, "sim-model")
    ctx = ScenarioContext(spec, load, _Observer(), "", 0, 0, None, None, settle_s=0.1, trace=trace)  # type: ignore[arg-type]
    began = time.monotonic()
    await burst(ctx)
    assert time.monotonic() - began >= 1.5  # the trace's last phase runs to its end
    events = {e["event"]: e for e in ctx.events}
    offset = events["trace"]["t"]
    assert events["trace"]["requests"] == len(trace) == len(load.records)
    assert events["base load"]["t"] == offset and events["base load"]["rate"] == 10
    assert events["burst"]["t"] == pytest.approx(offset + 0.5) and events["burst"]["rate"] == 30
    assert events["burst ended"]["t"] == pytest.approx(offset + 1.0)
    assert [r.scheduled for r in load.records] == pytest.approx(
        [offset + a for a in trace.arrivals]
    )
    assert [r.completion_tokens for r in load.records] == trace.output_tokens


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["rollout", "--trace", "poisson:rate=1"], "--trace drives the burst scenario only"),
        (["burst", "--trace", "zipf:rate=1"], "--trace has value 'zipf:rate=1'"),
    ],
)
def test_rehearse_refuses_a_trace_it_cannot_replay(args: list[str], message: str) -> None:
    spec = str(ROOT / "examples" / "local.yaml")
    proc = subprocess.run(
        [sys.executable, "-m", "vllm_deploy", "rehearse", args[0], "-f", spec, *args[1:]],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1 and message in proc.stderr

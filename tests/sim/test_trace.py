"""Traces: generated (Poisson, step burst, diurnal) and replayed (CSV)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from vllm_deploy.sim.trace import TraceError, parse_trace


def test_poisson_count_and_lengths() -> None:
    trace = parse_trace("poisson:rate=50", duration=200, seed=3, max_model_len=512)
    expected = 50 * 200
    assert abs(len(trace) - expected) < 5 * math.sqrt(expected)
    assert trace.arrivals == sorted(trace.arrivals) and trace.arrivals[-1] < 200
    assert all(
        p >= 1 and o >= 1 and p + o <= 512
        for p, o in zip(trace.prompt_tokens, trace.output_tokens, strict=True)
    )
    assert abs(sum(trace.prompt_tokens) / len(trace) - 256) < 10


def test_step_burst_multiplies_the_rate_inside_its_window() -> None:
    trace = parse_trace("burst:rate=20,factor=5,at=100,for=100", duration=300, seed=1)
    inside = sum(1 for t in trace.arrivals if 100 <= t < 200)
    outside = len(trace) - inside
    assert 4 < inside / (outside / 2) < 6


def test_diurnal_peaks_at_half_the_period() -> None:
    trace = parse_trace("diurnal:rate=20,amplitude=0.8,period=400", duration=400, seed=2)
    trough = sum(1 for t in trace.arrivals if t < 50 or t >= 350)
    peak = sum(1 for t in trace.arrivals if 150 <= t < 250)
    assert peak > 3 * trough


def test_same_seed_same_trace() -> None:
    a, b = (parse_trace("poisson:rate=10", duration=60, seed=7) for _ in range(2))
    assert (a.arrivals, a.output_tokens) == (b.arrivals, b.output_tokens)
    assert parse_trace("poisson:rate=10", duration=60, seed=8).arrivals != a.arrivals


def test_csv_replay(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("timestamp,prompt_tokens,output_tokens\n1000.5,10,20\n1000.0,5,6\n1003,7,8\n")
    trace = parse_trace(str(path))
    assert trace.arrivals == [0.0, 0.5, 3.0]
    assert trace.prompt_tokens == [5, 10, 7] and trace.output_tokens == [6, 20, 8]


@pytest.mark.parametrize(
    ("text", "message"),
    [("zipf:rate=1", "expected one of"), ("poisson:rate=x", "'rate' has value 'x'"),
     ("burst:rate=1", "missing factor, at, for"), ("poisson:rate=1,speed=2", "unknown parameter"),
     ("diurnal:rate=1,amplitude=1.5", "'amplitude' has value 1.5")],
)  # fmt: skip
def test_errors_name_the_parameter(text: str, message: str) -> None:
    with pytest.raises(TraceError, match=message):
        parse_trace(text)


def test_step_shaped_rates_list_their_steps() -> None:
    burst = parse_trace("burst:rate=4,factor=5,at=60,for=120", duration=300)
    assert burst.steps == ((0.0, 4.0), (60.0, 20.0), (180.0, 4.0))
    # A burst from t = 0 or past the end: only the steps inside the trace.
    assert parse_trace("burst:rate=4,factor=5,at=0,for=10", duration=60).steps == (
        (0.0, 20.0),
        (10.0, 4.0),
    )
    assert parse_trace("burst:rate=4,factor=5,at=60,for=900", duration=300).steps == (
        (0.0, 4.0),
        (60.0, 20.0),
    )
    assert parse_trace("poisson:rate=3", duration=60).steps == ((0.0, 3.0),)
    assert parse_trace("diurnal:rate=3", duration=60).steps == ()

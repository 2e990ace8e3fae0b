"""Request traces: arrival times with prompt and output lengths, generated or replayed.

``--trace`` takes ``KIND:key=value,...`` or a CSV file:

- ``poisson:rate=R``: Poisson arrivals at R requests/s;
- ``burst:rate=R,factor=K,at=A,for=T``: Poisson at R, stepped up to K x R from A for T s;
- ``diurnal:rate=R,amplitude=A,period=P``: Poisson whose rate follows
  ``R x (1 - A cos(2 pi t / P))`` (trough at t = 0, peak at P/2);
- ``FILE.csv``: replay of ``timestamp,prompt_tokens,output_tokens`` rows (seconds; shifted to
  start at 0).

Generated traces draw prompt and output lengths from normal distributions clipped to
[1, max_model_len]: ``prompt=256,prompt_sd=100,output=256,output_sd=100`` by default, BLIS's
"chatbot" workload (inference-sim/inference-sim ``defaults.yaml``).
"""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Trace", "TraceError", "parse_trace"]


class TraceError(ValueError):
    """The trace cannot be built: the message names the parameter and the value."""


@dataclass(frozen=True, slots=True)
class Trace:
    """Arrival times (sorted, seconds) with each request's token counts."""

    name: str
    arrivals: list[float]
    prompt_tokens: list[int]
    output_tokens: list[int]
    duration_s: float
    rate_at: Callable[[float], float] | None = None  # the generating rate, when there is one
    # A step-shaped rate (poisson, burst): ``(from t, rate)`` at t = 0 and at each change.
    steps: tuple[tuple[float, float], ...] = ()

    def __len__(self) -> int:
        return len(self.arrivals)


_DEFAULTS = {"prompt": 256.0, "prompt_sd": 100.0, "output": 256.0, "output_sd": 100.0}
_SHAPES: dict[str, tuple[str, ...]] = {
    "poisson": ("rate",),
    "burst": ("rate", "factor", "at", "for"),
    "diurnal": ("rate", "amplitude", "period"),
}


def _params(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for part in filter(None, text.split(",")):
        key, _, value = part.partition("=")
        try:
            out[key.strip()] = float(value)
        except ValueError:
            raise TraceError(
                f"--trace parameter {key.strip()!r} has value {value!r}: expected a number"
            ) from None
    return out


def _steps(kind: str, p: dict[str, float], duration: float) -> tuple[tuple[float, float], ...]:
    if kind not in ("poisson", "burst"):
        return ()
    points = {0.0: p["rate"]}
    if kind == "burst":
        points[max(0.0, p["at"])] = p["rate"] * p["factor"]
        points[max(0.0, p["at"] + p["for"])] = p["rate"]
    out: list[tuple[float, float]] = []
    for t, rate in sorted(points.items()):
        if t < duration and (not out or rate != out[-1][1]):
            out.append((t, rate))
    return tuple(out)


def _rate_function(kind: str, p: dict[str, float]) -> tuple[Callable[[float], float], float]:
    """(rate at t, its maximum)."""
    rate = p["rate"]
    if kind == "poisson":
        return (lambda t: rate), rate
    if kind == "burst":
        high, start, end = rate * p["factor"], p["at"], p["at"] + p["for"]
        return (lambda t: high if start <= t < end else rate), max(rate, high)
    amplitude, period = p["amplitude"], p["period"]
    if not 0 <= amplitude < 1:
        raise TraceError(
            f"--trace parameter 'amplitude' has value {amplitude}: expected 0 <= amplitude < 1"
        )
    return (lambda t: rate * (1 - amplitude * math.cos(2 * math.pi * t / period))), rate * (
        1 + amplitude
    )


def _lengths(
    rng: random.Random, n: int, p: dict[str, float], max_len: int
) -> tuple[list[int], list[int]]:
    prompts, outputs = [], []
    for _ in range(n):
        prompt = min(max(1, round(rng.gauss(p["prompt"], p["prompt_sd"]))), max_len - 1)
        output = min(max(1, round(rng.gauss(p["output"], p["output_sd"]))), max_len - prompt)
        prompts.append(prompt)
        outputs.append(output)
    return prompts, outputs


def _generate(kind: str, p: dict[str, float], duration: float, seed: int, max_len: int) -> Trace:
    rate_at, peak = _rate_function(kind, p)
    rng = random.Random(seed)
    arrivals: list[float] = []
    t = 0.0
    if peak > 0:
        while True:  # thinning (Lewis and Shedler): exact for any rate function under `peak`
            t += rng.expovariate(peak)
            if t >= duration:
                break
            if kind == "poisson" or rng.random() * peak < rate_at(t):
                arrivals.append(t)
    prompts, outputs = _lengths(random.Random(seed + 1), len(arrivals), p, max_len)
    spec = ",".join(f"{k}={p[k]:g}" for k in _SHAPES[kind])
    return Trace(
        f"{kind}:{spec}", arrivals, prompts, outputs, duration, rate_at, _steps(kind, p, duration)
    )


def _replay(path: Path, duration: float | None, max_len: int) -> Trace:
    try:
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise TraceError(f"--trace {path}: {exc.strerror}") from None
    need = {"timestamp", "prompt_tokens", "output_tokens"}
    if not rows or not need <= set(rows[0]):
        raise TraceError(f"--trace {path}: expected a CSV header with columns {sorted(need)}")
    parsed = []
    for line, row in enumerate(rows, start=2):
        try:
            parsed.append(
                (float(row["timestamp"]), int(row["prompt_tokens"]), int(row["output_tokens"]))
            )
        except ValueError:
            raise TraceError(
                f"--trace {path} line {line}: {row!r} is not (seconds, tokens, tokens)"
            ) from None
    parsed.sort()
    start = parsed[0][0]
    end = duration if duration is not None else parsed[-1][0] - start + 1.0
    kept = [(t - start, max(1, min(pr, max_len - 1)), o) for t, pr, o in parsed if t - start < end]
    return Trace(
        f"csv:{path.name}",
        [t for t, _, _ in kept],
        [pr for _, pr, _ in kept],
        [max(1, min(o, max_len - pr)) for _, pr, o in kept],
        end,
    )


def parse_trace(
    text: str, *, duration: float | None = None, seed: int = 0, max_model_len: int = 8192
) -> Trace:
    """Usage: ``parse_trace("burst:rate=10,factor=5,at=600,for=1200", duration=3600)``."""
    kind, sep, rest = text.partition(":")
    if not sep and (text.endswith(".csv") or Path(text).exists()):
        return _replay(Path(text), duration, max_model_len)
    if kind not in _SHAPES:
        raise TraceError(
            f"--trace has value {text!r}: expected one of {sorted(_SHAPES)} (KIND:key=value,...)"
            " or a CSV file"
        )
    params = {**_DEFAULTS, **_params(rest)}
    missing = [k for k in _SHAPES[kind] if k not in params]
    if kind == "diurnal":
        params.setdefault("amplitude", 0.5)
        params.setdefault("period", 86400.0)
        missing = [k for k in missing if k not in params]
    if missing:
        raise TraceError(f"--trace {kind}: missing {', '.join(missing)} (e.g. {_example(kind)})")
    unknown = set(params) - set(_SHAPES[kind]) - set(_DEFAULTS)
    if unknown:
        raise TraceError(f"--trace {kind}: unknown parameter(s) {sorted(unknown)}")
    if params["rate"] < 0:
        raise TraceError(f"--trace parameter 'rate' has value {params['rate']}: expected >= 0")
    return _generate(kind, params, 3600.0 if duration is None else duration, seed, max_model_len)


def _example(kind: str) -> str:
    return {
        "poisson": "poisson:rate=5",
        "burst": "burst:rate=5,factor=5,at=600,for=1200",
        "diurnal": "diurnal:rate=5,amplitude=0.5,period=86400",
    }[kind]

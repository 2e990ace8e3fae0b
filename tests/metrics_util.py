"""Reading a live server's `/metrics` in tests."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

__all__ = ["sample", "scrape"]


def scrape(text: str) -> dict[str, float]:
    """``{sample name + sorted labels: value}``, e.g. ``'vllm:num_requests_running'``."""
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            extra = {k: v for k, v in s.labels.items() if k not in ("model_name", "engine")}
            key = s.name + (
                "{" + ",".join(f"{k}={v}" for k, v in sorted(extra.items())) + "}" if extra else ""
            )
            values[key] = s.value
    return values


async def sample(client: httpx.AsyncClient, url: str) -> dict[str, float]:
    resp = await client.get(f"{url}/metrics")
    resp.raise_for_status()
    return scrape(resp.text)

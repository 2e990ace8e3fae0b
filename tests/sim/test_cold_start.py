"""Cold starts per cache kind: the simulator's timeline, and docs/deploy.md's table of it."""

from __future__ import annotations

import random
import sys
from pathlib import Path

from vllm_deploy.sim.cold_start import cold_starts
from vllm_deploy.sim.lifecycle import Node, plan_start
from vllm_deploy.sim.profile import load_profile
from vllm_deploy.sim.setup import setup_from_spec
from vllm_deploy.spec import load_spec

ROOT = Path(__file__).parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from render_cold_start_table import END, START, table  # noqa: E402


def test_the_docs_table_is_the_simulators() -> None:
    doc = (ROOT / "docs" / "deploy.md").read_text()
    current = doc.split(START, 1)[1].split(END, 1)[0]
    assert current.strip() == table().strip(), "docs/deploy.md is stale: run `make generate`"


def test_who_waits_for_a_download_follows_the_cache_kind() -> None:
    spec, profile = load_spec(ROOT / "examples" / "prod.yaml"), load_profile("llama-3.1-8b-h100")
    startup = profile.startup.model_copy(update={"jitter": 0.0})
    rows = {(r.kind, r.case): r for r in cold_starts(spec, profile)}
    download = profile.startup.download_s
    assert rows["shared", "any new pod"].download_s == 0
    assert rows["ephemeral", "any new pod"].download_s == download
    assert rows["node", "first pod on a node"].download_s == download
    assert rows["node", "later pods on that node"].download_s == 0
    assert (
        len({r.load_s for r in rows.values()}) == 1
    )  # the kind changes who downloads, not the load

    # On one node, a second pod arriving mid-download waits for the first one's, once.
    cache = spec.cache.model_copy(update={"kind": "node"})
    template = setup_from_spec(spec.model_copy(update={"cache": cache}), profile).template
    node = Node(free_gpus=8, image_at=0.0)
    first = plan_start(0.0, node, startup, template, random.Random(0))
    second = plan_start(30.0, node, startup, template, random.Random(0))
    assert first.container_start == second.container_start == download
    third = plan_start(500.0, node, startup, template, random.Random(0))
    assert third.container_start == 500.0

"""The cold-start table per cache kind: what a new pod waits for before it serves.

Computed with the simulator's own start timeline (``lifecycle.plan_start``) for a spec and
an engine profile, without jitter, on a node that already has the image: docs/deploy.md's
table is this function's output (``make generate``), so the docs and the simulator cannot
disagree. Each kind is the spec with only ``cache.kind`` changed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from vllm_deploy.render.cache import KINDS
from vllm_deploy.sim.lifecycle import Node, plan_start
from vllm_deploy.sim.profile import EngineProfile
from vllm_deploy.sim.setup import setup_from_spec
from vllm_deploy.spec.models import DeploymentSpec

__all__ = ["ColdStart", "cold_starts", "render_table"]

_WHO = {
    "job": "the download Job, once per revision, before the pods",
    "first-pod-on-node": "the first pod on each node (a lock; the others wait for it)",
    "every-pod": "every pod, into its own new volume",
}


@dataclass(frozen=True, slots=True)
class ColdStart:
    kind: str
    case: str
    download_s: float  # what the new pod waits for its weights
    load_s: float  # weights into GPU memory, warm-up, until the server answers
    ready_s: float  # from scheduling to the readiness probe passing


def cold_starts(spec: DeploymentSpec, profile: EngineProfile) -> list[ColdStart]:
    startup = profile.startup.model_copy(update={"jitter": 0.0})
    rows = []
    for kind in KINDS:
        cache = spec.cache.model_copy(update={"kind": kind, "access_mode": None})
        template = setup_from_spec(spec.model_copy(update={"cache": cache}), profile).template
        cases = [("first pod on a node", False), ("later pods on that node", True)]
        for case, warm_node in cases if kind == "node" else [("any new pod", False)]:
            node = Node(
                free_gpus=template.gpus, image_at=0.0, weights_at=0.0 if warm_node else float("inf")
            )
            plan = plan_start(0.0, node, startup, template, random.Random(0))
            rows.append(
                ColdStart(
                    kind,
                    case,
                    plan.container_start,
                    plan.server_up - plan.container_start,
                    plan.ready,
                )
            )
    return rows


def render_table(spec: DeploymentSpec, profile: EngineProfile) -> str:
    lines = [
        f"Engine profile `{profile.name}` ({profile.model} on {profile.gpu}); the spec's probes "
        f"(startup every {spec.probes.startup_period_s} s, readiness every "
        f"{spec.probes.readiness_period_s} s); the image already on the node.",
        "",
        "| `cache.kind` | who downloads | new pod "
        "| download (s) | load + warm-up (s) | ready (s) |",
        "|---|---|---|---:|---:|---:|",
    ]
    for row in cold_starts(spec, profile):
        who = _WHO[KINDS[row.kind].downloads]
        lines.append(
            f"| `{row.kind}` | {who} | {row.case} | {row.download_s:.0f} | "
            f"{row.load_s:.0f} | {row.ready_s:.0f} |"
        )
    return "\n".join(lines)

"""A pod's life on the cluster: scheduled on a GPU, started, probed, ready, drained, gone.

The timeline follows what the rendered Deployment makes the kubelet do:
- **Pending** until a node has a free GPU (``nvidia.com/gpu`` requests = limits); among
  nodes with room, the scheduler prefers one that has the image (ImageLocality) and then
  the emptiest (LeastAllocated scoring), as the default scheduler's scoring plugins do.
- **Image pull** on a node that never pulled it (one pull per node, shared by the pods that
  wait for it), then the **model download** by the init container, as ``cache.kind`` says
  (``render.cache.KINDS``): every pod with ``ephemeral``; the first pod on each node with
  ``node`` (the node's later pods wait for that download, then find the weights); never
  with ``shared`` (the download Job filled the volume before the deployment served), then
  the main container starts: **load** and **warm-up** until the server answers.
- The **startup probe** runs every ``periodSeconds`` from container start; it passes at the
  first tick after the server answers, or the kubelet restarts the container after
  ``failureThreshold`` failures (the pod then never becomes ready here). The **readiness
  probe** passes at its next tick; the endpoint reaches the load balancer ``lb_delay_s`` later.
- **Scale-in** (``pkg/controller/replicaset`` via ``controller.ActivePods``): unscheduled pods
  go first, then pods not yet running, then unready ones, then the most recently ready,
  then the newest. A ready pod drains: it leaves the load balancer after ``lb_delay_s``
  (until then it still gets requests, as during a real endpoint update), finishes what it
  holds, waits for the quiet period, then exits; at the drain deadline plus vLLM's
  shutdown timeout whatever it still holds fails.
- **GPU-hours** are billed from scheduling (the GPU is bound to the pod) to exit.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from vllm_deploy.sim.batching import PodEngine
from vllm_deploy.sim.profile import Startup
from vllm_deploy.sim.setup import PodTemplate

__all__ = [
    "DRAINING",
    "EXITED",
    "PENDING",
    "READY",
    "STARTING",
    "Node",
    "Pod",
    "deletion_order",
    "plan_start",
]

PENDING, STARTING, READY, DRAINING, EXITED = range(5)
INF = float("inf")


class Pod(PodEngine):
    """A replica: its engine state plus its lifecycle times (INF: not yet)."""

    __slots__ = (
        "container_start",
        "crashloop",
        "created",
        "deleted_at",
        "exit_at",
        "id",
        "lb_in",
        "lb_out",
        "mark_busy",
        "mark_t",
        "node",
        "ready_at",
        "sample",
        "sample_prev",
        "scheduled",
        "server_up",
        "state",
    )

    def __init__(self, pid: int, created: float) -> None:
        super().__init__(created)
        self.id, self.created, self.state = pid, created, PENDING
        self.node = -1
        self.scheduled = self.container_start = self.server_up = self.ready_at = INF
        self.lb_in = self.lb_out = self.deleted_at = self.exit_at = INF
        self.crashloop = False
        self.sample: tuple[float, dict[str, float]] | None = None
        self.sample_prev: tuple[float, dict[str, float]] | None = None
        self.mark_busy = 0.0
        self.mark_t = created


@dataclass(slots=True)
class Node:
    free_gpus: int
    image_at: float = INF  # when the image is (or will be) on this node
    weights_at: float = INF  # when a node cache holds the weights (cache.kind node)


@dataclass(frozen=True, slots=True)
class StartPlan:
    container_start: float
    server_up: float
    ready: float  # INF: the startup probe never passes (crash loop)


def _jittered(rng: random.Random, seconds: float, jitter: float) -> float:
    return seconds * (1.0 + jitter * (2.0 * rng.random() - 1.0)) if seconds and jitter else seconds


def pick_node(nodes: list[Node], gpus: int) -> int:
    """A node with room: one with the image first, then the one with the most free GPUs."""
    best, best_key = -1, (False, -1)
    for i, node in enumerate(nodes):
        if node.free_gpus >= gpus:
            key = (node.image_at < INF, node.free_gpus)
            if key > best_key:
                best, best_key = i, key
    return best


def plan_start(
    t: float,
    node: Node,
    startup: Startup,
    template: PodTemplate,
    rng: random.Random,
) -> StartPlan:
    """The times of a pod bound to ``node`` at ``t``; starts the node's image pull (and, with a
    node cache, its download) if needed."""
    if node.image_at == INF:
        node.image_at = t + _jittered(rng, startup.image_pull_s, startup.jitter)
    pulled = max(t, node.image_at)
    container = pulled
    if template.downloads == "every-pod":
        container = pulled + _jittered(rng, startup.download_s, startup.jitter)
    elif template.downloads == "first-pod-on-node":
        if node.weights_at == INF:  # this pod takes the node's lock and downloads
            node.weights_at = pulled + _jittered(rng, startup.download_s, startup.jitter)
        container = max(pulled, node.weights_at)
    boot = _jittered(rng, startup.load_s, startup.jitter) + _jittered(
        rng, startup.warmup_s, startup.jitter
    )
    period = template.startup_period_s
    if boot > period * template.startup_failure_threshold:
        return StartPlan(container, container + boot, INF)
    started = container + math.ceil(boot / period) * period
    return StartPlan(container, container + boot, started + template.readiness_period_s)


def deletion_order(pods: list[Pod]) -> list[Pod]:
    """Which pods a scale-in removes first (``ActivePods.Less``, without node ranks)."""

    def key(p: Pod) -> tuple[int, int, int, float, float]:
        return (
            0 if p.state == PENDING else 1,
            0 if p.container_start == INF else 1,
            0 if p.state != READY else 1,
            -p.ready_at if p.ready_at < INF else 0.0,
            -p.created,
        )

    return sorted(pods, key=key)

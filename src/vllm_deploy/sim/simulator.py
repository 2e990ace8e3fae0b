"""The discrete-event loop: arrivals, the Service's round robin, pods, metrics, the autoscaler.

One heap of timed events (pod engine events, lifecycle steps, scrapes, HPA syncs, drain
checks); arrivals come from the sorted trace and are merged with the heap without being
pushed into it. A pod's engine event carries a version, so a rescheduled event makes the
old one stale at no cost. Everything random comes from generators seeded by ``seed``, and
ties break in insertion order: a seed gives the same run, event for event.

Metric pipeline: every ``scrape_interval_s`` each pod whose server answers is sampled
(``vllm:num_requests_waiting``, running, KV usage, GPU busy share; CPU for every started
container, from the profile's CPU model); the HPA reads, every ``sync_period_s``, each pod's
latest sample older than ``metric_delay_s`` and decides through ``autoscale`` (upstream's
algorithm); the ReplicaSet then creates or deletes pods at once.
"""

from __future__ import annotations

import heapq
import itertools
import random
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field

from vllm_deploy.autoscale import ClusterMetrics, PodState
from vllm_deploy.sim.batching import ERROR_NO_POD, Batcher
from vllm_deploy.sim.lifecycle import (
    DRAINING,
    EXITED,
    PENDING,
    READY,
    STARTING,
    Node,
    Pod,
    deletion_order,
    pick_node,
    plan_start,
)
from vllm_deploy.sim.policies import EXTERNAL_SIGNALS, POD_SIGNALS, Policy
from vllm_deploy.sim.setup import SimSetup
from vllm_deploy.sim.trace import Trace

__all__ = ["RunResult", "TimelinePoint", "simulate"]

INF = float("inf")
EV_POD, EV_SYNC, EV_SCRAPE, EV_SCHEDULE, EV_STAGE, EV_DRAIN, EV_EXIT = range(7)
STAGE_SERVER_UP, STAGE_READY, STAGE_LB_IN, STAGE_LB_OUT = range(4)
DRAIN_CHECK_S = 1.0


@dataclass(frozen=True, slots=True)
class TimelinePoint:
    t: float
    desired: int
    ready: int  # in the load balancer
    pods: int  # not exited, including Pending
    pending: int  # waiting for a GPU
    waiting: int  # requests queued in pods
    running: int


@dataclass
class RunResult:
    """Everything a report needs from one run; request arrays are indexed like the trace."""

    policy: str
    trace: Trace
    end: float
    first_token: list[float]
    done: list[float]
    status: bytearray
    pod_of: array[int]
    pods: list[Pod]
    gpus_per_pod: int
    timeline: list[TimelinePoint] = field(default_factory=list)
    scale_events: int = 0
    busy_s: float = 0.0

    @property
    def gpu_hours(self) -> float:
        return (
            sum(min(p.exit_at, self.end) - p.scheduled for p in self.pods if p.scheduled < INF)
            * self.gpus_per_pod
            / 3600
        )


class _Run:
    def __init__(self, setup: SimSetup, trace: Trace, policy: Policy, seed: int) -> None:
        self.setup, self.trace, self.policy = setup, trace, policy
        t = setup.template
        self.batcher = Batcher(
            setup.profile.step,
            t.max_num_seqs,
            t.kv_cache_tokens,
            t.max_inflight,
            trace.prompt_tokens,
            trace.output_tokens,
        )
        self.rng = random.Random(seed * 7919 + 17)
        c = setup.cluster
        full, rest = divmod(c.gpus, c.gpus_per_node)
        self.nodes = [Node(c.gpus_per_node) for _ in range(full)] + ([Node(rest)] if rest else [])
        self.heap: list[tuple[float, int, int, object, int]] = []
        self.seq = itertools.count()
        self.pods: list[Pod] = []
        self.unscheduled: list[Pod] = []
        self.lb: list[Pod] = []
        self.rr = 0
        self.desired = 0
        self.scale_events = 0
        self.timeline: list[TimelinePoint] = []
        self.pod_of = array("i", [-1]) * len(trace)
        self.now = 0.0

    def push(self, t: float, kind: int, obj: object = None, arg: int = 0) -> None:
        heapq.heappush(self.heap, (t, next(self.seq), kind, obj, arg))

    def reschedule(self, pod: Pod) -> None:
        nxt = self.batcher.next_event(pod)
        if nxt != pod.next_t:
            pod.version += 1
            pod.next_t = nxt
            if nxt < INF:
                heapq.heappush(self.heap, (nxt, next(self.seq), EV_POD, pod, pod.version))

    # --- lifecycle ---------------------------------------------------------------------------
    def create(self, t: float, ready: bool = False) -> None:
        pod = Pod(len(self.pods), t)
        self.pods.append(pod)
        index = pick_node(self.nodes, self.setup.template.gpus) if ready else -1
        if index >= 0:  # a warm replica at t = 0: scheduled, image and weights there, in the LB
            node = self.nodes[index]
            node.free_gpus -= self.setup.template.gpus
            node.image_at = min(node.image_at, t)
            node.weights_at = min(node.weights_at, t)
            pod.node = index
            pod.scheduled = pod.container_start = pod.server_up = pod.ready_at = pod.lb_in = t
            pod.state = READY
            self.lb.append(pod)
            return
        self.unscheduled.append(pod)
        self.push(t + self.setup.cluster.schedule_delay_s, EV_SCHEDULE)

    def schedule(self, t: float) -> None:
        gpus = self.setup.template.gpus
        while self.unscheduled:
            index = pick_node(self.nodes, gpus)
            if index < 0:
                return
            pod = self.unscheduled.pop(0)
            node = self.nodes[index]
            node.free_gpus -= gpus
            pod.node, pod.scheduled, pod.state = index, t, STARTING
            pod.mark_t = t
            plan = plan_start(t, node, self.setup.profile.startup, self.setup.template, self.rng)
            pod.container_start, pod.server_up = plan.container_start, plan.server_up
            self.push(plan.server_up, EV_STAGE, pod, STAGE_SERVER_UP)
            if plan.ready < INF:
                self.push(plan.ready, EV_STAGE, pod, STAGE_READY)
            else:
                pod.crashloop = True

    def stage(self, pod: Pod, stage: int, t: float) -> None:
        if pod.state == EXITED:
            return
        if stage == STAGE_READY and pod.state == STARTING:
            pod.state, pod.ready_at = READY, t
            self.push(t + self.setup.cluster.lb_delay_s, EV_STAGE, pod, STAGE_LB_IN)
        elif stage == STAGE_LB_IN and pod.state == READY:
            pod.lb_in = t
            self.lb.append(pod)
        elif stage == STAGE_LB_OUT and pod in self.lb:
            pod.lb_out = t
            self.lb.remove(pod)

    def delete(self, pod: Pod, t: float) -> None:
        pod.deleted_at = t
        if pod.state == PENDING:
            self.unscheduled.remove(pod)
            pod.state, pod.exit_at = EXITED, t
        elif pod.state == STARTING:
            pod.state = DRAINING
            self.push(t + 2.0, EV_EXIT, pod)  # nothing in flight: the container stops at once
        else:
            pod.state = DRAINING
            lb_out = t + self.setup.cluster.lb_delay_s
            self.push(lb_out, EV_STAGE, pod, STAGE_LB_OUT)
            self.push(lb_out, EV_DRAIN, pod)
            tpl = self.setup.template
            self.push(t + tpl.drain_deadline_s + tpl.shutdown_timeout_s, EV_EXIT, pod)

    def drain_check(self, pod: Pod, t: float) -> None:
        if pod.state == EXITED:
            return
        self.batcher.process(pod, t)
        self.reschedule(pod)
        quiet = pod.last_arrival + self.setup.template.drain_quiet_s
        if pod.running == 0 and not pod.waiting and t >= quiet and pod not in self.lb:
            self.push(t + 1.0, EV_EXIT, pod)  # preStop returns; vLLM stops its idle engine
        else:
            self.push(max(t + DRAIN_CHECK_S, quiet if pod.running == 0 else t), EV_DRAIN, pod)

    def exit(self, pod: Pod, t: float) -> None:
        if pod.state == EXITED:
            return
        self.batcher.process(pod, t)
        self.batcher.kill(pod, t)
        if pod in self.lb:
            pod.lb_out = t
            self.lb.remove(pod)
        pod.state, pod.exit_at = EXITED, t
        pod.version += 1
        if pod.node >= 0:
            self.nodes[pod.node].free_gpus += self.setup.template.gpus
        self.schedule(t)

    def reconcile(self, t: float) -> None:
        """The ReplicaSet controller: create or delete pods to match ``desired``."""
        active = [p for p in self.pods if p.state in (PENDING, STARTING, READY)]
        if len(active) < self.desired:
            for _ in range(self.desired - len(active)):
                self.create(t)
        elif len(active) > self.desired:
            for pod in deletion_order(active)[: len(active) - self.desired]:
                self.delete(pod, t)

    # --- metrics and the autoscaler ----------------------------------------------------------
    def scrape(self, t: float) -> None:
        tpl, cpu = self.setup.template, self.setup.profile.cpu
        interval = self.setup.cluster.scrape_interval_s
        for pod in self.pods:
            if pod.state == EXITED or pod.container_start > t:
                continue
            self.batcher.process(pod, t)
            self.reschedule(pod)
            busy = self.batcher.busy_time(pod, t)
            span = t - pod.mark_t if t > pod.mark_t else interval
            share = (busy - pod.mark_busy) / span
            serving = max(0.0, t - max(pod.server_up, pod.mark_t))
            loading = max(0.0, min(t, pod.server_up) - max(pod.mark_t, pod.container_start))
            cores = (
                loading * cpu.starting_cores
                + serving * cpu.idle_cores
                + (busy - pod.mark_busy) * cpu.busy_cores
            ) / span
            values = {"cpu": cores}
            if pod.server_up <= t:
                values.update(
                    waiting=len(pod.waiting),
                    running=pod.running,
                    kv=pod.kv / tpl.kv_cache_tokens,
                    gpu_util=100.0 * share,
                )
            pod.sample_prev, pod.sample = pod.sample, (t, values)
            pod.mark_busy, pod.mark_t = busy, t

    def _sample(self, pod: Pod, t: float) -> tuple[float, dict[str, float]] | None:
        delay = self.setup.cluster.metric_delay_s
        if pod.sample is not None and pod.sample[0] <= t - delay:
            return pod.sample
        if pod.sample_prev is not None and pod.sample_prev[0] <= t - delay:
            return pod.sample_prev
        return None

    def pod_states(self, t: float) -> tuple[list[PodState], ClusterMetrics]:
        states: list[PodState] = []
        external: dict[str, float] = {}
        tpl, window = self.setup.template, self.setup.cluster.scrape_interval_s
        for pod in self.pods:
            if pod.state == EXITED:
                continue
            sample = self._sample(pod, t)
            values = sample[1] if sample else {}
            metrics = {
                key: values[signal] for key, signal in POD_SIGNALS.items() if signal in values
            }
            for key, signal in EXTERNAL_SIGNALS.items():
                if signal in values:
                    external[key] = external.get(key, 0.0) + values[signal]
            ready = None if pod.state == PENDING else pod.state == READY
            states.append(
                PodState(
                    f"pod-{pod.id}",
                    phase="Pending" if pod.container_start > t else "Running",
                    ready=ready,
                    ready_since=pod.ready_at if pod.state == READY else pod.scheduled,
                    started=None if pod.scheduled == INF else pod.scheduled,
                    deleting=pod.state == DRAINING,
                    metrics=metrics,
                    requests={"cpu": tpl.cpu_request},
                    sampled_at=sample[0] if sample else None,
                    sample_window_s=window,
                )
            )
        cluster = ClusterMetrics(external={k: [v] for k, v in external.items()})
        return states, cluster

    def sync(self, t: float) -> None:
        if self.policy.needs_pods:
            states, cluster = self.pod_states(t)
        else:
            states, cluster = [], ClusterMetrics()
        desired = self.policy.decide(t, self.desired, states, cluster)
        if desired != self.desired:
            self.scale_events += 1
            self.desired = desired
        self.reconcile(t)
        waiting = running = 0
        for pod in self.lb:
            waiting += len(pod.waiting)
            running += pod.running
        alive = sum(1 for p in self.pods if p.state != EXITED)
        self.timeline.append(
            TimelinePoint(
                t, self.desired, len(self.lb), alive, len(self.unscheduled), waiting, running
            )
        )

    # --- the loop ------------------------------------------------------------------------------
    def run(self, progress: Callable[[float], None] | None) -> RunResult:
        c = self.setup.cluster
        self.desired = self.policy.initial_replicas()
        for _ in range(self.desired):
            self.create(0.0, ready=True)
        self.push(c.first_sync_s, EV_SYNC)
        self.push(c.scrape_interval_s / 2, EV_SCRAPE)
        arrivals, n, i = self.trace.arrivals, len(self.trace), 0
        batcher, heap, lb, pod_of = self.batcher, self.heap, self.lb, self.pod_of
        duration, report_every, events = self.trace.duration_s, 20000, 0
        while True:
            t_arrival = arrivals[i] if i < n else INF
            if heap[0][0] <= t_arrival:
                t, _, kind, obj, arg = heapq.heappop(heap)
                self.now = t
                if kind == EV_POD:
                    pod: Pod = obj  # type: ignore[assignment]
                    if arg == pod.version:
                        pod.next_t = INF
                        batcher.process(pod, t)
                        self.reschedule(pod)
                elif kind == EV_SYNC:
                    if (
                        i >= n
                        and t >= duration
                        and all(p.running == 0 and not p.waiting for p in self.pods)
                    ):
                        break
                    self.sync(t)
                    self.push(t + c.sync_period_s, EV_SYNC)
                elif kind == EV_SCRAPE:
                    self.scrape(t)
                    self.push(t + c.scrape_interval_s, EV_SCRAPE)
                elif kind == EV_SCHEDULE:
                    self.schedule(t)
                elif kind == EV_STAGE:
                    self.stage(obj, arg, t)  # type: ignore[arg-type]
                elif kind == EV_DRAIN:
                    self.drain_check(obj, t)  # type: ignore[arg-type]
                else:
                    self.exit(obj, t)  # type: ignore[arg-type]
            else:
                t = self.now = t_arrival
                if lb:
                    pod = lb[self.rr % len(lb)]
                    self.rr += 1
                    pod_of[i] = pod.id
                    batcher.process(pod, t)
                    batcher.arrive(pod, i, t)
                    self.reschedule(pod)
                else:
                    batcher.status[i] = ERROR_NO_POD
                    batcher.done[i] = t
                i += 1
            events += 1
            if progress is not None and events % report_every == 0:
                progress(min(1.0, self.now / duration) if duration else 1.0)
        end = max([duration, *(d for d in batcher.done if d > 0)]) if n else duration
        for pod in self.pods:
            if pod.state != EXITED and (pod.running or pod.waiting):
                batcher.kill(pod, end)
        busy = sum(
            batcher.busy_time(p, min(p.exit_at, end)) for p in self.pods if p.scheduled < INF
        )
        return RunResult(
            self.policy.name,
            self.trace,
            end,
            batcher.first,
            batcher.done,
            batcher.status,
            self.pod_of,
            self.pods,
            self.setup.template.gpus,
            self.timeline,
            self.scale_events,
            busy,
        )


def simulate(
    setup: SimSetup,
    trace: Trace,
    policy: Policy,
    seed: int = 0,
    progress: Callable[[float], None] | None = None,
) -> RunResult:
    """Usage: ``simulate(setup_from_spec(spec, profile), parse_trace("poisson:rate=5"),
    policy_for_spec(spec))``."""
    return _Run(setup, trace, policy, seed).run(progress)

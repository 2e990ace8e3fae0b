"""What every controller shares: a wake-up on relevant changes, a resync period, timed
requeues, and writing through the store the way a controller writes through the API.

A controller's ``reconcile()`` looks at the whole (small) cluster state and converges it;
upstream controllers work key by key from informers, which gives the same result for the
tens of objects a local cluster holds. Reconciles run on the one event loop, so each sees a
consistent state and writes atomically.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import uuid
from collections.abc import Iterable
from typing import Any

from vllm_deploy.local.aio import wait_until
from vllm_deploy.local.resources import RESOURCES, ResourceType
from vllm_deploy.local.store import Event, Obj, Store, rfc3339

__all__ = ["EVENTS", "KINDS", "Controller", "owned_by", "record_event"]

KINDS: dict[str, ResourceType] = {r.kind: r for r in RESOURCES}
EVENTS = KINDS["Event"]
logger = logging.getLogger("vllm_deploy.local")


def owned_by(obj: Obj, owner: Obj) -> bool:
    """True when ``owner`` is ``obj``'s controller (metadata.ownerReferences, controller: true)."""
    uid = owner["metadata"]["uid"]
    return any(
        r.get("uid") == uid and r.get("controller")
        for r in obj["metadata"].get("ownerReferences") or []
    )


def owner_reference(owner: Obj) -> dict[str, Any]:
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def record_event(
    store: Store, involved: Obj, kind: str, reason: str, message: str, component: str
) -> None:
    """A core/v1 Event about ``involved``; an identical recent one has its count raised
    (client-go's EventCorrelator aggregates the same way)."""
    meta = involved["metadata"]
    namespace = meta.get("namespace", "default")
    now = rfc3339(store.now())
    for existing in store.items(EVENTS, namespace):
        ref = existing.get("involvedObject", {})
        if (ref.get("uid"), existing.get("reason"), existing.get("message")) == (
            meta.get("uid"),
            reason,
            message,
        ):
            updated = copy.deepcopy(existing)
            updated["count"] = updated.get("count", 1) + 1
            updated["lastTimestamp"] = now
            store.update(EVENTS, namespace, updated)
            return
    store.create(
        EVENTS,
        namespace,
        {
            "metadata": {"name": f"{meta['name']}.{uuid.uuid4().hex[:16]}"},
            "involvedObject": {
                "kind": involved.get("kind"),
                "namespace": namespace,
                "name": meta["name"],
                "uid": meta.get("uid"),
                "apiVersion": involved.get("apiVersion"),
                "resourceVersion": meta.get("resourceVersion"),
            },
            "reason": reason,
            "message": message,
            "type": kind,
            "source": {"component": component},
            "reportingComponent": component,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        },
    )


class Controller:
    """Subclasses set ``watches`` (kinds that wake it) and implement ``reconcile()``."""

    name = "controller"
    watches: frozenset[str] = frozenset()
    resync_s = 1.0

    def __init__(self, store: Store) -> None:
        self.store = store
        self._wake = asyncio.Event()
        self._next_requeue: float | None = None
        store.subscribe(self._on_event)

    def _on_event(self, event: Event) -> None:
        if event.rt.kind in self.watches:
            self._wake.set()

    def requeue_after(self, seconds: float) -> None:
        """Reconcile again after ``seconds`` even if nothing changes (deadlines, delays)."""
        at = self.store.now() + max(seconds, 0.0)
        if self._next_requeue is None or at < self._next_requeue:
            self._next_requeue = at

    def reconcile(self) -> None:
        raise NotImplementedError

    async def run(self) -> None:
        while True:
            timeout = self.resync_s
            if self._next_requeue is not None:
                timeout = min(timeout, max(self._next_requeue - self.store.now(), 0.0))
            await wait_until(self._wake.wait(), timeout)
            self._wake.clear()
            await asyncio.sleep(0)  # let a burst of changes land first
            self._next_requeue = None
            try:
                self.reconcile()
            except Exception:  # a bug in one sync must not stop the controller
                logger.exception("%s: reconcile failed", self.name)

    # -- helpers for writes ------------------------------------------------------------------

    def objects(self, kind: str, namespace: str | None = None) -> Iterable[Obj]:
        return list(self.store.items(KINDS[kind], namespace))

    def write_status(self, kind: str, obj: Obj, status: dict[str, Any]) -> None:
        """Stores a new status if it differs (UpdateStatus, skipped when semantically equal)."""
        if obj.get("status") == status:
            return
        new = copy.deepcopy(obj)
        new["status"] = status
        self.store.update(
            KINDS[kind], obj["metadata"].get("namespace", ""), new, subresource="status"
        )

    def write(self, kind: str, obj: Obj) -> Obj:
        return self.store.update(KINDS[kind], obj["metadata"].get("namespace", ""), obj)

    def event(self, involved: Obj, kind: str, reason: str, message: str) -> None:
        record_event(self.store, involved, kind, reason, message, self.name)

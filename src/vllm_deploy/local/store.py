"""The object store behind the local API server: etcd plus the API server's storage layer.

What it keeps from upstream (k8s.io/apiserver pkg/registry/generic/registry/store.go and
pkg/storage): one global, increasing ``resourceVersion``; ``uid`` and ``creationTimestamp``
set on create; optimistic concurrency (an update carrying a stale ``resourceVersion`` is a
409 Conflict); ``metadata.generation`` bumped when the spec changes, for kinds with a status
subresource; the main resource ignoring ``status`` and the ``status`` subresource changing
only ``status``; graceful deletion of pods (``deletionTimestamp`` +
``deletionGracePeriodSeconds``, the kubelet removes the object), finalizers; a bounded
per-type event history, so a watch resumes from a ``resourceVersion`` or gets 410 Expired.
"""

from __future__ import annotations

import asyncio
import copy
import secrets
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from vllm_deploy.local.errors import ApiError, FieldError
from vllm_deploy.local.resources import ResourceType

__all__ = ["NAME_ALPHABET", "Event", "Obj", "Store", "Watch", "parse_rfc3339", "rfc3339"]

Obj = dict[str, Any]
EventType = Literal["ADDED", "MODIFIED", "DELETED"]
HISTORY = 10_000  # events kept per resource type for watches that resume


# utilrand's alphabet (apimachinery pkg/util/rand/rand.go): no vowels, no confusable digits.
NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


@dataclass(frozen=True)
class Event:
    """A change: the object before (None when created) and after (None when deleted)."""

    rv: int
    rt: ResourceType
    old: Obj | None
    new: Obj | None

    @property
    def obj(self) -> Obj:
        return self.new if self.new is not None else self.old  # type: ignore[return-value]


@dataclass(eq=False)
class Watch:
    """Events for one watcher; ``queue`` holds (type, object) pairs, None when it must end."""

    rt: ResourceType
    namespace: str | None
    matches: Callable[[Obj], bool]
    queue: asyncio.Queue[tuple[str, Obj] | None] = field(default_factory=asyncio.Queue)

    def offer(self, event: Event) -> None:
        if self.namespace is not None and event.obj["metadata"].get("namespace") != self.namespace:
            return
        before = event.old is not None and self.matches(event.old)
        after = event.new is not None and self.matches(event.new)
        if after:
            kind = "MODIFIED" if before else "ADDED"
            self.queue.put_nowait((kind, copy.deepcopy(event.new)))  # type: ignore[arg-type]
        elif before:
            # Gone, or no longer selected: a DELETED event with its last state.
            last = event.new if event.new is not None else event.old
            self.queue.put_nowait(("DELETED", copy.deepcopy(last)))  # type: ignore[arg-type]


def _delete_during_update(obj: Obj) -> bool:
    """ShouldDeleteDuringUpdate (k8s.io/apiserver pkg/registry/generic/registry/store.go): a
    deleted object whose finalizers are gone and whose grace period is over (0). A pod still
    in its grace period stays until the kubelet removes it, whatever status it reports."""
    meta = obj["metadata"]
    return bool(
        meta.get("deletionTimestamp")
        and not meta.get("finalizers")
        and meta.get("deletionGracePeriodSeconds", 0) == 0
    )


def _spec_of(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "kind", "apiVersion")}


class Store:
    """Usage: ``store.create(rt, "ns", obj)``; ``store.subscribe(callback)`` for controllers."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._rv = 0
        self._objects: dict[ResourceType, dict[tuple[str, str], Obj]] = {}
        self._history: dict[ResourceType, deque[Event]] = {}
        self._oldest: dict[ResourceType, int] = {}
        self._watches: dict[ResourceType, set[Watch]] = {}
        self._listeners: list[Callable[[Event], None]] = []

    @property
    def resource_version(self) -> int:
        return self._rv

    def now(self) -> float:
        return self._clock()

    def subscribe(self, listener: Callable[[Event], None]) -> None:
        """Called, synchronously, after every change (controllers wake on it)."""
        self._listeners.append(listener)

    # -- reads -------------------------------------------------------------------------------

    def _table(self, rt: ResourceType) -> dict[tuple[str, str], Obj]:
        return self._objects.setdefault(rt, {})

    def peek(self, rt: ResourceType, namespace: str, name: str) -> Obj | None:
        """The stored object itself (no copy): for in-process readers that do not modify it."""
        return self._table(rt).get((namespace, name))

    def get(self, rt: ResourceType, namespace: str, name: str) -> Obj:
        obj = self.peek(rt, namespace, name)
        if obj is None:
            raise ApiError.not_found(rt, name)
        return copy.deepcopy(obj)

    def items(self, rt: ResourceType, namespace: str | None = None) -> Iterator[Obj]:
        """The stored objects (no copies), in name order: for in-process readers."""
        for (ns, _), obj in sorted(self._table(rt).items()):
            if namespace is None or ns == namespace:
                yield obj

    def list(
        self, rt: ResourceType, namespace: str | None, matches: Callable[[Obj], bool]
    ) -> tuple[list[Obj], int]:
        return [copy.deepcopy(o) for o in self.items(rt, namespace) if matches(o)], self._rv

    # -- writes ------------------------------------------------------------------------------

    def _commit(self, rt: ResourceType, old: Obj | None, new: Obj | None) -> Event:
        self._rv += 1
        target = new if new is not None else old
        assert target is not None
        meta = target["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        meta["resourceVersion"] = str(self._rv)
        if new is None:
            self._table(rt).pop(key, None)
        else:
            self._table(rt)[key] = new
        event = Event(self._rv, rt, old, new)
        history = self._history.setdefault(rt, deque())
        history.append(event)
        if len(history) > HISTORY:
            self._oldest[rt] = history.popleft().rv
        for watch in list(self._watches.get(rt, ())):
            watch.offer(event)
        for listener in self._listeners:
            listener(event)
        return event

    def create(self, rt: ResourceType, namespace: str, obj: Obj, *, dry_run: bool = False) -> Obj:
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            # names.SimpleNameGenerator: the prefix (cut to 58 characters), 5 random characters.
            suffix = "".join(secrets.choice(NAME_ALPHABET) for _ in range(5))
            meta["name"] = meta["generateName"][:58] + suffix
        if not meta.get("name"):
            raise ApiError.invalid(
                rt, "", [FieldError("metadata.name", "Required value", "FieldValueRequired")]
            )
        if rt.namespaced:
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        if self.peek(rt, namespace if rt.namespaced else "", meta["name"]) is not None:
            raise ApiError.already_exists(rt, meta["name"])
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = rfc3339(self._clock())
        for transient in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds"):
            meta.pop(transient, None)
        if rt.has_generation:
            meta["generation"] = 1
        if dry_run:
            return obj
        self._commit(rt, None, obj)
        return copy.deepcopy(obj)

    def update(
        self,
        rt: ResourceType,
        namespace: str,
        obj: Obj,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """Replaces the object (or its status); a ``resourceVersion`` in ``obj`` must be current."""
        name = obj.get("metadata", {}).get("name", "")
        current = self.peek(rt, namespace if rt.namespaced else "", name)
        if current is None:
            raise ApiError.not_found(rt, name)
        given_rv = obj.get("metadata", {}).get("resourceVersion")
        if given_rv and given_rv != current["metadata"]["resourceVersion"]:
            raise ApiError.stale(rt, name)
        new = self._merged(rt, current, copy.deepcopy(obj), subresource)
        if new == current:
            return copy.deepcopy(current)  # a no-op update leaves the resourceVersion alone
        if dry_run:
            return new
        self._commit(rt, current, new)
        if _delete_during_update(new):
            self._remove(rt, new)  # the last finalizer went away
        return copy.deepcopy(new)

    def _merged(self, rt: ResourceType, current: Obj, obj: Obj, subresource: str | None) -> Obj:
        if subresource == "status":
            new = copy.deepcopy(current)
            new["status"] = obj.get("status", {})
            return new
        meta = obj.setdefault("metadata", {})
        keep = (
            "uid",
            "creationTimestamp",
            "namespace",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "resourceVersion",
        )
        for key in keep:
            if key in current["metadata"]:
                meta[key] = current["metadata"][key]
            else:
                meta.pop(key, None)
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        if "status" in rt.subresources:
            if "status" in current:
                obj["status"] = current["status"]
            else:
                obj.pop("status", None)
        if rt.has_generation and _spec_of(obj) != _spec_of(current):
            meta["generation"] = current["metadata"].get("generation", 0) + 1
        return obj

    def delete(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        *,
        grace_period_s: int | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """Deletes, or starts a graceful deletion (pods on a node; objects with finalizers).

        Returns the object as it is afterwards (with ``deletionTimestamp`` when pending).
        """
        current = self.peek(rt, namespace if rt.namespaced else "", name)
        if current is None:
            raise ApiError.not_found(rt, name)
        meta = current["metadata"]
        graceful = rt.kind == "Pod" and current.get("spec", {}).get("nodeName")
        if graceful and grace_period_s is None:
            grace_period_s = current["spec"].get("terminationGracePeriodSeconds", 30)
        if graceful and grace_period_s:
            pending = meta.get("deletionGracePeriodSeconds")
            if pending is not None and pending <= grace_period_s:
                return copy.deepcopy(current)  # already terminating, as fast or faster
            return self._mark_deleting(rt, current, grace_period_s, dry_run)
        if meta.get("finalizers") or (
            rt.kind == "Namespace" and current.get("spec", {}).get("finalizers")
        ):
            return self._mark_deleting(rt, current, 0, dry_run)
        if dry_run:
            return copy.deepcopy(current)
        return self._remove(rt, current)

    def _mark_deleting(self, rt: ResourceType, current: Obj, grace: int, dry_run: bool) -> Obj:
        new = copy.deepcopy(current)
        meta = new["metadata"]
        pending = meta.get("deletionGracePeriodSeconds")
        if meta.get("deletionTimestamp") and pending is not None:
            # Shortening a pending deletion moves its timestamp back by the difference, not
            # before now, and leaves the generation (k8s.io/apiserver pkg/registry/rest
            # delete.go BeforeDelete).
            moved = parse_rfc3339(meta["deletionTimestamp"]) - pending + grace
            meta["deletionTimestamp"] = rfc3339(max(moved, self._clock()))
        else:
            meta["deletionTimestamp"] = rfc3339(self._clock() + grace)
            if rt.has_generation:
                meta["generation"] = meta.get("generation", 0) + 1
        meta["deletionGracePeriodSeconds"] = grace
        if dry_run:
            return new
        self._commit(rt, current, new)
        return copy.deepcopy(new)

    def _remove(self, rt: ResourceType, current: Obj) -> Obj:
        gone = copy.deepcopy(current)
        self._commit(rt, current, None)
        gone["metadata"]["resourceVersion"] = str(self._rv)
        return gone

    # -- watches ------------------------------------------------------------------------------

    def watch(
        self,
        rt: ResourceType,
        namespace: str | None,
        matches: Callable[[Obj], bool],
        resource_version: str | None,
    ) -> Watch:
        """A watch from ``resource_version`` (events after it), or, when it is empty or "0",
        synthetic ADDED events for every current object first (the API server's semantics)."""
        watch = Watch(rt, namespace, matches)
        if not resource_version or resource_version == "0":
            for obj in self.items(rt, namespace):
                if matches(obj):
                    watch.queue.put_nowait(("ADDED", copy.deepcopy(obj)))
        else:
            try:
                since = int(resource_version)
            except ValueError:
                raise ApiError.bad_request(
                    f"invalid resourceVersion {resource_version!r}"
                ) from None
            oldest = self._oldest.get(rt, 0)
            if since < oldest:
                raise ApiError.expired(f"too old resource version: {since} ({oldest + 1})")
            for event in self._history.get(rt, ()):
                if event.rv > since:
                    watch.offer(event)
        self._watches.setdefault(rt, set()).add(watch)
        return watch

    def stop(self, watch: Watch) -> None:
        self._watches.get(watch.rt, set()).discard(watch)

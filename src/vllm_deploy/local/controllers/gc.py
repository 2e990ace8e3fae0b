"""The garbage collector and the namespace controller.

Garbage collection (pkg/controller/garbagecollector): an object whose every owner (by
ownerReferences uid) is gone is deleted, gracefully for pods (background propagation); an
owner being deleted in the foreground (``foregroundDeletion`` finalizer) loses the finalizer
once it has no dependents left, after they were deleted. Namespaces
(pkg/controller/namespace): a deleted Namespace turns ``Terminating``, every object in it is
deleted, then the Namespace goes.
"""

from __future__ import annotations

import copy

from vllm_deploy.local.controllers.base import KINDS, Controller
from vllm_deploy.local.resources import RESOURCES, ResourceType
from vllm_deploy.local.store import Obj

__all__ = ["GarbageCollector"]

FOREGROUND = "foregroundDeletion"


class GarbageCollector(Controller):
    name = "garbage-collector"
    watches = frozenset(r.kind for r in RESOURCES)

    def reconcile(self) -> None:
        live_uids = {o["metadata"]["uid"] for rt in RESOURCES for o in self.store.items(rt)}
        for rt in RESOURCES:
            for obj in list(self.store.items(rt)):
                refs = obj["metadata"].get("ownerReferences") or []
                orphan = refs and not any(r.get("uid") in live_uids for r in refs)
                if orphan and not obj["metadata"].get("deletionTimestamp"):
                    self.store.delete(
                        rt, obj["metadata"].get("namespace", ""), obj["metadata"]["name"]
                    )
        self._foreground()
        self._namespaces()

    def _dependents(self, uid: str) -> list[tuple[ResourceType, Obj]]:
        return [
            (rt, o)
            for rt in RESOURCES
            for o in self.store.items(rt)
            if any(r.get("uid") == uid for r in o["metadata"].get("ownerReferences") or [])
        ]

    def _foreground(self) -> None:
        for rt in RESOURCES:
            for obj in list(self.store.items(rt)):
                meta = obj["metadata"]
                if not meta.get("deletionTimestamp") or FOREGROUND not in (
                    meta.get("finalizers") or []
                ):
                    continue
                dependents = self._dependents(meta["uid"])
                for dep_rt, dep in dependents:
                    if not dep["metadata"].get("deletionTimestamp"):
                        self.store.delete(
                            dep_rt,
                            dep["metadata"].get("namespace", ""),
                            dep["metadata"]["name"],
                        )
                if not dependents:
                    done = copy.deepcopy(obj)
                    done["metadata"]["finalizers"] = [
                        f for f in meta["finalizers"] if f != FOREGROUND
                    ]
                    self.store.update(rt, meta.get("namespace", ""), done)

    def _namespaces(self) -> None:
        for ns in list(self.store.items(KINDS["Namespace"])):
            if not ns["metadata"].get("deletionTimestamp"):
                if (ns.get("status") or {}).get("phase") != "Active":
                    self.write_status("Namespace", ns, {"phase": "Active"})
                continue
            name = ns["metadata"]["name"]
            if (ns.get("status") or {}).get("phase") != "Terminating":
                self.write_status("Namespace", ns, {"phase": "Terminating"})
            remaining = 0
            for rt in RESOURCES:
                if not rt.namespaced:
                    continue
                for obj in list(self.store.items(rt, name)):
                    remaining += 1
                    if not obj["metadata"].get("deletionTimestamp"):
                        self.store.delete(rt, name, obj["metadata"]["name"])
            current = self.store.peek(KINDS["Namespace"], "", name)
            if remaining == 0 and current is not None:  # finalize: spec.finalizers, then gone
                done = copy.deepcopy(current)
                done.setdefault("spec", {})["finalizers"] = []
                self.store.update(KINDS["Namespace"], "", done)
                self.store.delete(KINDS["Namespace"], "", name)

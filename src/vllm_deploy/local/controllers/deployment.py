"""The Deployment controller: ReplicaSets per pod template, revisions, rollout status.

Ported from kubernetes pkg/controller/deployment: ``syncDeployment`` (deployment_controller.go)
dispatches to ``sync`` (paused, or a scaling event), ``rolloutRecreate`` or ``rolloutRolling``
(deployment_rollout.py here); ``getNewReplicaSet`` and ``calculateStatus`` (sync.go);
``syncRolloutStatus`` with the Progressing conditions and ``requeueStuckDeployment``
(progress.go). The upstream messages and reasons are kept, so ``kubectl rollout status``
reads them as it would from a cluster.
"""

from __future__ import annotations

import copy
from typing import Any

from vllm_deploy.local.controllers import deployment_util as du
from vllm_deploy.local.controllers.base import KINDS, Controller, owned_by, owner_reference
from vllm_deploy.local.controllers.deployment_rollout import rollout
from vllm_deploy.local.errors import ApiError
from vllm_deploy.local.selectors import match_selector_object
from vllm_deploy.local.store import Obj, parse_rfc3339, rfc3339

__all__ = ["DeploymentController"]

_MAX_REV_HISTORY_CHARS = 2000  # the controller's maxRevHistoryLengthInChars


def _replicas(rs: Obj | None, field: str = "replicas", status: bool = True) -> int:
    if rs is None:
        return 0
    return int((rs.get("status" if status else "spec") or {}).get(field, 0))


def _omit_zero(status: dict[str, Any]) -> dict[str, Any]:
    """Go's omitempty: zero counts are absent from the stored status."""
    return {k: v for k, v in status.items() if v not in (0, None, [])}


class DeploymentController(Controller):
    name = "deployment-controller"
    watches = frozenset({"Deployment", "ReplicaSet", "Pod"})

    def reconcile(self) -> None:
        for d in self.objects("Deployment"):
            if d["metadata"].get("deletionTimestamp"):
                continue
            rollout(self, copy.deepcopy(d))

    # -- reading -------------------------------------------------------------------------------

    def latest(self, d: Obj) -> Obj:
        return self.store.get(
            KINDS["Deployment"], d["metadata"]["namespace"], d["metadata"]["name"]
        )

    def replica_sets(self, d: Obj) -> list[Obj]:
        """ReplicaSets the Deployment controls (selector and controllerRef), oldest first."""
        selector = d["spec"].get("selector")
        owned = [
            copy.deepcopy(rs)
            for rs in self.objects("ReplicaSet", d["metadata"]["namespace"])
            if owned_by(rs, d)
            and match_selector_object(selector, rs["metadata"].get("labels") or {})
        ]
        return sorted(
            owned, key=lambda rs: (rs["metadata"]["creationTimestamp"], rs["metadata"]["name"])
        )

    def pods_of(self, rs: Obj) -> list[Obj]:
        return [p for p in self.objects("Pod", rs["metadata"]["namespace"]) if owned_by(p, rs)]

    @staticmethod
    def find_new(d: Obj, rs_list: list[Obj]) -> Obj | None:
        """FindNewReplicaSet: the oldest whose template equals the Deployment's (hash aside)."""
        return next(
            (
                rs
                for rs in rs_list
                if du.equal_ignore_hash(rs["spec"]["template"], d["spec"]["template"])
            ),
            None,
        )

    # -- writing -------------------------------------------------------------------------------

    def update_rs(self, rs: Obj) -> Obj:
        return self.write("ReplicaSet", rs)

    def scale_rs(self, rs: Obj, replicas: int, d: Obj) -> tuple[bool, Obj]:
        """scaleReplicaSetAndRecordEvent: size, desired/max annotations, one event."""
        size_changes = _replicas(rs, status=False) != replicas
        annotations = rs["metadata"].setdefault("annotations", {})
        wanted = {
            du.DESIRED_REPLICAS: str(d["spec"]["replicas"]),
            du.MAX_REPLICAS: str(d["spec"]["replicas"] + du.max_surge(d)),
        }
        annotations_change = any(annotations.get(k) != v for k, v in wanted.items())
        if not size_changes and not annotations_change:
            return False, rs
        old = _replicas(rs, status=False)
        rs["spec"]["replicas"] = replicas
        rs["spec"]["minReadySeconds"] = d["spec"].get("minReadySeconds", 0)
        annotations.update(wanted)
        rs = self.update_rs(rs)
        if size_changes:
            direction = "up" if replicas > old else "down"
            self.event(
                d,
                "Normal",
                "ScalingReplicaSet",
                f"Scaled {direction} replica set {rs['metadata']['name']} to {replicas} from {old}",
            )
        return size_changes, rs

    def set_deployment(
        self,
        d: Obj,
        annotations: dict[str, str] | None = None,
        status: dict[str, Any] | None = None,
    ) -> Obj:
        """Writes annotations (the revision) and status onto the latest Deployment."""
        latest = self.latest(d)
        if annotations:
            merged = {**(latest["metadata"].get("annotations") or {}), **annotations}
            if merged != latest["metadata"].get("annotations"):
                latest["metadata"]["annotations"] = merged
                latest = self.write("Deployment", latest)
        if status is not None and status != latest.get("status"):
            self.write_status("Deployment", latest, status)
            latest = self.latest(d)
        return latest

    # -- the new ReplicaSet --------------------------------------------------------------------

    def new_replica_set(
        self, d: Obj, rs_list: list[Obj], old: list[Obj], create: bool
    ) -> Obj | None:
        """getNewReplicaSet: sync the revision of the existing new RS, or create it."""
        existing = self.find_new(d, rs_list)
        new_revision = du.max_revision(old) + 1
        status = copy.deepcopy(d.get("status") or {})
        if existing is not None:
            changed = self._set_new_rs_annotations(d, existing, new_revision, exists=True)
            if changed or existing["spec"].get("minReadySeconds", 0) != d["spec"].get(
                "minReadySeconds", 0
            ):
                existing["spec"]["minReadySeconds"] = d["spec"].get("minReadySeconds", 0)
                existing = self.update_rs(existing)
            if du.has_progress_deadline(d) and du.get_condition(status, "Progressing") is None:
                du.set_condition(
                    status,
                    self._condition(
                        "Progressing",
                        "True",
                        "FoundNewReplicaSet",
                        f'Found new replica set "{existing["metadata"]["name"]}"',
                    ),
                )
            self.set_deployment(
                d,
                {du.REVISION: (existing["metadata"].get("annotations") or {}).get(du.REVISION, "")},
                status,
            )
            return existing
        if not create:
            return None
        collisions = status.get("collisionCount")
        template = copy.deepcopy(d["spec"]["template"])
        pod_hash = du.template_hash(template, collisions)
        template.setdefault("metadata", {}).setdefault("labels", {})[du.TEMPLATE_HASH] = pod_hash
        selector = copy.deepcopy(d["spec"]["selector"])
        selector.setdefault("matchLabels", {})[du.TEMPLATE_HASH] = pod_hash
        rs: Obj = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{d['metadata']['name']}-{pod_hash}",
                "labels": dict(template["metadata"]["labels"]),
                "ownerReferences": [owner_reference(d)],
            },
            "spec": {
                "replicas": 0,
                "minReadySeconds": d["spec"].get("minReadySeconds", 0),
                "selector": selector,
                "template": template,
            },
        }
        rs["spec"]["replicas"] = du.new_rs_new_replicas(d, [*old, rs], rs)
        self._set_new_rs_annotations(d, rs, new_revision, exists=False)
        try:
            created = self.store.create(KINDS["ReplicaSet"], d["metadata"]["namespace"], rs)
        except ApiError as err:
            if err.code != 409:
                raise
            status["collisionCount"] = (collisions or 0) + 1  # a hash collision: try again
            self.set_deployment(d, status=status)
            self.requeue_after(0)
            return None
        if rs["spec"]["replicas"] > 0:
            self.event(
                d,
                "Normal",
                "ScalingReplicaSet",
                f"Scaled up replica set {created['metadata']['name']} "
                f"to {rs['spec']['replicas']} from 0",
            )
        if du.has_progress_deadline(d):
            du.set_condition(
                status,
                self._condition(
                    "Progressing",
                    "True",
                    "NewReplicaSetCreated",
                    f'Created new replica set "{created["metadata"]["name"]}"',
                ),
            )
        self.set_deployment(d, {du.REVISION: str(new_revision)}, status)
        return created

    def _set_new_rs_annotations(self, d: Obj, rs: Obj, new_revision: int, exists: bool) -> bool:
        """SetNewReplicaSetAnnotations: copied annotations, revision (+history on reuse)."""
        annotations = rs["metadata"].setdefault("annotations", {})
        before = dict(annotations)
        for key, value in (d["metadata"].get("annotations") or {}).items():
            if key not in du.SKIPPED_ANNOTATIONS:
                annotations[key] = value
        old_text = annotations.get(du.REVISION)
        old_revision = du.revision_of(rs)
        if old_revision < new_revision:
            annotations[du.REVISION] = str(new_revision)
            if old_text is not None:  # reused: a rollback to this template keeps its history
                history = [h for h in annotations.get(du.REVISION_HISTORY, "").split(",") if h]
                history.append(old_text)
                while len(",".join(history)) > _MAX_REV_HISTORY_CHARS and len(history) > 1:
                    history.pop(0)
                annotations[du.REVISION_HISTORY] = ",".join(history)
        if not exists:
            annotations[du.DESIRED_REPLICAS] = str(d["spec"]["replicas"])
            annotations[du.MAX_REPLICAS] = str(d["spec"]["replicas"] + du.max_surge(d))
        return bool(annotations != before)

    # -- status ---------------------------------------------------------------------------------

    def _condition(self, kind: str, status: str, reason: str, message: str) -> dict[str, Any]:
        now = rfc3339(self.store.now())
        return {
            "type": kind,
            "status": status,
            "lastUpdateTime": now,
            "lastTransitionTime": now,
            "reason": reason,
            "message": message,
        }

    def calculate_status(self, d: Obj, all_rs: list[Obj], new_rs: Obj | None) -> dict[str, Any]:
        """calculateStatus: counts from the ReplicaSets, and the Available condition."""
        available = sum(_replicas(rs, "availableReplicas") for rs in all_rs)
        total_spec = sum(_replicas(rs, status=False) for rs in all_rs)
        status: dict[str, Any] = {
            "observedGeneration": d["metadata"].get("generation", 0),
            "replicas": sum(_replicas(rs) for rs in all_rs),
            "updatedReplicas": _replicas(new_rs),
            "readyReplicas": sum(_replicas(rs, "readyReplicas") for rs in all_rs),
            "availableReplicas": available,
            "unavailableReplicas": max(total_spec - available, 0),
            "collisionCount": (d.get("status") or {}).get("collisionCount"),
            "conditions": copy.deepcopy((d.get("status") or {}).get("conditions") or []),
        }
        if available >= d["spec"]["replicas"] - du.max_unavailable(d):
            du.set_condition(
                status,
                self._condition(
                    "Available",
                    "True",
                    "MinimumReplicasAvailable",
                    "Deployment has minimum availability.",
                ),
            )
        else:
            du.set_condition(
                status,
                self._condition(
                    "Available",
                    "False",
                    "MinimumReplicasUnavailable",
                    "Deployment does not have minimum availability.",
                ),
            )
        return status

    def sync_status(self, d: Obj, all_rs: list[Obj], new_rs: Obj | None) -> None:
        """syncDeploymentStatus: counts only (no Progressing update), for scaling and pauses."""
        self.set_deployment(
            d, status=_omit_zero(self.calculate_status(self.latest(d), all_rs, new_rs))
        )

    def sync_rollout_status(self, d: Obj, all_rs: list[Obj], new_rs: Obj | None) -> None:
        """syncRolloutStatus: the Progressing condition, then requeue a stuck rollout."""
        d = self.latest(d)
        old_status = d.get("status") or {}
        status = self.calculate_status(d, all_rs, new_rs)
        deadline = du.has_progress_deadline(d)
        current = du.get_condition(old_status, "Progressing")
        name = (
            f'ReplicaSet "{new_rs["metadata"]["name"]}"'
            if new_rs
            else f'Deployment "{d["metadata"]["name"]}"'
        )
        if not deadline:
            status["conditions"] = [c for c in status["conditions"] if c["type"] != "Progressing"]
        complete_before = (
            status["replicas"] == status["updatedReplicas"]
            and current is not None
            and current.get("reason") == "NewReplicaSetAvailable"
        )
        if deadline and not complete_before:
            if du.deployment_complete(d, status):
                du.set_condition(
                    status,
                    self._condition(
                        "Progressing",
                        "True",
                        "NewReplicaSetAvailable",
                        f"{name} has successfully progressed.",
                    ),
                )
            elif du.deployment_progressing(old_status, status):
                cond = self._condition(
                    "Progressing", "True", "ReplicaSetUpdated", f"{name} is progressing."
                )
                if current is not None and current["status"] == "True":
                    cond["lastTransitionTime"] = current["lastTransitionTime"]
                status["conditions"] = [
                    c for c in status["conditions"] if c["type"] != "Progressing"
                ] + [cond]
            elif du.deployment_timed_out(d, status, self.store.now()):
                du.set_condition(
                    status,
                    self._condition(
                        "Progressing",
                        "False",
                        "ProgressDeadlineExceeded",
                        f"{name} has timed out progressing.",
                    ),
                )
        failure = next(
            (
                c
                for rs in ([new_rs] if new_rs else []) + all_rs
                for c in (rs.get("status") or {}).get("conditions") or []
                if c["type"] == "ReplicaFailure" and c["status"] == "True"
            ),
            None,
        )
        status["conditions"] = [c for c in status["conditions"] if c["type"] != "ReplicaFailure"]
        if failure is not None:
            du.set_condition(status, dict(failure))
        status = _omit_zero(status)
        if status == old_status:
            self._requeue_stuck(d, status)
            return
        self.set_deployment(d, status=status)
        self._requeue_stuck(d, status)

    def _requeue_stuck(self, d: Obj, status: dict[str, Any]) -> None:
        cond = du.get_condition(status, "Progressing")
        if (
            cond is None
            or not du.has_progress_deadline(d)
            or cond.get("reason") in ("NewReplicaSetAvailable", "ProgressDeadlineExceeded")
        ):
            return
        if du.deployment_complete(d, status):
            return
        deadline_s = d["spec"]["progressDeadlineSeconds"]
        self.requeue_after(
            parse_rfc3339(cond["lastUpdateTime"]) + deadline_s - self.store.now() + 1
        )

"""What each cache kind renders: who downloads, what pods mount, how long a start may take."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vllm_deploy.render import render
from vllm_deploy.spec import load_spec, spec_from_mapping
from vllm_deploy.validate import validate_objects
from vllm_deploy.validate.schemas import SUPPORTED_VERSIONS

ROOT = Path(__file__).parents[2]
Obj = dict[str, Any]
BASE = {
    "name": "m",
    "model": {"name": "m", "huggingface": "org/model", "revision": "a" * 40},
    "secrets": {"hf_token": {"name": "hf", "key": "token"}},
}


def _objects(data: dict[str, Any]) -> list[Obj]:
    return [o for group in render(spec_from_mapping(data)).values() for o in group]


def _one(objs: list[Obj], kind: str) -> Obj:
    found = [o for o in objs if o["kind"] == kind]
    assert len(found) == 1, [o["metadata"]["name"] for o in found]
    return found[0]


def _pod(objs: list[Obj], kind: str = "Deployment") -> Obj:
    pod: Obj = _one(objs, kind)["spec"]["template"]["spec"]
    return pod


def _commands(pod: Obj) -> list[list[str]]:
    return [c.get("command", []) for c in [*pod.get("initContainers", []), *pod["containers"]]]


def test_the_prod_example_downloads_once_into_a_read_only_rwx_cache() -> None:
    spec = load_spec(ROOT / "examples" / "prod.yaml")
    objs = [o for group in render(spec).values() for o in group]
    job, pvc, pod = _one(objs, "Job"), _one(objs, "PersistentVolumeClaim"), _pod(objs)
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    fill = job["spec"]["template"]["spec"]["containers"][0]["command"]
    assert fill[:3] == ["vllm-deploy", "cache", "fill"] and spec.model.revision in fill
    assert (
        job["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"]
        == pvc["metadata"]["name"]
    )
    # The pods: read-only, waiting for the revision, no download, no token.
    models = next(v for v in pod["volumes"] if v["name"] == "models")
    assert models["persistentVolumeClaim"] == {
        "claimName": pvc["metadata"]["name"],
        "readOnly": True,
    }
    for c in [*pod["initContainers"], *pod["containers"]]:
        assert all(m.get("readOnly") for m in c["volumeMounts"] if m["name"] == "models")
    assert not [c for c in _commands(pod) if "fill" in c]
    assert [c[:3] for c in _commands(pod) if "wait" in c] == [["vllm-deploy", "cache", "wait"]]
    assert "hf-token" not in {v["name"] for v in pod["volumes"]}
    # Job pods are not the server's pods: no Service, PDB or monitor selects them.
    assert job["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] != "vllm"


def test_a_new_revision_gets_its_own_job_and_directory() -> None:
    old = _objects(BASE)
    new = _objects({**BASE, "model": {**BASE["model"], "revision": "b" * 40}})
    assert _one(old, "Job")["metadata"]["name"] == "vllm-m-download-aaaaaaaa"
    assert _one(new, "Job")["metadata"]["name"] == "vllm-m-download-bbbbbbbb"
    dirs = [
        [c[c.index("--dir") + 1] for c in _commands(_pod(o)) if "--dir" in c] for o in (old, new)
    ]
    assert dirs == [[f"/models/m/{'a' * 40}"], [f"/models/m/{'b' * 40}"]]


def test_node_and_ephemeral_pods_download_themselves() -> None:
    for kind, volume in (("node", "hostPath"), ("ephemeral", "ephemeral")):
        objs = _objects({**BASE, "cache": {"kind": kind}, "create_namespace": True})
        pod = _pod(objs)
        assert not [o for o in objs if o["kind"] in ("Job", "PersistentVolumeClaim")]
        assert volume in next(v for v in pod["volumes"] if v["name"] == "models")
        assert [c[:3] for c in _commands(pod) if "cache" in c] == [["vllm-deploy", "cache", "fill"]]
        assert "hf-token" in {v["name"] for v in pod["volumes"]}
        level = _one(objs, "Namespace")["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
        assert level == ("privileged" if kind == "node" else "restricted")
        versions = (SUPPORTED_VERSIONS[0], SUPPORTED_VERSIONS[-1])
        assert validate_objects(objs, versions=versions) == []


def test_the_rollout_deadline_counts_the_download_and_the_probe_does_not() -> None:
    def deadline(data: dict[str, Any]) -> int:
        spec = spec_from_mapping(data)
        value: int = _one(_objects(data), "Deployment")["spec"]["progressDeadlineSeconds"]
        return value - spec.startup_budget_s - spec.rollout.min_ready_seconds

    timeout = {"download_timeout_s": 1200}
    assert deadline({**BASE, "cache": {"kind": "ephemeral", **timeout}}) == 1200
    assert deadline({**BASE, "cache": {"kind": "node", **timeout}}) == 1200
    assert (
        deadline({**BASE, "cache": {"kind": "shared", **timeout}}) == 1200
    )  # the wait for the Job
    # The startup probe covers the load alone: downloads happen before it starts, in init
    # containers.
    probe = _pod(_objects(BASE))["containers"][0]["startupProbe"]
    assert (
        probe["periodSeconds"] * probe["failureThreshold"]
        == spec_from_mapping(BASE).startup_budget_s
    )

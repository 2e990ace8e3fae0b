"""The local API server through the official ``kubernetes`` client.

Only the API server runs (a ``Store`` and ``ApiServerTask`` on their own event loop in a
thread, as cluster.py wires them, without controllers or the kubelet), so what is checked is
what the API server itself does. Expected behaviour is Kubernetes' documented API semantics:
- API concepts (kubernetes.io/docs/reference/using-api/api-concepts/): resourceVersion and
  optimistic concurrency (409 Conflict on a stale one), watches from a resourceVersion, "410
  Gone" for one too old, sent as an ERROR event (k8s.io/apiserver pkg/storage/cacher
  ``Cacher.Watch``: "other errors must fail with a watch event of type ERROR").
- Status errors: k8s.io/apimachinery pkg/api/errors (NotFound 404, AlreadyExists 409,
  Conflict 409, Invalid 422 with causes naming the field).
- metadata.generation: bumped by spec changes only, never by metadata or /status writes
  (ObjectMeta docs; the apps/v1 strategies' PrepareForUpdate); observedGeneration is the
  controller's, written through /status.
- Server-side apply (kubernetes.io/docs/reference/using-api/server-side-apply/): field
  managers, conflicts naming manager and field, ``force``.
- Garbage collection (kubernetes.io/docs/concepts/architecture/garbage-collection/): the
  collector is a controller (controllers/gc.py, not run here), so only what the API server
  does on delete is checked: Foreground leaves the owner with ``deletionTimestamp`` and the
  ``foregroundDeletion`` finalizer, Orphan removes the dependents' ownerReferences,
  Background deletes the owner at once.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.dynamic import DynamicClient

from vllm_deploy.harness import free_port
from vllm_deploy.local import store as store_module
from vllm_deploy.local.apiserver import ApiServerTask
from vllm_deploy.local.controllers.base import KINDS
from vllm_deploy.local.controllers.disruption import Evictions
from vllm_deploy.local.store import Store

NS = "default"


@pytest.fixture(scope="module")
def api() -> Iterator[client.ApiClient]:
    store = Store()
    store.create(KINDS["Namespace"], "", {"metadata": {"name": NS}})
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = ApiServerTask(store, free_port(), lambda *_: "", Evictions(store).evict)
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(timeout=30)
    try:
        with client.ApiClient(client.Configuration(host=server.url)) as api_client:
            yield api_client
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()


def _status(exc: client.ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(exc.body)
    assert body["kind"] == "Status" and body["status"] == "Failure"
    assert body["code"] == exc.status
    return body


def _error(call: Any, *args: Any, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    with pytest.raises(client.ApiException) as err:
        call(*args, **kwargs)
    return err.value.status, _status(err.value)


def _deployment(name: str, replicas: int = 1, image: str = "nginx:1") -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }


# -- discovery ---------------------------------------------------------------------------------


def test_version(api: client.ApiClient) -> None:
    info = client.VersionApi(api).get_code()
    assert (info.major, info.minor) == ("1", "32")


def test_core_and_group_discovery(api: client.ApiClient) -> None:
    assert client.CoreApi(api).get_api_versions().versions == ["v1"]
    groups = {g.name: g for g in client.ApisApi(api).get_api_versions().groups}
    assert {"apps", "autoscaling", "policy", "monitoring.coreos.com", "keda.sh"} <= set(groups)
    assert groups["autoscaling"].preferred_version.group_version == "autoscaling/v2"


def test_resource_discovery(api: client.ApiClient) -> None:
    resources = {r.name: r for r in client.AppsV1Api(api).get_api_resources().resources}
    assert resources["deployments"].kind == "Deployment"
    assert resources["deployments"].namespaced
    assert "deploy" in resources["deployments"].short_names
    scale = resources["deployments/scale"]
    assert (scale.group, scale.version, scale.kind) == ("autoscaling", "v1", "Scale")
    core = {r.name for r in client.CoreV1Api(api).get_api_resources().resources}
    assert {"configmaps", "services", "pods", "pods/eviction", "pods/status"} <= core


# -- CRUD --------------------------------------------------------------------------------------


def test_configmap_crud_and_selectors(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    for name, tier in (("cm-a", "web"), ("cm-b", "db")):
        core.create_namespaced_config_map(
            NS, {"metadata": {"name": name, "labels": {"tier": tier}}, "data": {"k": name}}
        )
    assert core.read_namespaced_config_map("cm-a", NS).data == {"k": "cm-a"}
    names = [
        c.metadata.name for c in core.list_namespaced_config_map(NS, label_selector="tier=db").items
    ]
    assert names == ["cm-b"]
    names = [
        c.metadata.name
        for c in core.list_namespaced_config_map(
            NS, label_selector="tier in (web,db),tier!=db"
        ).items
    ]
    assert names == ["cm-a"]
    listed = core.list_namespaced_config_map(NS, field_selector="metadata.name=cm-b")
    assert [c.metadata.name for c in listed.items] == ["cm-b"]
    assert int(listed.metadata.resource_version) >= int(
        core.read_namespaced_config_map("cm-b", NS).metadata.resource_version
    )

    current = core.read_namespaced_config_map("cm-a", NS)
    current.data = {"k": "replaced"}
    replaced = core.replace_namespaced_config_map("cm-a", NS, current)
    assert replaced.data == {"k": "replaced"}
    assert int(replaced.metadata.resource_version) > int(current.metadata.resource_version)

    merged = core.patch_namespaced_config_map(
        "cm-a", NS, {"data": {"k2": "v2"}}, _content_type="application/merge-patch+json"
    )
    assert merged.data == {"k": "replaced", "k2": "v2"}
    patched = core.patch_namespaced_config_map(
        "cm-a", NS, [{"op": "replace", "path": "/data/k2", "value": "v3"}]
    )
    assert patched.data == {"k": "replaced", "k2": "v3"}

    core.delete_namespaced_config_map("cm-a", NS)
    status, body = _error(core.read_namespaced_config_map, "cm-a", NS)
    assert (status, body["reason"]) == (404, "NotFound")
    assert body["details"] == {"name": "cm-a", "group": "", "kind": "configmaps"}
    assert body["message"] == 'configmaps "cm-a" not found'


def test_list_selector_errors_are_bad_requests(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    status, body = _error(core.list_namespaced_config_map, NS, label_selector="x=a||y=b")
    assert (status, body["reason"]) == (400, "BadRequest")
    status, _ = _error(core.list_namespaced_config_map, NS, field_selector="x")
    assert status == 400


def test_already_exists_and_stale_update(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map(NS, {"metadata": {"name": "cm-conflict"}})
    status, body = _error(
        core.create_namespaced_config_map, NS, {"metadata": {"name": "cm-conflict"}}
    )
    assert (status, body["reason"]) == (409, "AlreadyExists")
    assert body["message"] == 'configmaps "cm-conflict" already exists'

    stale = core.read_namespaced_config_map("cm-conflict", NS)
    core.patch_namespaced_config_map("cm-conflict", NS, {"data": {"a": "1"}})
    stale.data = {"b": "2"}
    status, body = _error(core.replace_namespaced_config_map, "cm-conflict", NS, stale)
    assert (status, body["reason"]) == (409, "Conflict")
    assert body["message"] == (
        'Operation cannot be fulfilled on configmaps "cm-conflict": the object has been '
        "modified; please apply your changes to the latest version and try again"
    )


def test_invalid_objects_are_422_with_causes(api: client.ApiClient) -> None:
    apps = client.AppsV1Api(api)
    bad = _deployment("bad-selector")
    bad["spec"]["selector"] = {"matchLabels": {"app": "other"}}
    status, body = _error(apps.create_namespaced_deployment, NS, bad)
    assert (status, body["reason"]) == (422, "Invalid")
    assert body["details"]["kind"] == "Deployment" and body["details"]["group"] == "apps"
    assert [c["field"] for c in body["details"]["causes"]] == ["spec.template.metadata.labels"]

    status, body = _error(
        client.CoreV1Api(api).create_namespaced_config_map, NS, {"metadata": {"name": "Not_Valid"}}
    )
    assert status == 422
    assert body["details"]["causes"][0]["field"] == "metadata.name"


def test_service_defaults_and_strategic_patch(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    svc = core.create_namespaced_service(
        NS,
        {
            "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80}]},
        },
    )
    assert svc.spec.type == "ClusterIP" and svc.spec.cluster_ip
    assert (svc.spec.ports[0].protocol, svc.spec.ports[0].target_port) == ("TCP", 80)
    # A strategic merge patch merges ports by their key (port, protocol).
    patched = core.patch_namespaced_service(
        "web", NS, {"spec": {"ports": [{"name": "metrics", "port": 9090}]}}
    )
    assert [(p.name, p.port) for p in patched.spec.ports] == [("metrics", 9090), ("http", 80)]


# -- generation, status, scale -----------------------------------------------------------------


def test_generation_counts_spec_changes_only(api: client.ApiClient) -> None:
    apps = client.AppsV1Api(api)
    created = apps.create_namespaced_deployment(NS, _deployment("gen"))
    assert created.metadata.generation == 1
    assert created.spec.strategy.rolling_update.max_surge == "25%"  # defaults

    labelled = apps.patch_namespaced_deployment("gen", NS, {"metadata": {"labels": {"x": "y"}}})
    assert labelled.metadata.generation == 1
    spec = apps.patch_namespaced_deployment("gen", NS, {"spec": {"replicas": 3}})
    assert spec.metadata.generation == 2

    # The main resource ignores status; /status writes only status, and never the generation.
    ignored = apps.patch_namespaced_deployment("gen", NS, {"status": {"observedGeneration": 2}})
    assert ignored.status is None or ignored.status.observed_generation is None
    status = apps.patch_namespaced_deployment_status(
        "gen", NS, {"status": {"observedGeneration": 2, "replicas": 3}, "spec": {"replicas": 9}}
    )
    assert status.status.observed_generation == 2
    assert (status.spec.replicas, status.metadata.generation) == (3, 2)


def test_scale_subresource(api: client.ApiClient) -> None:
    apps = client.AppsV1Api(api)
    apps.create_namespaced_deployment(NS, _deployment("scaled", replicas=2))
    scale = apps.read_namespaced_deployment_scale("scaled", NS)
    assert (scale.kind, scale.spec.replicas, scale.status.selector) == ("Scale", 2, "app=scaled")
    scale = apps.patch_namespaced_deployment_scale("scaled", NS, {"spec": {"replicas": 5}})
    assert scale.spec.replicas == 5
    deployment = apps.read_namespaced_deployment("scaled", NS)
    assert (deployment.spec.replicas, deployment.metadata.generation) == (5, 2)


def test_hpa_and_pdb(api: client.ApiClient) -> None:
    hpa = client.AutoscalingV2Api(api).create_namespaced_horizontal_pod_autoscaler(
        NS,
        {
            "metadata": {"name": "web"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "maxReplicas": 4,
                "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}},
            },
        },
    )
    assert hpa.spec.min_replicas == 1  # autoscaling/v2 defaults
    assert hpa.spec.behavior.scale_up.select_policy == "Max"
    assert hpa.spec.behavior.scale_down.stabilization_window_seconds == 60
    status, body = _error(
        client.AutoscalingV2Api(api).patch_namespaced_horizontal_pod_autoscaler,
        "web",
        NS,
        {"spec": {"minReplicas": 5}},
    )
    assert status == 422 and body["details"]["causes"][0]["field"] == "spec.maxReplicas"

    policy = client.PolicyV1Api(api)
    pdb = policy.create_namespaced_pod_disruption_budget(
        NS,
        {
            "metadata": {"name": "web"},
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}},
        },
    )
    assert pdb.metadata.generation == 1
    listed = policy.list_namespaced_pod_disruption_budget(NS, label_selector="")
    assert [p.metadata.name for p in listed.items] == ["web"]


# -- server-side apply -------------------------------------------------------------------------


def test_server_side_apply(api: client.ApiClient) -> None:
    dynamic = DynamicClient(api)
    deployments = dynamic.resources.get(api_version="apps/v1", kind="Deployment")
    body = _deployment("ssa", replicas=2)
    created = deployments.server_side_apply(body=body, namespace=NS, field_manager="deployer")
    assert created.spec.replicas == 2
    managers = {e.manager: e.operation for e in created.metadata.managedFields}
    assert managers == {"deployer": "Apply"}

    # Another manager takes replicas with an update (as an autoscaler would)...
    client.AppsV1Api(api).patch_namespaced_deployment_scale(
        "ssa", NS, {"spec": {"replicas": 4}}, field_manager="autoscaler"
    )
    # ...so applying another value conflicts, naming the manager and the field.
    with pytest.raises(client.ApiException) as err:
        deployments.server_side_apply(
            body=_deployment("ssa", replicas=3), namespace=NS, field_manager="deployer"
        )
    status = _status(err.value)
    assert (err.value.status, status["reason"]) == (409, "Conflict")
    assert status["details"]["causes"][0]["field"] == ".spec.replicas"
    assert status["details"]["causes"][0]["message"].startswith(
        'conflict with "autoscaler" with subresource "scale" using apps/v1 at '
    )

    # Force takes it over; a field dropped from the configuration that nobody else owns goes.
    forced = deployments.server_side_apply(
        body=_deployment("ssa", replicas=3),
        namespace=NS,
        field_manager="deployer",
        force_conflicts=True,
    )
    assert forced.spec.replicas == 3
    trimmed = _deployment("ssa", replicas=3)
    del trimmed["metadata"]["labels"]
    after = deployments.server_side_apply(body=trimmed, namespace=NS, field_manager="deployer")
    assert after.metadata.labels is None
    unchanged = deployments.server_side_apply(body=trimmed, namespace=NS, field_manager="deployer")
    assert unchanged.metadata.resourceVersion == after.metadata.resourceVersion


def test_apply_needs_a_field_manager(api: client.ApiClient) -> None:
    response = api.call_api(
        "PATCH",
        f"{api.configuration.host}/api/v1/namespaces/{NS}/configmaps/ssa-cm",
        header_params={"Content-Type": "application/apply-patch+yaml"},
        body=json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa-cm"}}),
    )
    assert response.status == 422


# -- watch -------------------------------------------------------------------------------------


def test_watch_from_a_resource_version(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    start = core.list_namespaced_config_map(NS).metadata.resource_version
    core.create_namespaced_config_map(NS, {"metadata": {"name": "watched"}})
    core.patch_namespaced_config_map("watched", NS, {"data": {"a": "1"}})
    core.delete_namespaced_config_map("watched", NS)

    w = watch.Watch()
    seen = []
    for event in w.stream(
        core.list_namespaced_config_map,
        NS,
        field_selector="metadata.name=watched",
        resource_version=start,
        timeout_seconds=30,
    ):
        seen.append((event["type"], event["object"].metadata.name, event["object"].data))
        if len(seen) == 3:
            w.stop()
    assert seen == [
        ("ADDED", "watched", None),
        ("MODIFIED", "watched", {"a": "1"}),
        ("DELETED", "watched", {"a": "1"}),
    ]


def test_watch_from_a_too_old_resource_version_is_gone(
    api: client.ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "HISTORY", 3)
    core = client.CoreV1Api(api)
    start = core.list_namespaced_secret(NS).metadata.resource_version
    for i in range(5):
        core.create_namespaced_secret(NS, {"metadata": {"name": f"s{i}"}})

    # On the wire: a 200 whose one event is an ERROR carrying the 410 Status.
    response = api.call_api(
        "GET",
        f"{api.configuration.host}/api/v1/namespaces/{NS}/secrets?watch=true&resourceVersion={start}",
    )
    event = json.loads(response.read())
    assert response.status == 200
    assert event["type"] == "ERROR"
    assert (event["object"]["code"], event["object"]["reason"]) == (410, "Expired")

    # The client turns it into an ApiException (after its one retry).
    with pytest.raises(client.ApiException) as err:
        for _ in watch.Watch().stream(
            core.list_namespaced_secret, NS, resource_version=start, timeout_seconds=30
        ):
            pass
    assert err.value.status == 410


# -- deletion ----------------------------------------------------------------------------------


def _owner_and_dependent(api: client.ApiClient, name: str) -> client.V1ConfigMap:
    core = client.CoreV1Api(api)
    owner = core.create_namespaced_config_map(NS, {"metadata": {"name": name}})
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": name, "uid": owner.metadata.uid}
    core.create_namespaced_config_map(
        NS, {"metadata": {"name": f"{name}-dep", "ownerReferences": [ref]}}
    )
    return owner


def test_delete_foreground_keeps_the_owner_until_dependents_go(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    _owner_and_dependent(api, "fg")
    core.delete_namespaced_config_map("fg", NS, propagation_policy="Foreground")
    owner = core.read_namespaced_config_map("fg", NS)
    assert owner.metadata.deletion_timestamp is not None
    assert owner.metadata.finalizers == ["foregroundDeletion"]
    # Removing the finalizer (the garbage collector's part) lets the deletion finish.
    core.patch_namespaced_config_map(
        "fg", NS, {"metadata": {"finalizers": None}}, _content_type="application/merge-patch+json"
    )
    status, _ = _error(core.read_namespaced_config_map, "fg", NS)
    assert status == 404


def test_delete_orphan_and_background(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    _owner_and_dependent(api, "orphan")
    core.delete_namespaced_config_map("orphan", NS, propagation_policy="Orphan")
    assert core.read_namespaced_config_map("orphan-dep", NS).metadata.owner_references is None
    assert _error(core.read_namespaced_config_map, "orphan", NS)[0] == 404

    _owner_and_dependent(api, "bg")
    core.delete_namespaced_config_map("bg", NS, propagation_policy="Background")
    assert _error(core.read_namespaced_config_map, "bg", NS)[0] == 404
    # The dependent waits for the garbage collector, which is not running here.
    assert core.read_namespaced_config_map("bg-dep", NS).metadata.owner_references[0].name == "bg"


def test_delete_with_a_finalizer_and_preconditions(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    cm = core.create_namespaced_config_map(
        NS, {"metadata": {"name": "final", "finalizers": ["example.com/hold"]}}
    )
    status, body = _error(
        core.delete_namespaced_config_map,
        "final",
        NS,
        body=client.V1DeleteOptions(preconditions=client.V1Preconditions(uid="not-the-uid")),
    )
    assert (status, body["reason"]) == (409, "Conflict")
    core.delete_namespaced_config_map("final", NS)
    pending = core.read_namespaced_config_map("final", NS)
    assert pending.metadata.deletion_timestamp is not None
    assert pending.metadata.uid == cm.metadata.uid
    core.patch_namespaced_config_map(
        "final", NS, [{"op": "remove", "path": "/metadata/finalizers"}]
    )
    assert _error(core.read_namespaced_config_map, "final", NS)[0] == 404


# -- custom resources --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("group", "version", "plural", "kind", "spec"),
    [
        (
            "monitoring.coreos.com",
            "v1",
            "podmonitors",
            "PodMonitor",
            {"podMetricsEndpoints": [{"port": "http"}]},
        ),
        (
            "monitoring.coreos.com",
            "v1",
            "prometheusrules",
            "PrometheusRule",
            {"groups": [{"name": "g", "rules": []}]},
        ),
        (
            "keda.sh",
            "v1alpha1",
            "scaledobjects",
            "ScaledObject",
            {"scaleTargetRef": {"name": "web"}, "triggers": []},
        ),
    ],
)
def test_custom_resources_are_stored_as_they_are(
    api: client.ApiClient, group: str, version: str, plural: str, kind: str, spec: dict[str, Any]
) -> None:
    crd = client.CustomObjectsApi(api)
    body = {
        "apiVersion": f"{group}/{version}",
        "kind": kind,
        "metadata": {"name": "web"},
        "spec": spec,
    }
    created = crd.create_namespaced_custom_object(group, version, NS, plural, body)
    assert created["spec"] == spec and created["metadata"]["generation"] == 1
    patched = crd.patch_namespaced_custom_object(
        group,
        version,
        NS,
        plural,
        "web",
        {"metadata": {"labels": {"a": "b"}}},
        _content_type="application/merge-patch+json",
    )
    assert patched["metadata"]["generation"] == 1
    listed = crd.list_namespaced_custom_object(group, version, NS, plural, label_selector="a=b")
    assert [o["metadata"]["name"] for o in listed["items"]] == ["web"]
    crd.delete_namespaced_custom_object(group, version, NS, plural, "web")
    with pytest.raises(client.ApiException) as err:
        crd.get_namespaced_custom_object(group, version, NS, plural, "web")
    assert err.value.status == 404

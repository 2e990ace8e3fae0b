"""A client for the cluster a kubeconfig (and context) names, checked to answer.

The official ``kubernetes`` client, not lightkube: its DynamicClient does server-side apply
for any kind (CRDs included) from the same dicts the renderer writes, it is what the local
cluster's tests read state with, and it is the client Kubernetes itself publishes.
"""

from __future__ import annotations

import os
from pathlib import Path

import urllib3
from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException

from vllm_deploy.kube.errors import OpsError, UsageError

__all__ = ["connect", "kubeconfig_path"]


def kubeconfig_path(kubeconfig: Path | None) -> Path:
    """``--kubeconfig``, else $KUBECONFIG (its first file), else ~/.kube/config."""
    if kubeconfig is not None:
        return kubeconfig
    env = os.environ.get("KUBECONFIG", "")
    first = next((p for p in env.split(os.pathsep) if p), None)
    return Path(first) if first else Path.home() / ".kube" / "config"


def connect(
    kubeconfig: Path | None = None, context: str | None = None, timeout_s: float = 10.0
) -> client.ApiClient:
    """An ApiClient for the context (the current one by default) that has answered /version.

    UsageError for a missing kubeconfig or an unknown context; OpsError when the API server
    cannot be reached or refuses the credentials. In a pod without a kubeconfig, the
    in-cluster service account is used.
    """
    path = kubeconfig_path(kubeconfig)
    if kubeconfig is None and not path.exists() and os.environ.get("KUBERNETES_SERVICE_HOST"):
        configuration = client.Configuration()
        config.load_incluster_config(client_configuration=configuration)
        api = client.ApiClient(configuration)
    else:
        if not path.exists():
            raise UsageError(f"kubeconfig {path} does not exist (--kubeconfig, or $KUBECONFIG)")
        try:
            contexts, current = config.list_kube_config_contexts(config_file=str(path))
        except ConfigException as exc:
            raise UsageError(f"kubeconfig {path}: {exc}") from None
        names = [c["name"] for c in contexts]
        if context is not None and context not in names:
            raise UsageError(
                f"context {context!r} is not in {path} (it has: {', '.join(names) or 'none'})"
            )
        if context is None and current is None:
            raise UsageError(f"kubeconfig {path} has no current context: pass --context")
        try:
            api = config.new_client_from_config(config_file=str(path), context=context)
        except ConfigException as exc:
            raise UsageError(f"kubeconfig {path}: {exc}") from None
    api.configuration.retries = 1
    host = api.configuration.host
    try:
        client.VersionApi(api).get_code(_request_timeout=timeout_s)
    except urllib3.exceptions.HTTPError as exc:
        reason = getattr(exc, "reason", None) or exc
        raise OpsError(f"cannot reach the API server at {host}: {reason}") from None
    except client.ApiException as exc:
        if exc.status in (401, 403):
            raise OpsError(
                f"the API server at {host} refused the credentials: {exc.status} {exc.reason}"
            ) from None
        raise OpsError(f"the API server at {host} answered {exc.status} {exc.reason}") from None
    return api

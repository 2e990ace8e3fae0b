"""A local cluster for the tests: started once per module in a thread with its own event loop,
read and driven only through the official ``kubernetes`` client and kubectl."""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from kubernetes import client, config

from vllm_deploy.local.cluster import ClusterOptions, LocalCluster

T = TypeVar("T")


@dataclass
class RunningCluster:
    cluster: LocalCluster
    api: client.ApiClient
    kubeconfig: Path
    state_dir: Path
    info: dict[str, Any]

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    @property
    def apps(self) -> client.AppsV1Api:
        return client.AppsV1Api(self.api)


def needs_root() -> None:
    """Pods get network namespaces, which need root (as kube-proxy and the CNI do)."""
    if os.geteuid() != 0:
        pytest.skip("the local cluster needs root for pod network namespaces")


def start_cluster(state_dir: Path, **options: Any) -> Iterator[RunningCluster]:
    """Runs a LocalCluster on a private loop in a daemon thread until the generator closes."""
    needs_root()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="local-cluster", daemon=True)
    thread.start()
    cluster = LocalCluster(ClusterOptions(state_dir=state_dir, **options))
    asyncio.run_coroutine_threadsafe(cluster.start(), loop).result(timeout=120)
    try:
        api = config.new_client_from_config(str(cluster.kubeconfig))
        yield RunningCluster(cluster, api, cluster.kubeconfig, state_dir, cluster.info())
    finally:
        asyncio.run_coroutine_threadsafe(cluster.stop(), loop).result(timeout=120)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def local_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCluster]:
    state = tmp_path_factory.mktemp("cluster")
    yield from start_cluster(
        state,
        nodes=2,
        gpus_per_node=1,
        scrape_interval="1s",
        hpa_sync_s=2.0,
        restart_backoff_s=1.0,
    )


def wait_for(check: Callable[[], T | None], timeout_s: float = 60.0, what: str = "") -> T:
    """Polls ``check`` until it returns a truthy value; fails with ``what`` after timeout_s."""
    deadline = time.monotonic() + timeout_s
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what or check}: {last!r}")


def kubectl() -> str | None:
    return shutil.which("kubectl")

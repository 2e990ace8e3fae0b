"""Pod networking for the local cluster: one Linux network namespace per pod.

As with a CNI bridge plugin, each pod gets its own network namespace with ``lo`` and an
``eth0`` veth whose peer sits on a bridge in the host namespace; the pod's IP comes from
the cluster's /24. So a container listens on its own ``0.0.0.0:8000``, reaches itself on
``127.0.0.1`` (the preStop drain), and the host (probes, nginx, Prometheus) reaches it at
the pod IP, exactly as on a node. Needs root and iproute2 (``ip``), as a container runtime
does. Bridges are named ``vdN`` with a lock file, so several local clusters can run side by
side, and a crashed one's leftovers are removed by the next.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import subprocess
from pathlib import Path

__all__ = ["NetworkError", "PodNetwork"]

_LOCK_DIR = Path("/run/vllm-deploy-local")
_SUBNET = "10.235.{index}.0/24"
_MAX_CLUSTERS = 100


class NetworkError(RuntimeError):
    """The pod network cannot be set up (not root, no ``ip``, the kernel refused)."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and proc.returncode != 0:
        raise NetworkError(f"ip {' '.join(args)}: {proc.stderr.strip()}")
    return proc


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class PodNetwork:
    """Usage: ``net = PodNetwork.create()``; ``ip = net.add("pod-uid")``; ``net.close()``."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.bridge = f"vd{index}"
        self.subnet = ipaddress.ip_network(_SUBNET.format(index=index))
        hosts = list(self.subnet.hosts())
        self.gateway = str(hosts[0])
        self._free = [str(h) for h in hosts[1:]]
        self._pods: dict[str, tuple[str, str]] = {}  # key -> (netns, ip)
        self._counter = 0

    @classmethod
    def create(cls) -> PodNetwork:
        if os.geteuid() != 0:
            raise NetworkError(
                "the local cluster needs root for its pod network namespaces, as a "
                "container runtime does (or use kind with the CPU image)"
            )
        if shutil.which("ip") is None:
            raise NetworkError("the local cluster needs iproute2's `ip` (Debian: iproute2)")
        _LOCK_DIR.mkdir(parents=True, exist_ok=True)
        for index in range(_MAX_CLUSTERS):
            lock = _LOCK_DIR / f"vd{index}.pid"
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                with contextlib.suppress(ValueError, OSError):
                    if _pid_alive(int(lock.read_text() or "0")):
                        continue
                cls._remove_leftovers(index)
                lock.unlink(missing_ok=True)
                try:
                    fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                except FileExistsError:
                    continue
            os.write(fd, str(os.getpid()).encode())
            os.close(fd)
            net = cls(index)
            try:
                net._setup_bridge()
            except NetworkError:
                lock.unlink(missing_ok=True)
                raise
            return net
        raise NetworkError(f"all {_MAX_CLUSTERS} local cluster networks are in use")

    @staticmethod
    def _remove_leftovers(index: int) -> None:
        """A crashed cluster's namespaces and bridge."""
        listed = _ip("netns", "list", check=False).stdout.split("\n")
        for line in listed:
            name = line.split(" ")[0]
            if name.startswith(f"vd{index}-"):
                _ip("netns", "delete", name, check=False)
        _ip("link", "delete", f"vd{index}", check=False)

    def _setup_bridge(self) -> None:
        _ip("link", "delete", self.bridge, check=False)
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{self.gateway}/{self.subnet.prefixlen}", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")

    def add(self, key: str) -> tuple[str, str]:
        """A namespace and an IP for pod ``key``: (netns name, pod IP)."""
        if not self._free:
            raise NetworkError(f"no pod IP left in {self.subnet}")
        self._counter += 1
        netns, host_if = f"{self.bridge}-{self._counter}", f"{self.bridge}p{self._counter}"
        ip = self._free.pop(0)
        _ip("netns", "add", netns)
        try:
            _ip("link", "add", host_if, "type", "veth", "peer", "name", "eth0", "netns", netns)
            _ip("link", "set", host_if, "master", self.bridge, "up")
            _ip("-n", netns, "addr", "add", f"{ip}/{self.subnet.prefixlen}", "dev", "eth0")
            _ip("-n", netns, "link", "set", "eth0", "up")
            _ip("-n", netns, "link", "set", "lo", "up")
            _ip("-n", netns, "route", "add", "default", "via", self.gateway)
        except NetworkError:
            _ip("netns", "delete", netns, check=False)
            self._free.insert(0, ip)
            raise
        self._pods[key] = (netns, ip)
        return netns, ip

    def remove(self, key: str) -> None:
        entry = self._pods.pop(key, None)
        if entry is None:
            return
        netns, ip = entry
        _ip("netns", "delete", netns, check=False)  # its veth pair goes with it
        self._free.append(ip)

    def close(self) -> None:
        for key in list(self._pods):
            self.remove(key)
        _ip("link", "delete", self.bridge, check=False)
        (_LOCK_DIR / f"vd{self.index}.pid").unlink(missing_ok=True)

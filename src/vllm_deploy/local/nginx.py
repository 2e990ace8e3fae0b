"""Real nginx (Debian's) in front of the local cluster: every Service port and the Ingress.

Each Service port gets a loopback port of its own and proxies to the Service's **ready**
endpoints (EndpointSlice ``conditions.ready``), as kube-proxy sends new connections only
there: not-ready and terminating pods get none, and a connection is never retried on
another pod (``proxy_next_upstream off``). With no ready endpoint the port answers 503. The
Ingress rules (host, path, backend Service port) are served on one more loopback port, with
the ingress-nginx timeout, buffering and body-size annotations they carry; TLS is not
terminated locally. A change of endpoints rewrites the configuration and reloads nginx
(SIGHUP): new workers take new connections while the old ones finish theirs, so in-flight
streams survive, as on a node where kube-proxy rewrites its rules.
Every request is one JSON line in ``access.log`` (status, upstream, times), which the
rehearsals read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from vllm_deploy.local.aio import wait_until
from vllm_deploy.local.controllers.base import KINDS, Controller
from vllm_deploy.local.controllers.endpoints import SERVICE_NAME_LABEL, ready_endpoints
from vllm_deploy.local.store import Obj, Store

__all__ = ["NginxController"]

logger = logging.getLogger("vllm_deploy.local")
_ANNOTATION = "nginx.ingress.kubernetes.io/"
_LOG_FORMAT = (
    '{"time":"$time_iso8601","msec":$msec,"request_id":"$http_x_request_id",'
    '"listener":"$vd_listener","remote":"$remote_addr",'
    '"method":"$request_method","uri":"$request_uri","status":$status,"bytes":$bytes_sent,'
    '"request_time":$request_time,"upstream":"$upstream_addr",'
    '"upstream_status":"$upstream_status","upstream_response_time":"$upstream_response_time"}'
)


def _upstream_name(key: str) -> str:
    return "up_" + "".join(ch if ch.isalnum() else "_" for ch in key)


def _port_of(svc: Obj, ref: dict[str, Any]) -> dict[str, Any] | None:
    for port in svc["spec"].get("ports") or []:
        if ref.get("number") == port["port"] or (
            ref.get("name") and ref.get("name") == port.get("name")
        ):
            return dict(port)
    return None


class NginxController(Controller):
    """Writes nginx.conf from Services, EndpointSlices and Ingresses; reloads on change."""

    name = "nginx"
    watches = frozenset({"Service", "EndpointSlice", "Ingress"})

    def __init__(self, store: Store, directory: Path, allocate_port: Callable[[], int]) -> None:
        super().__init__(store)
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.dir / "temp" / sub).mkdir(parents=True, exist_ok=True)
        self.access_log = self.dir / "access.log"
        self._allocate = allocate_port
        self.ports: dict[str, int] = {}  # "<ns>/<svc>:<port>" -> local port
        self.ingress_port = allocate_port()
        self._proc: asyncio.subprocess.Process | None = None
        self._config = ""

    # -- configuration ---------------------------------------------------------------------------

    def _endpoints(self, namespace: str, service: str, port_name: str, target: Any) -> list[str]:
        addresses = []
        for slice_ in self.store.items(KINDS["EndpointSlice"], namespace):
            if (slice_["metadata"].get("labels") or {}).get(SERVICE_NAME_LABEL) != service:
                continue
            port = next(
                (p["port"] for p in slice_.get("ports") or [] if p.get("name", "") == port_name),
                target,
            )
            addresses += [f"{a}:{port}" for a in ready_endpoints(slice_)]
        return sorted(addresses)

    @staticmethod
    def _upstream(key: str, servers: list[str]) -> str:
        if not servers:
            return ""
        lines = "".join(f"    server {s};\n" for s in servers)
        return f"  upstream {_upstream_name(key)} {{\n{lines}  }}\n"

    @staticmethod
    def _target(key: str, servers: list[str]) -> str:
        """Proxy to the ready endpoints, or 503 when there are none."""
        return (
            f"proxy_pass http://{_upstream_name(key)};"
            if servers
            else 'return 503 "no ready endpoints\\n";'
        )

    def render(self) -> str:
        upstreams, servers = [], []
        for svc in self.store.items(KINDS["Service"]):
            ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
            for port in svc["spec"].get("ports") or []:
                key = f"{ns}/{name}:{port['port']}"
                if key not in self.ports:
                    self.ports[key] = self._allocate()
                eps = self._endpoints(ns, name, port.get("name", ""), port.get("targetPort"))
                upstreams.append(self._upstream(key, eps))
                target = self._target(key, eps)
                servers.append(
                    f"  server {{\n    listen 127.0.0.1:{self.ports[key]};\n"
                    f'    set $vd_listener "{key}";\n'
                    f"    location / {{ {target} }}\n  }}\n"
                )
        servers.append(self._ingress_server())
        return (
            "worker_processes 1;\nuser root;\n"
            f"pid {self.dir}/nginx.pid;\nerror_log {self.dir}/error.log warn;\n"
            "events { worker_connections 4096; }\n"
            "http {\n"
            f"  log_format vd escape=json '{_LOG_FORMAT}';\n"
            f"  access_log {self.access_log} vd;\n"
            + "".join(
                f"  {kind}_temp_path {self.dir}/temp/{sub};\n"
                for kind, sub in (
                    ("client_body", "client_body"),
                    ("proxy", "proxy"),
                    ("fastcgi", "fastcgi"),
                    ("uwsgi", "uwsgi"),
                    ("scgi", "scgi"),
                )
            )
            + "  proxy_http_version 1.1;\n  proxy_buffering off;\n  proxy_request_buffering off;\n"
            "  proxy_read_timeout 3600s;\n  proxy_send_timeout 3600s;\n  proxy_next_upstream off;\n"
            "  client_max_body_size 0;\n  proxy_set_header Host $host;\n"
            '  proxy_set_header Connection "";\n' + "".join(upstreams) + "".join(servers) + "}\n"
        )

    def _ingress_server(self) -> str:
        locations: dict[str, list[str]] = {}
        for ing in self.store.items(KINDS["Ingress"]):
            ns = ing["metadata"]["namespace"]
            notes = {
                k.removeprefix(_ANNOTATION): v
                for k, v in (ing["metadata"].get("annotations") or {}).items()
                if k.startswith(_ANNOTATION)
            }
            extra = "".join(
                f" {directive} {notes[key]}{unit};"
                for key, directive, unit in (
                    ("proxy-read-timeout", "proxy_read_timeout", "s"),
                    ("proxy-send-timeout", "proxy_send_timeout", "s"),
                    ("proxy-body-size", "client_max_body_size", ""),
                )
                if key in notes
            )
            if notes.get("proxy-buffering") == "on":
                extra += " proxy_buffering on;"
            for rule in ing["spec"].get("rules") or []:
                host = rule.get("host") or "_"
                for path in (rule.get("http") or {}).get("paths") or []:
                    backend = path["backend"]["service"]
                    svc = self.store.peek(KINDS["Service"], ns, backend["name"])
                    port = _port_of(svc, backend.get("port") or {}) if svc else None
                    where = path.get("path") or "/"
                    if port is None:
                        target = 'return 503 "default backend - 404\\n";'
                    else:
                        key = f"{ns}/{backend['name']}:{port['port']}"
                        eps = self._endpoints(
                            ns, backend["name"], port.get("name", ""), port.get("targetPort")
                        )
                        target = self._target(key, eps)
                    match = "= " if path.get("pathType") == "Exact" else ""
                    locations.setdefault(host, []).append(
                        f"    location {match}{where} {{{extra} {target} }}\n"
                    )
        blocks = [
            f"  server {{\n    listen 127.0.0.1:{self.ingress_port};\n    server_name {host};\n"
            f'    set $vd_listener "ingress:{host}";\n' + "".join(locs) + "  }\n"
            for host, locs in sorted(locations.items())
        ]
        if not locations:
            blocks.append(
                f"  server {{\n    listen 127.0.0.1:{self.ingress_port} default_server;\n"
                f'    set $vd_listener "ingress";\n    location / {{ return 404; }}\n  }}\n'
            )
        return "".join(blocks)

    # -- process ---------------------------------------------------------------------------------

    def _stderr(self) -> BinaryIO:
        return (self.dir / "stderr.log").open("ab")

    async def start(self) -> None:
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self._write()
        self._proc = await asyncio.create_subprocess_exec(
            nginx,
            "-p",
            str(self.dir),
            "-c",
            str(self.dir / "nginx.conf"),
            "-g",
            "daemon off;",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=self._stderr(),
        )

    def _write(self) -> bool:
        config = self.render()
        if config == self._config:
            return False
        (self.dir / "nginx.conf").write_text(config)
        self._config = config
        return True

    def reconcile(self) -> None:
        if self._write() and self._proc is not None and self._proc.returncode is None:
            self._proc.send_signal(signal.SIGHUP)  # graceful reload

    def listeners(self) -> dict[str, str]:
        return {key: f"http://127.0.0.1:{port}" for key, port in sorted(self.ports.items())}

    async def stop(self) -> None:
        if self._proc is not None and self._proc.returncode is None:
            self._proc.send_signal(signal.SIGQUIT)  # graceful shutdown
            if not await wait_until(self._proc.wait(), 10):
                with contextlib.suppress(ProcessLookupError):
                    self._proc.kill()
                await self._proc.wait()

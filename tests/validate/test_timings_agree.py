"""The rendered probes, preStop and drain timings agree with what the middleware implements."""

from __future__ import annotations

from pathlib import Path

from typer.main import get_command

from vllm_deploy.cli import app
from vllm_deploy.contract import OPEN_PATHS
from vllm_deploy.runtime.middleware import ProductionMiddleware
from vllm_deploy.runtime.settings import MiddlewareSettings, load_settings
from vllm_deploy.spec import load_spec
from vllm_deploy.validate import load_dir

ROOT = Path(__file__).parents[2]


def test_rendered_pod_matches_the_middleware() -> None:
    spec = load_spec(ROOT / "examples" / "prod.yaml")
    objs = load_dir(ROOT / "deploy" / "examples" / "prod")
    dep = next(o for o in objs if o["kind"] == "Deployment")
    config = next(
        o for o in objs if o["kind"] == "ConfigMap" and o["metadata"]["name"] == spec.app_name
    )
    pod = dep["spec"]["template"]["spec"]
    server = pod["containers"][0]

    # The ConfigMap is valid middleware configuration and the drain deadline's one carrier:
    # the server reads it, and so does the preStop hook (same container, no --timeout of its own).
    assert server["envFrom"] == [{"configMapRef": {"name": config["metadata"]["name"]}}]
    settings = load_settings(config["data"])
    assert settings.drain_timeout_s == spec.drain.timeout_s == 300
    pre_stop = server["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[:2] == ["vllm-deploy", "drain"] and "--timeout" not in pre_stop
    drain = get_command(app).commands["drain"]  # type: ignore[attr-defined]
    options = {o for p in drain.params for o in p.opts}
    assert {pre_stop[i] for i in range(2, len(pre_stop), 2)} <= options
    assert int(pre_stop[pre_stop.index("--port") + 1]) == server["ports"][0]["containerPort"]
    assert not [k for k in dep["metadata"]["annotations"] if "request" in k or "drain" in k]

    # The grace period follows the rule with the timings the processes really use.
    shutdown = int(server["args"][server["args"].index("--shutdown-timeout") + 1])
    assert pod["terminationGracePeriodSeconds"] >= settings.drain_timeout_s + shutdown + 5

    # Probe paths are the middleware's own routes, served without a key.
    middleware = ProductionMiddleware(lambda *a: None, settings=MiddlewareSettings())  # type: ignore[arg-type]
    assert server["readinessProbe"]["httpGet"]["path"] in middleware._probes
    assert server["livenessProbe"]["httpGet"]["path"] in middleware._probes
    assert server["startupProbe"]["httpGet"]["path"] in OPEN_PATHS

    # The watchdog's stall period outlasts what liveness tolerates before restarting.
    live = server["livenessProbe"]
    assert settings.watchdog_stall_s > live["periodSeconds"] * live["failureThreshold"]

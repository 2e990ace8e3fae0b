"""The operating commands: preflight, deploy, history, rollback, scale, status, canary, and
analysis-template (the canary gate for Argo Rollouts).

They parse options and delegate to the modules of this package (imported when a command runs:
they need the ``ops`` extra). Exit codes: 0 done, 1 the operation failed (the cluster did not
do what was asked), 2 bad input (an unknown context, a missing file, an invalid spec).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from kubernetes import client

    from vllm_deploy.spec import DeploymentSpec

__all__ = ["register"]

SpecFile = Annotated[Path, typer.Option("-f", "--file", help="The deployment spec (YAML).")]
Kubeconfig = Annotated[
    Path | None,
    typer.Option(
        help="The kubeconfig [default: $KUBECONFIG, else ~/.kube/config;"
        " in a pod, its service account]."
    ),
]
Context = Annotated[
    str | None, typer.Option(help="The kubeconfig context [default: its current one].")
]
Timeout = Annotated[float, typer.Option("--timeout", help="Seconds to wait for each rollout.")]


def _error(message: str, code: int) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@contextmanager
def _ops() -> Iterator[None]:
    """Our two failures as exit codes; a missing ``ops`` extra as one line."""
    try:
        from vllm_deploy.kube.errors import OpsError, UsageError
    except ModuleNotFoundError as exc:
        raise _error(
            f"this command needs the 'ops' extra ({exc.name} is missing): "
            "pip install 'vllm-deploy[ops]'",
            2,
        ) from None
    try:
        yield
    except UsageError as exc:
        raise _error(str(exc), 2) from None
    except OpsError as exc:
        raise _error(str(exc), 1) from None


def _spec(path: Path) -> DeploymentSpec:
    from vllm_deploy.kube.errors import UsageError
    from vllm_deploy.spec import SpecError, load_spec

    if not path.exists():
        raise UsageError(f"{path}: no such file")
    try:
        return load_spec(path)
    except SpecError as exc:
        raise UsageError(f"{path}: {exc}") from None


def _connect(kubeconfig: Path | None, context: str | None) -> client.ApiClient:
    from vllm_deploy.kube.connect import connect

    return connect(kubeconfig, context)


class _Progress:
    """Lines on a pipe; on a terminal, the rollout's waiting messages on one live status line."""

    def __init__(self) -> None:
        self.tty = sys.stdout.isatty()
        self._status: Any = None

    def __enter__(self) -> _Progress:
        if self.tty:
            from rich.console import Console

            self._status = Console().status("")
            self._status.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.stop()

    def __call__(self, text: str) -> None:
        if self._status is not None and text.startswith("Waiting for"):
            self._status.update(text)
            return
        if self._status is not None:
            self._status.console.print(text, markup=False, highlight=False)
        else:
            typer.echo(text)


def _checks_table(checks: list[Any]) -> None:
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table("check", "result", "detail", "fix")
        for c in checks:
            table.add_row(c.name, "[green]PASS[/]" if c.passed else "[red]FAIL[/]", c.detail, c.fix)
        Console().print(table)
        return
    for c in checks:
        line = f"{'PASS' if c.passed else 'FAIL'}  {c.name}: {c.detail}"
        typer.echo(line + (f" -> fix: {c.fix}" if c.fix else ""))


def _echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


PREFLIGHT_HELP = """Check that the cluster can run the spec; writes nothing.

API versions and CRDs the rendered objects need, the metrics APIs the HPA
reads (custom.metrics.k8s.io: prometheus-adapter), the ingress class,
allocatable GPUs on nodes matching gpu.node_selector, the Secrets the spec
names (never their values), the namespace. Exit 1 when a check fails, each
with its fix.

\b
    vllm-deploy preflight -f examples/prod.yaml --context prod
"""


def preflight_cmd(
    spec_file: SpecFile, kubeconfig: Kubeconfig = None, context: Context = None
) -> None:
    with _ops():
        from vllm_deploy.kube.deploy import rendered_objects
        from vllm_deploy.kube.preflight import preflight

        spec = _spec(spec_file)
        api = _connect(kubeconfig, context)
        checks = preflight(api, spec, rendered_objects(spec))
        _checks_table(checks)
        failed = [c for c in checks if not c.passed]
        if failed:
            raise _error(f"{len(failed)} of {len(checks)} checks failed", 1)


DEPLOY_HELP = """Deploy the spec and wait until it serves; roll back by itself when it does
not.

Renders and validates, runs the preflight, applies every object with server-
side apply (field manager vllm-deploy) in dependency order, prunes what this
spec rendered before and no longer does, waits for the rollout as `kubectl
rollout status` does, then smoke-tests through the API server's Service
proxy (/v1/models and a 1-token completion). On failure it rolls back to the
previous revision, waits for it, and exits 1 with the reason (the pod, the
probe, its last log lines). --dry-run shows what would change (a server-side
dry run).

\b
    vllm-deploy deploy -f examples/prod.yaml
    vllm-deploy deploy -f examples/prod.yaml --dry-run
    vllm-deploy deploy -f examples/prod.yaml --timeout 1200 --message "bump to v0.2"
"""


def deploy_cmd(
    spec_file: SpecFile,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change; change nothing.")
    ] = False,
    timeout: Timeout = 900.0,
    no_rollback: Annotated[
        bool, typer.Option("--no-rollback", help="Leave a failed revision in place.")
    ] = False,
    skip_preflight: Annotated[
        bool, typer.Option("--skip-preflight", help="Do not run the preflight.")
    ] = False,
    no_smoke: Annotated[bool, typer.Option("--no-smoke", help="Skip the smoke test.")] = False,
    message: Annotated[str | None, typer.Option(help="The change cause `history` shows.")] = None,
) -> None:
    with _ops():
        from vllm_deploy.kube.deploy import DeployOptions, PreflightFailed, deploy

        spec = _spec(spec_file)
        api = _connect(kubeconfig, context)
        options = DeployOptions(
            spec,
            dry_run=dry_run,
            timeout_s=timeout,
            rollback=not no_rollback,
            preflight=not skip_preflight,
            smoke=not no_smoke,
            cause=message,
        )
        with _Progress() as progress:
            try:
                result = deploy(api, options, progress)
            except PreflightFailed as exc:
                _checks_table(exc.checks)
                raise
        if dry_run:
            for applied in result.applied:
                typer.echo(f"{applied} (dry run)")
            for name in result.pruned:
                typer.echo(f"{name} would be pruned")
            return
        typer.echo(f"deployment/{spec.app_name} at revision {result.revision}: serving")


HISTORY_HELP = """List the Deployment's revisions (its ReplicaSets), newest last.

\b
    vllm-deploy history -f examples/prod.yaml
"""


def history_cmd(
    spec_file: SpecFile,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    output: Annotated[str, typer.Option("-o", "--output", help="table or json.")] = "table",
) -> None:
    with _ops():
        from vllm_deploy.kube.history import history

        revisions = history(_connect(kubeconfig, context), _spec(spec_file))
        if output == "json":
            _echo_json([r.as_dict() for r in revisions])
            return
        typer.echo(f"{'REVISION':<9}{'REPLICAS':<9}{'AGE':<6}{'SPEC':<14}CHANGE-CAUSE")
        for r in revisions:
            mark = "*" if r.current else " "
            typer.echo(
                f"{r.number:<8}{mark}{r.replicas:<9}{r.created:<6}"
                f"{r.spec_digest or '-':<14}{r.cause}"
            )


ROLLBACK_HELP = """Roll back to the previous revision (or --to-revision N) and wait for it.

A revision deployed by vllm-deploy is re-applied whole (its ConfigMap and
autoscaler too); one without its spec gets its pod template back, as
`kubectl rollout undo` does.

\b
    vllm-deploy rollback -f examples/prod.yaml
    vllm-deploy rollback -f examples/prod.yaml --to-revision 3
"""


def rollback_cmd(
    spec_file: SpecFile,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    to_revision: Annotated[
        int, typer.Option(min=0, help="The revision [default: the previous one].")
    ] = 0,
    timeout: Timeout = 900.0,
) -> None:
    with _ops():
        from vllm_deploy.kube.history import rollback

        spec = _spec(spec_file)
        api = _connect(kubeconfig, context)
        with _Progress() as progress:
            result = rollback(api, spec, to_revision, timeout, progress)
        revision = result if isinstance(result, int) else result.revision
        typer.echo(f"deployment/{spec.app_name} rolled back: now revision {revision}")


SCALE_HELP = """Scale, aware of the autoscaler.

With an HPA or a KEDA ScaledObject, a replica count set by hand is undone at
the autoscaler's next sync: --min/--max change its bounds instead (until the
next deploy sets the spec's back), and --replicas is refused with that
explanation.

\b
    vllm-deploy scale -f examples/prod.yaml --min 4 --max 12
    vllm-deploy scale -f examples/dev.yaml --replicas 2      # no autoscaler
"""


def scale_cmd(
    spec_file: SpecFile,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    replicas: Annotated[int | None, typer.Option(min=0, help="Replicas (no autoscaler).")] = None,
    minimum: Annotated[
        int | None, typer.Option("--min", min=1, help="The autoscaler's minimum.")
    ] = None,
    maximum: Annotated[
        int | None, typer.Option("--max", min=1, help="The autoscaler's maximum.")
    ] = None,
    timeout: Timeout = 600.0,
) -> None:
    if replicas is None and minimum is None and maximum is None:
        raise _error("give --replicas, or --min and/or --max", 2)
    if replicas is not None and (minimum is not None or maximum is not None):
        raise _error("--replicas and --min/--max do not go together", 2)
    with _ops():
        from vllm_deploy.kube.scale import scale

        spec = _spec(spec_file)
        api = _connect(kubeconfig, context)
        with _Progress() as progress:
            done = scale(api, spec, replicas, minimum, maximum, timeout, progress)
        typer.echo(done)


STATUS_HELP = """Show the deployment: revision, pods, autoscaler, recent warnings, and the
SLO.

\b
    vllm-deploy status -f examples/prod.yaml
    vllm-deploy status -f examples/prod.yaml --prometheus-url http://localhost:9090 -o json
"""


def _print_status(report: dict[str, Any]) -> None:
    r = report["replicas"]
    typer.echo(
        f"{report['deployment']}: revision {report['revision']} (spec {report['spec'] or '-'}), "
        f"image {', '.join(report['images'])}"
    )
    typer.echo(
        f"replicas: {r['desired']} desired, {r['updated']} updated, {r['ready']} ready, "
        f"{r['available']} available; "
        + ", ".join(f"{k}={v}" for k, v in report["conditions"].items())
    )
    typer.echo(f"\n{'POD':<40}{'READY':<7}{'STATE':<28}{'RESTARTS':<10}{'AGE':<6}NODE")
    for p in report["pods"]:
        typer.echo(
            f"{p['name']:<40}{'yes' if p['ready'] else 'no':<7}{p['state'][:27]:<28}"
            f"{p['restarts']:<10}{p['age']:<6}{p['node']}"
        )
    scaler = report["autoscaler"]
    if scaler:
        typer.echo(
            f"\n{scaler['kind']} {scaler['name']}: "
            f"min {scaler.get('min')}, max {scaler.get('max')}, "
            f"current {scaler.get('current')}, desired {scaler.get('desired')}, "
            f"last scale {scaler.get('last_scale') or '-'}"
        )
        for m in scaler.get("metrics") or []:
            typer.echo(f"  {m['metric']}: {m['current']} (target {m['target']})")
        if scaler.get("conditions"):
            typer.echo("  " + ", ".join(f"{k}={v}" for k, v in scaler["conditions"].items()))
    if report["warnings"]:
        typer.echo("\nrecent warnings:")
        for w in report["warnings"]:
            typer.echo(
                f"  {w['age']:<6}{w['object']}: {w['reason']}: {w['message']} (x{w['count']})"
            )
    if "slo" in report:
        slo, m = report["slo"], report["slo"]["measured"]
        goal = slo["objective"]
        typer.echo(
            f"\nSLO over {slo['window']} (objective): "
            f"ttft p95 {m['ttft_p95_s']} s ({goal['ttft_p95_s']}), "
            f"itl p95 {m['itl_p95_s']} s ({goal['itl_p95_s']}), "
            f"error ratio {m['error_ratio']} ({goal['error_ratio']}), "
            f"queue per pod {m['waiting_per_pod']}"
        )


def status_cmd(
    spec_file: SpecFile,
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    prometheus_url: Annotated[
        str | None, typer.Option(help="Add the SLO picture from this Prometheus.")
    ] = None,
    output: Annotated[str, typer.Option("-o", "--output", help="table or json.")] = "table",
) -> None:
    with _ops():
        from vllm_deploy.kube.status import status

        report = status(_connect(kubeconfig, context), _spec(spec_file), prometheus_url)
        if output == "json":
            _echo_json(report)
        else:
            _print_status(report)


CANARY_HELP = """Try the spec as a canary beside the stable revision; promote or abort on the
SLO.

A second Deployment (<app>-canary) behind the same Service takes --weight of
new connections (by pod count: the effective share is printed). Every
--analysis-interval seconds the gate compares the canary's p95 TTFT, p95 ITL
and error ratio with the stable pods' and with the spec's slo (from
--prometheus-url); the first failure aborts (canary removed, stable never
touched, exit 1); after --steps passes, `deploy` promotes the spec and the
canary goes. Each decision is printed with the values behind it.

\b
    vllm-deploy canary -f new.yaml --prometheus-url http://prometheus:9090 --weight 0.2 \\
        --analysis-interval 60 --steps 5
"""


def canary_cmd(
    spec_file: SpecFile,
    prometheus_url: Annotated[str, typer.Option(help="The Prometheus that scrapes the pods.")],
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    weight: Annotated[
        float, typer.Option(help="The canary's share of new connections (0-1).")
    ] = 0.2,
    analysis_interval: Annotated[
        float, typer.Option(min=1, help="Seconds between decisions (the query window).")
    ] = 60.0,
    steps: Annotated[int, typer.Option(min=1, help="Passing decisions before promotion.")] = 5,
    max_ttft_ratio: Annotated[
        float, typer.Option(help="Most canary/stable p95 TTFT allowed.")
    ] = 1.5,
    min_requests: Annotated[int, typer.Option(min=1, help="Requests a decision needs.")] = 10,
    timeout: Timeout = 900.0,
    output: Annotated[
        str, typer.Option("-o", "--output", help="text or json (the decisions).")
    ] = "text",
) -> None:
    with _ops():
        from vllm_deploy.kube.canary import CanaryOptions, decisions_as_dicts, run_canary

        spec = _spec(spec_file)
        api = _connect(kubeconfig, context)
        options = CanaryOptions(
            spec,
            prometheus_url,
            weight,
            analysis_interval,
            steps,
            max_ttft_ratio,
            min_requests,
            timeout,
        )
        with _Progress() as progress:
            result = run_canary(api, options, progress)
        if output == "json":
            _echo_json(
                {"promoted": result.promoted, "decisions": decisions_as_dicts(result.decisions)}
            )
        revision = result.deploy.revision if result.deploy else "?"
        typer.echo(f"canary promoted: deployment/{spec.app_name} at revision {revision}")


ANALYSIS_HELP = """Write the canary gate as an Argo Rollouts AnalysisTemplate (<app>-slo).

For clusters that roll out with Argo Rollouts instead of `vllm-deploy canary`:
the same checks and PromQL as the canary gate (requests reaching the canary,
error ratio against the SLO and the stable pods, p95 TTFT and ITL against the
spec's slo, p95 TTFT canary/stable), one measurement per --analysis-interval,
--steps of them. The Rollout passes the arguments canary-hash and stable-hash
(valueFrom.podTemplateHashValue: Latest / Stable). The template is validated
against Argo Rollouts' CRD schema before it is written. Touches no cluster.

\b
    vllm-deploy analysis-template -f examples/prod.yaml \\
        --prometheus-url http://prometheus-operated.monitoring.svc:9090 -o analysis.yaml
    kubectl apply -f analysis.yaml
"""


def analysis_template_cmd(
    spec_file: SpecFile,
    prometheus_url: Annotated[
        str, typer.Option(help="The Prometheus Argo's analysis controller queries.")
    ],
    analysis_interval: Annotated[
        int, typer.Option(min=1, help="Seconds between measurements (the query window).")
    ] = 60,
    steps: Annotated[int, typer.Option(min=1, help="Measurements of each metric.")] = 5,
    max_ttft_ratio: Annotated[
        float, typer.Option(min=1.0, help="Most canary/stable p95 TTFT allowed.")
    ] = 1.5,
    min_requests: Annotated[
        int, typer.Option(min=1, help="Requests an interval needs on the canary.")
    ] = 10,
    rollout: Annotated[
        str | None, typer.Option(help="The Rollout's name [default: the Deployment's].")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write here [default: stdout].")
    ] = None,
) -> None:
    with _ops():
        import yaml

        from vllm_deploy.kube.analysis import AnalysisOptions, analysis_template
        from vllm_deploy.kube.errors import UsageError
        from vllm_deploy.validate.schemas import validate_schema

        spec = _spec(spec_file)
        options = AnalysisOptions(
            prometheus_url, analysis_interval, steps, max_ttft_ratio, min_requests, rollout
        )
        template = analysis_template(spec, options)
        problems = validate_schema(template)
        if problems:  # e.g. a --rollout name that is not a Kubernetes name
            raise UsageError("; ".join(f"{p.field}: {p.message}" for p in problems))
        text = yaml.safe_dump(template, sort_keys=False, width=1_000_000)
        if output is None:
            typer.echo(text, nl=False)
        else:
            output.write_text(text)
            typer.echo(f"wrote {output}: AnalysisTemplate {spec.namespace}/{spec.app_name}-slo")


_COMMANDS: list[tuple[str, Callable[..., None], str]] = [
    ("preflight", preflight_cmd, PREFLIGHT_HELP),
    ("deploy", deploy_cmd, DEPLOY_HELP),
    ("history", history_cmd, HISTORY_HELP),
    ("rollback", rollback_cmd, ROLLBACK_HELP),
    ("scale", scale_cmd, SCALE_HELP),
    ("status", status_cmd, STATUS_HELP),
    ("canary", canary_cmd, CANARY_HELP),
    ("analysis-template", analysis_template_cmd, ANALYSIS_HELP),
]


def register(app: typer.Typer) -> None:
    for name, command, help_text in _COMMANDS:
        app.command(name, help=help_text)(command)

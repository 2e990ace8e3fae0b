"""The `vllm-deploy` command. Subcommands parse options and delegate; no logic lives here."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError

from vllm_deploy.serve_config import EngineName, SchedulingPolicy, ServeConfig

__all__ = ["app", "main"]

app = typer.Typer(
    help="vllm-deploy: run and operate vLLM in production on Kubernetes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Help texts are plain: "[default: ...]" and backticks are shown as written.
    rich_markup_mode=None,
)


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


# What each engine needs beyond the pod runtime (pyproject's extras).
_ENGINE_EXTRAS: dict[str, str | None] = {
    "reference": "reference",
    "simulated": "engines",
    "vllm": None,
}


@contextmanager
def _needs_extra(what: str, extra: str | None) -> Iterator[None]:
    """A missing optional dependency is one line naming the extra to install."""
    try:
        yield
    except ModuleNotFoundError as exc:
        if extra is None or (exc.name or "").startswith("vllm_deploy"):
            raise
        _fail(
            f"{what} needs the {extra!r} extra ({exc.name} is missing): "
            f"pip install 'vllm-deploy[{extra}]'"
        )


def _first_error(exc: ValidationError) -> str:
    err = exc.errors(include_url=False)[0]
    field = ".".join(str(p) for p in err["loc"])
    flag = "--" + field.replace("sim.faults.", "sim-").replace("sim.", "sim-").replace("_", "-")
    return f"{flag} has value {err.get('input')!r}: {err['msg']}"


def _json_list(flag: str, value: str) -> object:
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        _fail(f"{flag} has value {value!r}: expected a JSON list of strings")


@app.command("make-tiny-model")
def make_tiny_model_cmd(
    out_dir: Annotated[Path, typer.Argument(help="Directory to write the model into.")],
    seed: Annotated[int, typer.Option(help="Seed of the random weights.")] = 0,
) -> None:
    """Write a tiny random-weight Llama model and its tokenizer (offline, deterministic)."""
    with _needs_extra("make-tiny-model", "reference"):
        from vllm_deploy.engines.tiny_model import make_tiny_model

        sizes = make_tiny_model(out_dir, seed=seed)
    typer.echo(
        f"wrote {out_dir}: {sizes['parameters']} parameters, vocabulary {sizes['vocab_size']}"
    )


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def serve(
    ctx: typer.Context,
    model: Annotated[
        str, typer.Option(help="Model directory (reference, vllm) or name (simulated).")
    ],
    engine: Annotated[EngineName, typer.Option(help="What produces tokens.")] = "reference",
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    served_model_name: Annotated[
        str | None, typer.Option(help="Model name in the API and metrics [default: --model].")
    ] = None,
    max_model_len: Annotated[
        int | None, typer.Option(help="Context length [default: the model's; simulated 4096].")
    ] = None,
    max_num_seqs: Annotated[
        int | None,
        typer.Option(
            help="Requests running at once; more wait [default: 16; vLLM's own for vllm]."
        ),
    ] = None,
    kv_cache_tokens: Annotated[
        int | None,
        typer.Option(help="KV cache size in tokens [default: max-num-seqs x max-model-len]."),
    ] = None,
    max_request_body_bytes: Annotated[int, typer.Option(help="Larger bodies get 413.")] = 32 << 20,
    shutdown_timeout: Annotated[
        int, typer.Option(help="Seconds to finish in-flight requests after SIGTERM.")
    ] = 30,
    allowed_origins: Annotated[
        str,
        typer.Option(
            help="Browser origins allowed cross-origin access, a JSON list (as vLLM's flag), "
            "e.g. '[\"https://ui.example.com\"]'."
        ),
    ] = "[]",
    middleware: Annotated[
        bool,
        typer.Option(help="Wrap the engine in ProductionMiddleware (configured by VLLMDEPLOY_*)."),
    ] = True,
    scheduling_policy: Annotated[
        SchedulingPolicy,
        typer.Option(help="As vLLM's: 'priority' serves waiting requests by their `priority`."),
    ] = "fcfs",
    max_logprobs: Annotated[
        int, typer.Option(help="Most logprobs a request may ask for per token (-1: vocabulary).")
    ] = 20,
    sim_ttft_ms: Annotated[float, typer.Option(help="Simulated: base time to first token.")] = 50.0,
    sim_itl_ms: Annotated[float, typer.Option(help="Simulated: base inter-token latency.")] = 10.0,
    sim_prefill_ms_per_token: Annotated[
        float, typer.Option(help="Simulated: extra TTFT per prompt token.")
    ] = 0.05,
    sim_load_factor: Annotated[
        float, typer.Option(help="Simulated: ITL grows by this factor as the batch fills.")
    ] = 1.0,
    sim_startup_s: Annotated[float, typer.Option(help="Simulated: model load time.")] = 0.0,
    sim_output_tokens: Annotated[
        int, typer.Option(help="Simulated: longest output when max_tokens is not set.")
    ] = 128,
    sim_error_rate: Annotated[
        float, typer.Option(help="Simulated: share of requests failing.")
    ] = 0.0,
    sim_hang: Annotated[bool, typer.Option(help="Simulated: start hung (no tokens).")] = False,
    sim_slowdown: Annotated[float, typer.Option(help="Simulated: latency multiplier.")] = 1.0,
) -> None:
    """Serve the OpenAI API on an engine: reference (CPU, transformers), simulated, or vllm.

    Arguments after the options (e.g. `-- --dtype float16`) are passed to `vllm serve`.
    """
    from vllm_deploy.runtime.settings import SettingsError
    from vllm_deploy.runtime.vllm_launcher import VllmNotInstalled
    from vllm_deploy.server import run

    faults = {"error_rate": sim_error_rate, "hang": sim_hang, "slowdown": sim_slowdown}
    sim = {
        "ttft_ms": sim_ttft_ms,
        "itl_ms": sim_itl_ms,
        "prefill_ms_per_token": sim_prefill_ms_per_token,
        "load_factor": sim_load_factor,
        "startup_s": sim_startup_s,
        "output_tokens": sim_output_tokens,
        "faults": faults,
    }
    try:
        config = ServeConfig.model_validate(
            {
                "engine": engine,
                "model": model,
                "served_model_name": served_model_name,
                "host": host,
                "port": port,
                "max_model_len": max_model_len,
                "max_num_seqs": max_num_seqs,
                "kv_cache_tokens": kv_cache_tokens,
                "max_request_body_bytes": max_request_body_bytes,
                "shutdown_timeout": shutdown_timeout,
                "middleware": middleware,
                "allowed_origins": _json_list("--allowed-origins", allowed_origins),
                "scheduling_policy": scheduling_policy,
                "max_logprobs": max_logprobs,
                "sim": sim,
            }
        )
    except ValidationError as exc:
        _fail(_first_error(exc))
    try:
        with _needs_extra(f"--engine {engine}", _ENGINE_EXTRAS[engine]):
            run(config, ctx.args)
    except (ValueError, VllmNotInstalled, SettingsError) as exc:
        _fail(str(exc))


@app.command()
def drain(
    port: Annotated[int, typer.Option(help="Port of the local server.")] = 8000,
    host: Annotated[
        str, typer.Option(help="Address of the local server (loopback).")
    ] = "127.0.0.1",
    timeout: Annotated[
        float | None,
        typer.Option(help="Deadline in seconds [default: VLLMDEPLOY_DRAIN_TIMEOUT_S]."),
    ] = None,
    quiet: Annotated[
        float | None,
        typer.Option(help="Quiet period in seconds [default: VLLMDEPLOY_DRAIN_QUIET_S]."),
    ] = None,
) -> None:
    """Drain the local server (preStop hook): unready at once, return when idle and quiet.

    Exits 0 when drained, 1 when the deadline came first or the server did not answer.
    """

    from vllm_deploy.runtime.drain_client import DrainFailed
    from vllm_deploy.runtime.drain_client import drain as run_drain
    from vllm_deploy.runtime.settings import SettingsError

    try:
        result = run_drain(host, port, timeout, quiet)
    except (DrainFailed, SettingsError) as exc:
        _fail(str(exc))
    typer.echo(json.dumps(result))


def _report(problems: list[Any]) -> None:
    for problem in problems:
        typer.echo(str(problem), err=True)
    if problems:
        typer.echo(f"{len(problems)} problem(s)", err=True)
        raise typer.Exit(1)


@app.command()
def render(
    spec_file: Annotated[Path, typer.Option("-f", "--file", help="The deployment spec (YAML).")],
    out_dir: Annotated[Path, typer.Option("-o", "--out", help="Directory for the manifests.")],
    validate: Annotated[
        bool, typer.Option(help="Validate the output too (see `validate`).")
    ] = False,
) -> None:
    """Render Kubernetes manifests from a deployment spec: a file per component, a kustomization."""
    from vllm_deploy.render import write
    from vllm_deploy.spec import SpecError, load_spec

    try:
        spec = load_spec(spec_file)
    except SpecError as exc:
        _fail(f"{spec_file}: {exc}")
    for path in write(spec, out_dir):
        typer.echo(str(path))
    if validate:
        with _needs_extra("render --validate", "ops"):
            from vllm_deploy.validate import validate_dir

        _report(validate_dir(out_dir))


@app.command("validate")
def validate_cmd(
    manifests: Annotated[Path, typer.Argument(help="Directory of rendered manifests.")],
) -> None:
    """Validate manifests: strict schemas (Kubernetes 1.30-1.37, vendored CRDs) and policy checks.

    Exits 1 with one line per problem: [check] Kind/name field: what is wrong.
    """
    with _needs_extra("validate", "ops"):
        from vllm_deploy.validate import validate_dir

    if not manifests.is_dir():
        _fail(f"{manifests}: not a directory")
    _report(validate_dir(manifests))
    typer.echo(f"{manifests}: valid")


local_app = typer.Typer(
    help="A local, GPU-free stand-in cluster for tests and rehearsals (docs/local-cluster.md).",
    no_args_is_help=True,
)
app.add_typer(local_app, name="local")


@local_app.command("up")
def local_up(
    state_dir: Annotated[
        Path, typer.Option(help="Directory for the kubeconfig, local.json, logs and pod files.")
    ],
    nodes: Annotated[int, typer.Option(min=1, help="Fake nodes.")] = 2,
    gpus_per_node: Annotated[
        int, typer.Option(min=0, help="Fake nvidia.com/gpu per node (the scheduler counts them).")
    ] = 1,
    node_cpu: Annotated[str, typer.Option(help="Allocatable CPU per node.")] = "16",
    node_memory: Annotated[str, typer.Option(help="Allocatable memory per node.")] = "64Gi",
    node_label: Annotated[
        list[str] | None, typer.Option(help="A label of every node, KEY=VALUE (repeatable).")
    ] = None,
    api_port: Annotated[
        int, typer.Option(help="API server port on 127.0.0.1 [default: free].")
    ] = 0,
    restart_backoff: Annotated[
        float, typer.Option(help="The kubelet's first restart back-off in seconds.")
    ] = 10.0,
    scrape_interval: Annotated[
        str | None,
        typer.Option(
            help="Prometheus scrape interval for every target [default: the PodMonitor's]."
        ),
    ] = None,
    hpa_sync: Annotated[float, typer.Option(help="HPA controller sync period in seconds.")] = 15.0,
) -> None:
    """Run a local cluster in the foreground until SIGINT/SIGTERM (then stop every pod gracefully).

    Needs root (a network namespace per pod), iproute2, nginx and prometheus. Writes
    STATE_DIR/kubeconfig and STATE_DIR/local.json (API URL, Service -> local port map, nginx
    and Prometheus URLs, log paths). Example:

    \b
        sudo vllm-deploy local up --state-dir /tmp/vd --nodes 2 --gpus-per-node 1
    """
    import asyncio

    with _needs_extra("local up", "engines"):
        from vllm_deploy.local.cluster import ClusterOptions, LocalCluster
        from vllm_deploy.local.kubelet.network import NetworkError

    labels = {}
    for item in node_label or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            _fail(f"--node-label has value {item!r}: expected KEY=VALUE")
        labels[key] = value
    options = ClusterOptions(
        state_dir=state_dir,
        nodes=nodes,
        gpus_per_node=gpus_per_node,
        node_cpu=node_cpu,
        node_memory=node_memory,
        node_labels=labels,
        api_port=api_port,
        restart_backoff_s=restart_backoff,
        scrape_interval=scrape_interval,
        hpa_sync_s=hpa_sync,
    )
    try:
        asyncio.run(LocalCluster(options).run_until_signal())
    except (NetworkError, OSError) as exc:
        _fail(str(exc))


@app.command()
def rehearse(
    scenario: Annotated[str, typer.Argument(help="rollout | kill | stall | burst")],
    spec_file: Annotated[Path, typer.Option("-f", "--file", help="The deployment spec (YAML).")],
    requests: Annotated[
        int, typer.Option(min=1, help="Streamed requests (rollout, kill, stall).")
    ] = 2000,
    concurrency: Annotated[
        int, typer.Option(min=1, help="Requests in flight (burst: the base).")
    ] = 16,
    report: Annotated[Path | None, typer.Option(help="Write the JSON report here.")] = None,
    kubeconfig: Annotated[
        Path | None,
        typer.Option(help="A running `local up`'s kubeconfig [default: start a local cluster]."),
    ] = None,
    state_dir: Annotated[
        Path | None,
        typer.Option(
            help="The started cluster's directory, kept afterwards (pod logs, nginx's access "
            "log) [default: a new /tmp/vd-rehearse-*].",
            show_default=False,
        ),
    ] = None,
    nodes: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Fake nodes of the started cluster [default: GPUs for the most pods a rollout "
            "runs; burst: one pod short of autoscaling.max_replicas, so the last one is Pending].",
            show_default=False,
        ),
    ] = None,
    gpus_per_node: Annotated[int, typer.Option(min=0, help="Fake GPUs per node.")] = 1,
    replicas: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="A fixed fleet of this many replicas, without the autoscaler "
            "[default: the spec's].",
            show_default=False,
        ),
    ] = None,
    hpa_sync: Annotated[
        float, typer.Option(help="HPA sync period of the started cluster (s).")
    ] = 15.0,
    burst_seconds: Annotated[float, typer.Option(help="burst: how long the load stays up.")] = 60.0,
    settle_seconds: Annotated[
        float, typer.Option(help="burst: the longest wait for the scale-in afterwards.")
    ] = 180.0,
    trace: Annotated[
        str | None,
        typer.Option(
            help="burst: open-loop arrivals from a trace, as `simulate --trace` reads it "
            "(e.g. burst:rate=4,factor=5,at=60,for=90,output=64), instead of --concurrency "
            "clients and --burst-seconds.",
            show_default=False,
        ),
    ] = None,
    duration: Annotated[
        float | None,
        typer.Option(
            help="Seconds of --trace [default: 300, or the CSV's span].", show_default=False
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of --trace (as `simulate --seed`).")] = 0,
) -> None:
    """Rehearse a scenario on the local cluster under streamed load, and check the outcome.

    Starts a local cluster (root, nginx, prometheus; see `local up`), applies the rendered
    spec, drives load through the Service's nginx port and runs SCENARIO: rollout (a new
    revision), kill (SIGKILL one pod), stall (hang one engine), burst (load x5, then none).
    Exits 1 when a check fails. Example:

    \b
        sudo vllm-deploy rehearse rollout -f examples/local.yaml --replicas 3 --requests 2000 \
            --report r.json
    """
    import asyncio

    with _needs_extra("rehearse", "engines"):
        from vllm_deploy.local.kubelet.network import NetworkError
        from vllm_deploy.local.rehearse.runner import RehearsalOptions
        from vllm_deploy.local.rehearse.runner import rehearse as run_rehearsal
        from vllm_deploy.local.rehearse.scenarios import SCENARIOS
    from vllm_deploy.spec import SpecError, load_spec

    if scenario not in SCENARIOS:
        _fail(f"SCENARIO has value {scenario!r}: expected one of {', '.join(SCENARIOS)}")
    from vllm_deploy.sim.trace import TraceError, parse_trace

    try:
        spec = load_spec(spec_file)
    except SpecError as exc:
        _fail(f"{spec_file}: {exc}")
    arrivals = None
    if trace is not None:
        if scenario != "burst":
            _fail(f"--trace drives the burst scenario only, not {scenario!r}")
        if duration is None and ":" in trace:
            duration = 300.0
        try:  # the call `simulate` makes: the same text and seed give the same requests
            arrivals = parse_trace(
                trace, duration=duration, seed=seed, max_model_len=spec.engine.max_model_len or 8192
            )
        except TraceError as exc:
            _fail(str(exc))
    options = RehearsalOptions(
        scenario,
        spec,
        requests=requests,
        concurrency=concurrency,
        kubeconfig=kubeconfig,
        state_dir=state_dir,
        nodes=nodes,
        gpus_per_node=gpus_per_node,
        replicas=replicas,
        hpa_sync_s=hpa_sync,
        burst_s=burst_seconds,
        settle_s=settle_seconds,
        trace=arrivals,
    )
    try:
        result = asyncio.run(run_rehearsal(options))
    except (NetworkError, OSError, RuntimeError) as exc:
        _fail(str(exc))
    if report is not None:
        report.write_text(json.dumps(result, indent=2) + "\n")
    for check in result["checks"]:
        typer.echo(f"{'PASS' if check['passed'] else 'FAIL'}  {check['name']}")
    summary = result["requests"]
    typer.echo(f"logs: {result['logs']}; nginx access log: {result['nginx_access_log']}")
    typer.echo(
        f"requests: {summary['total']} total, {summary['ok']} ok, {summary['failed']} failed, "
        f"{summary['truncated']} truncated; nginx {result['nginx']['by_status']}"
    )
    if not result["passed"]:
        raise typer.Exit(1)


_SIM_EXAMPLES = """
Examples:

\b
  vllm-deploy simulate -f examples/prod.yaml --profile llama-3.1-8b-h100 \\
      --trace burst:rate=18,factor=5,at=600,for=2400 --compare --report sim.json

\b
  vllm-deploy simulate -f examples/prod.yaml --profile my-gpu.yaml \\
      --trace traffic.csv --recommend --plot sim.png
"""


@app.command(epilog=_SIM_EXAMPLES)
def simulate(
    spec_file: Annotated[Path, typer.Option("-f", "--file", help="The deployment spec (YAML).")],
    profile: Annotated[
        str,
        typer.Option(
            help="Engine profile: a YAML file, or a shipped one: llama-3.1-8b-h100, "
            "llama-3.1-8b-a100, llama-3.3-70b-h100-tp4."
        ),
    ],
    trace: Annotated[
        str,
        typer.Option(
            help="poisson:rate=R | burst:rate=R,factor=K,at=A,for=T | "
            "diurnal:rate=R,amplitude=A,period=P (+ prompt=,output=,prompt_sd=,output_sd=)"
            " | FILE.csv"
        ),
    ],
    duration: Annotated[
        float | None, typer.Option(help="Seconds of trace [default: 3600, or the CSV's span].")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the trace and the pods' start times.")] = 0,
    compare: Annotated[
        bool,
        typer.Option(help="Also run the seed's policy, the oracle and a peak-sized fixed fleet."),
    ] = False,
    recommend: Annotated[
        bool, typer.Option(help="Search the autoscaling fields for the cheapest that meet the SLO.")
    ] = False,
    report: Annotated[Path | None, typer.Option(help="Write the report as JSON.")] = None,
    plot: Annotated[
        Path | None, typer.Option(help="Write a PNG of the runs (needs the sim extra).")
    ] = None,
    attainment: Annotated[
        float, typer.Option(help="Share of requests within the TTFT SLO that meets it.")
    ] = 0.99,
    ttft_p95_s: Annotated[
        float | None, typer.Option(help="Override the spec's slo.ttft_p95_s.")
    ] = None,
    gpus: Annotated[
        int | None, typer.Option(help="GPUs in the cluster [default: max_replicas x GPUs per pod].")
    ] = None,
    gpus_per_node: Annotated[int, typer.Option(help="GPUs per node.")] = 8,
) -> None:
    """Simulate the spec's deployment on a traffic trace: SLO attainment, latency, GPU-hours.

    A discrete-event model of the rendered objects (pods, probes, drain, Service round robin,
    continuous batching from the engine profile, metric pipeline, the HPA algorithm ported
    from Kubernetes). See docs/capacity.md.
    """
    from vllm_deploy.sim.profile import ProfileError, load_profile
    from vllm_deploy.sim.trace import TraceError, parse_trace
    from vllm_deploy.spec import SpecError, load_spec

    try:
        spec = load_spec(spec_file)
        engine_profile = load_profile(profile)
        slo = (
            spec.slo
            if ttft_p95_s is None
            else spec.slo.model_copy(update={"ttft_p95_s": ttft_p95_s})
        )
        max_len = spec.engine.max_model_len or 8192
        parsed = parse_trace(trace, duration=duration, seed=seed, max_model_len=max_len)
    except (SpecError, ProfileError, TraceError) as exc:
        _fail(str(exc))
    if not 0 < attainment <= 1:
        _fail(f"--attainment has value {attainment}: expected 0 < attainment <= 1")
    from vllm_deploy.sim.commands import run_simulation
    from vllm_deploy.sim.policies import SimError
    from vllm_deploy.sim.setup import setup_from_spec
    from vllm_deploy.sim.show import print_outcome, progress_bar

    setup = setup_from_spec(spec, engine_profile, gpus=gpus, gpus_per_node=gpus_per_node, slo=slo)
    try:
        with progress_bar() as progress:
            outcome = run_simulation(
                spec,
                setup,
                parsed,
                seed=seed,
                compare=compare,
                with_recommendation=recommend,
                attainment=attainment,
                progress=progress,
            )
    except SimError as exc:
        _fail(str(exc))
    print_outcome(outcome, setup, parsed)
    if report is not None:
        report.write_text(
            json.dumps(outcome.as_json(setup, parsed, seed, attainment), indent=2) + "\n"
        )
        typer.echo(f"report: {report}")
    if plot is not None:
        with _needs_extra("simulate --plot", "sim"):
            from vllm_deploy.sim.plot import plot_runs

            typer.echo(f"plot: {plot_runs(outcome.runs, plot, slo.ttft_p95_s)}")


@app.command()
def calibrate(
    url: Annotated[
        str,
        typer.Option(help="Base URL of an OpenAI-compatible server, e.g. http://127.0.0.1:8000."),
    ],
    out: Annotated[Path, typer.Option("-o", "--out", help="Profile to write (YAML).")],
    name: Annotated[str | None, typer.Option(help="Profile name [default: the file name].")] = None,
    model: Annotated[
        str | None, typer.Option(help="Model name [default: the first of /v1/models].")
    ] = None,
    gpu: Annotated[str, typer.Option(help="What the server runs on, for the record.")] = "unknown",
    max_concurrency: Annotated[
        int, typer.Option(help="Most streams at once while measuring decode.")
    ] = 16,
    max_num_seqs: Annotated[int, typer.Option(help="The server's --max-num-seqs.")] = 16,
    kv_cache_tokens: Annotated[
        int | None,
        typer.Option(help="The server's KV cache in tokens [default: max-num-seqs x 4096]."),
    ] = None,
    repeats: Annotated[int, typer.Option(help="Measurements per point.")] = 3,
) -> None:
    """Measure a live server (vLLM, or `serve --engine simulated`) into an engine profile.

    Example: vllm-deploy calibrate --url http://127.0.0.1:8000 -o my-gpu.yaml --max-num-seqs 64
    """
    import yaml

    from vllm_deploy.sim.calibrate import CalibrationError
    from vllm_deploy.sim.calibrate import calibrate as run_calibration

    try:
        profile = run_calibration(
            url,
            name=name or out.stem,
            model=model,
            gpu=gpu,
            max_concurrency=max_concurrency,
            max_num_seqs=max_num_seqs,
            kv_cache_tokens=kv_cache_tokens,
            repeats=repeats,
            log=lambda line: typer.echo(line, err=True),
        )
    except CalibrationError as exc:
        _fail(str(exc))
    out.write_text(yaml.safe_dump(profile.model_dump(mode="json"), sort_keys=False))
    typer.echo(f"wrote {out}")


cache_app = typer.Typer(
    help="The model cache volume: fill a revision's directory once, or wait until it is filled.",
    no_args_is_help=True,
)
app.add_typer(cache_app, name="cache")


@cache_app.command("fill")
def cache_fill(
    repo: Annotated[str, typer.Option(help="Hugging Face repository, org/name.")],
    revision: Annotated[str, typer.Option(help="The revision to download (pin a commit).")],
    directory: Annotated[Path, typer.Option("--dir", help="The revision's directory.")],
) -> None:
    """Download REPO at REVISION into DIR unless its completion marker says it is there.

    One filler at a time per directory (a lock beside it); an interrupted download resumes.
    Reads the token from HF_TOKEN_PATH. The download Job of a shared cache, and the init
    container of a node or ephemeral cache, run it.
    """
    from vllm_deploy.model_cache import CacheError, fill

    try:
        downloaded = fill(directory, repo, revision)
    except CacheError as exc:
        _fail(str(exc))
    typer.echo(f"{directory}: {repo}@{revision} {'downloaded' if downloaded else 'already there'}")


@cache_app.command("wait")
def cache_wait(
    revision: Annotated[str, typer.Option(help="The revision the pod serves.")],
    directory: Annotated[Path, typer.Option("--dir", help="The revision's directory.")],
    timeout: Annotated[float, typer.Option(help="Seconds to wait before failing.")] = 900,
) -> None:
    """Wait until DIR's completion marker names REVISION; never downloads.

    The init container of pods on a shared cache runs it. Exits 1 at the timeout, naming
    what the marker says.
    """
    from vllm_deploy.model_cache import CacheError, wait

    try:
        waited = wait(directory, revision, timeout)
    except CacheError as exc:
        _fail(str(exc))
    typer.echo(f"{directory}: revision {revision} ready after {waited:.0f} s")


def _register_ops() -> None:
    from vllm_deploy.kube.commands import register

    register(app)


_register_ops()


def main() -> None:
    app(prog_name="vllm-deploy")


if __name__ == "__main__":
    main()

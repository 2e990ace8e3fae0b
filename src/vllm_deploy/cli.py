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
        _fail(f"{what} needs the {extra!r} extra ({exc.name} is missing): "
              f"pip install 'vllm-deploy[{extra}]'")  # fmt: skip


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
        "ttft_ms": sim_ttft_ms, "itl_ms": sim_itl_ms, "prefill_ms_per_token": sim_prefill_ms_per_token,
        "load_factor": sim_load_factor, "startup_s": sim_startup_s, "output_tokens": sim_output_tokens,
        "faults": faults,
    }  # fmt: skip
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
    """Render Kubernetes manifests from a deployment spec: one file per component + kustomization."""
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


def main() -> None:
    app(prog_name="vllm-deploy")


if __name__ == "__main__":
    main()

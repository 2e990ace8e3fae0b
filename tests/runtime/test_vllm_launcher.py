"""The `vllm serve` command line: vLLM 0.33.0's parser (vendored) reads what we build, and
every way of getting other than one API server with the middleware is refused."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vllm_deploy.runtime.logs import LOGGING_CONFIG_PATH
from vllm_deploy.runtime.vllm_launcher import VLLM_VERSION, build_vllm_argv, vllm_env
from vllm_deploy.serve_config import ServeConfig
from vllm_deploy.vllm_cli import VllmArgsError, api_server_count, parse_serve_args


def _parse(argv: list[str]) -> argparse.Namespace:
    assert argv[:2] == ["vllm", "serve"]
    return parse_serve_args(argv[2:])


def test_every_setting_reaches_vllm_under_its_own_flag() -> None:
    config = ServeConfig(
        engine="vllm",
        model="/models/llama",
        served_model_name="llama",
        host="0.0.0.0",
        port=8001,
        max_model_len=8192,
        max_num_seqs=64,
        shutdown_timeout=45,
    )
    ns = _parse(build_vllm_argv(config))
    assert ns.model_tag == "/models/llama"
    assert (ns.host, ns.port) == ("0.0.0.0", 8001)
    assert ns.served_model_name == ["llama"]
    # vLLM reads --max-model-len with human_readable_int_or_auto; the table keeps it a string.
    assert (ns.max_model_len, ns.max_num_seqs, ns.shutdown_timeout) == ("8192", 64, 45)


def test_optional_settings_are_left_to_vllms_defaults() -> None:
    ns = _parse(build_vllm_argv(ServeConfig(engine="vllm", model="m")))
    assert ns.served_model_name is None and ns.max_model_len is None


def test_extra_arguments_pass_through_last() -> None:
    argv = build_vllm_argv(ServeConfig(engine="vllm", model="m"), ["--dtype", "float16"])
    assert argv[-2:] == ["--dtype", "float16"]
    assert _parse(argv).dtype == "float16"


def test_allowed_origins_reach_vllm_as_its_json_flag() -> None:
    config = ServeConfig(engine="vllm", model="m", allowed_origins=["https://ui.example"])
    assert _parse(build_vllm_argv(config)).allowed_origins == '["https://ui.example"]'


def test_scheduling_policy_and_max_logprobs_reach_vllm_when_set() -> None:
    default = _parse(build_vllm_argv(ServeConfig(engine="vllm", model="m")))
    config = ServeConfig(engine="vllm", model="m", scheduling_policy="priority", max_logprobs=5)
    ns = _parse(build_vllm_argv(config))
    assert (ns.scheduling_policy, ns.max_logprobs) == ("priority", 5)
    assert (default.scheduling_policy, default.max_logprobs) == ("fcfs", 20)  # vLLM's own


def test_missing_vllm_fails_with_one_clear_line() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "vllm_deploy", "serve", "--engine", "vllm", "--model", "m"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "vllm" in lines[0] and "not importable" in lines[0] and VLLM_VERSION in lines[0]


def test_the_middleware_logging_and_access_log_reach_vllm() -> None:
    ns = _parse(build_vllm_argv(ServeConfig(engine="vllm", model="m")))
    assert ns.middleware == ["vllm_deploy.runtime.ProductionMiddleware"]
    assert ns.disable_uvicorn_access_log is True
    env = vllm_env({"PATH": "/bin"})
    assert Path(env["VLLM_LOGGING_CONFIG_PATH"]) == LOGGING_CONFIG_PATH
    assert (
        vllm_env({"VLLM_LOGGING_CONFIG_PATH": "/mine.json"})["VLLM_LOGGING_CONFIG_PATH"]
        == "/mine.json"
    )
    no_mw = _parse(build_vllm_argv(ServeConfig(engine="vllm", model="m", middleware=False)))
    assert no_mw.middleware == []


def test_the_logging_file_is_what_vllm_accepts() -> None:
    # vLLM's logger.py: json.loads the file, require a dict, then logging.config.dictConfig.
    script = (
        "import json, logging, logging.config, sys;"
        f"config = json.loads(open({str(LOGGING_CONFIG_PATH)!r}).read());"
        "assert isinstance(config, dict);"
        "logging.config.dictConfig(config);"
        "logging.getLogger('vllm.engine').info('hello', extra={'k': 1})"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    line = json.loads(out.stdout)
    assert (line["logger"], line["message"], line["k"], line["level"]) == (
        "vllm.engine",
        "hello",
        1,
        "INFO",
    )


def test_bad_middleware_settings_fail_before_vllm_is_looked_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "vllm_deploy", "serve", "--engine", "simulated", "--model", "m"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "VLLMDEPLOY_MAX_INFLIGHT": "x"},
    )
    assert proc.returncode == 1
    expected = (
        "error: VLLMDEPLOY_MAX_INFLIGHT has value 'x': "
        "Input should be a valid integer, unable to parse string as an integer"
    )
    assert proc.stderr.strip() == expected


@pytest.fixture()
def config_file(tmp_path: Path) -> Path:
    return tmp_path / "vllm.yaml"


# Every spelling vLLM 0.33.0 accepts for "more than one API server", or for none.
REFUSED = {
    "count": (["--api-server-count", "2"], "--api-server-count 2"),
    "count, short and =": (["-asc=4"], "--api-server-count 4"),
    "count, underscores": (["--api_server_count", "2"], "--api-server-count 2"),
    "count, abbreviated": (["--api-server", "3"], "--api-server-count 3"),
    "count 0 is headless": (["--api-server-count", "0"], "--api-server-count 0"),
    "data parallel": (["-dp", "2"], "data parallelism starts 2 API servers"),
    "data parallel, underscores": (["--data_parallel_size=4"], "data parallelism starts 4"),
    "hybrid load balancing": (
        ["-dp", "4", "--data-parallel-size-local", "2", "--data-parallel-hybrid-lb"],
        "data parallelism starts 2 API servers",
    ),
    "hybrid by start rank": (["-dp", "4", "-dpl", "2", "-dpr", "0"], "starts 2 API servers"),
    "multi-port": (["-dp", "2", "--data-parallel-multi-port-external-lb"], "one API server per"),
    "headless": (["--headless"], "--headless starts no API server"),
    "grpc": (["--grpc"], "--grpc serves gRPC"),
    "omni": (["--omni"], "--omni hands the server to vllm-omni"),
    "no metrics": (["--disable-log-stats"], "--disable-log-stats removes every vllm: metric"),
    "no metrics, underscores": (["--disable_log_stats"], "--disable-log-stats removes"),
}


@pytest.mark.parametrize(("extra", "reason"), REFUSED.values(), ids=REFUSED.keys())
def test_more_or_fewer_than_one_api_server_is_refused(extra: list[str], reason: str) -> None:
    with pytest.raises(VllmArgsError) as err:
        build_vllm_argv(ServeConfig(engine="vllm", model="m"), extra, environ={})
    message = str(err.value)
    assert reason in message
    # The message says why, and what to do instead (or that the flag must go).
    assert "one vLLM API server process per pod" in message or "leave it out" in message


@pytest.mark.parametrize(
    ("config", "reason"),
    [("api_server_count: 2\n", "--api-server-count 2"),
     ("data-parallel-size: 2\n", "data parallelism starts 2 API servers"),
     ("disable-log-stats: true\n", "--disable-log-stats")],
)  # fmt: skip
def test_a_config_file_cannot_hide_them(config_file: Path, config: str, reason: str) -> None:
    config_file.write_text(config)
    with pytest.raises(VllmArgsError, match=reason):
        build_vllm_argv(ServeConfig(engine="vllm", model="m"), ["--config", str(config_file)], {})


def test_the_rust_front_end_is_refused() -> None:
    with pytest.raises(VllmArgsError, match="VLLM_USE_RUST_FRONTEND=1 replaces vLLM's Python"):
        build_vllm_argv(ServeConfig(engine="vllm", model="m"), [], {"VLLM_USE_RUST_FRONTEND": "1"})
    build_vllm_argv(ServeConfig(engine="vllm", model="m"), [], {"VLLM_USE_RUST_FRONTEND": "0"})


@pytest.mark.parametrize(
    "extra",
    [["--api-server-count", "1"], ["-dp", "2", "--api-server-count", "1"],
     ["-dp", "4", "--data-parallel-external-lb"], ["-dp", "2", "--enable-elastic-ep"],
     ["--no-data-parallel-hybrid-lb", "-dpl", "1"]],
)  # fmt: skip
def test_one_api_server_in_front_of_data_parallel_ranks_is_fine(extra: list[str]) -> None:
    argv = build_vllm_argv(ServeConfig(engine="vllm", model="m"), extra, environ={})
    assert api_server_count(_parse(argv)) == 1


def test_without_the_middleware_several_api_servers_are_vllms_business() -> None:
    config = ServeConfig(engine="vllm", model="m", middleware=False)
    assert api_server_count(_parse(build_vllm_argv(config, ["-dp", "2"], environ={}))) == 2


def test_arguments_vllm_would_refuse_fail_before_it_starts(config_file: Path) -> None:
    with pytest.raises(VllmArgsError, match="unrecognized arguments: --nope"):
        build_vllm_argv(ServeConfig(engine="vllm", model="m"), ["--nope"], {})
    with pytest.raises(VllmArgsError, match="ambiguous option: --data-parallel-s"):
        build_vllm_argv(ServeConfig(engine="vllm", model="m"), ["--data-parallel-s", "2"], {})
    with pytest.raises(VllmArgsError, match="cannot be read"):
        build_vllm_argv(ServeConfig(engine="vllm", model="m"), ["--config", str(config_file)], {})


def test_the_cli_refuses_them_in_one_line_before_looking_for_vllm() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "vllm_deploy",
            "serve",
            "--engine",
            "vllm",
            "--model",
            "m",
            "--",
            "--api_server_count",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "--api-server-count 2" in proc.stderr


def test_the_vendored_flags_are_vllm_0_33_0s() -> None:
    table = json.loads(
        (Path(__file__).parents[2] / "src/vllm_deploy/vllm_cli/vllm-serve-flags.json").read_text()
    )
    assert table["vllm_version"] == VLLM_VERSION == "0.33.0"
    assert "commit 4ba787ec9" in table["source"]
    by_dest = {option["dest"]: option for option in table["options"]}
    assert by_dest["max_model_len"]["type"] == "human_readable_int_or_auto"
    assert by_dest["api_server_count"]["flags"] == ["--api-server-count", "-asc"]
    assert by_dest["data_parallel_size"]["default"] == 1


def test_vllm_keeps_its_own_batch_size_unless_asked() -> None:
    assert "--max-num-seqs" not in build_vllm_argv(ServeConfig(engine="vllm", model="m"))

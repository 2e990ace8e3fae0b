"""The `vllm serve` command line, checked against vLLM 0.33.0's own flag definitions."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from vllm_deploy.engines.config import ServeConfig
from vllm_deploy.runtime.logs import LOGGING_CONFIG_PATH
from vllm_deploy.runtime.vllm_launcher import VLLM_VERSION, build_vllm_argv, vllm_env

SPEC = json.loads(
    (Path(__file__).parents[1] / "data" / f"vllm-{VLLM_VERSION}-serve-flags.json").read_text()
)


def _human_int(value: str) -> int:
    # vLLM's human_readable_int_or_auto: 1k = 1000, 1K = 1024, -1 / auto.
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmMgG]?)", value)
    if value in ("auto", "-1"):
        return -1
    if not match:
        raise argparse.ArgumentTypeError(f"invalid human-readable int {value!r}")
    scale = {"": 1, "k": 1000, "K": 1024, "m": 10**6, "M": 1 << 20, "g": 10**9, "G": 1 << 30}
    return int(float(match.group(1)) * scale[match.group(2)])


def _vllm_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vllm serve", exit_on_error=False)
    parser.add_argument("model_tag", nargs="?")
    types: dict[str, Any] = {"str": str, "int": int, "float": float, "human_int": _human_int}
    for flag, spec in SPEC["flags"].items():
        kwargs: dict[str, Any] = {}
        if spec.get("action") == "boolean_optional":
            kwargs["action"] = argparse.BooleanOptionalAction
        elif spec.get("action") == "append":
            kwargs["action"] = "append"
        if "type" in spec:
            kwargs["type"] = types[spec["type"]]
        for key in ("nargs", "choices"):
            if key in spec:
                kwargs[key] = spec[key]
        parser.add_argument(flag, **kwargs)
    return parser


def _parse(argv: list[str]) -> argparse.Namespace:
    assert argv[:2] == ["vllm", "serve"]
    return _vllm_parser().parse_args(argv[2:])


def test_every_setting_reaches_vllm_under_its_own_flag() -> None:
    config = ServeConfig(engine="vllm", model="/models/llama", served_model_name="llama",
                         host="0.0.0.0", port=8001, max_model_len=8192, max_num_seqs=64,
                         shutdown_timeout=45)  # fmt: skip
    ns = _parse(build_vllm_argv(config))
    assert ns.model_tag == "/models/llama"
    assert (ns.host, ns.port) == ("0.0.0.0", 8001)
    assert ns.served_model_name == ["llama"]
    assert (ns.max_model_len, ns.max_num_seqs, ns.shutdown_timeout) == (8192, 64, 45)


def test_optional_settings_are_left_to_vllms_defaults() -> None:
    ns = _parse(build_vllm_argv(ServeConfig(engine="vllm", model="m")))
    assert ns.served_model_name is None and ns.max_model_len is None


def test_extra_arguments_pass_through_last() -> None:
    argv = build_vllm_argv(ServeConfig(engine="vllm", model="m"), ["--dtype", "float16"])
    assert argv[-2:] == ["--dtype", "float16"]
    assert _parse(argv).dtype == "float16"


def test_missing_vllm_fails_with_one_clear_line() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "vllm_deploy", "serve", "--engine", "vllm", "--model", "m"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
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
    assert no_mw.middleware is None


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
        capture_output=True, text=True, timeout=60, env={**os.environ, "VLLM_DEPLOY_MAX_INFLIGHT": "x"},
    )  # fmt: skip
    assert proc.returncode == 1
    assert (
        proc.stderr.strip()
        == "error: VLLM_DEPLOY_MAX_INFLIGHT has value 'x': Input should be a valid integer, unable to parse string as an integer"
    )


@pytest.mark.parametrize("extra", [["--api-server-count", "2"], ["-asc=4"]])
def test_several_api_server_processes_are_refused(extra: list[str]) -> None:
    with pytest.raises(ValueError, match="one API server process"):
        build_vllm_argv(ServeConfig(engine="vllm", model="m"), extra)
    assert (
        build_vllm_argv(ServeConfig(engine="vllm", model="m"), ["--api-server-count", "1"])[-1]
        == "1"
    )


def test_vllm_keeps_its_own_batch_size_unless_asked() -> None:
    assert "--max-num-seqs" not in build_vllm_argv(ServeConfig(engine="vllm", model="m"))

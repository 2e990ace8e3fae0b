from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from vllm_deploy.harness import ServerProcess

# Small but non-zero latencies: streams interleave and queues form, yet tests stay fast.
SIM_ARGS = [
    "--engine",
    "simulated",
    "--model",
    "sim-model",
    "--sim-ttft-ms",
    "20",
    "--sim-itl-ms",
    "2",
    "--max-model-len",
    "512",
]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from vllm_deploy.engines.tiny_model import make_tiny_model

    path = tmp_path_factory.mktemp("models") / "tiny-llama"
    make_tiny_model(path)
    return path


@pytest.fixture(scope="session")
def reference_server(
    tiny_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    log = tmp_path_factory.mktemp("logs") / "reference.log"
    args = [
        "--engine",
        "reference",
        "--model",
        str(tiny_model),
        "--served-model-name",
        "tiny",
        "--max-model-len",
        "256",
        "--max-num-seqs",
        "4",
    ]
    with ServerProcess(args, log_path=log) as server:
        yield server


@pytest.fixture(scope="session")
def simulated_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    log = tmp_path_factory.mktemp("logs") / "simulated.log"
    with ServerProcess([*SIM_ARGS, "--max-num-seqs", "16"], log_path=log) as server:
        yield server


@pytest.fixture(params=["reference", "simulated"])
def any_server(
    request: pytest.FixtureRequest,
) -> ServerProcess:
    server: ServerProcess = request.getfixturevalue(f"{request.param}_server")
    return server

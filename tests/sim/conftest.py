from __future__ import annotations

from pathlib import Path

import pytest

from vllm_deploy.sim.profile import EngineProfile, Step, load_profile
from vllm_deploy.sim.setup import SimSetup, setup_from_spec
from vllm_deploy.spec import DeploymentSpec, load_spec

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="session")
def prod_spec() -> DeploymentSpec:
    return load_spec(ROOT / "examples" / "prod.yaml")


@pytest.fixture(scope="session")
def h100() -> EngineProfile:
    return load_profile("llama-3.1-8b-h100")


@pytest.fixture
def prod_setup(prod_spec: DeploymentSpec, h100: EngineProfile) -> SimSetup:
    return setup_from_spec(prod_spec, h100)


@pytest.fixture
def ephemeral_setup(prod_spec: DeploymentSpec, h100: EngineProfile) -> SimSetup:
    """The prod example with a per-pod cache: every new pod downloads its weights first."""
    cache = prod_spec.cache.model_copy(update={"kind": "ephemeral", "access_mode": None})
    return setup_from_spec(prod_spec.model_copy(update={"cache": cache}), h100)


def toy_profile(**step: float) -> EngineProfile:
    """Round numbers, so expected times can be written down."""
    values = {
        "prefill_base_s": 0.1,
        "prefill_per_token_s": 0.001,
        "decode_base_s": 0.01,
        "decode_per_seq_s": 0.0,
        "prefill_interference": 0.0,
        **step,
    }
    return EngineProfile(
        name="toy", model="toy", gpu="none", kv_cache_tokens=100_000, step=Step(**values)
    )

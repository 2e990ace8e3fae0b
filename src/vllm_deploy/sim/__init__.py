"""The capacity simulator: a discrete-event model of one deployment (see docs/capacity.md)."""

from vllm_deploy.sim.profile import EngineProfile, load_profile
from vllm_deploy.sim.setup import SimSetup, setup_from_spec
from vllm_deploy.sim.simulator import RunResult, simulate
from vllm_deploy.sim.trace import Trace, parse_trace

__all__ = [
    "EngineProfile",
    "RunResult",
    "SimSetup",
    "Trace",
    "load_profile",
    "parse_trace",
    "setup_from_spec",
    "simulate",
]

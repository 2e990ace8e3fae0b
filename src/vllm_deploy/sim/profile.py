"""Engine profiles: how long one engine step takes, how a pod starts, what it costs, and why.

A profile is a YAML file (``sim/profiles/*.yaml`` ship with the package; ``vllm-deploy
calibrate`` writes new ones). The step model is BLIS's (inference-sim/inference-sim,
``docs/approach.md``): a decode step of the running batch takes ``decode_base_s +
decode_per_seq_s x running``; a prefill takes ``prefill_base_s + prefill_per_token_s x
prompt tokens`` (one after another when ``prefill_serial``), and ``prefill_interference``
of its per-token part is time the running decodes lose (1.0 on a GPU, where a prefill and the
decodes share each step; 0.0 for an engine whose requests do not share a device, like ours).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "CpuModel",
    "EngineProfile",
    "ProfileError",
    "Source",
    "Startup",
    "Step",
    "load_profile",
    "shipped_profiles",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProfileError(ValueError):
    """The profile cannot be read: the message names the file, the field and the value."""


class Step(_Strict):
    prefill_base_s: Annotated[float, Field(ge=0)]
    prefill_per_token_s: Annotated[float, Field(ge=0)]
    decode_base_s: Annotated[float, Field(gt=0)]
    decode_per_seq_s: Annotated[float, Field(ge=0)]
    prefill_interference: Annotated[float, Field(ge=0, le=1)] = 1.0
    # Prefills queue behind each other (one device computes them); False: each starts at once.
    prefill_serial: bool = True

    def ttft_s(self, prompt_tokens: int) -> float:
        """Time to first token of a request admitted into an idle engine."""
        return self.prefill_base_s + self.prefill_per_token_s * prompt_tokens

    def itl_s(self, running: int) -> float:
        """Inter-token latency with ``running`` requests in the batch."""
        return self.decode_base_s + self.decode_per_seq_s * running


class Startup(_Strict):
    """A new pod's timeline after it is scheduled on a GPU (seconds)."""

    image_pull_s: Annotated[float, Field(ge=0)] = 240.0  # on a node without the image
    download_s: Annotated[float, Field(ge=0)] = 110.0  # weights into an empty cache volume
    load_s: Annotated[float, Field(ge=0)] = 15.0  # weights into GPU memory
    warmup_s: Annotated[float, Field(ge=0)] = 25.0  # compile, CUDA graphs, until /health is OK
    jitter: Annotated[float, Field(ge=0, lt=1)] = 0.1  # each stage varies by up to this share


class CpuModel(_Strict):
    """CPU cores a pod uses: what a CPU-based HPA sees (an assumption unless measured)."""

    idle_cores: Annotated[float, Field(ge=0)] = 0.3
    busy_cores: Annotated[float, Field(ge=0)] = 1.5
    starting_cores: Annotated[float, Field(ge=0)] = 4.0


class Source(_Strict):
    figure: str
    value: str
    setup: str
    url: str
    derived: bool = False  # computed from published figures, not measured as such


class EngineProfile(_Strict):
    """Usage: ``load_profile("llama-3.1-8b-h100")`` or ``load_profile(Path("mine.yaml"))``."""

    name: str
    model: str
    gpu: str
    gpus_per_pod: Annotated[int, Field(ge=1, le=16)] = 1
    engine: str = "vllm"
    max_num_seqs: Annotated[int, Field(ge=1)] = 256
    kv_cache_tokens: Annotated[int, Field(ge=1)]
    step: Step
    startup: Startup = Startup()
    cpu: CpuModel = CpuModel()
    notes: str = ""
    sources: list[Source] = []


def shipped_profiles() -> list[str]:
    folder = resources.files("vllm_deploy.sim") / "profiles"
    return sorted(
        p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")
    )


def load_profile(ref: str | Path) -> EngineProfile:
    """A shipped profile by name, or a YAML file by path."""
    path = Path(ref)
    if path.suffix in (".yaml", ".yml") or path.exists():
        try:
            text = path.read_text()
        except OSError as exc:
            raise ProfileError(f"{path}: {exc.strerror}") from None
    elif str(ref) in shipped_profiles():
        text = (resources.files("vllm_deploy.sim") / "profiles" / f"{ref}.yaml").read_text()
    else:
        raise ProfileError(
            f"--profile has value {str(ref)!r}: not a file, nor one of {shipped_profiles()}"
        )
    try:
        return EngineProfile.model_validate(yaml.safe_load(text))
    except (yaml.YAMLError, ValidationError) as exc:
        if isinstance(exc, ValidationError):
            err = exc.errors(include_url=False)[0]
            field = ".".join(str(p) for p in err["loc"])
            raise ProfileError(
                f"{ref}: {field} has value {err.get('input')!r}: {err['msg']}"
            ) from None
        raise ProfileError(f"{ref}: {exc}") from None

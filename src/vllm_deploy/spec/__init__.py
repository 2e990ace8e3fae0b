"""The deployment spec (one YAML file per model) and its profiles."""

from vllm_deploy.spec.models import DeploymentSpec
from vllm_deploy.spec.profiles import PROFILES, SpecError, load_spec, spec_from_mapping

__all__ = ["PROFILES", "DeploymentSpec", "SpecError", "load_spec", "spec_from_mapping"]

"""Schema validation: core objects with kubernetes-validate (strict), CRDs with vendored schemas.

Supported Kubernetes versions: 1.30 to 1.37 (``SUPPORTED_VERSIONS``). CRD schemas
(prometheus-operator v0.93.0, KEDA v2.20.2, Argo Rollouts v1.9.1; see crds/SOURCES.md) are
made strict here: every object schema that lists its properties rejects unknown ones, as the
API server's structural-schema pruning would silently drop them.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
import kubernetes_validate

from vllm_deploy.validate.problems import Problem, obj_id

__all__ = ["CRD_SCHEMAS", "SUPPORTED_VERSIONS", "validate_schema"]

SUPPORTED_VERSIONS = tuple(f"1.{minor}.0" for minor in range(30, 38))
CRD_SCHEMAS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "monitoring.coreos.com_v1_servicemonitor.json",
    ("monitoring.coreos.com/v1", "PodMonitor"): "monitoring.coreos.com_v1_podmonitor.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "monitoring.coreos.com_v1_prometheusrule.json",
    ("keda.sh/v1alpha1", "ScaledObject"): "keda.sh_v1alpha1_scaledobject.json",
    ("argoproj.io/v1alpha1", "AnalysisTemplate"): "argoproj.io_v1alpha1_analysistemplate.json",
}


def _strict(schema: Any) -> Any:
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@cache
def _crd_validator(file_name: str) -> jsonschema.Draft7Validator:
    text = resources.files("vllm_deploy.validate").joinpath("crds", file_name).read_text()
    schema = _strict(json.loads(text))
    # metadata is validated by the API server, not by the CRD schema.
    schema["properties"]["metadata"] = {"type": "object"}
    return jsonschema.Draft7Validator(schema)


def validate_schema(
    obj: dict[str, Any], versions: tuple[str, ...] = SUPPORTED_VERSIONS
) -> list[Problem]:
    key = (obj.get("apiVersion", ""), obj.get("kind", ""))
    if key in CRD_SCHEMAS:
        validator = _crd_validator(CRD_SCHEMAS[key])
        return [
            Problem(
                "crd-schema",
                obj_id(obj),
                ".".join(str(p) for p in err.absolute_path) or "(object)",
                err.message,
            )
            for err in sorted(validator.iter_errors(copy.deepcopy(obj)), key=str)
        ]
    problems = []
    for version in versions:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as err:
            path = ".".join(str(p) for p in err.path) or "(object)"
            problems.append(
                Problem("schema", obj_id(obj), path, f"Kubernetes {version}: {err.message}")
            )
        except kubernetes_validate.SchemaNotFoundError:
            problems.append(
                Problem(
                    "schema",
                    obj_id(obj),
                    "apiVersion",
                    f"Kubernetes {version} has no {key[1]} in {key[0]}",
                )
            )
    return problems

"""Which lists are keyed (merged element by element) and by what: the ``patchMergeKey`` of
strategic merge patch and the ``listMapKeys`` of server-side apply, from the Kubernetes API
types' struct tags (k8s.io/api core/v1, apps/v1, meta/v1 types.go), for the fields that the
objects vllm-deploy renders and patches contain. Any other list is atomic: replaced whole.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["SET_LISTS", "key_of", "list_keys"]

# The last field names of a list's path -> its keys. Ports depend on where they are.
_KEYED: dict[tuple[str, ...], tuple[str, ...]] = {
    ("containers",): ("name",),
    ("initContainers",): ("name",),
    ("ephemeralContainers",): ("name",),
    ("containers", "ports"): ("containerPort", "protocol"),
    ("initContainers", "ports"): ("containerPort", "protocol"),
    ("containers", "env"): ("name",),
    ("initContainers", "env"): ("name",),
    ("containers", "volumeMounts"): ("mountPath",),
    ("initContainers", "volumeMounts"): ("mountPath",),
    ("spec", "volumes"): ("name",),
    ("spec", "imagePullSecrets"): ("name",),
    ("spec", "topologySpreadConstraints"): ("topologyKey", "whenUnsatisfiable"),
    ("spec", "ports"): ("port", "protocol"),
    ("metadata", "ownerReferences"): ("uid",),
    ("status", "conditions"): ("type",),
}
# Lists of scalars merged as sets (patchStrategy merge on a primitive list).
SET_LISTS: frozenset[tuple[str, ...]] = frozenset({("metadata", "finalizers")})
# Defaults a key field takes when absent (protocol is TCP unless said otherwise).
_KEY_DEFAULTS = {"protocol": "TCP"}


def list_keys(path: Sequence[str]) -> tuple[str, ...] | None:
    """The keys of the list at ``path`` (field names only, no indexes), or None if atomic."""
    names = tuple(path)
    for length in (2, 1):
        keys = _KEYED.get(names[-length:])
        if keys is not None:
            return keys
    return None


def key_of(item: object, keys: tuple[str, ...]) -> tuple[object, ...] | None:
    """An element's key values (with defaults), or None if it is not a keyed map."""
    if not isinstance(item, dict):
        return None
    return tuple(item.get(k, _KEY_DEFAULTS.get(k)) for k in keys)

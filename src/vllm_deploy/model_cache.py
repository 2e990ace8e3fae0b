"""The model cache on disk: fill a revision's directory once, under a lock; wait for it.

A revision lives in its own directory (``/models/<name>/<revision>``); when its files are
complete, a marker file in it records the repository and revision. ``fill`` (the download
Job of a ``shared`` cache, the init container of a ``node`` or ``ephemeral`` one) takes an
exclusive lock beside the directory, returns at once when the marker names the revision,
and otherwise downloads, resuming what an interrupted run left (Hugging Face's
``snapshot_download`` keeps partial files in ``<dir>/.cache``), then writes the marker.
``wait`` (the init container of pods on a ``shared`` cache, which never download) returns
when the marker names its revision, or fails at its deadline.

Usage: ``fill(Path("/models/m/abc123"), "org/model", "abc123")`` or
``wait(Path("/models/m/abc123"), "abc123", timeout_s=900)``.
"""

from __future__ import annotations

import fcntl
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["IGNORE_PATTERNS", "MARKER", "CacheError", "fill", "marker_revision", "wait"]

MARKER = ".vllm-deploy-complete"
# Files vLLM does not load: original (consolidated) checkpoints and pickled weights.
IGNORE_PATTERNS = ["original/*", "*.pth", "*.pt"]
Downloader = Callable[[str, str, Path], None]


class CacheError(RuntimeError):
    """The cache cannot be filled or is not ready: the message says which directory and why."""


def marker_revision(directory: Path) -> str | None:
    """The revision the directory's completion marker records, or None if incomplete."""
    try:
        data = json.loads((directory / MARKER).read_text())
    except (OSError, ValueError):
        return None
    revision = data.get("revision") if isinstance(data, dict) else None
    return revision if isinstance(revision, str) else None


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """An exclusive lock beside ``directory``: one filler per revision (per node, or per volume)."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    with (directory.parent / f".{directory.name}.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the process exits, even by a kill
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _hub_download(repo: str, revision: str, directory: Path) -> None:
    from huggingface_hub import snapshot_download  # the images have it (vLLM, transformers)

    # The token, if any, comes from HF_TOKEN_PATH (a mounted Secret file).
    snapshot_download(
        repo_id=repo, revision=revision, local_dir=directory, ignore_patterns=IGNORE_PATTERNS
    )


def fill(directory: Path, repo: str, revision: str, download: Downloader = _hub_download) -> bool:
    """Makes ``directory`` hold ``repo`` at ``revision``; True if this call downloaded it."""
    with _locked(directory):
        if marker_revision(directory) == revision:
            return False
        directory.mkdir(parents=True, exist_ok=True)
        try:
            download(repo, revision, directory)
        except Exception as exc:  # the hub's errors are many; each one fails the fill
            raise CacheError(
                f"downloading {repo} at revision {revision} into {directory} failed: {exc}"
            ) from exc
        partial = directory / f"{MARKER}.partial"
        partial.write_text(json.dumps({"repo": repo, "revision": revision}) + "\n")
        partial.replace(directory / MARKER)  # atomic: a reader sees no marker or a whole one
        return True


def wait(
    directory: Path,
    revision: str,
    timeout_s: float,
    *,
    poll_s: float = 5.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> float:
    """Returns the seconds waited once the marker names ``revision``; CacheError at the deadline."""
    start = clock()
    while True:
        found = marker_revision(directory)
        if found == revision:
            return clock() - start
        if clock() - start >= timeout_s:
            state = f"its marker names {found!r}" if found else "it has no completion marker"
            raise CacheError(
                f"{directory} is not ready after {timeout_s:g} s: {state}, expected revision "
                f"{revision!r}; is the download Job for this revision running? "
                "(kubectl get jobs -l app.kubernetes.io/component=model-download)"
            )
        sleep(poll_s)

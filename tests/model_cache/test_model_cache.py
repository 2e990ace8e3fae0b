"""Filling a revision's directory once, under a lock, resuming; waiting for its marker."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vllm_deploy.cli import app
from vllm_deploy.model_cache import MARKER, CacheError, fill, marker_revision, wait


class FakeHub:
    """Writes one file per call; fails the first ``failures`` calls half-way (a killed pod)."""

    def __init__(self, failures: int = 0, delay_s: float = 0.0) -> None:
        self.calls: list[tuple[str, str]] = []
        self.failures, self.delay_s = failures, delay_s

    def __call__(self, repo: str, revision: str, directory: Path) -> None:
        self.calls.append((repo, revision))
        (directory / "model-00001.safetensors.incomplete").write_text("part")
        time.sleep(self.delay_s)
        if len(self.calls) <= self.failures:
            raise ConnectionError("connection reset by peer")
        (directory / "model-00001.safetensors.incomplete").rename(
            directory / "model-00001.safetensors"
        )


def test_fill_downloads_once_and_writes_the_marker(tmp_path: Path) -> None:
    hub, directory = FakeHub(), tmp_path / "m" / "abc"
    assert fill(directory, "org/m", "abc", download=hub) is True
    assert marker_revision(directory) == "abc" and (directory / "model-00001.safetensors").exists()
    assert fill(directory, "org/m", "abc", download=hub) is False
    assert hub.calls == [("org/m", "abc")]


def test_a_new_revision_downloads_beside_the_old_one(tmp_path: Path) -> None:
    hub = FakeHub()
    fill(tmp_path / "m" / "abc", "org/m", "abc", download=hub)
    fill(tmp_path / "m" / "def", "org/m", "def", download=hub)
    assert marker_revision(tmp_path / "m" / "abc") == "abc"  # a rollback finds it there
    assert marker_revision(tmp_path / "m" / "def") == "def"


def test_a_failed_download_leaves_no_marker_and_the_next_fill_resumes(tmp_path: Path) -> None:
    hub, directory = FakeHub(failures=1), tmp_path / "m" / "abc"
    with pytest.raises(
        CacheError, match=r"downloading org/m at revision abc into .* failed: connection reset"
    ):
        fill(directory, "org/m", "abc", download=hub)
    assert marker_revision(directory) is None
    assert fill(directory, "org/m", "abc", download=hub) is True
    assert marker_revision(directory) == "abc" and len(hub.calls) == 2


def test_concurrent_fills_on_one_node_download_once(tmp_path: Path) -> None:
    hub, directory = FakeHub(delay_s=0.3), tmp_path / "m" / "abc"
    results: list[bool] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(fill(directory, "org/m", "abc", download=hub))
        )
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(results) == [False, False, True] and len(hub.calls) == 1


def test_a_marker_of_another_revision_does_not_count(tmp_path: Path) -> None:
    directory = tmp_path / "m"
    directory.mkdir()
    (directory / MARKER).write_text('{"repo": "org/m", "revision": "old"}')
    assert marker_revision(directory) == "old"
    (directory / MARKER).write_text("not json")
    assert marker_revision(directory) is None


def test_wait_returns_when_the_marker_appears(tmp_path: Path) -> None:
    directory, now = tmp_path / "m", [0.0]

    def sleep(s: float) -> None:
        now[0] += s
        if now[0] >= 10:
            fill(directory, "org/m", "abc", download=FakeHub())

    assert wait(directory, "abc", 60, poll_s=5, clock=lambda: now[0], sleep=sleep) == 10


def test_wait_fails_at_the_deadline_naming_what_it_found(tmp_path: Path) -> None:
    directory, now = tmp_path / "m", [0.0]
    fill(directory, "org/m", "old", download=FakeHub())

    def sleep(s: float) -> None:
        now[0] += s

    with pytest.raises(
        CacheError, match=r"not ready after 30 s: its marker names 'old', expected revision 'new'"
    ):
        wait(directory, "new", 30, poll_s=5, clock=lambda: now[0], sleep=sleep)


def test_the_cache_commands(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(
        app, ["cache", "wait", "--revision", "abc", "--dir", str(tmp_path), "--timeout", "0"]
    )
    assert missing.exit_code == 1 and "it has no completion marker" in missing.output
    fill(tmp_path, "org/m", "abc", download=FakeHub())
    ready = runner.invoke(app, ["cache", "wait", "--revision", "abc", "--dir", str(tmp_path)])
    assert ready.exit_code == 0 and "revision abc ready" in ready.output
    present = runner.invoke(
        app, ["cache", "fill", "--repo", "org/m", "--revision", "abc", "--dir", str(tmp_path)]
    )
    assert present.exit_code == 0 and "already there" in present.output

"""The settings' old names still work, with a warning, and appear nowhere else."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import pytest

from vllm_deploy.contract import ENV_PREFIX
from vllm_deploy.runtime.legacy_env import LEGACY_PREFIX
from vllm_deploy.runtime.settings import SettingsError, load_settings

ROOT = Path(__file__).parents[2]


def test_an_old_name_is_read_with_a_warning_naming_the_new_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="vllm_deploy.runtime"):
        settings = load_settings({f"{LEGACY_PREFIX}MAX_INFLIGHT": "7"})
    assert settings.max_inflight == 7
    (record,) = caplog.records
    assert f"{LEGACY_PREFIX}MAX_INFLIGHT is deprecated" in record.getMessage()
    assert f"rename it to {ENV_PREFIX}MAX_INFLIGHT" in record.getMessage()


def test_the_new_name_is_read_without_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="vllm_deploy.runtime"):
        assert load_settings({f"{ENV_PREFIX}MAX_INFLIGHT": "7"}).max_inflight == 7
    assert caplog.records == []


def test_both_names_must_agree() -> None:
    same = {f"{LEGACY_PREFIX}MAX_INFLIGHT": "7", f"{ENV_PREFIX}MAX_INFLIGHT": "7"}
    assert load_settings(same).max_inflight == 7
    with pytest.raises(SettingsError, match="both set, to different values"):
        load_settings({**same, f"{ENV_PREFIX}MAX_INFLIGHT": "8"})


def test_an_unknown_old_name_fails_like_an_unknown_new_one() -> None:
    with pytest.raises(SettingsError, match=f"{LEGACY_PREFIX}API_KEYS is not a setting"):
        load_settings({f"{LEGACY_PREFIX}API_KEYS": "k"})


def test_the_old_prefix_appears_only_in_the_shim_and_its_deprecation_note() -> None:
    files = subprocess.run(
        ["git", "grep", "-l", LEGACY_PREFIX.rstrip("_")], cwd=ROOT, capture_output=True, text=True
    ).stdout.split()
    assert set(files) <= {"src/vllm_deploy/runtime/legacy_env.py", "docs/runtime.md"}
    notes = [
        line
        for line in (ROOT / "docs/runtime.md").read_text().splitlines()
        if LEGACY_PREFIX in line
    ]
    assert len(notes) == 1 and "deprecated" in notes[0]

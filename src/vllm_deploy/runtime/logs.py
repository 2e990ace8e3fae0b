"""JSON logging for every process we run, from the one file vLLM also reads.

``logging.json`` beside this module is a `logging.config.dictConfig` document: our server
applies it at start, and ``serve --engine vllm`` points ``VLLM_LOGGING_CONFIG_PATH`` at it,
so vLLM's own lines come out in the same JSON.
"""

from __future__ import annotations

import json
import logging
import logging.config
from pathlib import Path

__all__ = ["LOGGING_CONFIG_PATH", "configure_logging"]

LOGGING_CONFIG_PATH = Path(__file__).with_name("logging.json")


def configure_logging(level: str = "INFO") -> None:
    config = json.loads(LOGGING_CONFIG_PATH.read_text())
    config["root"]["level"] = level
    logging.config.dictConfig(config)
    logging.captureWarnings(True)  # `warnings` from libraries become JSON lines too

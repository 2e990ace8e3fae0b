"""JSON logging for every process we run, from the one file vLLM also reads.

``logging.json`` beside this module is a `logging.config.dictConfig` document: our server
applies it at start, and ``serve --engine vllm`` points ``VLLM_LOGGING_CONFIG_PATH`` at it,
so vLLM's own lines come out in the same JSON.
"""

from __future__ import annotations

import json
import logging
import logging.config
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["LOGGING_CONFIG_PATH", "JsonFormatter", "UtcTime", "configure_logging"]

LOGGING_CONFIG_PATH = Path(__file__).with_name("logging.json")

# LogRecord's own attributes; anything else on a record came in through `extra=`.
_RECORD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys()
    | {"message", "asctime", "color_message", "taskName"}
)


# Built once: json.dumps(default=...) builds an encoder per call.
_JSON_ENCODER = json.JSONEncoder(default=str)


class UtcTime:
    """``datetime.fromtimestamp(t, UTC).isoformat(timespec="microseconds")``, with the date and
    time of day formatted once per second (a log line per request asks every few microseconds)."""

    def __init__(self) -> None:
        self._second: tuple[int, str] = (-1, "")

    def __call__(self, created: float) -> str:
        second = int(created)
        micros = round((created - second) * 1_000_000)  # as datetime rounds: half to even
        if micros == 1_000_000:
            second, micros = second + 1, 0
        cached = self._second
        if cached[0] != second:
            text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            cached = self._second = (second, text)
        return f"{cached[1]}.{micros:06d}+00:00"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, then the ``extra`` fields.

    Written for the access log's hot path (one line per request): one pass over the record
    and one encode, about a third of python-json-logger's work.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._time = UtcTime()

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "time": self._time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRS:
                doc[key] = value
        if record.exc_info:
            doc["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            doc["stack_info"] = self.formatStack(record.stack_info)
        return _JSON_ENCODER.encode(doc)


def configure_logging(level: str = "INFO") -> None:
    config = json.loads(LOGGING_CONFIG_PATH.read_text())
    config["root"]["level"] = level
    logging.config.dictConfig(config)
    logging.captureWarnings(True)  # `warnings` from libraries become JSON lines too
    # Records need not look up thread and process names the JSON lines never show.
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False

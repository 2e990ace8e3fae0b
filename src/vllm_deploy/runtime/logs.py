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

__all__ = ["LOGGING_CONFIG_PATH", "JsonFormatter", "configure_logging"]

LOGGING_CONFIG_PATH = Path(__file__).with_name("logging.json")

# LogRecord's own attributes; anything else on a record came in through `extra=`.
_RECORD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys()
    | {"message", "asctime", "color_message", "taskName"}
)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, then the ``extra`` fields.

    Written for the access log's hot path (one line per request): it does one pass over
    the record and one ``json.dumps``, about half the work of python-json-logger's.
    """

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="microseconds"),
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
        return json.dumps(doc, default=str)


def configure_logging(level: str = "INFO") -> None:
    config = json.loads(LOGGING_CONFIG_PATH.read_text())
    config["root"]["level"] = level
    logging.config.dictConfig(config)
    logging.captureWarnings(True)  # `warnings` from libraries become JSON lines too
    # Records need not look up thread and process names the JSON lines never show.
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False

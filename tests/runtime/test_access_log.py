"""The access log's fast paths give what the plain ones would: same lines, tokens and times."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from vllm_deploy.runtime.access_log import AccessLog, ResponseObserver, _capture, _values
from vllm_deploy.runtime.logs import JsonFormatter, UtcTime


def _observer(**values: Any) -> ResponseObserver:
    observer = ResponseObserver()
    for name, value in values.items():
        setattr(observer, name, value)
    return observer


SCOPE = {"method": "POST", "path": "/v1/chat/completions/\u00e9", "client": ("127.0.0.1", 5000)}
CASES = [  # (scope, observer, start, end, request_id, trace_id, span_id, forwarded)
    (
        SCOPE,
        _observer(
            status=200,
            first_byte_at=10.00325,
            model="m\u00e9",
            prompt_tokens=7,
            completion_tokens=16,
        ),
        10.0,
        10.0125,
        'r-"1"',
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "00f067aa0ba902b7",
        "10.0.0.1, 10.0.0.2",
    ),
    ({**SCOPE, "client": None}, _observer(), 1.0, 1.5, None, None, None, None),
]


def _json_handler(stream: io.StringIO) -> logging.StreamHandler[io.StringIO]:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    return handler


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("vllm_deploy.test_access")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger
    logger.handlers.clear()


@pytest.mark.parametrize("case", CASES)
def test_the_direct_line_is_the_formatters_line(
    logger: logging.Logger, monkeypatch: pytest.MonkeyPatch, case: tuple[Any, ...]
) -> None:
    monkeypatch.setattr(time, "time", lambda: 1764559876.123456)
    direct, formatted = io.StringIO(), io.StringIO()
    handler = _json_handler(direct)
    logger.handlers = [handler]  # pytest adds its own to loggers that do not propagate
    assert AccessLog(logger)._direct_handler() is handler  # the direct path
    AccessLog(logger).write(*case)
    handler.setStream(formatted)
    handler.addFilter(lambda record: True)  # a filter: the record path
    AccessLog(logger).write(*case)
    assert direct.getvalue() == formatted.getvalue()  # byte for byte
    line = json.loads(direct.getvalue())
    fields = ["request_id", "trace_id", "span_id", "method", "path", "status", "duration_ms"]
    fields += ["ttfb_ms", "prompt_tokens", "completion_tokens", "model", "client"]
    fields += ["forwarded_for"] if case[7] else []  # only when a proxy sent one
    assert list(line) == ["time", "level", "logger", "message", *fields]
    assert line["time"] == "2025-12-01T03:31:16.123456+00:00" and line["message"] == "request"


def test_other_configurations_get_a_record(logger: logging.Logger) -> None:
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger.handlers = [handler]  # pytest adds its own to loggers that do not propagate
    AccessLog(logger).write(*CASES[0])
    assert records and records[0].getMessage() == "request"
    assert records[0].status == 200 and records[0].forwarded_for == "10.0.0.1, 10.0.0.2"  # type: ignore[attr-defined]


def test_the_time_is_datetimes_isoformat() -> None:
    utc = UtcTime()
    rng = random.Random(7)
    stamps = [rng.uniform(1.6e9, 1.9e9) for _ in range(20000)]
    stamps += [int(t) + frac for t in stamps[:200] for frac in (0.9999995, 0.9999996, 5e-7, 1.5e-6)]
    for t in stamps:
        assert utc(t) == datetime.fromtimestamp(t, UTC).isoformat(timespec="microseconds")


def _logged(
    chunks: list[bytes], ctype: bytes = b"application/json", read_tokens: bool = True
) -> tuple[int, str | None, int | None, int | None]:
    """Status, model and tokens of a response, as its access line gets them."""
    observer = ResponseObserver(read_tokens)
    observer.on_start({"status": 200, "headers": [(b"content-type", ctype)]})
    for chunk in chunks:
        observer.on_body(chunk)
    v = _values(_capture(SCOPE, observer, 1.0, 2.0, None, None, None, None))
    return v.status, v.model, v.prompt_tokens, v.completion_tokens


BODIES = [
    {
        "id": "c",
        "model": "m",
        "choices": [{"text": 'say "usage":{"prompt_tokens": 99} "model":"x"'}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
    },
    {
        "id": "c",
        "model": "m" * 2000,
        "usage": {"prompt_tokens": 1, "completion_tokens": 2},
        "prompt_logprobs": [{"1": {"logprob": -0.5}}] * 3000,
    },
    {"object": "response", "model": "mod\u00e8le", "output": [], "usage": None},
    {"error": {"message": "bad", "type": "BadRequestError", "code": 400}},
]


@pytest.mark.parametrize("body", BODIES)
@pytest.mark.parametrize("pieces", [1, 3])
def test_tokens_and_model_are_what_parsing_the_body_gives(
    body: dict[str, Any], pieces: int
) -> None:
    raw = json.dumps(body).encode()
    size = len(raw) // pieces + 1
    logged = _logged([raw[i : i + size] for i in range(0, len(raw), size)])
    usage = body.get("usage") or {}
    expected = (body.get("model"), usage.get("prompt_tokens"), usage.get("completion_tokens"))
    assert logged == (200, *expected)


def test_a_stream_reports_the_usage_of_its_last_event() -> None:
    events = [
        {"model": "m", "choices": [{"text": "usage"}]},
        {"model": "m", "choices": [], "usage": {"prompt_tokens": 2, "completion_tokens": 5}},
    ]
    chunks = [f"data: {json.dumps(e)}\n\n".encode() for e in events] + [b"data: [DONE]\n\n"]
    assert _logged(chunks, b"text/event-stream") == (200, "m", 2, 5)


def test_without_the_access_log_the_body_is_not_read() -> None:
    raw = json.dumps(BODIES[0]).encode()
    assert _logged([raw], read_tokens=False) == (200, None, None, None)


def test_a_disabled_logger_writes_nothing(logger: logging.Logger) -> None:
    stream = io.StringIO()
    handler = _json_handler(stream)
    logger.handlers = [handler]  # pytest adds its own to loggers that do not propagate
    logger.disabled = True  # what dictConfig's disable_existing_loggers does
    try:
        AccessLog(logger).write(*CASES[0])
    finally:
        logger.disabled = False
    assert stream.getvalue() == ""


def _with_body(body: dict[str, Any], status: int = 200) -> ResponseObserver:
    """An observer that saw a JSON response but has not read it yet (as the middleware's)."""
    observer = ResponseObserver()
    observer.on_start({"status": status, "headers": [(b"content-type", b"application/json")]})
    observer.on_body(json.dumps(body).encode())
    observer.first_byte_at = 2.001
    return observer


def test_waiting_lines_are_written_together_in_order_and_unchanged(
    logger: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(time, "time", lambda: 1764559876.123456)
    waited, formatted = io.StringIO(), io.StringIO()
    handler = _json_handler(waited)
    logger.handlers = [handler]  # pytest adds its own to loggers that do not propagate
    cases = [
        (SCOPE, _with_body(body), 2.0, 2.5, f"r{i}", None, None, None)
        for i, body in enumerate(BODIES)
    ]
    writes: list[str] = []

    async def main() -> None:
        log = AccessLog(logger, delay_s=60.0)
        for case in cases:
            log.write(*case)
        assert waited.getvalue() == ""  # waiting for the timer
        handler.stream.write = lambda text: writes.append(text) or len(text)  # type: ignore[method-assign]
        log.flush()

    asyncio.run(main())
    assert len(writes) == 1  # one write for the whole batch
    handler.setStream(formatted)
    handler.addFilter(lambda record: True)  # a filter: the record path, line by line
    for i, body in enumerate(BODIES):
        AccessLog(logger).write(SCOPE, _with_body(body), 2.0, 2.5, f"r{i}", None, None, None)
    assert writes[0] == formatted.getvalue()  # byte for byte, tokens read from each body
    lines = [json.loads(line) for line in writes[0].splitlines()]
    assert [line["request_id"] for line in lines] == ["r0", "r1", "r2", "r3"]
    assert (lines[0]["model"], lines[0]["prompt_tokens"], lines[0]["completion_tokens"]) == (
        "m",
        3,
        4,
    )


def test_the_timer_writes_waiting_lines(logger: logging.Logger) -> None:
    stream = io.StringIO()
    handler = _json_handler(stream)
    logger.handlers = [handler]  # pytest adds its own to loggers that do not propagate

    async def main() -> None:
        AccessLog(logger, delay_s=0.05).write(*CASES[1])
        for _ in range(100):
            await asyncio.sleep(0.05)
            if stream.getvalue():
                return

    asyncio.run(main())
    assert json.loads(stream.getvalue())["duration_ms"] == 500.0


def test_a_waiting_line_keeps_no_large_body(logger: logging.Logger) -> None:
    stream = io.StringIO()
    handler = _json_handler(stream)
    logger.handlers = [handler]  # pytest adds its own to loggers that do not propagate
    observer = _with_body(BODIES[1])  # about 90 kB of prompt_logprobs

    async def main() -> None:
        log = AccessLog(logger, delay_s=60.0)
        log.write(SCOPE, observer, 2.0, 2.5, "big", None, None, None)
        # read when the request ended; the body is let go
        assert observer.model == "m" * 2000 and observer.take_body() is None
        log.flush()

    asyncio.run(main())
    line = json.loads(stream.getvalue())
    assert (line["model"], line["prompt_tokens"], line["completion_tokens"]) == ("m" * 2000, 1, 2)


def test_a_new_handler_gets_only_the_lines_written_after_it(logger: logging.Logger) -> None:
    first, second = io.StringIO(), io.StringIO()

    async def main() -> None:
        log = AccessLog(logger, delay_s=60.0)
        logger.handlers = [_json_handler(first)]
        log.write(*CASES[0])
        logger.handlers = [_json_handler(second)]  # as a new dictConfig would
        log.write(*CASES[1])
        assert first.getvalue().count("\n") == 1 and second.getvalue() == ""
        log.flush()

    asyncio.run(main())
    assert json.loads(first.getvalue())["request_id"] == 'r-"1"'
    assert json.loads(second.getvalue())["request_id"] is None

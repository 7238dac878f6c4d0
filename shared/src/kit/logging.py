"""structlog JSON logging with request id and trace id bound per request and per handled event.

Personal data never reaches a log line: a processor masks resident ID and mobile numbers in every
string value as a last line of defence, and tokens are never bound in the first place.
"""
from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

from kit.identifiers import MOBILE_IN_TEXT, RESIDENT_ID_IN_TEXT

_SENSITIVE_KEYS = {"authorization", "password", "client_secret", "token", "access_token", "id_number", "mobile"}


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        value = RESIDENT_ID_IN_TEXT.sub("[id-number]", value)
        return MOBILE_IN_TEXT.sub("[mobile]", value)
    if isinstance(value, dict):
        return {k: ("[redacted]" if str(k).lower() in _SENSITIVE_KEYS else _scrub(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def scrub_personal_data(_logger: Any, _name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    scrubbed: dict[str, Any] = _scrub(event_dict)
    return scrubbed


_configured = False


def configure_logging(service: str, level: str = "INFO", stream: TextIO | None = None) -> None:
    """JSON lines on stdout (or ``stream``: a command whose output is its result logs to stderr) for
    structlog and the standard library (uvicorn, alembic, nats)."""
    stream = stream or sys.stdout
    global _configured
    shared_processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        scrub_personal_data,
    ]
    structlog.configure(
        processors=[*shared_processors, structlog.processors.EventRenamer("msg"), structlog.processors.JSONRenderer(ensure_ascii=False)],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
    if _configured:
        return
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared_processors,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.EventRenamer("msg"),
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's access log repeats what the request middleware logs, with the query string.
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    # httpx logs every request at INFO; the request middleware already records what matters.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    _configured = True


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)

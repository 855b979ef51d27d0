"""Structured JSON logs with service, tenant, request id and trace id on every line.

Log lines never carry names, dates of birth or charges: code logs ids, and the formatter drops
any `extra` field that is not in the allowed list below.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import sys
from typing import Any

_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("diversion_log", default=None)
_service = {"name": "diversion"}

ALLOWED_EXTRA = {"event_id", "event_type", "queue", "status", "attempt", "duration_ms", "count", "route",
                 "entity_id", "outcome"}


def bind_request_context(data: dict[str, Any]) -> None:
    traceparent = str(data.get("traceparent") or "")
    _context.set({
        "tenant": data.get("agency"),
        "request_id": data.get("request_id"),
        "trace_id": traceparent.split("-")[1] if traceparent.count("-") == 3 else None,
    })


def clear_request_context() -> None:
    _context.set(None)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": _service["name"],
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = _context.get()
        if context:
            line.update({key: value for key, value in context.items() if value})
        for key in ALLOWED_EXTRA:
            if key in record.__dict__:
                line[key] = record.__dict__[key]
        if record.exc_info and record.exc_info[0] is not None:
            # the exception type and where it happened; messages may quote personal data
            line["error"] = record.exc_info[0].__name__
            tb = record.exc_info[2]
            while tb is not None and tb.tb_next is not None:
                tb = tb.tb_next
            if tb is not None:
                line["at"] = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}"
        return json.dumps(line, default=str)


def configure_logging(service: str, level: str = "INFO", fmt: str = "json") -> None:
    _service["name"] = service
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("amqp", "kombu", "eventlet.wsgi.server", "nameko.web.server"):
        logging.getLogger(noisy).setLevel("WARNING")

"""One log line per request: JSON for machines (default), or text for people.

Each line has the request id (the client's ``X-Request-ID`` when it sends a sane one, else
a new one; sent back in ``X-Request-ID`` so a client can quote it), the method, the
endpoint (route template), the path, the status, the duration in milliseconds, the cache
tier that answered (``l1``, ``l2``, ``l3``, ``miss``, or none when not cacheable) and the
client's address (ops/clientip.py). ``BALISE_LOG_FORMAT=text`` writes the same fields as
``key=value`` text, a value quoted and its control characters escaped when it holds any (a
client's path cannot forge a line or a field); ``BALISE_LOG_REQUESTS=false`` writes none.

The lines go to the ``balise.access`` logger, by default to stderr (where the server's own
log goes), one write per line so the lines of several workers never interleave.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import sys
import time
from datetime import UTC, datetime
from typing import TextIO

import falcon
import orjson

from .clientip import ClientAddress
from .process import PerProcess

LOGGER = "balise.access"
REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")  # anything else is replaced, not logged


class JsonFormatter(logging.Formatter):
    """A record whose message is a dict, as one JSON object (with time and level)."""

    def format(self, record: logging.LogRecord) -> str:
        fields = record.msg if isinstance(record.msg, dict) else {"message": record.getMessage()}
        if record.exc_info:
            fields = {**fields, "exception": self.formatException(record.exc_info)}
        return self.line(fields, record.created, record.levelname.lower(), record.name)

    def line(self, fields: dict[str, object], created: float, level: str = "info", name: str = LOGGER) -> str:
        """The line of a record of these fields, made at ``created`` (seconds since the epoch)."""
        head = {"time": datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds"),
                "level": level, "logger": name}
        return orjson.dumps({**head, **fields}, default=str).decode()


# What would end a line (for Python, journald or a terminal) or hide text: C0 and C1 controls,
# DEL, the Unicode line and paragraph separators.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# What a value must not hold bare in ``key=value`` text: those, spaces, quotes, '=', '\\'.
NEEDS_QUOTES = re.compile(r'[\s"=\\]|' + CONTROL.pattern)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def text_value(value: object) -> str:
    """A field's value as it is written in a text line: as it is when plain; else quoted,
    with quotes, backslashes and control characters escaped, so that what a client sends
    (a path with ``%0A``, ``" status=200``...) can neither end the line nor add a field."""
    text = str(value)
    if not NEEDS_QUOTES.search(text):
        return text
    text = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + CONTROL.sub(_escape, text) + '"'


class TextFormatter(logging.Formatter):
    """The same fields as ``key=value`` pairs after the time: easy to read and to grep."""

    def format(self, record: logging.LogRecord) -> str:
        fields = record.msg if isinstance(record.msg, dict) else {"message": record.getMessage()}
        return self.line(fields, record.created, record.levelname.lower())

    def line(self, fields: dict[str, object], created: float, level: str = "info", name: str = LOGGER) -> str:
        """The line of a record of these fields, made at ``created`` (seconds since the epoch)."""
        when = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
        pairs = " ".join(f"{k}={text_value(v)}" for k, v in fields.items() if v is not None)
        return f"{when} {level} {pairs}"


def configure(fmt: str = "json", stream: TextIO | None = None) -> logging.Logger:
    """The access logger with one handler of format ``fmt`` (json, else text); idempotent."""
    logger = logging.getLogger(LOGGER)
    for handler in list(logger.handlers):
        if getattr(handler, "balise", False):
            logger.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.balise = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


class AccessLogMiddleware:
    """Gives each request an id and logs one line when its answer is ready."""

    def __init__(self, logger: logging.Logger | None = None, client_address: ClientAddress | None = None,
                 enabled: bool = True) -> None:
        self.logger = logger or logging.getLogger(LOGGER)
        self.client_address = client_address or ClientAddress()
        self.enabled = enabled
        self._ids = PerProcess(lambda: (os.urandom(8).hex(), itertools.count()))

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.log_start = time.perf_counter()
        given = req.get_header("X-Request-ID")
        req.context.request_id = given if given and REQUEST_ID.fullmatch(given) else self.new_id()
        resp.set_header("X-Request-ID", req.context.request_id)

    def new_id(self) -> str:
        """32 hex digits: this process's random prefix and a counter (PERF: uuid4 reads
        the kernel's random source each time, ~10 us; this is ~0.5 us)."""
        prefix, counter = self._ids.get()
        return f"{prefix}{next(counter):016x}"

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource: object,
                         req_succeeded: bool) -> None:
        start = req.context.get("log_start")
        if start is None or not self.enabled or not self.logger.isEnabledFor(logging.INFO):
            return
        fields = {
            "request_id": req.context.get("request_id"),
            "method": req.method,
            "endpoint": req.uri_template,
            "path": req.path,
            "status": resp.status_code,
            "duration_ms": round((time.perf_counter() - start) * 1000, 3),
            "cache": req.context.get("cache"),
            "client": self.client_address(req),
        }
        logger = self.logger
        handler = logger.handlers[0] if len(logger.handlers) == 1 else None
        if (handler is not None and getattr(handler, "balise", False) and not logger.propagate
                and not logger.filters and not handler.filters and handler.level <= logging.INFO):
            # PERF: configure()'s handler alone: the line written as it would write it, without
            # a LogRecord and the handler chain (17 -> 10 us a request; a /reverse is ~75).
            assert isinstance(handler, logging.StreamHandler)
            formatter = handler.formatter
            assert isinstance(formatter, (JsonFormatter, TextFormatter))
            text = formatter.line(fields, time.time()) + handler.terminator
            try:
                with handler.lock:  # type: ignore[union-attr]  # (created with the handler)
                    handler.stream.write(text)
                    handler.stream.flush()
                return
            except Exception:  # noqa: BLE001
                pass  # a stream that fails: the chain below reports it as logging does
        # a record handed to the handlers: ``logger.info`` would also look up its caller in
        # the stack, a third of the cost of a line
        self.logger.handle(self.logger.makeRecord(self.logger.name, logging.INFO, __file__, 0, fields, (),
                                                  None))

"""What the gateway's HTTP edge may write to the log: no personal data, no secrets, no lies.

aiohttp's default access format writes the whole request line and the
Referer, so a view's ``?reason=...`` (free text that can name a patron) would
land in the system journal, outside the audit log and outside any retention.
We log the method, the path without its query, the status, the size and the time.

Two more leaks are closed by one filter (``SafeLogFilter``) on aiohttp's server
and access loggers and on our error middleware's logger:

* a request the HTTP parser refuses (say an ``Authorization`` header ending in
  ``\\r`` or a control byte) is logged by aiohttp at ERROR with the offending
  header line, token included, in the exception text: we log the client, the
  status and the kind of error instead, never a header value or a traceback;
* a decoded path with ``%0A`` would start a forged log line: control
  characters in every message are escaped (``\\x0a``).
"""

from __future__ import annotations

import logging
import re

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError

from .forwarded import CLIENT_KEY

#: C0, DEL and C1 controls (a newline, a carriage return, an escape sequence...).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: The loggers whose records can carry what a client sent.
FILTERED_LOGGERS = ("aiohttp.server", "aiohttp.access", "aiohttp.web", "gateway.web.errors")


def escape_controls(text: str) -> str:
    """``text`` with every control character as ``\\xNN``: one record stays one line."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


class SafeLogFilter(logging.Filter):
    """Rewrites records so that no header value and no raw control character is logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            # The parser's message quotes the raw request bytes (headers included).
            remote = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
            record.msg = "refused a malformed HTTP request from %s with %s (%s)"
            record.args = (remote, exc.code, type(exc).__name__)
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            return True
        message = record.getMessage()
        safe = escape_controls(message)
        if safe != message:
            record.msg, record.args = safe, None
        return True


_FILTER = SafeLogFilter()


def install_log_filter() -> None:
    """Attach the filter to every logger in ``FILTERED_LOGGERS`` (idempotent)."""
    for name in FILTERED_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


class PrivateAccessLogger(AbstractAccessLogger):
    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        # Behind a trusted proxy, the client it forwarded for (gateway.web.forwarded).
        remote = request.get(CLIENT_KEY, request.remote)
        self.logger.info('%s "%s %s" %s %s %.3fs', remote, request.method,
                         escape_controls(request.path), response.status,
                         response.body_length, time)

"""An access log that records no personal data.

aiohttp's default format writes the whole request line and the Referer, so a
view's ``?reason=...`` (free text that can name a patron) would land in the
system journal, outside the audit log and outside any retention. We log the
method, the path without its query, the status, the size and the time.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from .forwarded import CLIENT_KEY


class PrivateAccessLogger(AbstractAccessLogger):
    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        # Behind a trusted proxy, the client it forwarded for (gateway.web.forwarded).
        remote = request.get(CLIENT_KEY, request.remote)
        self.logger.info('%s "%s %s" %s %s %.3fs', remote, request.method, request.path,
                         response.status, response.body_length, time)

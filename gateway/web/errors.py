"""One middleware renders every error: typed GatewayErrors as their status, the rest as 500."""

from __future__ import annotations

import logging

from aiohttp import web

from ..errors import GatewayError

log = logging.getLogger(__name__)


def _wants_html(request: web.Request) -> bool:
    return not request.path.startswith("/api/") and "text/html" in request.headers.get("Accept", "")


def error_response(status: int, code: str, message: str, request: web.Request) -> web.Response:
    if _wants_html(request):
        from .pages.errors import error_page
        return error_page(request, status, message)
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


@web.middleware
async def error_middleware(request: web.Request, handler):
    try:
        return await handler(request)
    except GatewayError as err:
        resp = error_response(err.status, err.code, err.message, request)
        if err.status == 503:
            resp.headers["Retry-After"] = "5"
        retry_after = getattr(err, "retry_after_s", None)
        if retry_after is not None:
            resp.headers["Retry-After"] = str(retry_after)
        elif err.status == 429:
            resp.headers["Retry-After"] = "1"
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
            exc.status, "http_error")
        resp = error_response(exc.status, code, exc.reason or exc.text or "", request)
        if "Allow" in exc.headers:  # a 405 names the methods the resource takes (RFC 9110)
            resp.headers["Allow"] = exc.headers["Allow"]
    except ConnectionResetError:
        # The client closed the connection mid-body: not our fault, nothing was stored,
        # and no one is left to read an answer. One line, no traceback, no 500.
        log.info("client %s left during %s %s before its body arrived; nothing stored",
                 request.remote, request.method, request.path)
        return error_response(400, "client_gone", "the connection closed before the body "
                              "arrived", request)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal", "internal error (logged)", request)
    if resp.status == 413:
        # The rest of a huge body is never read: answer and drop the connection.
        resp.force_close()
    return resp

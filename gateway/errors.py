"""The few typed errors the gateway raises; one middleware renders them.

Each carries the HTTP status and a stable machine-readable code. The API body
is always ``{"error": {"code": ..., "message": ...}}`` (see docs/interface.md).
"""

from __future__ import annotations


class GatewayError(Exception):
    """Base class: a failure we expected and can explain to the caller."""

    status = 500
    code = "internal"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message}}


class BadRequest(GatewayError):
    """Malformed input: bad JSON, a bad field, corrupt or undecodable video."""

    status = 400
    code = "bad_request"


class Unauthorized(GatewayError):
    status = 401
    code = "unauthorized"


class Forbidden(GatewayError):
    status = 403
    code = "forbidden"


class NotFound(GatewayError):
    status = 404
    code = "not_found"


class Conflict(GatewayError):
    """The action is not allowed in the object's current state."""

    status = 409
    code = "conflict"


class Locked(GatewayError):
    """Sealed mode: the private key is not in memory; a director must unlock first."""

    status = 423
    code = "key_locked"


class RateLimited(GatewayError):
    """Too many failed attempts (sign-ins, unlocks): try again after ``retry_after_s``."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: int, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after_s = retry_after_s


class Gone(GatewayError):
    """It existed and no longer does (an export package deleted with its hold)."""

    status = 410
    code = "gone"


class RequestTimeout(GatewayError):
    """The client sent its body too slowly; its upload slot is freed."""

    status = 408
    code = "body_timeout"


class TooLarge(GatewayError):
    status = 413
    code = "too_large"


class UnsupportedMedia(GatewayError):
    status = 415
    code = "unsupported_media"




class Busy(GatewayError):
    """Too much work in flight; the client should retry shortly (Retry-After)."""

    status = 503
    code = "busy"


class StoreUnavailable(Busy):
    """The object store did not answer or refused the gateway: nothing was acknowledged."""

    code = "storage_unavailable"


class StorageFull(GatewayError):
    status = 507
    code = "storage_full"


class ConfigError(GatewayError):
    """The configuration (or a policy file) is invalid; the message names the key."""

    status = 500
    code = "config"


class IntegrityError(GatewayError):
    """Stored data failed authentication: tampered, truncated or reordered."""

    status = 500
    code = "integrity"

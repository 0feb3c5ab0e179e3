"""The ``[sessions]`` section: web sign-in timeouts and login rate limits (docs/web-ui.md).

Pure settings (layer 0): gateway.config imports this module, gateway.users.sessions
applies it.
"""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from ..durations import parse_duration
from ..strict import StrictModel

Duration = str




def _bounded_duration(v: str, lo_s: int, hi_s: int) -> str:
    s = parse_duration(v)
    if not lo_s <= s <= hi_s:
        raise ValueError(f"must be between {lo_s}s and {hi_s}s (e.g. '30m', '12h')")
    return v


class SessionSettings(StrictModel):
    """Web sign-in: server-side sessions and login rate limits."""

    idle_timeout: Duration = Field(
        "30m", description="a session unused this long ends (1m to 1d)")
    absolute_timeout: Duration = Field(
        "12h", description="a session ends this long after sign-in, used or not (10m to 7d)")
    login_attempts: int = Field(
        5, ge=1, le=100,
        description="failed sign-ins allowed per user name and per address within login_window")
    login_window: Duration = Field(
        "15m", description="the window the failed sign-ins are counted over (1m to 1d)")

    @field_validator("idle_timeout")
    @classmethod
    def _idle(cls, v: str) -> str:
        return _bounded_duration(v, 60, 86400)

    @field_validator("absolute_timeout")
    @classmethod
    def _absolute(cls, v: str) -> str:
        return _bounded_duration(v, 600, 7 * 86400)

    @field_validator("login_window")
    @classmethod
    def _window(cls, v: str) -> str:
        return _bounded_duration(v, 60, 86400)

    @model_validator(mode="after")
    def _order(self) -> "SessionSettings":
        if parse_duration(self.absolute_timeout) < parse_duration(self.idle_timeout):
            raise ValueError("absolute_timeout must not be shorter than idle_timeout")
        return self

    @property
    def idle_s(self) -> int:
        return parse_duration(self.idle_timeout)

    @property
    def absolute_s(self) -> int:
        return parse_duration(self.absolute_timeout)

    @property
    def window_s(self) -> int:
        return parse_duration(self.login_window)

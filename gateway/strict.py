"""The one strict base model for config, policy and section settings, and durations."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from .durations import parse_duration


class StrictModel(BaseModel):
    """Frozen, no unknown keys, no type coercion: config and policy files alike."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def check_duration(value: str) -> str:
    """A validator: the value must parse as a duration (ValueError says what is allowed)."""
    parse_duration(value)
    return value


Duration = Annotated[str, Field(description="integer + s, m, h or d, e.g. '7d'")]

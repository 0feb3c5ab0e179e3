"""Which key store a config opens: the key ring, or sealed mode's epochs (``keys.mode``).

In ``vault`` (not ``keys``) because the runtime opens it (docs/architecture.md, layers).
"""

from __future__ import annotations

import logging
import os
from typing import Collection

from ..clock import US, Clock
from ..config import Settings
from ..durations import parse_duration
from ..errors import ConfigError
from .keyring import KeyRing
from .sealed import EPOCH_PREFIX
from .sealed_store import SealedKeys

log = logging.getLogger(__name__)

Keys = KeyRing | SealedKeys


def open_keys(settings: Settings, *, create: bool, clock: Clock | None = None) -> Keys:
    """The key ring (``keys.mode = "ring"``) or the sealed epochs (``"sealed"``).

    ``create`` makes what is missing (the server); the CLI passes False.
    Sealed mode never creates a key ring.
    """
    k = settings.keys
    if k.mode == "sealed":
        if create and os.path.lexists(settings.keyring_path):
            log.warning("keys.mode is sealed but a key ring exists at %s: whoever copies it can "
                        "open what it wrapped; `footage-gateway keys migrate --to sealed` moves "
                        "its keys and destroys it", settings.keyring_path)
        return SealedKeys.open(settings.sealed_path, quorum=k.unlock_quorum,
                               idle_us=parse_duration(k.unlock_idle) * US,
                               max_us=parse_duration(k.unlock_max) * US, create=create,
                               clock=clock)
    return KeyRing.open(settings.keyring_path, create=create, clock=clock)


def kind_of(kek_id: str) -> str:
    """Which mode wrapped a data key, from its wrapping key's id."""
    return "sealed" if kek_id.startswith(EPOCH_PREFIX) else "ring"


def check_mode(mode: str, kek_ids_in_use: Collection[str]) -> None:
    """Refuse to run in one mode over data keys wrapped in the other (migrate first)."""
    other = [k for k in kek_ids_in_use if kind_of(k) != mode]
    if other:
        target = "sealed" if mode == "sealed" else "ring"
        raise ConfigError(
            f"keys.mode is {mode}, but the catalog holds data keys wrapped in "
            f"{'ring' if mode == 'sealed' else 'sealed'} mode ({len(other)} wrapping key(s): "
            f"{', '.join(sorted(other)[:3])}): stop the gateway and run "
            f"`footage-gateway keys migrate --to {target} --config ...`")

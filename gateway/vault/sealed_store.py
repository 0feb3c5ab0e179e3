"""Sealed mode's key store: epoch files and director key files on disk, the unlocked
session in memory. The formats and the crypto are in ``gateway.vault.sealed``.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from ..clock import Clock, SystemClock
from ..errors import ConfigError, Locked
from ..fsutil import fsync_dir
from .keyring import KekInfo, _check_private, _write_atomic
from .sealed import (DIRECTOR_NAME, EPOCH_ID, DirectorKey, Epoch, new_epoch, open_data_key,
                     open_share, rebuild_epoch_key, seal_data_key)
from .shamir import Share


# ---------------------------------------------------------------- the unlocked session (memory)


@dataclass
class Session:
    """Epoch private keys in memory, and when they must be dropped."""

    keys: dict[str, X25519PrivateKey] = field(repr=False)
    directors: tuple[str, ...]
    unlocked_us: int
    last_used_us: int
    idle_us: int
    max_us: int

    def locks_at_us(self) -> int:
        """The instant this session ends if nobody uses it: idle or absolute limit."""
        return min(self.last_used_us + self.idle_us, self.unlocked_us + self.max_us)

    def live(self, now_us: int) -> bool:
        return now_us < self.locks_at_us()

    def expiry_reason(self, now_us: int) -> str | None:
        if now_us >= self.unlocked_us + self.max_us:
            return "limit"
        if now_us >= self.last_used_us + self.idle_us:
            return "idle"
        return None


LOCKED_MESSAGE = "the key is locked: a director must unlock (footage-gateway keys unlock)"


# ---------------------------------------------------------------- the sealed key store (files)


class SealedKeys:
    """Sealed mode's counterpart of the key ring: epoch public keys on disk, private keys
    only in an unlocked :class:`Session`.

    Files (all 0600, in 0700 directories under ``root``): ``directors/NAME.key``
    and ``epochs/ID.epoch``. The interface mirrors :class:`~gateway.vault.keyring.KeyRing`
    (``wrap``, ``unwrap``, ``ids``, ``entries``, ``rotate``, ``retire``) so the
    services, the epoch loop and ``check`` treat both modes alike.
    """

    def __init__(self, root: Path, quorum: int, idle_us: int, max_us: int,
                 clock: Clock | None = None) -> None:
        self.root = Path(root)
        self.quorum = quorum
        self.idle_us = idle_us
        self.max_us = max_us
        self.clock = clock or SystemClock()
        self.session: Session | None = None
        #: Shares given by directors towards a quorum not yet reached: name -> shares, when.
        self.pending: dict[str, tuple[dict[str, Share], int]] = {}
        self._epochs: dict[str, Epoch] = {}
        self._signature: tuple | None = None

    def __repr__(self) -> str:
        return f"SealedKeys({str(self.root)!r}, epochs={len(self._epochs)}, " \
               f"unlocked={self.session is not None})"

    @property
    def epochs_dir(self) -> Path:
        return self.root / "epochs"

    @property
    def directors_dir(self) -> Path:
        return self.root / "directors"

    @classmethod
    def open(cls, root: Path, *, quorum: int, idle_us: int, max_us: int, create: bool,
             clock: Clock | None = None) -> SealedKeys:
        """Load the epochs; with ``create``, make the directories and the first epoch.

        ConfigError when there is no epoch and none can be made (too few directors).
        """
        keys = cls(root, quorum, idle_us, max_us, clock)
        if create:
            _private_dirs(keys.directors_dir, keys.epochs_dir)
        elif not keys.epochs_dir.is_dir():
            raise ConfigError(f"no sealed-mode key files at {keys.root} (keys.sealed_path)")
        keys.refresh()
        if not keys._epochs:
            if not create:
                raise ConfigError(f"no epoch file in {keys.epochs_dir}")
            keys.rotate(keys.clock.now_us())
        return keys

    # -- the KeyRing interface

    @property
    def current_id(self) -> str:
        return max(self._epochs.values(), key=lambda e: (e.created_us, e.id)).id

    def ids(self) -> list[str]:
        return [e.id for e in self._ordered()]

    def entries(self) -> list[KekInfo]:
        return [KekInfo(e.id, e.created_us) for e in self._ordered()]

    def created_us(self, epoch_id: str) -> int:
        return self._get(epoch_id).created_us

    def epoch(self, epoch_id: str) -> Epoch:
        return self._get(epoch_id)

    @property
    def can_unwrap(self) -> bool:
        return self.session is not None and self.session.live(self.clock.now_us())

    def openable_ids(self) -> list[str]:
        """The epochs an unlocked session holds keys for (none while locked)."""
        if not self.can_unwrap:
            return []
        return [e for e in self.ids() if e in self.session.keys]

    def wrap(self, data_key: bytes, *, key_id: bytes = b"") -> tuple[str, bytes]:
        """Wrap to the current epoch's public key (no private key involved)."""
        self.refresh()
        epoch = self._get(self.current_id)
        return epoch.id, seal_data_key(epoch.public, epoch.id, data_key, key_id)

    def unwrap(self, epoch_id: str, wrapped: bytes, *, key_id: bytes = b"") -> bytes:
        """Open a data key with the session's epoch key; Locked when there is none."""
        now = self.clock.now_us()
        s = self.session
        if s is None or not s.live(now):
            raise Locked(LOCKED_MESSAGE)
        sk = s.keys.get(epoch_id)
        if sk is None:
            if epoch_id not in self._epochs:
                self.refresh()
            self._get(epoch_id)  # UnknownKek-like error if it is gone for good
            raise Locked(f"epoch {epoch_id} is not unlocked in this session (its shares were "
                         "not given by enough directors): a director must unlock again")
        s.last_used_us = now
        return open_data_key(sk, epoch_id, wrapped, key_id)

    def rotate(self, now_us: int) -> str:
        """A new epoch for all enrolled directors; returns its id.

        The new private key joins an unlocked session (so kept keys can be
        re-wrapped to it), and is otherwise dropped at once.
        """
        directors = [(d.name, d.public_key) for d in self.directors()]
        if self._epochs:  # strictly newer than the current one, so "current" is unambiguous
            now_us = max(now_us, self.created_us(self.current_id) + 1)
        epoch, sk = new_epoch(directors, self.quorum, now_us)
        _write_atomic(self.epochs_dir / f"{epoch.id}.epoch", epoch.encode(), replace=False)
        self._epochs[epoch.id] = epoch
        if self.session is not None:
            self.session.keys[epoch.id] = sk
        return epoch.id

    def retire(self, epoch_ids) -> None:
        """Destroy these epochs' files (and keys in memory); refuses the current epoch."""
        if self.current_id in epoch_ids:
            raise ValueError(f"refusing to retire the current epoch {self.current_id}")
        for eid in epoch_ids:
            if not EPOCH_ID.match(eid):
                continue
            try:
                os.unlink(self.epochs_dir / f"{eid}.epoch")
            except FileNotFoundError:
                pass
            self._epochs.pop(eid, None)
            if self.session is not None:
                self.session.keys.pop(eid, None)
        fsync_dir(self.epochs_dir)

    def refresh(self) -> bool:
        """Reload the epoch files if the directory changed; True when it did."""
        try:
            st = os.stat(self.epochs_dir)
        except FileNotFoundError:
            raise ConfigError(f"epoch directory {self.epochs_dir} has disappeared") from None
        sig = (st.st_ino, st.st_mtime_ns, st.st_ctime_ns)
        if sig == self._signature:
            return False
        epochs = {}
        for path in sorted(self.epochs_dir.glob("*.epoch")):
            epoch = Epoch.decode(_read_private(path), str(path))
            if path.name != f"{epoch.id}.epoch":
                raise ConfigError(f"epoch file {path} holds epoch {epoch.id}")
            epochs[epoch.id] = epoch
        self._epochs, self._signature = epochs, sig
        return True

    # -- directors

    def director_path(self, name: str) -> Path:
        if not DIRECTOR_NAME.match(name):
            raise ValueError(f"bad director name {name!r}")
        return self.directors_dir / f"{name}.key"

    def directors(self) -> list[DirectorKey]:
        if not self.directors_dir.is_dir():
            return []
        return [DirectorKey.decode(_read_private(p), str(p))
                for p in sorted(self.directors_dir.glob("*.key"))]

    def director(self, name: str) -> DirectorKey | None:
        path = self.director_path(name)
        if not path.exists():
            return None
        return DirectorKey.decode(_read_private(path), str(path))

    def enroll(self, key: DirectorKey) -> Path:
        """Write a new director key file (0600); FileExistsError if the director has one."""
        _private_dirs(self.directors_dir)
        path = self.director_path(key.name)
        _write_atomic(path, key.encode(), replace=False)
        return path

    # -- unlocking (pure given the files; the caller audits and rate limits)

    def shares_of(self, name: str, director_key: X25519PrivateKey) -> dict[str, Share]:
        """Every epoch's share for this director (epochs without a slot for them are skipped)."""
        self.refresh()
        out = {}
        for epoch in self._ordered():
            share = open_share(epoch, name, director_key)
            if share is not None:
                out[epoch.id] = share
        return out

    def rebuild(self, given: Mapping[str, Mapping[str, Share]]) -> dict[str, X25519PrivateKey]:
        """Epoch private keys from the shares of distinct directors (name -> epoch -> share).

        An epoch is rebuilt when at least its quorum of the given directors hold
        a slot in it; the others are left out (status shows them).
        """
        keys = {}
        for epoch in self._ordered():
            shares = [by_epoch[epoch.id] for _, by_epoch in sorted(given.items())
                      if epoch.id in by_epoch]
            if len(shares) >= epoch.quorum:
                keys[epoch.id] = rebuild_epoch_key(epoch, shares)
        return keys

    def lock(self) -> bool:
        """Drop the session and any pending shares; True if something was unlocked."""
        was = self.session is not None
        self.session = None
        self.pending.clear()
        return was

    # -- internals

    def _ordered(self) -> list[Epoch]:
        return sorted(self._epochs.values(), key=lambda e: (e.created_us, e.id))

    def _get(self, epoch_id: str) -> Epoch:
        try:
            return self._epochs[epoch_id]
        except KeyError:
            from .keyring import UnknownKek
            raise UnknownKek(f"epoch {epoch_id} has no file in {self.epochs_dir}: it was retired "
                             "(the data keys it wrapped are destroyed) or belongs to another "
                             "gateway") from None


def _private_dirs(*dirs: Path) -> None:
    """Create these directories and any missing parent, each 0700 (not the umask's 0755)."""
    for d in dirs:
        missing = [p for p in (d, *d.parents) if not p.exists()]
        for p in reversed(missing):
            p.mkdir(mode=0o700, exist_ok=True)


def _read_private(path: Path) -> bytes:
    """Read a key file that must be a regular file, ours, mode 0600 or stricter."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise ConfigError(f"key file {path} is a symlink") from None
        raise ConfigError(f"key file {path} cannot be read: {e.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        mode = stat.S_IMODE(st.st_mode)
        if stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid() and mode & 0o077:
            raise ConfigError(f"key file {path} has mode {mode:04o}: group or others can read "
                              f"it; run `chmod 600 {path}`")
        _check_private(path, st)  # regular file, owned by the gateway's user
        return f.read()

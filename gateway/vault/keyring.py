"""The key ring: key-encryption keys (KEKs) that wrap each segment's data key.

The ring is one small JSON file, private to the gateway's user (mode 0600),
holding a list of 32-byte KEKs and which one is current. Data keys are wrapped
with ChaCha20-Poly1305 under a KEK (byte layout in docs/segment-format.md,
"Key wrapping"); the wrapped key lives in the catalog, never beside the file.

Key epochs: the caller rotates the ring on a schedule, re-wraps every kept
data key under the new KEK (:func:`rewrap`), then retires the old KEKs nobody
references (:func:`plan_retire`), so a disk image taken one epoch after a purge
cannot decrypt the purged footage. The decisions here are pure; the file I/O
is confined to :class:`KeyRing` open/save.
"""

from __future__ import annotations

import base64
import binascii
import errno
import fcntl
import json
import os
import re
import secrets
import stat
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Collection, Iterator, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from ..clock import Clock, SystemClock
from ..errors import ConfigError, IntegrityError
from ..fsutil import fsync_dir

RING_FORMAT = "footage-gateway keyring v1"
KEK_SIZE = 32
WRAP_VERSION = 1
WRAP_NONCE_SIZE = 12
#: AAD prefix of a wrapped key; names the construction and its version.
WRAP_LABEL = b"footage-gateway wrap v1"
WRAPPED_SIZE = 1 + WRAP_NONCE_SIZE + 32 + 16  # version, nonce, data key, tag
KEK_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class UnknownKek(IntegrityError, KeyError):
    """The KEK that wrapped a data key is not in the ring (retired, or another ring)."""

    code = "kek_unknown"

    def __str__(self) -> str:  # KeyError would quote the message
        return self.message


@dataclass(frozen=True)
class KekInfo:
    """A KEK's public facts: what the caller needs to schedule epochs."""

    id: str
    created_us: int


@dataclass(frozen=True)
class Kek:
    id: str
    created_us: int
    key: bytes = field(repr=False)


# ---------------------------------------------------------------- wrapping (pure)


def wrap_aad(kek_id: str, key_id: bytes) -> bytes:
    """AAD = WRAP_LABEL || u8(len(kek_id)) || kek_id (ASCII) || key_id."""
    raw = kek_id.encode("ascii")
    return WRAP_LABEL + bytes([len(raw)]) + raw + key_id


def wrap_key(
    kek: bytes, kek_id: str, data_key: bytes, *, key_id: bytes = b"", nonce: bytes | None = None
) -> bytes:
    """Wrap a 32-byte data key: 0x01 || nonce(12) || ChaCha20-Poly1305(kek, nonce, data_key, aad).

    ``nonce`` is injectable for test vectors only; production nonces are random.
    """
    if len(data_key) != 32:
        raise ValueError(f"data key must be 32 bytes, got {len(data_key)}")
    nonce = secrets.token_bytes(WRAP_NONCE_SIZE) if nonce is None else nonce
    sealed = ChaCha20Poly1305(kek).encrypt(nonce, data_key, wrap_aad(kek_id, key_id))
    return bytes([WRAP_VERSION]) + nonce + sealed


def unwrap_key(kek: bytes, kek_id: str, wrapped: bytes, *, key_id: bytes = b"") -> bytes:
    """Inverse of :func:`wrap_key`; IntegrityError if anything does not authenticate."""
    if len(wrapped) != WRAPPED_SIZE or wrapped[0] != WRAP_VERSION:
        raise IntegrityError(
            f"wrapped key is malformed ({len(wrapped)} bytes, want {WRAPPED_SIZE} "
            f"starting with version {WRAP_VERSION})"
        )
    nonce, sealed = wrapped[1 : 1 + WRAP_NONCE_SIZE], wrapped[1 + WRAP_NONCE_SIZE :]
    try:
        return ChaCha20Poly1305(kek).decrypt(nonce, sealed, wrap_aad(kek_id, key_id))
    except InvalidTag:
        raise IntegrityError(
            f"wrapped key failed authentication under KEK {kek_id} "
            "(tampered, or bound to another key id)"
        ) from None


# ---------------------------------------------------------------- epochs (pure)


def rotation_due(current_created_us: int, now_us: int, epoch_us: int) -> bool:
    """True when the current KEK is at least one epoch old."""
    return now_us - current_created_us >= epoch_us


def plan_retire(
    entries: Sequence[KekInfo],
    current_id: str,
    referenced: Collection[str],
    now_us: int,
    grace_us: int,
) -> list[str]:
    """The KEKs safe to destroy now: not current, referenced by no data key,
    and superseded at least ``grace_us`` ago.

    The grace covers a writer that wrapped under the old KEK just before the
    rotation and has not yet inserted its catalog row (or another process
    that has not yet noticed the rotation). ``entries`` are in ring order.
    """
    out = []
    for kek, successor in zip(entries, entries[1:]):
        if kek.id == current_id or kek.id in referenced:
            continue
        if now_us - successor.created_us >= grace_us:
            out.append(kek.id)
    return out


def rewrap(ring: KeyRing, kek_id: str, wrapped: bytes, *, key_id: bytes = b"") -> tuple[str, bytes]:
    """Re-wrap one data key under the ring's current KEK: (new_kek_id, new_wrapped).

    Idempotent: a key already under the current KEK comes back unchanged, so
    a rotation interrupted half-way can simply be run again.
    """
    if kek_id == ring.current_id:
        return kek_id, wrapped
    return ring.wrap(ring.unwrap(kek_id, wrapped, key_id=key_id), key_id=key_id)


# ---------------------------------------------------------------- the ring file


class KeyRing:
    """The KEKs in memory, backed by a 0600 JSON file saved atomically."""

    def __init__(self, path: Path, keks: list[Kek], current_id: str, signature: tuple) -> None:
        self.path = path
        self._keks = keks
        self._current_id = current_id
        self._signature = signature  # stat of the file we loaded: (ino, mtime, ctime, size)

    def __repr__(self) -> str:
        return f"KeyRing({str(self.path)!r}, current={self._current_id!r}, keks={len(self._keks)})"

    @classmethod
    def open(cls, path: Path, *, create: bool = True, clock: Clock | None = None) -> KeyRing:
        """Load the ring, creating it (mode 0600, one fresh KEK) when missing and ``create``.

        Raises ConfigError naming the path when the file is missing (and not
        ``create``), not private to the running user, a symlink or malformed.
        """
        path = Path(path)
        if not os.path.lexists(path):
            if not create:
                raise ConfigError(f"key ring {path} does not exist")
            _create(path, (clock or SystemClock()).now_us())
        return cls(path, *_load(path))

    @property
    def current_id(self) -> str:
        """The KEK that wraps new data keys."""
        return self._current_id

    def ids(self) -> list[str]:
        """All KEK ids, oldest first."""
        return [k.id for k in self._keks]

    def entries(self) -> list[KekInfo]:
        """Id and creation time of every KEK, oldest first (no key material)."""
        return [KekInfo(k.id, k.created_us) for k in self._keks]

    def created_us(self, kek_id: str) -> int:
        """When the KEK was created (UTC microseconds)."""
        return self._get(kek_id).created_us

    def openable_ids(self) -> list[str]:
        """The KEKs this process can unwrap with now: all (sealed mode: only while unlocked)."""
        return self.ids()

    def wrap(self, data_key: bytes, *, key_id: bytes = b"") -> tuple[str, bytes]:
        """Wrap under the current KEK, picking up a rotation another process saved."""
        self.refresh()
        kek = self._get(self._current_id)
        return kek.id, wrap_key(kek.key, kek.id, data_key, key_id=key_id)

    def unwrap(self, kek_id: str, wrapped: bytes, *, key_id: bytes = b"") -> bytes:
        """Unwrap a data key; UnknownKek if its KEK is gone, IntegrityError if tampered."""
        if kek_id not in self.ids():
            self.refresh()
        return unwrap_key(self._get(kek_id).key, kek_id, wrapped, key_id=key_id)

    def rotate(self, now_us: int) -> str:
        """Add a fresh KEK, make it current and save; returns its id."""
        with self._locked():
            kek = Kek(f"kek-{secrets.token_hex(8)}", now_us, secrets.token_bytes(KEK_SIZE))
            self._keks.append(kek)
            self._current_id = kek.id
            self._save()
        return kek.id

    def retire(self, kek_ids: Collection[str]) -> None:
        """Destroy these KEKs (ids not in the ring are ignored) and save.

        Data keys still wrapped under them become unreadable: that is the
        point. Refuses to retire the current KEK.
        """
        with self._locked():
            if self._current_id in kek_ids:
                raise ValueError(f"refusing to retire the current KEK {self._current_id}")
            doomed = set(kek_ids)
            self._keks = [k for k in self._keks if k.id not in doomed]
            self._save()

    def refresh(self) -> bool:
        """Reload if another process replaced the file; True when it did."""
        try:
            if _signature(os.stat(self.path, follow_symlinks=False)) == self._signature:
                return False
        except FileNotFoundError:
            raise ConfigError(f"key ring {self.path} has disappeared") from None
        self._keks, self._current_id, self._signature = _load(self.path)
        return True

    def _get(self, kek_id: str) -> Kek:
        for kek in self._keks:
            if kek.id == kek_id:
                return kek
        raise UnknownKek(
            f"KEK {kek_id} is not in key ring {self.path}: it was retired "
            "(the data keys it wrapped are destroyed) or belongs to another ring"
        )

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialize read-modify-write across processes (serve and `keys rotate`)."""
        fd = os.open(_sibling(self.path, ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self.refresh()  # start from what is on disk, not a stale copy
            yield
        finally:
            os.close(fd)  # releases the lock

    def _save(self) -> None:
        _write_atomic(self.path, _encode(self._keks, self._current_id), replace=True)
        self._signature = _signature(os.stat(self.path, follow_symlinks=False))


# ---------------------------------------------------------------- file helpers


def _create(path: Path, now_us: int) -> None:
    """Write a new ring with one KEK; loses gracefully to a concurrent creator."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    kek = Kek(f"kek-{secrets.token_hex(8)}", now_us, secrets.token_bytes(KEK_SIZE))
    try:
        _write_atomic(path, _encode([kek], kek.id), replace=False)
    except FileExistsError:
        pass  # another process created it first; we load theirs


def _load(path: Path) -> tuple[list[Kek], str, tuple]:
    """Read and check the ring file: regular, owned by us, mode 0600 or stricter."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise ConfigError(
                f"key ring {path} is a symlink; point keys.path at the file itself"
            ) from None
        raise ConfigError(f"key ring {path} cannot be read: {e.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        _check_private(path, st)
        raw = f.read()
    keks, current = _decode(path, raw)
    return keks, current, _signature(st)


def _check_private(path: Path, st: os.stat_result) -> None:
    """Refuse a ring that anyone but its owner could read or change."""
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"key ring {path} is not a regular file")
    if st.st_uid != os.geteuid():
        raise ConfigError(
            f"key ring {path} is owned by uid {st.st_uid}, but the gateway runs as uid "
            f"{os.geteuid()}: run `chown {os.geteuid()} {path}` (and `chmod 600 {path}`)"
        )
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise ConfigError(
            f"key ring {path} has mode {mode:04o}: group or others can access the keys "
            f"that protect all footage; run `chmod 600 {path}`"
        )


def _decode(path: Path, raw: bytes) -> tuple[list[Kek], str]:
    try:
        doc = json.loads(raw)
        if doc.get("format") != RING_FORMAT:
            raise ValueError(f"format is {doc.get('format')!r}, want {RING_FORMAT!r}")
        keks = [_decode_kek(item) for item in doc["keks"]]
        current = doc["current"]
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as e:
        raise ConfigError(f"key ring {path} is malformed: {e}") from None
    if current not in {k.id for k in keks}:
        raise ConfigError(f"key ring {path} is malformed: current KEK {current!r} is missing")
    if len({k.id for k in keks}) != len(keks):
        raise ConfigError(f"key ring {path} is malformed: duplicate KEK ids")
    return keks, current


def _decode_kek(item: dict) -> Kek:
    key = base64.b64decode(item["key"], validate=True)
    if len(key) != KEK_SIZE or not KEK_ID.match(item["id"]):
        raise ValueError(f"bad KEK entry {item.get('id')!r}")
    if not isinstance(item["created_us"], int):
        raise ValueError(f"KEK {item['id']!r}: created_us must be an integer")
    return Kek(item["id"], item["created_us"], key)


def _encode(keks: list[Kek], current_id: str) -> bytes:
    doc = {
        "format": RING_FORMAT,
        "current": current_id,
        "keks": [
            {"id": k.id, "created_us": k.created_us, "key": base64.b64encode(k.key).decode()}
            for k in keks
        ],
    }
    return (json.dumps(doc, indent=1) + "\n").encode()


def _write_atomic(path: Path, data: bytes, *, replace: bool) -> None:
    """Temp file (O_EXCL, 0600) -> write -> fsync -> rename (or link) -> fsync dir.

    With ``replace=False`` the final step is link(2), which fails with
    FileExistsError instead of clobbering a ring another process just made.
    A crash at any step leaves the old ring (or none) intact.
    """
    tmp = _sibling(path, f".tmp-{secrets.token_hex(6)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
            os.unlink(tmp)
        fsync_dir(path.parent)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


def _sibling(path: Path, suffix: str) -> Path:
    return path.with_name(f".{path.name}{suffix}")


def _signature(st: os.stat_result) -> tuple:
    return (st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)


def move_legacy_ring(old: Path | None, new: Path) -> bool:
    """Move a key ring from where an older release kept it (inside the storage directory)
    to ``new``; True when moved. ConfigError when both exist: which one is real?"""
    if old is None or not os.path.lexists(old):
        return False
    if os.path.lexists(new):
        raise ConfigError(f"two key rings: {old} (where older releases kept it) and {new}; "
                          f"keep the one the catalog's data keys need and set keys.path to it")
    new.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.rename(old, new)
    fsync_dir(new.parent)
    fsync_dir(old.parent)
    return True

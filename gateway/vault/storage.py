"""Where ciphertext lives. A small interface; ``LocalStorage`` is the directory backend.

Procedures (docs/storage.md): a file becomes visible only complete and durable
(write a temp file, fsync, rename, fsync the directory); the catalog row is
committed after that. Files are named by a random segment uid, never by
wall-clock strings. ``gateway.vault.s3.S3Storage`` implements the same calls
on a bucket with Object Lock; ``gateway.vault.backends`` picks one from the config.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path
from typing import Iterator, Protocol

from ..crashpoints import crash_point
from ..fsutil import fsync_dir

UID_RE = re.compile(r"^[0-9a-f]{32}$")
SUFFIX = ".fgs"
TMP_PREFIX = ".tmp-"


class Storage(Protocol):
    """What the services need from a backend. ``put`` is durable and atomic when it
    returns; ``delete`` removes every version and is idempotent (False: nothing was
    there); ``discard`` also removes what an interrupted ``put`` may have left.
    Calls block: the services run them in the runtime's store pool."""

    kind: str     # "local" | "s3"
    locks: bool   # the store itself enforces retention and legal holds (S3 Object Lock)
    #: A delete is round trips (S3): the purge queues it for the store loop, which runs
    #: deletions concurrently, instead of waiting for each (docs/storage.md, "Purge").
    defer_deletes: bool

    def put(self, uid: str, blob: bytes, *, retain_until_us: int | None = None) -> None: ...
    def get(self, uid: str) -> bytes: ...
    def delete(self, uid: str) -> bool: ...
    def discard(self, uid: str) -> None: ...
    def uids(self) -> Iterator[str]: ...  # in uid order
    def size(self, uid: str) -> int: ...
    def sha256(self, uid: str) -> str: ...
    def free_bytes(self) -> int | None: ...  # None: the store has no limit we can see
    def temp_files(self) -> list[Path]: ...
    def strays(self) -> list[str]: ...
    def set_legal_hold(self, uid: str, on: bool) -> None: ...
    def extend_retention(self, uid: str, until_us: int) -> None: ...
    def probe(self) -> None: ...
    def close(self) -> None: ...


class LocalStorage:
    """Sealed segments under ``ROOT/segments/ab/abcdef....fgs`` (ciphertext only)."""

    kind = "local"
    locks = False
    defer_deletes = False

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root) / "segments"
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)

    def path(self, uid: str) -> Path:
        if not UID_RE.match(uid):
            raise ValueError(f"not a segment uid: {uid!r}")
        return self.root / uid[:2] / (uid + SUFFIX)

    def put(self, uid: str, blob: bytes, *, retain_until_us: int | None = None) -> None:
        """Durably create the file; a crash leaves either nothing or a temp file.
        (A directory cannot lock a file until a date: ``retain_until_us`` is ignored.)"""
        final = self.path(uid)
        final.parent.mkdir(exist_ok=True, mode=0o700)
        tmp = final.parent / f"{TMP_PREFIX}{uid}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            try:
                view = memoryview(blob)
                while view:
                    n = os.write(fd, view)
                    view = view[n:]
                crash_point("write.tmp_written")
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError:
            tmp.unlink(missing_ok=True)  # a full disk or an I/O error leaves nothing behind
            raise
        crash_point("write.fsynced")
        os.rename(tmp, final)
        crash_point("write.renamed")
        fsync_dir(final.parent)
        crash_point("write.dir_fsynced")

    def get(self, uid: str) -> bytes:
        return self.path(uid).read_bytes()

    def delete(self, uid: str) -> bool:
        """Unlink and make the removal durable; False when it was already gone."""
        p = self.path(uid)
        try:
            p.unlink()
        except FileNotFoundError:
            return False
        fsync_dir(p.parent)
        return True

    def discard(self, uid: str) -> None:
        """An unacknowledged write: the file and the temp file it may have left."""
        self.delete(uid)
        tmp = self.path(uid).parent / f"{TMP_PREFIX}{uid}"
        try:
            tmp.unlink()
        except FileNotFoundError:
            return
        fsync_dir(tmp.parent)

    def uids(self) -> Iterator[str]:
        """Every sealed segment's uid, in uid order (the scrub walks rows alongside)."""
        for sub in sorted(p for p in self.root.iterdir() if p.is_dir()):
            names = sorted(f.name[: -len(SUFFIX)] for f in sub.iterdir()
                           if f.name.endswith(SUFFIX))
            yield from (n for n in names if UID_RE.match(n))

    def strays(self) -> list[str]:
        """Anything under segments/ that is neither a sealed segment nor a temp file."""
        out: list[Path] = []
        for entry in self.root.iterdir():
            if not entry.is_dir() or entry.is_symlink():
                out.append(entry)
                continue
            for f in entry.iterdir():
                name = f.name
                sealed = name.endswith(SUFFIX) and UID_RE.match(name[: -len(SUFFIX)])
                if not (f.is_file() and not f.is_symlink()
                        and (sealed or name.startswith(TMP_PREFIX))):
                    out.append(f)
        return [str(p) for p in out]

    def temp_files(self) -> list[Path]:
        return [f for sub in self.root.iterdir() if sub.is_dir()
                for f in sub.iterdir() if f.name.startswith(TMP_PREFIX)]

    def size(self, uid: str) -> int:
        return self.path(uid).stat().st_size

    def sha256(self, uid: str) -> str:
        h = hashlib.sha256()
        with open(self.path(uid), "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
        return h.hexdigest()

    def free_bytes(self) -> int:
        return shutil.disk_usage(self.root).free

    def set_legal_hold(self, uid: str, on: bool) -> None:
        """Nothing to mirror: a directory has no legal hold (the catalog's hold is the rule)."""

    def extend_retention(self, uid: str, until_us: int) -> None:
        """Nothing to mirror: a directory has no retention lock."""

    def probe(self) -> None:
        """The directory is there (OSError otherwise)."""
        self.root.stat()

    def close(self) -> None:
        pass

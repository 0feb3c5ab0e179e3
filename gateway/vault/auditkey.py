"""The audit key: 32 random bytes beside the key ring that MAC every audit entry.

The catalog never holds it, so whoever can edit the database file (drop the
triggers, edit an entry, recompute every hash) still cannot make the MACs
fit: ``audit verify``, ``check`` and the running check name the entry.

Creation is the first start's job (``open_audit_key(create=True)``) and keys
the chain in the same step: the new key is written to ``PATH.tmp`` (0600,
fsync), an ``audit.keyed`` entry MACed with it is committed (when the chain
already has entries: an upgraded catalog), and only then is the file renamed
into place (fsync of the directory). So an existing key
always goes with a keyed chain, and ``verify`` may treat a chain with entries
but no MAC as rewritten. A crash between commit and rename is finished at the
next start: the temp key is taken when it verifies the newest MAC, dropped
otherwise. The entries before the key existed are covered by the keyed entry's
``prev_hash``; what was edited *before* that moment only an external anchor
catches.
"""

from __future__ import annotations

import errno
import hmac
import os
import secrets
import stat
from pathlib import Path

from ..audit import entry_mac
from ..catalog import Catalog, audit_log
from ..errors import ConfigError
from ..fsutil import fsync_dir
from ..models import SYSTEM

KEY_SIZE = 32


def read_key(path: Path) -> bytes | None:
    """The key at ``path``; None when there is none. ConfigError when it is unsafe or bad."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise ConfigError(f"audit key {path} is a symlink; keep the file itself there") from None
        raise ConfigError(f"audit key {path} cannot be read: {e.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        mode = stat.S_IMODE(st.st_mode)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or mode & 0o077:
            raise ConfigError(f"audit key {path} must be a regular file of uid {os.geteuid()} "
                              f"with mode 0600 (it is {mode:04o}, uid {st.st_uid})")
        raw = f.read()
    if len(raw) != KEY_SIZE:
        raise ConfigError(f"audit key {path} is {len(raw)} bytes, expected {KEY_SIZE}")
    return raw


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def open_audit_key(db: Catalog, path: Path, *, create: bool, now_us: int) -> bytes | None:
    """Load the audit key into ``db`` (its appends are MACed from now on) and return it.

    ``create`` (the server's start): make it, keying the chain (module doc).
    Without ``create`` a missing key leaves ``db`` unkeyed (None); appends
    then fail once the chain is keyed.
    """
    key = read_key(path)
    tmp = path.with_name(path.name + ".tmp")
    if key is None and create:
        key = _finish_or_create(db, path, tmp, now_us)
    db.audit_key = key
    return key


def _finish_or_create(db: Catalog, path: Path, tmp: Path, now_us: int) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    pending = read_key(tmp)
    newest = audit_log.last_mac(db)
    if pending is not None and newest is not None and hmac.compare_digest(
            newest[2], entry_mac(pending, newest[0], newest[1])):
        os.replace(tmp, path)  # a crash after the keyed entry's commit: finish the rename
        fsync_dir(path.parent)
        return pending
    if newest is not None:
        raise ConfigError(f"the audit log carries MACs but the audit key {path} is missing: "
                          "restore it from where the key ring is kept (audit verify cannot "
                          "vouch for the chain without it)")
    tmp.unlink(missing_ok=True)
    key = secrets.token_bytes(KEY_SIZE)
    _write_private(tmp, key)
    db.audit_key = key
    head_seq, _ = audit_log.head(db)
    if head_seq:  # an upgraded catalog: one keyed entry covers the ones before the key
        audit_log.append(db, now_us, SYSTEM.name, SYSTEM.role, "audit.keyed", "audit",
                         "audit key created", {"covers_entries_up_to": head_seq})
    os.replace(tmp, path)
    fsync_dir(path.parent)
    return key

"""Move every data key between the key ring and sealed mode, re-wrapping only.

No video file is read or written: a segment's ciphertext is sealed under its
data key, and only the data key's *wrap* (one catalog row) changes. Offline:
the gateway must be stopped (a running ring-mode gateway would keep wrapping
new segments under the ring). Idempotent: an interrupted run is finished by
running it again. The old key material is destroyed at the end, once no data
key needs it -- the key ring file when moving to sealed (otherwise a copy of it
would still open everything), the epoch files when moving to the ring.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from typing import Sequence

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from ..catalog import Catalog, audit_log, segments as seg_sql
from ..clock import Clock, SystemClock
from ..config import Settings
from ..errors import ConfigError, Conflict
from ..fsutil import fsync_dir
from ..models import Actor
from ..vault.auditkey import open_audit_key
from ..vault.keyring import KeyRing
from ..vault.sealed import open_data_key, open_director_key
from ..vault.sealed_store import SealedKeys
from ..vault.modes import open_keys

BATCH = 1000


@dataclass
class MigrationReport:
    to: str
    dry_run: bool
    data_keys: int = 0
    rewrapped: int = 0
    created_epoch: str | None = None
    destroyed: list[str] = field(default_factory=list)  # paths of key files destroyed
    would_destroy: list[str] = field(default_factory=list)


def unlock_offline(keys: SealedKeys, credentials: Sequence[tuple[str, str]]
                   ) -> dict[str, X25519PrivateKey]:
    """Epoch private keys from (director, passphrase) pairs, as the server's unlock does."""
    given = {}
    for name, passphrase in credentials:
        director = keys.director(name)
        if director is None:
            raise ConfigError(f"director {name} has no key file in {keys.directors_dir}")
        given[name] = keys.shares_of(name, open_director_key(director, passphrase))
    if len(given) < keys.quorum:
        raise Conflict(f"keys.unlock_quorum is {keys.quorum}: give the passphrases of "
                       f"{keys.quorum} distinct directors (got {len(given)})", code="quorum")
    return keys.rebuild(given)


def refuse_if_running(settings: Settings) -> None:
    """The gateway must be stopped: refuse when something answers on server.listen."""
    host = settings.server.host
    host = "127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host
    try:
        with socket.create_connection((host, settings.server.port), timeout=0.5):
            pass
    except OSError:
        return
    raise Conflict(f"something is listening on {settings.server.listen} (is the gateway "
                   "running?): stop the gateway before migrating its keys", code="running")


def migrate(settings: Settings, to: str, *, dry_run: bool, actor: Actor,
            credentials: Sequence[tuple[str, str]] = (), clock: Clock | None = None
            ) -> MigrationReport:
    """Re-wrap every data key into mode ``to`` ("sealed" or "ring"); see the module doc."""
    if to not in ("sealed", "ring"):
        raise ValueError(to)
    if settings.keys.mode != to:
        raise ConfigError(f"set keys.mode = \"{to}\" in the config first (it says "
                          f"{settings.keys.mode!r}); the gateway refuses to start until the "
                          "migration is done")
    clock = clock or SystemClock()
    if not settings.catalog_path.exists():
        raise ConfigError(f"no catalog at {settings.catalog_path}")
    db = Catalog.open(settings.catalog_path)
    try:
        open_audit_key(db, settings.audit_key_path, create=False, now_us=0)  # MACed entries
        rep = MigrationReport(to, dry_run)
        if to == "sealed":
            _to_sealed(settings, db, rep, clock)
        else:
            _to_ring(settings, db, rep, clock, credentials)
        if not dry_run:
            audit_log.append(db, clock.now_us(), actor.name, actor.role, "keys.migrate",
                             f"keys:{to}", "key mode migration",
                             {"to": to, "rewrapped": rep.rewrapped,
                              "created_epoch": rep.created_epoch,
                              "destroyed": [os.path.basename(p) for p in rep.destroyed]})
            db.checkpoint()  # old wraps leave the WAL (secure_delete zeroes their pages)
        return rep
    finally:
        db.close()


def _to_sealed(settings: Settings, db: Catalog, rep: MigrationReport, clock: Clock) -> None:
    path = settings.keyring_path
    if not os.path.lexists(path):
        raise ConfigError(f"no key ring at {path}: nothing to migrate")
    ring = KeyRing.open(path, create=False)
    rows = seg_sql.keys_wrapped_by(db, ring.ids())
    rep.data_keys = len(rows)
    plain = [(r, ring.unwrap(r.kek_id, r.wrapped, key_id=r.key_id)) for r in rows]  # all or none
    if rep.dry_run:
        try:
            SealedKeys.open(settings.sealed_path, quorum=settings.keys.unlock_quorum,
                            idle_us=1, max_us=1, create=False)
        except ConfigError:
            probe = SealedKeys(settings.sealed_path, settings.keys.unlock_quorum, 1, 1)
            if len(probe.directors()) < settings.keys.unlock_quorum:
                raise ConfigError(f"sealed mode needs keys.unlock_quorum = "
                                  f"{settings.keys.unlock_quorum} enrolled director(s) first "
                                  "(footage-gateway keys enroll)") from None
            rep.created_epoch = "(a new epoch)"
        rep.would_destroy.append(str(path))
        return
    before = set()
    if (settings.sealed_path / "epochs").is_dir():
        before = {p.stem for p in (settings.sealed_path / "epochs").glob("*.epoch")}
    sealed = open_keys(settings, create=True, clock=clock)
    if sealed.current_id not in before:
        rep.created_epoch = sealed.current_id
    for i in range(0, len(plain), BATCH):
        updates = [(r.segment_id, *sealed.wrap(dk, key_id=r.key_id)) for r, dk in plain[i:i + BATCH]]
        seg_sql.replace_wrapped(db, updates)
        rep.rewrapped += len(updates)
    if not set(ring.ids()) & seg_sql.kek_ids_in_use(db):
        rep.destroyed += _destroy_ring(path)


def _to_ring(settings: Settings, db: Catalog, rep: MigrationReport, clock: Clock,
             credentials: Sequence[tuple[str, str]]) -> None:
    sealed = SealedKeys.open(settings.sealed_path, quorum=settings.keys.unlock_quorum,
                             idle_us=1, max_us=1, create=False)
    keys = unlock_offline(sealed, credentials)
    rows = seg_sql.keys_wrapped_by(db, sealed.ids())
    rep.data_keys = len(rows)
    closed = sorted({r.kek_id for r in rows if r.kek_id not in keys})
    if closed:
        raise Conflict(f"{sum(r.kek_id in closed for r in rows)} data key(s) are under epochs "
                       f"these directors cannot open ({', '.join(closed)}): give the "
                       "passphrases of directors who hold shares of them", code="quorum")
    plain = [(r, open_data_key(keys[r.kek_id], r.kek_id, r.wrapped, r.key_id)) for r in rows]
    epoch_files = [str(sealed.epochs_dir / f"{e}.epoch") for e in sealed.ids()]
    if rep.dry_run:
        rep.would_destroy += epoch_files
        return
    ring = KeyRing.open(settings.keyring_path, create=True, clock=clock)
    for i in range(0, len(plain), BATCH):
        updates = [(r.segment_id, *ring.wrap(dk, key_id=r.key_id)) for r, dk in plain[i:i + BATCH]]
        seg_sql.replace_wrapped(db, updates)
        rep.rewrapped += len(updates)
    if not set(sealed.ids()) & seg_sql.kek_ids_in_use(db):
        for p in epoch_files:
            try:
                os.unlink(p)
                rep.destroyed.append(p)
            except FileNotFoundError:
                pass
        fsync_dir(sealed.epochs_dir)


def _destroy_ring(path) -> list[str]:
    gone = []
    for p in (path, path.with_name(f".{path.name}.lock")):
        try:
            os.unlink(p)
            gone.append(str(p))
        except FileNotFoundError:
            pass
    fsync_dir(path.parent)
    return gone

"""The shared resources every operation runs on: no operations live here.

A ``Runtime`` is the catalog (one writer thread, one reader), the key ring,
the storage, the cameras' policies, the clock, the metrics and the media
thread pool. The server opens one at start-up; the CLI opens one per command.
The operations are module functions that take it as their first argument:
``gateway.segments`` (ingest, read, purge, stats), ``gateway.holds``,
``gateway.keys``.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import AsyncIterator

from .budget import Budget
from .catalog import AsyncCatalog, Catalog
from .catalog import segments as seg_sql
from .clock import Clock
from .config import CameraSettings, Settings
from .metrics import Metrics
from .policy.loading import Policy, retention_seconds
from .timeguard import GuardState
from .vault.auditkey import open_audit_key
from .vault.keyring import KeyRing, move_legacy_ring
from .vault.modes import check_mode, open_keys
from .vault.sealed_store import SealedKeys
from .vault.backends import open_storage
from .vault.storage import Storage

log = logging.getLogger(__name__)


def adopt_legacy_ring(settings: Settings) -> None:
    """A ring an older release kept inside the storage directory moves beside it."""
    if move_legacy_ring(settings.legacy_keyring_path, settings.keyring_path):
        log.warning("moved the key ring from %s to %s: a copy of the storage directory no "
                    "longer carries the keys (set keys.path to choose another place)",
                    settings.legacy_keyring_path, settings.keyring_path)


@dataclass
class Runtime:
    settings: Settings
    catalog: AsyncCatalog
    keyring: KeyRing | SealedKeys  # keys.mode: ring | sealed (gateway.vault.modes)
    storage: Storage
    policies: dict[str, Policy]   # camera id -> its policy
    clock: Clock
    metrics: Metrics
    pool: ThreadPoolExecutor      # video, crypto and hashing: never on the event loop
    wake_purger: asyncio.Event | None = None
    #: Set after a hold changes: the notifier (gateway.notify) looks for events now.
    wake_notifier: asyncio.Event | None = None
    #: (seq, hash) up to which the audit chain was last verified (gateway.segments.stats).
    audit_ok_upto: tuple[int, str] | None = None
    #: Whether the wall clock is trusted (gateway.timeguard), as the purge loop last saw it.
    clock_guard: GuardState | None = None
    #: width x height x frames of the uploads being decoded (media.max_pixel_frames_in_flight).
    pixel_frames: Budget | None = None
    #: Whether a MACed entry was among them (so every later one must carry a MAC).
    audit_keyed: bool = False
    #: export id -> (data key, key id) sealing its package: in memory only (holds.exports).
    export_keys: dict[int, tuple[bytes, bytes]] = field(default_factory=dict)
    #: Storage calls (disk fsyncs, S3 requests): apart from ``pool``, so a slow store
    #: never waits behind video and video never waits behind the store.
    store_pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=8, thread_name_prefix="store"))
    #: Set when the store's bookkeeping has work (gateway.segments.store_loop).
    wake_store: asyncio.Event = field(default_factory=asyncio.Event)

    async def cpu(self, fn, *args):
        """Run ``fn(*args)`` in the media pool."""
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    async def io(self, fn, *args):
        """Run ``fn(*args)`` (a storage call) in the store pool."""
        return await asyncio.get_running_loop().run_in_executor(self.store_pool, fn, *args)

    def retention_s(self, camera: CameraSettings) -> int:
        return retention_seconds(camera, self.policies[camera.id])


@asynccontextmanager
async def open_runtime(settings: Settings, clock: Clock, policies: dict[str, Policy],
                       metrics: Metrics, *, server: bool,
                       wake_purger: asyncio.Event | None = None) -> AsyncIterator[Runtime]:
    """The runtime on the catalog, key ring and storage; closed on exit.

    ``server=True`` (the gateway itself) creates what is missing; the app then
    runs the start-up recovery (gateway.segments.recovery). The CLI passes
    False: the key ring must exist, and no recovery runs because a running
    server may own in-flight files.
    """
    if server:
        settings.storage_path.mkdir(parents=True, exist_ok=True, mode=0o700)
        adopt_legacy_ring(settings)
    keyring = open_keys(settings, create=server, clock=clock)
    catalog = Catalog.open(settings.catalog_path)
    if server:
        try:
            check_mode(settings.keys.mode, seg_sql.kek_ids_in_use(catalog))
        except BaseException:
            catalog.close()
            raise
    try:  # off the loop: a bucket that does not answer must not freeze it
        storage = await asyncio.get_running_loop().run_in_executor(
            None, lambda: open_storage(settings, check=server))
    except BaseException:
        catalog.close()
        raise
    db = AsyncCatalog(catalog)
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="media")
    try:
        # The server makes the audit key on its first start (and keys the chain);
        # the CLI loads it when it exists, so its audit entries are MACed too.
        await db.run(lambda c: open_audit_key(c, settings.audit_key_path, create=server,
                                              now_us=clock.now_us()))
        svc = Runtime(settings, db, keyring, storage, policies, clock, metrics, pool,
                      wake_purger,
                      pixel_frames=Budget(settings.media.max_pixel_frames_in_flight))
        try:
            yield svc
        finally:
            svc.store_pool.shutdown(wait=True)
    finally:
        pool.shutdown(wait=True)
        db.close()
        storage.close()

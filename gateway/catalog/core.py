"""Connection, pragmas, numbered migrations and the single-writer executor."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)

#: How long a write waits for another writer (a CLI command) before failing.
WRITER_BUSY_MS = 30_000
#: How long the truncating checkpoint waits for readers. Short, because it runs
#: on the one writer thread: a long reader (check, report, a backup) must never
#: hold up ingest. A busy checkpoint is retried by the purge loop.
CHECKPOINT_BUSY_MS = 50

#: (number, file name) of every migration, by number. ``PRAGMA user_version`` holds the number
#: of the last one applied, so numbers may have gaps (work merged from parallel branches).
MIGRATIONS = sorted(
    (int(p.name.split("_", 1)[0]), p.name)
    for p in resources.files(__package__).joinpath("migrations").iterdir()
    if p.name.endswith(".sql")
)
SCHEMA_VERSION = MIGRATIONS[-1][0]


class Catalog:
    """One SQLite connection with the pragmas our invariants rely on.

    ``audit_key`` (set by whoever loaded it, gateway.vault.auditkey) MACs every
    audit entry this connection appends; the key itself is never stored here.
    """

    audit_key: bytes | None = None
    #: Data keys erased since the WAL was last truncated: they may still sit in
    #: the -wal file (a reader blocked the checkpoint). 0 is the normal state.
    wal_erased_pending: int = 0

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        wal = self.path.with_name(self.path.name + "-wal")
        # A WAL left by a crash may hold a key erased just before it: fold it in first.
        left_over = wal.exists() and wal.stat().st_size > 0
        self.conn = sqlite3.connect(
            str(self.path), isolation_level=None, check_same_thread=False,
            timeout=WRITER_BUSY_MS / 1000
        )
        self.conn.row_factory = sqlite3.Row
        c = self.conn
        c.execute("PRAGMA journal_mode=WAL")
        # An erased data key must not linger in freed pages of the database file.
        c.execute("PRAGMA secure_delete=ON")
        c.execute("PRAGMA synchronous=FULL")
        c.execute("PRAGMA foreign_keys=ON")
        self._migrate()
        if left_over:
            self.wal_erased_pending = 1  # unknown how many: at least say so
            self.checkpoint()

    @classmethod
    def open(cls, path: Path | str) -> "Catalog":
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not p.exists():
            # SQLite gives the -wal and -shm files the main file's mode: 0600 for all three.
            os.close(os.open(p, os.O_WRONLY | os.O_CREAT, 0o600))
        return cls(p)

    def _migrate(self) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise RuntimeError(
                f"catalog {self.path} has schema version {version}, newer than this "
                f"release ({SCHEMA_VERSION}); upgrade footage-gateway"
            )
        for n, name in (m for m in MIGRATIONS if m[0] > version):
            sql = resources.files(__package__).joinpath("migrations", name).read_text()
            try:
                self.conn.executescript(f"BEGIN IMMEDIATE;\n{sql}\n;PRAGMA user_version={n};COMMIT;")
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction; commits on success, rolls back on error."""
        c = self.conn
        if c.in_transaction:
            yield c
            return
        c.execute("BEGIN IMMEDIATE")
        try:
            yield c
        except BaseException:
            c.execute("ROLLBACK")
            raise
        else:
            c.execute("COMMIT")

    def checkpoint(self) -> bool:
        """Fold the WAL into the main file and truncate it, so erased keys leave no copy.

        Waits at most ``CHECKPOINT_BUSY_MS`` for readers. True when the WAL was
        truncated (``wal_erased_pending`` is then 0); False when a reader kept
        it: the caller retries later (gateway.segments.purge.retry_checkpoint).
        """
        c = self.conn
        c.execute(f"PRAGMA busy_timeout={CHECKPOINT_BUSY_MS}")
        try:
            busy, log_frames, moved = c.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            c.execute(f"PRAGMA busy_timeout={WRITER_BUSY_MS}")
        if busy:
            if self.wal_erased_pending:
                log.warning("WAL checkpoint busy (a reader holds a snapshot; %d of %d frames "
                            "folded): %d erased data key(s) may still be in %s-wal; retrying",
                            moved, log_frames, self.wal_erased_pending, self.path.name)
            return False
        self.wal_erased_pending = 0
        return True

    def close(self) -> None:
        try:
            if not self.checkpoint() and self.wal_erased_pending:
                log.error("closing with %d erased data key(s) possibly still in the WAL; the "
                          "next start folds it in", self.wal_erased_pending)
        finally:
            self.conn.close()


class ReadOnlyCatalog:
    """A second, read-only connection: long summaries (metrics, reports) run here so
    they never hold up the writer (WAL lets readers and the writer work at once)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True,
                                    check_same_thread=False, timeout=30)
        self.conn.row_factory = sqlite3.Row

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        raise RuntimeError("read-only catalog connection: writes go through the writer")
        yield  # pragma: no cover

    def close(self) -> None:
        self.conn.close()


class AsyncCatalog:
    """Runs catalog functions on one thread: one writer, never on the event loop.

    ``read`` runs read-only functions on a second thread and connection.
    """

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="catalog")
        self._reader: ReadOnlyCatalog | None = None
        self._read_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="catalog-read")

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a read-only query function off the writer thread."""
        def call():
            if self._reader is None:
                self._reader = ReadOnlyCatalog(self.catalog.path)
            return fn(self._reader, *args)
        return await asyncio.get_running_loop().run_in_executor(self._read_pool, call)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        fut = loop.run_in_executor(self._pool, lambda: fn(self.catalog, *args))
        # A cancelled handler must not abandon a commit half-way: the thread
        # finishes the call regardless; shielding keeps the result observable.
        return await asyncio.shield(fut)

    def close(self) -> None:
        self._read_pool.shutdown(wait=True)
        if self._reader is not None:
            self._reader.close()
        self._pool.shutdown(wait=True)
        self.catalog.close()

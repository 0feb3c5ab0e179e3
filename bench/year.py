"""A year of footage at a 20-camera branch: restart, audit chain, report, dry-run, purge lag, size.

    .venv/bin/python bench/year.py --scale 0.1    # 2 cameras: ~1 M receipts, a few minutes
    nice -n 10 .venv/bin/python bench/year.py --dir /work/yearbench/full   # 20 cameras, ~7.5 GiB
    .venv/bin/python bench/year.py --dir /work/yearbench/full --reuse   # measure again, no seeding

What it does, in one process:

1. Seeds (unless ``--reuse``) a real catalog (``Catalog.open``: the real schema,
   migrations and pragmas) for ``20 x scale`` cameras cutting 60 s segments:
   a year of purges (one purge receipt and the exact audit entry
   ``receipts.finish_purge`` writes, with its real hash and HMAC under a real
   audit key, 525,600 per camera), the checkpoint the running gateway records
   every hour (``audit.checkpoint``, MACed), a few segment views a day, and
   35 days of kept segments (50,400 per camera) with their data keys and an
   empty file each (start-up recovery lists every file; an empty one is
   enough for it). Bulk ``executemany`` in large transactions, no journal.
2. Restart to serving: ``footage-gateway serve`` on the catalog, timed from
   the process start until ``/healthz`` answers (median of ``--restarts``),
   against the same on an empty catalog; and the start-up phases timed one by
   one in this process (recovery, the audit check from the checkpoint, ...).
3. The audit chain: the full walk (``audit verify``'s), then one hour of new
   entries appended and the incremental check from the newest checkpoint
   (rows read counted), as the start-up and hourly checks do.
4. ``footage-gateway report`` and ``purge --dry-run`` as subprocesses, against
   the CLI's own start-up (``--help``).
5. Purge lag: ``--purge-rate`` deadlines/s for ``--window`` s fall due on this
   catalog; the real ``purge_loop`` runs with the stats loop and ingest
   commits beside it, against the bare-timer floor (as bench/purge.py).
6. Size: the catalog file and each table with its indexes (``dbstat``), per
   camera-year.

Prints a table and writes bench/results/year.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from gateway.audit import (CHECKPOINT, GENESIS, canonical_detail,  # noqa: E402
                           checkpoint_detail, entry_hash, entry_mac)
from gateway.catalog import Catalog, audit_log  # noqa: E402
from gateway.catalog import segments as seg_sql  # noqa: E402
from gateway.catalog.core import ReadOnlyCatalog  # noqa: E402
from gateway.clock import US, SystemClock  # noqa: E402
from gateway.config import load_settings  # noqa: E402
from gateway.loops import STATS_INTERVAL_S, periodic, purge_loop  # noqa: E402
from gateway.metrics import Metrics  # noqa: E402
from gateway.models import SYSTEM  # noqa: E402
from gateway.policy.loading import camera_policies  # noqa: E402
from gateway.runtime import open_runtime  # noqa: E402
from gateway.segments.purge import due_plan  # noqa: E402
from gateway.segments.recovery import recover  # noqa: E402
from gateway.segments.stats import CHECKPOINT_EVERY, refresh_stats  # noqa: E402
from gateway.vault import format as fmt  # noqa: E402
from gateway.vault.auditkey import open_audit_key, read_key  # noqa: E402
from gateway.vault.keyring import KeyRing  # noqa: E402
from gateway.vault.storage import LocalStorage  # noqa: E402

from purge import summarize, timer_floor  # noqa: E402  (bench/purge.py)

RESULTS = HERE / "results"
FULL_CAMERAS = 20
SEGMENT_S = 60
YEAR_DAYS = 365
KEPT_DAYS = 35
RETENTION_US = KEPT_DAYS * 86400 * US
VIEWS_PER_DAY = 6
CHUNK = 100_000
TARGET_RESTART_S = 5.0
TARGET_P99_S = 2.0
POLICY = """id = "year35d"
title = "Benchmark policy (35 days)"
jurisdiction = "Benchmark"
[retention]
minimum = "35d"
minimum_source = "bench"
maximum = "90d"
maximum_source = "bench"
hold_request_grace = "72h"
hold_review = "90d"
"""


# ------------------------------------------------------------------ layout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(root: Path, cameras: list[str], port: int) -> Path:
    (root / "policies").mkdir(parents=True, exist_ok=True)
    (root / "policies" / "year35d.toml").write_text(POLICY)
    lines = [f'policies_dir = "{root / "policies"}"', "[server]", f'listen = "127.0.0.1:{port}"',
             "[storage]", f'path = "{root / "data"}"', "min_free_bytes = 0"]
    for c in cameras:
        lines += ["[[cameras]]", f'id = "{c}"', f'name = "{c}"', 'policy = "year35d"',
                  'zone = "entrance"', 'purpose = "physical security of the entrance"',
                  f'push_token = "{"t" * 32}{c}"']
    cfg = root / "config.toml"
    cfg.write_text("\n".join(lines) + "\n")
    return cfg


def camera_ids(scale: float) -> list[str]:
    return [f"cam-{i:02d}" for i in range(max(1, round(FULL_CAMERAS * scale)))]


# ------------------------------------------------------------------ seeding


class Seeder:
    """Rows straight into the real schema; the audit chain hashed and MACed as the gateway does."""

    def __init__(self, cfg: Path) -> None:
        settings = load_settings(cfg)
        self.settings = settings
        keyring = KeyRing.open(settings.keyring_path, create=True)
        self.kek_id = keyring.current_id
        self.wrapped_len = len(keyring.wrap(fmt.new_data_key(), key_id=fmt.new_key_id())[1])
        db = Catalog.open(settings.catalog_path)  # the real schema, migrations and all
        self.key = open_audit_key(db, settings.audit_key_path, create=True, now_us=0)
        db.close()
        self.storage = LocalStorage(settings.storage_path)
        self.conn = sqlite3.connect(str(settings.catalog_path), isolation_level=None)
        c = self.conn
        # A bulk load, not the product's write path: durability is not the point here.
        c.execute("PRAGMA journal_mode=OFF")
        c.execute("PRAGMA synchronous=OFF")
        c.execute("PRAGMA cache_size=-1500000")  # 1.5 GiB: the random-key indexes stay cached
        self.seq, self.prev, self.checkpointed = 0, GENESIS, 0
        self.audit_rows: list[tuple] = []
        self.receipt_rows: list[tuple] = []
        self.rng = random.Random(1)

    def audit(self, at_us: int, actor: str, role: str, action: str, obj: str, reason: str,
              detail: dict) -> None:
        self.seq += 1
        text = canonical_detail(detail)
        h = entry_hash(self.prev, self.seq, at_us, actor, role, action, obj, reason, text)
        self.audit_rows.append((self.seq, at_us, actor, role, action, obj, reason, text,
                                self.prev, h, entry_mac(self.key, self.seq, h)))
        self.prev = h

    def purged(self, cameras: list[str], t0_us: int, minutes: int) -> None:
        """A year of purges from t0: per minute and camera, a receipt and its audit entry."""
        step, rng = SEGMENT_S * US, self.rng
        next_view = t0_us
        for m in range(minutes):
            for cam in cameras:
                end = t0_us + m * step - RETENTION_US + rng.randrange(step)
                deadline = end + RETENTION_US
                destroyed = deadline + int(rng.expovariate(1 / 0.05) * US)  # ~50 ms lag
                uid, sha = os.urandom(16).hex(), os.urandom(32).hex()
                self.receipt_rows.append((uid, cam, end - step, end, deadline, destroyed, sha,
                                          "retention deadline passed", deadline))
                self.audit(destroyed, SYSTEM.name, SYSTEM.role, "purge", f"segment:{uid}",
                           "retention deadline passed",
                           {"camera": cam, "deadline_us": deadline, "released_us": deadline,
                            "destroyed_at_us": destroyed, "sha256": sha})
            at = t0_us + m * step
            if at >= next_view:  # a few views a day, by the director
                next_view = at + 86400 * US // VIEWS_PER_DAY
                self.audit(at, "dana", "director", "segment.view",
                           f"segment:{os.urandom(16).hex()}", "incident check",
                           {"camera": cameras[m % len(cameras)]})
            # The hourly check records a checkpoint once 1000 entries are past the last one
            # (gateway.segments.stats.CHECKPOINT_EVERY): every hour at 20 cameras.
            if m % 60 == 59 and self.seq - self.checkpointed >= CHECKPOINT_EVERY:
                self.checkpointed = self.seq
                self.audit(at + 1, SYSTEM.name, SYSTEM.role, CHECKPOINT, "audit",
                           "chain verified", checkpoint_detail(self.seq, self.prev, False))
            if len(self.audit_rows) >= CHUNK:
                self.flush()
        self.flush()

    def flush(self) -> None:
        c = self.conn
        c.execute("BEGIN")
        c.executemany("INSERT INTO purge_receipts (segment_uid, camera, start_us, end_us, "
                      "deadline_us, destroyed_at_us, sha256, reason, released_us) "
                      "VALUES (?,?,?,?,?,?,?,?,?)", self.receipt_rows)
        c.executemany("INSERT INTO audit (seq, at_us, actor, role, action, object, reason, "
                      "detail, prev_hash, hash, mac) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                      self.audit_rows)
        c.execute("COMMIT")
        self.audit_rows.clear()
        self.receipt_rows.clear()

    def kept(self, cameras: list[str], t0_us: int, minutes: int) -> int:
        """Kept segments from t0 (deadline = end + 35 days), data keys, an empty file each."""
        step, rng, n = SEGMENT_S * US, self.rng, 0
        seg_rows, key_rows = [], []
        for m in range(minutes):
            for cam in cameras:
                end = t0_us + m * step + rng.randrange(step)
                uid = os.urandom(16).hex()
                seg_rows.append((uid, cam, "year35d", end - step, end, end + RETENTION_US,
                                 24_000_000 + rng.randrange(4_000_000), os.urandom(32).hex(),
                                 900, 1920, 1080, 1, end, os.urandom(32).hex(), "rtcp"))
                key_rows.append((uid, os.urandom(16), self.kek_id, os.urandom(self.wrapped_len)))
                self.touch(uid)
            if len(seg_rows) >= CHUNK:
                n += self._flush_kept(seg_rows, key_rows)
        return n + self._flush_kept(seg_rows, key_rows)

    def touch(self, uid: str) -> None:
        p = self.storage.path(uid)
        try:
            os.close(os.open(p, os.O_WRONLY | os.O_CREAT, 0o600))
        except FileNotFoundError:
            p.parent.mkdir(mode=0o700)
            os.close(os.open(p, os.O_WRONLY | os.O_CREAT, 0o600))

    def _flush_kept(self, seg_rows: list, key_rows: list) -> int:
        c = self.conn
        c.execute("BEGIN")
        c.executemany(
            "INSERT INTO segments (uid, camera, policy, start_us, end_us, deadline_us, bytes, "
            "sha256, frames, width, height, masked, state, created_us, source_sha256, "
            "time_source) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,'stored',?,?,?)", seg_rows)
        c.executemany("INSERT INTO data_keys (segment_id, key_id, kek_id, wrapped) "
                      "SELECT id, ?, ?, ? FROM segments WHERE uid = ?",
                      [(k, kek, w, uid) for uid, k, kek, w in key_rows])
        c.execute("COMMIT")
        n = len(seg_rows)
        seg_rows.clear()
        key_rows.clear()
        return n

    def close(self) -> None:
        self.conn.execute("PRAGMA journal_mode=WAL")  # as the gateway keeps it
        self.conn.close()


def seed(cfg: Path, cameras: list[str], now_us: int, days: float) -> dict:
    t = time.perf_counter()
    s = Seeder(cfg)
    kept_from = now_us - KEPT_DAYS * 86400 * US
    # Receipts for the year before now: destroyed at deadline, 35 days after each end.
    s.purged(cameras, now_us - int(days * 86400) * US, int(days * 1440))
    t_purged = time.perf_counter() - t
    kept = s.kept(cameras, kept_from, KEPT_DAYS * 1440 - 10)  # the last 10 min: not yet ended
    s.close()
    return {"seed_s": round(time.perf_counter() - t, 1), "seed_purged_s": round(t_purged, 1),
            "audit_entries": s.seq, "kept_segments": kept}


# ------------------------------------------------------------------ measurements


def gateway_cmd(*args: str) -> list[str]:
    return [sys.executable, "-c", "from gateway.cli import main; main()", *args]


def run_env() -> dict:
    return {**os.environ, "PYTHONPATH": str(HERE.parent)}


def time_serve(cfg: Path, port: int, log: Path) -> float:
    """Seconds from starting ``footage-gateway serve`` until /healthz answers 200."""
    url = f"http://127.0.0.1:{port}/healthz"
    with open(log, "ab") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(gateway_cmd("serve", "--config", str(cfg)), env=run_env(),
                                stdout=out, stderr=out)
        try:
            while True:
                if proc.poll() is not None:
                    raise SystemExit(f"serve exited with {proc.returncode}; see {log}")
                try:
                    with urllib.request.urlopen(url, timeout=1) as r:
                        if r.status == 200:
                            return time.perf_counter() - t0
                except OSError:
                    pass
                time.sleep(0.02)  # polling for readiness, the measurement's resolution
        finally:
            proc.terminate()
            proc.wait(timeout=120)


def time_cli(*args: str) -> tuple[float, str]:
    t = time.perf_counter()
    r = subprocess.run(gateway_cmd(*args), env=run_env(), capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {r.stdout}{r.stderr}")
    return time.perf_counter() - t, r.stdout


def startup_phases(cfg: Path) -> dict:
    """What start-up does, timed one step at a time in this process (no writes expected)."""
    settings = load_settings(cfg)
    out = {}
    t = time.perf_counter()
    db = Catalog.open(settings.catalog_path)
    out["catalog_open_s"] = time.perf_counter() - t
    key = open_audit_key(db, settings.audit_key_path, create=False, now_us=0)
    t = time.perf_counter()
    seg_sql.kek_ids_in_use(db)
    out["kek_ids_in_use_s"] = time.perf_counter() - t
    t = time.perf_counter()
    counts = recover(db, LocalStorage(settings.storage_path))
    out["recover_s"] = time.perf_counter() - t
    out["recover_counts"] = counts
    t = time.perf_counter()
    for cam in settings.cameras:
        seg_sql.retention_groups(db, cam.id)
    out["reconcile_deadlines_reads_s"] = time.perf_counter() - t
    t = time.perf_counter()
    seg_sql.camera_stats(db)
    due_plan(db, SystemClock().now_us())
    out["stats_gauges_s"] = time.perf_counter() - t
    t = time.perf_counter()
    check = audit_log.check_chain(db, key, since_checkpoint=True)
    out["audit_from_checkpoint_s"] = time.perf_counter() - t
    out["audit_from_checkpoint_rows"] = check.result.entries
    db.close()
    return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in out.items()}


class Counting:
    """Wraps audit_log.entries to count the rows a chain check reads."""

    def __init__(self) -> None:
        self.rows, self.real = 0, audit_log.entries

    def __call__(self, db, since_seq=0, limit=-1):
        for e in self.real(db, since_seq, limit):
            self.rows += 1
            yield e

    def __enter__(self):
        audit_log.entries = self
        return self

    def __exit__(self, *exc):
        audit_log.entries = self.real


def audit_checks(cfg: Path, cameras: list[str], full: bool) -> dict:
    settings = load_settings(cfg)
    key = read_key(settings.audit_key_path)
    out: dict = {}
    if full:
        ro = ReadOnlyCatalog(settings.catalog_path)
        t = time.perf_counter()
        check = audit_log.check_chain(ro, key, since_checkpoint=False)
        out["full_s"] = round(time.perf_counter() - t, 2)
        out["full_entries"] = check.verified_upto
        out["full_ok"] = check.result.ok
        ro.close()
    # One hour of new entries, appended as the gateway appends them (one commit each).
    db = Catalog.open(settings.catalog_path)
    db.audit_key = key
    now = SystemClock().now_us()
    t = time.perf_counter()
    n_new = len(cameras) * 60
    for i in range(n_new):
        audit_log.append(db, now + i, SYSTEM.name, SYSTEM.role, "purge",
                         f"segment:{os.urandom(16).hex()}", "retention deadline passed",
                         {"camera": cameras[i % len(cameras)], "deadline_us": now,
                          "released_us": now, "destroyed_at_us": now + i,
                          "sha256": os.urandom(32).hex()})
    out["append_hour_s"] = round(time.perf_counter() - t, 2)
    out["appended"] = n_new
    db.close()
    ro = ReadOnlyCatalog(settings.catalog_path)
    with Counting() as counted:
        t = time.perf_counter()
        check = audit_log.check_chain(ro, key, since_checkpoint=True)
        out["incremental_s"] = round(time.perf_counter() - t, 3)
    out["incremental_rows_read"] = counted.rows
    out["incremental_ok"] = check.result.ok
    out["chain_entries"] = check.verified_upto
    ro.close()
    return out


async def purge_lag(cfg: Path, cameras: list[str], rate: float, window_s: float,
                    floor_s: float) -> dict:
    """The real purge loop on this catalog: ``rate`` deadlines/s for ``window_s``."""
    settings = load_settings(cfg)
    storage = LocalStorage(settings.storage_path)
    clock = SystemClock()
    t0 = clock.now_us() + int((floor_s + 8) * US)
    n = int(rate * window_s)
    window = [(os.urandom(16).hex(), cameras[k % len(cameras)], t0 + int(k / rate * US))
              for k in range(n)]
    db = Catalog.open(settings.catalog_path)
    ring = KeyRing.open(settings.keyring_path, create=False)
    rows = []
    for uid, cam, deadline in window:
        end = deadline - RETENTION_US
        kid = fmt.new_key_id()
        kek, wrapped = ring.wrap(fmt.new_data_key(), key_id=kid)
        rows.append((uid, cam, end, deadline, kid, kek, wrapped))
        storage.path(uid).parent.mkdir(exist_ok=True, mode=0o700)
        storage.path(uid).write_bytes(b"\0" * 4096)
    with db.tx() as c:
        c.executemany("INSERT INTO segments (uid, camera, policy, start_us, end_us, deadline_us, "
                      "bytes, sha256, frames, width, height, masked, state, created_us) "
                      "VALUES (?,?,'year35d',?,?,?,4096,'00',900,1920,1080,1,'stored',?)",
                      [(u, c_, e - SEGMENT_S * US, e, d, e) for u, c_, e, d, *_ in rows])
        c.executemany("INSERT INTO data_keys (segment_id, key_id, kek_id, wrapped) "
                      "SELECT id, ?, ?, ? FROM segments WHERE uid = ?",
                      [(k, kek, w, u) for u, _c, _e, _d, k, kek, w in rows])
    db.close()
    floor = await timer_floor([t0 - int((floor_s + 2) * US) + int(k / rate * US)
                               for k in range(int(rate * floor_s))])
    async with open_runtime(settings, clock, camera_policies(settings), Metrics(),
                            server=True, wake_purger=asyncio.Event()) as svc:
        svc.audit_ok_upto = None
        tasks = [asyncio.create_task(purge_loop(svc, svc.wake_purger)),
                 asyncio.create_task(periodic(svc, STATS_INTERVAL_S, lambda: refresh_stats(svc))),
                 asyncio.create_task(_ingest(svc, cameras, rate))]
        uids = [u for u, *_ in window]
        await asyncio.sleep(max(0.0, (window[-1][2] - clock.now_us()) / US))
        stop = time.monotonic() + 45
        lags: list[float] = []
        while time.monotonic() < stop:
            lags = await svc.catalog.read(_lags, uids)
            if len(lags) == len(uids):
                break
            await asyncio.sleep(0.2)  # polling for completion, with a deadline
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    ours, base = summarize("purge_loop", lags), summarize("floor", floor)
    return {"due": n, "purged": len(lags), "rate_per_s": rate, "window_s": window_s,
            "purge": ours, "floor": base}


def _lags(db, uids: list[str]) -> list[float]:
    out = []
    for i in range(0, len(uids), 500):
        part = uids[i:i + 500]
        out += [r[0] / 1000 for r in db.conn.execute(
            f"SELECT destroyed_at_us - deadline_us FROM purge_receipts WHERE segment_uid IN "
            f"({','.join('?' * len(part))})", part)]
    return out


async def _ingest(svc, cameras: list[str], rate: float) -> None:
    """Catalog commits at the purge rate, with an (empty) file each, deadlines 35 days away."""
    i, t_next = 0, time.monotonic()
    while True:
        now = svc.clock.now_us()
        uid = os.urandom(16).hex()
        await svc.cpu(_touch, svc.storage, uid)
        from gateway.models import Segment
        seg = Segment(0, uid, cameras[i % len(cameras)], "year35d", now - SEGMENT_S * US, now,
                      now + RETENTION_US, 0, "00", 900, 1920, 1080, True, "stored", None, now)
        kid = fmt.new_key_id()
        kek, wrapped = svc.keyring.wrap(fmt.new_data_key(), key_id=kid)
        await svc.catalog.run(seg_sql.insert_segment, seg, kid, kek, wrapped)
        i += 1
        t_next += 1 / rate
        await asyncio.sleep(max(0.0, t_next - time.monotonic()))


def _touch(storage: LocalStorage, uid: str) -> None:
    p = storage.path(uid)
    p.parent.mkdir(exist_ok=True, mode=0o700)
    p.write_bytes(b"")


def sizes(cfg: Path, with_dbstat: bool) -> dict:
    path = load_settings(cfg).catalog_path
    out = {"catalog_bytes": path.stat().st_size}
    if with_dbstat:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        owner = {r[0]: r[1] for r in conn.execute(
            "SELECT name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')")}
        per: dict[str, int] = {}
        for name, size in conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"):
            table = owner.get(name, name)
            per[table] = per.get(table, 0) + size
        out["tables_bytes"] = dict(sorted(per.items(), key=lambda kv: -kv[1]))
        out["rows"] = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                       for t in ("audit", "purge_receipts", "segments", "data_keys")}
        conn.close()
    return out


# ------------------------------------------------------------------ the run


def median(v: list[float]) -> float:
    s = sorted(v)
    return s[len(s) // 2]


def run(args) -> dict:
    root = Path(args.dir).resolve()
    cameras = camera_ids(args.scale)
    port = free_port()
    cfg = write_config(root, cameras, port)
    result: dict = {"scale": args.scale, "cameras": len(cameras), "dir": str(root)}
    if not args.reuse:
        if (root / "data").exists():
            shutil.rmtree(root / "data")
            shutil.rmtree(root / "data-keys", ignore_errors=True)
        print(f"seeding {len(cameras)} cameras x a year into {root} ...", flush=True)
        result["seed"] = seed(cfg, cameras, SystemClock().now_us(), args.days)
        print(f"  {result['seed']}", flush=True)
    ref_root = root / "empty"
    shutil.rmtree(ref_root, ignore_errors=True)
    ref_cfg = write_config(ref_root, cameras, port)
    log = root / "serve.log"
    t_ref = [time_serve(ref_cfg, port, log) for _ in range(args.restarts)]
    # The first start after seeding records the cameras' configuration (audited): not timed.
    if not args.reuse:
        time_serve(cfg, port, log)
    t_year = [time_serve(cfg, port, log) for _ in range(args.restarts)]
    result["restart"] = {"year_s": [round(x, 2) for x in t_year],
                         "empty_s": [round(x, 2) for x in t_ref],
                         "year_median_s": round(median(t_year), 2),
                         "empty_median_s": round(median(t_ref), 2),
                         "phases": startup_phases(cfg)}
    print(f"  restart {result['restart']}", flush=True)
    result["audit"] = audit_checks(cfg, cameras, full=not args.no_full_walk)
    print(f"  audit {result['audit']}", flush=True)
    t_help, _ = time_cli("--help")
    t_dry, dry_out = time_cli("purge", "--dry-run", "--config", str(cfg))
    t_rep, _ = time_cli("report", "--config", str(cfg), "--out", str(root / "report.html"))
    t_rep_y, _ = time_cli("report", "--config", str(cfg), "--since", "365",
                          "--out", str(root / "report-year.html"))
    result["cli"] = {"help_s": round(t_help, 2), "dry_run_s": round(t_dry, 2),
                     "report_s": round(t_rep, 2), "report_year_s": round(t_rep_y, 2),
                     "dry_run_tail": dry_out.strip()[-200:]}
    print(f"  cli {result['cli']}", flush=True)
    if not args.no_purge:
        result["purge_lag"] = asyncio.run(purge_lag(cfg, cameras, args.purge_rate, args.window,
                                                    args.floor))
        print(f"  purge lag p99 {result['purge_lag']['purge']['p99_ms']:.1f} ms", flush=True)
    result["size"] = sizes(cfg, not args.no_dbstat)
    years = 1.0 * len(cameras)
    result["size"]["catalog_bytes_per_camera_year"] = int(result["size"]["catalog_bytes"] / years)
    if "tables_bytes" in result["size"]:
        result["size"]["per_camera_year"] = {t: int(b / years) for t, b in
                                             result["size"]["tables_bytes"].items()}
    result["machine"] = {"python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
                         "cpus": os.cpu_count(), "platform": platform.platform()}
    return result


def print_table(r: dict) -> None:
    rs, au, cl, sz = r["restart"], r["audit"], r["cli"], r["size"]
    mib = 2 ** 20
    rows = [
        ("cameras (scale)", f"{r['cameras']} ({r['scale']:g} of a 20-camera branch)"),
        ("audit entries / kept segments", f"{au['chain_entries']:,} / "
         f"{sz.get('rows', {}).get('segments', 0):,}"),
        ("restart to serving: year / empty", f"{rs['year_median_s']:.2f} / "
         f"{rs['empty_median_s']:.2f} s (x{rs['year_median_s'] / rs['empty_median_s']:.1f}; "
         f"target < {TARGET_RESTART_S:g} s)"),
        ("  of which recovery (in process)", f"{rs['phases']['recover_s']:.2f} s"),
        ("  audit check from checkpoint", f"{rs['phases']['audit_from_checkpoint_s']:.3f} s "
         f"({rs['phases']['audit_from_checkpoint_rows']:,} rows)"),
    ]
    if "full_s" in au:
        rows.append(("full chain walk", f"{au['full_s']:.1f} s for {au['full_entries']:,} "
                     f"entries ({au['full_entries'] / max(au['full_s'], 1e-9):,.0f}/s), "
                     f"ok={au['full_ok']}"))
    rows += [
        ("one hour of entries: append", f"{au['appended']:,} in {au['append_hour_s']:.2f} s"),
        ("incremental check (checkpoint)", f"{au['incremental_s']:.3f} s, "
         f"{au['incremental_rows_read']:,} rows read, ok={au['incremental_ok']}"),
        ("CLI start (--help) reference", f"{cl['help_s']:.2f} s"),
        ("purge --dry-run", f"{cl['dry_run_s']:.2f} s"),
        ("report (30 days / 365 days)", f"{cl['report_s']:.2f} / {cl['report_year_s']:.2f} s"),
    ]
    if "purge_lag" in r:
        p, f = r["purge_lag"]["purge"], r["purge_lag"]["floor"]
        rows.append(("purge lag p50 / p99 / max", f"{p['p50_ms']:.1f} / {p['p99_ms']:.1f} / "
                     f"{p['max_ms']:.1f} ms ({r['purge_lag']['purged']}/{r['purge_lag']['due']} "
                     f"at {r['purge_lag']['rate_per_s']:g}/s; floor p99 {f['p99_ms']:.2f} ms)"))
    rows.append(("catalog file", f"{sz['catalog_bytes'] / mib:,.0f} MiB; per camera-year "
                 f"{sz['catalog_bytes_per_camera_year'] / mib:,.0f} MiB"))
    for t, b in sz.get("per_camera_year", {}).items():
        if b > mib:
            rows.append((f"  {t} per camera-year", f"{b / mib:,.1f} MiB"))
    w = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{w}}  {v}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=1.0,
                    help="share of the 20-camera branch (0.1: 2 cameras, ~1 M receipts)")
    ap.add_argument("--dir", default=None, help="where the catalog lives (default "
                    "/work/yearbench/scale-SCALE); kept after the run")
    ap.add_argument("--reuse", action="store_true", help="measure the catalog in --dir again")
    ap.add_argument("--days", type=float, default=YEAR_DAYS, help="days of purges (a smoke "
                    "test: fewer)")
    ap.add_argument("--restarts", type=int, default=3)
    ap.add_argument("--purge-rate", type=float, default=32.0, help="deadlines/s in the window")
    ap.add_argument("--window", type=float, default=60.0)
    ap.add_argument("--floor", type=float, default=10.0, help="timer-floor run, seconds")
    ap.add_argument("--no-full-walk", action="store_true")
    ap.add_argument("--no-purge", action="store_true")
    ap.add_argument("--no-dbstat", action="store_true")
    ap.add_argument("--out", default=str(RESULTS / "year.json"))
    args = ap.parse_args()
    args.dir = args.dir or f"/work/yearbench/scale-{args.scale:g}"
    result = run(args)
    print_table(result)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

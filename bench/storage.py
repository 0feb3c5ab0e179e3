"""Ingest throughput and purge lag on S3 (Ceph RGW) against the local disk, in one run.

    .venv/bin/python bench/storage.py [--segments 48] [--rounds 6] [--rows 100000]

One process, one Ceph cluster (``scripts/ceph-rgw.sh`` in a temp dir, stopped
at the end whatever happens; its watcher stops it if this process is killed),
one bucket with Object Lock. Each part runs both backends, alternating ABBA so
that a shared host's drift hits both:

1. **Ingest**: ``create_app`` on an aiohttp ``AppRunner`` on 127.0.0.1, one app
   per backend, both up; an aiohttp client posts synthetic 1080p, 2 s, 15 fps
   H.264 segments to the remux (no-mask) camera, ``--concurrency`` in flight,
   each with its own ``X-Segment-Start`` (bench/common.py's ``post_all``). The
   full path: probe, remux, seal, write intent, ``put`` (S3: one PUT with
   GOVERNANCE retention until the deadline; local: temp file, fsync, rename,
   fsync the directory), catalog row. Reported: segments/s, MB/s, and s3/local
   (the median of each round's ratio).
2. **The store alone**: ``S3Storage.put`` against ``LocalStorage.put`` of the
   same sealed segment, one thread and ``--concurrency`` threads, MB/s; and
   ``delete`` of what was put (S3: list versions, delete each, list again).
3. **Purge lag**: per round a real catalog (bench/purge.py's ``Seeder``) with
   ``--rows`` kept segments plus those of a ``--window`` whose deadlines fall
   due at ``--cameras / --segment-seconds`` per second at independent phases; every window
   segment has a real sealed object in the store (put with its retention).
   Then the real ``purge_loop`` with the SystemClock, the stats loop, ingest
   commits and the store loop's passes beside it (bench/purge.py's ``measure``;
   the passes run S3's queued deletions, 8 at a time; the first pass's scrub is
   left out, as the seeded rows have no objects). Lag = key erased
   - deadline, from ``purge_receipts``. The timer floor (a bare asyncio sleep
   to each deadline) is measured once before.

Prints a table and writes bench/results/storage.json. Target: purge lag p99
<= 2 s on both backends; never early. Exits non-zero otherwise, or when a
window segment was not purged or its object is left in the store.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Iterator

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.app import create_app  # noqa: E402
from gateway.catalog import AsyncCatalog, Catalog  # noqa: E402
from gateway.catalog import segments as seg_sql  # noqa: E402
from gateway.catalog import store as store_sql  # noqa: E402
from gateway.clock import US, SystemClock  # noqa: E402
from gateway.media.synth import make_segment  # noqa: E402
from gateway.segments.store_loop import retry_deletes, store_pass  # noqa: E402
from gateway.storage_settings import StorageSettings  # noqa: E402
from gateway.vault import format as fmt  # noqa: E402
from gateway.vault.s3 import S3Storage  # noqa: E402
from gateway.vault.storage import LocalStorage  # noqa: E402
from tests.s3server import S3Server, packages_missing, start, stop  # noqa: E402

# bench/ is the script's directory: the other benches' parts, not copies.
from common import build_settings, free_port, post_all, rates, round_ratios  # noqa: E402
from purge import (DRAIN_TIMEOUT_S, LATER_OFFSET_S, TARGET_P99_S, WARMUP_S,  # noqa: E402
                   Seeder, build_services, camera_schedule, deadlines_between,
                   deadlines_count, measure, summarize, timer_floor)

RESULTS = Path(__file__).resolve().parent / "results"
BACKENDS = ("local", "s3")
#: Plaintext behind each purge-window object (sealed for real; the size does not
#: change what a delete costs, and memstore keeps every byte in RAM).
PURGE_PLAIN_BYTES = 4096


def abba(r: int) -> tuple[str, ...]:
    """Round ``r``'s order of the backends: local, s3 | s3, local | ..."""
    return BACKENDS if r % 2 == 0 else BACKENDS[::-1]


# ------------------------------------------------------------------ the S3 server


@contextmanager
def ceph() -> Iterator[tuple[S3Server, float]]:
    """A single-node Ceph RGW in a temp dir: (connection facts, start seconds); always stopped."""
    reason = packages_missing()
    if reason:
        raise SystemExit(reason)
    directory = Path(tempfile.mkdtemp(prefix="fgw-ceph-"))  # short: admin socket paths
    try:
        facts = start(directory, watch_pid=os.getpid())
        facts["directory"] = directory
        yield S3Server(**{f.name: facts[f.name] for f in fields(S3Server) if f.name in facts}), \
            facts["start_seconds"]
    finally:
        stop(directory)


def s3_keys(server: S3Server, bucket: str, prefix: str, root: Path) -> dict:
    """The ``[storage]`` keys of backend s3 (the secret in a 0600 file under ``root``)."""
    root.mkdir(parents=True, exist_ok=True)
    secret = root / "s3.secret"
    secret.write_text(server.secret_key)
    secret.chmod(0o600)
    return {"backend": "s3", "endpoint": server.endpoint, "region": server.region,
            "bucket": bucket, "prefix": prefix, "access_key": server.access_key,
            "secret_key_file": str(secret)}


def open_store(backend: str, root: Path, server: S3Server, bucket: str, prefix: str):
    if backend == "local":
        return LocalStorage(root / "data")
    return S3Storage(StorageSettings(path=str(root / "data"),
                                     **s3_keys(server, bucket, prefix, root)))


# ------------------------------------------------------------------ 1. ingest


async def ingest_runs(args, segments: list[bytes], server: S3Server, bucket: str) -> dict:
    """Both apps up; ABBA rounds of ``args.segments`` uploads to the remux camera."""
    roots = {b: Path(tempfile.mkdtemp(prefix=f"fg-bench-storage-{b}-", dir=args.dir))
             for b in BACKENDS}
    runners, urls = [], {}
    try:
        for b in BACKENDS:
            port = free_port()
            keys = None if b == "local" else s3_keys(server, bucket, "ingest/", roots[b])
            runner = web.AppRunner(create_app(build_settings(roots[b], port, keys)),
                                   access_log=None)
            runners.append(runner)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            urls[b] = f"http://127.0.0.1:{port}/api/v1/cameras/remux/segments"
        times: dict[str, list[float]] = {b: [] for b in BACKENDS}
        async with aiohttp.ClientSession() as session:
            for b in BACKENDS:  # warm-up
                await post_all(session, urls[b], segments, args.concurrency, args.concurrency)
            for r in range(args.rounds):
                for b in abba(r):
                    times[b].append(await post_all(session, urls[b], segments, args.segments,
                                                   args.concurrency))
    finally:
        for runner in runners:
            await runner.cleanup()
        for root in roots.values():
            shutil.rmtree(root, ignore_errors=True)
    mean_bytes = statistics.fmean(len(s) for s in segments)
    out: dict = {b: rates(times[b], args.segments, mean_bytes) for b in BACKENDS}
    pairs = round_ratios(times["s3"], times["local"])
    out |= {"ratio_s3_over_local": statistics.median(pairs), "ratio_per_round": pairs}
    return out


# ------------------------------------------------------------------ 2. the store alone


def store_alone(args, blob: bytes, server: S3Server, bucket: str) -> dict:
    """``put`` of the same sealed blob, then ``delete`` of each, per backend and thread count."""
    root = Path(tempfile.mkdtemp(prefix="fg-bench-storage-put-", dir=args.dir))
    stores = {b: open_store(b, root / b, server, bucket, "put/") for b in BACKENDS}
    until = SystemClock().now_us() + 3600 * US
    res: dict = {b: {} for b in BACKENDS}
    try:
        for threads in sorted({1, args.concurrency}):
            put_t: dict[str, list[float]] = {b: [] for b in BACKENDS}
            del_t: dict[str, list[float]] = {b: [] for b in BACKENDS}
            for r in range(args.put_rounds):
                for b in abba(r):
                    store = stores[b]
                    uids = [os.urandom(16).hex() for _ in range(args.puts)]
                    lock = until if store.locks else None
                    put_t[b].append(_timed(threads, uids, lambda u, s=store: s.put(
                        u, blob, retain_until_us=lock)))
                    del_t[b].append(_timed(threads, uids, lambda u, s=store: s.delete(u)))
            for b in BACKENDS:
                put = statistics.median(put_t[b])
                res[b][f"threads_{threads}"] = {
                    "put_mb_per_s": args.puts * len(blob) / put / 1e6,
                    "put_ms": put / args.puts * 1000 * threads,
                    "delete_ms": statistics.median(del_t[b]) / args.puts * 1000 * threads,
                    "put_runs_mb_per_s": [args.puts * len(blob) / t / 1e6 for t in put_t[b]]}
            ratios = round_ratios(put_t["s3"], put_t["local"])
            res[f"put_ratio_s3_over_local_threads_{threads}"] = statistics.median(ratios)
    finally:
        for s in stores.values():
            s.close()
        shutil.rmtree(root, ignore_errors=True)
    res |= {"blob_bytes": len(blob), "puts_per_round": args.puts, "rounds": args.put_rounds}
    return res


def _timed(threads: int, items: list, fn) -> float:
    t = time.perf_counter()
    if threads == 1:
        for x in items:
            fn(x)
    else:
        with ThreadPoolExecutor(threads) as ex:
            list(ex.map(fn, items))
    return time.perf_counter() - t


# ------------------------------------------------------------------ 3. purge lag


async def store_passes(svc) -> None:
    """``store_loop`` without its first pass's scrub (the seeded rows have no objects)."""
    extend = True
    while True:
        svc.wake_store.clear()
        delay, extend = await store_pass(svc, extend=extend)
        await svc.clock.wait(svc.wake_store, delay)


async def purge_round(args, backend: str, server: S3Server, bucket: str, r: int,
                      put_s: float) -> dict:
    """Seed, put the window's objects, run the purge loop through the window."""
    root = Path(tempfile.mkdtemp(prefix=f"fg-bench-storage-purge-{backend}-", dir=args.dir))
    schedule = camera_schedule(args.cameras, args.segment_seconds, args.seed + r)
    cameras = [c for c, _ in schedule]
    seg_s = args.segment_seconds
    rate = args.cameras / seg_s
    svc = build_services(root, cameras)
    svc.storage = open_store(backend, root, server, bucket, f"purge-{r}/")
    svc.catalog.close()  # the seeder writes alone; reopened below
    try:
        key, key_id = fmt.new_data_key(), fmt.new_key_id()
        wrapped_len = len(svc.keyring.wrap(key, key_id=key_id)[1])
        t_seed = time.perf_counter()
        seeder = Seeder(svc.settings.catalog_path, svc.keyring.current_id, wrapped_len, seg_s)
        seeder.add(deadlines_count(schedule, seg_s, SystemClock().now_us() + LATER_OFFSET_S * US,
                                   args.rows))
        # The window starts once its objects are in the store: 8 threads put small objects,
        # so one thread's time per segment-sized put leaves a margin.
        n_window = int(rate * args.window)
        t0 = SystemClock().now_us() + int((WARMUP_S + 2 + n_window * put_s) * US)
        window = deadlines_between(schedule, seg_s, t0, t0 + int(args.window * US))
        uids = seeder.add(window)
        seeder.close()
        seed_s = time.perf_counter() - t_seed
        blob = fmt.seal(os.urandom(PURGE_PLAIN_BYTES), key, key_id)
        lock = svc.storage.locks
        with ThreadPoolExecutor(8) as ex:
            list(ex.map(lambda ud: svc.storage.put(ud[0], blob, retain_until_us=ud[1] if lock
                                                   else None), zip(uids, (d for _, d in window))))
        if SystemClock().now_us() > t0 - int(WARMUP_S / 2 * US):
            raise SystemExit("putting the window's objects overran its slot; rerun "
                             "(the machine is busy)")
        print(f"  {backend}: {seeder.next_id - 1:,} rows seeded in {seed_s:.1f} s, "
              f"{len(uids):,} objects due in {args.window:g} s", flush=True)
        svc.catalog = AsyncCatalog(Catalog.open(svc.settings.catalog_path))
        m = await measure(svc, list(zip(uids, (d for _, d in window))), cameras, rate,
                          not args.no_background, also=(store_passes,))
        # S3 purges queue their objects' deletions for the store loop: what is still
        # queued when the last receipt is written, and how long the rest takes.
        queued = (await svc.catalog.run(store_sql.owed_deletes))[0]
        t_flush = time.perf_counter()
        await retry_deletes(svc)
        flush_s = time.perf_counter() - t_flush
        owed = (await svc.catalog.run(store_sql.owed_deletes))[0]
        purged = {x.segment_uid for x in await svc.catalog.run(seg_sql.receipts)}
        left = len(purged & set(await svc.io(lambda: list(svc.storage.uids()))))
    finally:
        svc.pool.shutdown(wait=True)
        svc.store_pool.shutdown(wait=True)
        svc.catalog.close()
        svc.storage.close()
        shutil.rmtree(root, ignore_errors=True)
    return {"backend": backend, "rows": seeder.next_id - 1, "due": len(uids),
            "lags_ms": m["lags_ms"], "objects_left": left, "deletes_owed": owed,
            "deletes_queued_at_end": queued, "flush_s": round(flush_s, 2),
            "seed_s": round(seed_s, 1)}


def _by_tenth(lags: list[float]) -> list[float]:
    """Lags in the order their keys were erased: the largest of each tenth."""
    n = len(lags)
    return [round(max(lags[i * n // 10:(i + 1) * n // 10] or [0.0]), 1) for i in range(10)]


async def purge_runs(args, server: S3Server, bucket: str, put_s: float) -> dict:
    schedule = camera_schedule(args.cameras, args.segment_seconds, args.seed)
    t0 = SystemClock().now_us() + US
    floor = await timer_floor([d for _, d in deadlines_between(
        schedule, args.segment_seconds, t0, t0 + int(args.baseline * US))])
    rounds = []
    for r in range(args.purge_rounds):
        for b in abba(r):
            rounds.append(await purge_round(args, b, server, bucket, len(rounds), put_s))
    out: dict = {"floor": summarize("bare asyncio.sleep floor", floor)}
    for b in BACKENDS:
        mine = [x for x in rounds if x["backend"] == b]
        lags = [lag for x in mine for lag in x["lags_ms"]]
        out[b] = summarize(f"purge_loop on {b}", lags) if lags else {"n": 0}
        out[b] |= {"due": sum(x["due"] for x in mine),
                   "objects_left": sum(x["objects_left"] for x in mine),
                   "deletes_owed": sum(x["deletes_owed"] for x in mine),
                   "rounds_deletes_queued_at_end": [x["deletes_queued_at_end"] for x in mine],
                   "rounds_flush_s": [x["flush_s"] for x in mine],
                   "rounds_p99_ms": [summarize(b, x["lags_ms"])["p99_ms"] if x["lags_ms"]
                                     else None for x in mine],
                   # When in the window the lag came: the worst of each tenth, in order.
                   "rounds_max_ms_by_tenth": [_by_tenth(x["lags_ms"]) for x in mine]}
    for p in ("p50", "p99", "max"):
        if out["local"]["n"] and out["s3"]["n"]:
            out[f"ratio_{p}_s3_over_local"] = (out["s3"][f"{p}_ms"]
                                               / max(out["local"][f"{p}_ms"], 1e-3))
    out |= {"rows_kept": args.rows, "rows_catalogued": rounds[0]["rows"],
            "cameras": args.cameras, "segment_seconds": args.segment_seconds,
            "deadlines_per_s": args.cameras / args.segment_seconds,
            "window_s": args.window, "rounds": args.purge_rounds,
            "background": not args.no_background,
            "object_bytes": len(fmt.seal(bytes(PURGE_PLAIN_BYTES), fmt.new_data_key(),
                                         fmt.new_key_id()))}
    return out


# ------------------------------------------------------------------ report


def print_table(r: dict) -> None:
    seg = r["segment"]
    print(f"\nCeph RGW {r['ceph']['version']} (memstore), started in "
          f"{r['ceph']['start_seconds']:.1f} s; segment {seg['width']}x{seg['height']}, "
          f"{seg['seconds']:g} s, {seg['mean_bytes'] / 1e3:.0f} kB; "
          f"{r['concurrency']} uploads in flight; ABBA rounds")
    if "ingest" in r:
        print_ingest(r["ingest"])
    if "store_alone" in r:
        print_store(r["store_alone"])
    if "purge" in r:
        print_purge(r["purge"])


def print_ingest(i: dict) -> None:
    print(f"\n{'ingest (HTTP, remux camera)':<30} {'segments/s':>11} {'MB/s':>7} "
          f"{'s3/local':>9}   spread")
    for b in BACKENDS:
        runs = i[b]["runs_segments_per_s"]
        ratio = f"{i['ratio_s3_over_local']:.3f}" if b == "s3" else ""
        print(f"{b:<30} {i[b]['segments_per_s']:>11.2f} {i[b]['mb_per_s']:>7.2f} {ratio:>9}   "
              f"runs {min(runs):.1f}..{max(runs):.1f}")


def print_store(s: dict) -> None:
    print(f"\n{'store alone (' + str(s['blob_bytes'] // 1000) + ' kB sealed)':<30} "
          f"{'threads':>7} {'put MB/s':>9} {'put ms':>7} {'delete ms':>10} {'s3/local':>9}")
    for key in sorted(k for k in s["local"]):
        n = key.split("_")[1]
        for b in BACKENDS:
            x = s[b][key]
            ratio = f"{s['put_ratio_s3_over_local_' + key]:.3f}" if b == "s3" else ""
            print(f"{b:<30} {n:>7} {x['put_mb_per_s']:>9.1f} {x['put_ms']:>7.1f} "
                  f"{x['delete_ms']:>10.1f} {ratio:>9}")


def print_purge(p: dict) -> None:
    f = p["floor"]
    print(f"\npurge lag: {p['rows_catalogued']:,} rows catalogued per round "
          f"({p['rows_kept']:,} kept), {p['deadlines_per_s']:g} deadlines/s, "
          f"{p['window_s']:g} s window x {p['rounds']} round(s) per backend, stats loop + "
          f"ingest commits {'on' if p['background'] else 'off'}")
    print(f"{'backend':<8} {'purged':>13} {'min':>7} {'p50':>7} {'p90':>7} {'p99':>8} "
          f"{'max':>8}  (ms)  objects left / owed; deletions queued at the end (flush)")
    for b in BACKENDS:
        x = p[b]
        if not x["n"]:
            print(f"{b:<8} {0:>6} / {x['due']:<6} nothing purged")
            continue
        print(f"{b:<8} {x['n']:>6,} / {x['due']:<6,} {x['min_ms']:>7.1f} {x['p50_ms']:>7.1f} "
              f"{x['p90_ms']:>7.1f} {x['p99_ms']:>8.1f} {x['max_ms']:>8.1f}  "
              f"{x['objects_left']} / {x['deletes_owed']}; " + ", ".join(
                  f"{q} ({t:.1f} s)" for q, t in zip(x["rounds_deletes_queued_at_end"],
                                                    x["rounds_flush_s"])))
    print(f"{'floor':<8} {f['n']:>13,} {f['min_ms']:>7.2f} {f['p50_ms']:>7.2f} "
          f"{f['p90_ms']:>7.2f} {f['p99_ms']:>8.2f} {f['max_ms']:>8.2f}")
    if "ratio_p99_s3_over_local" in p:
        print(f"s3/local: p50 {p['ratio_p50_s3_over_local']:.2f}x, "
              f"p99 {p['ratio_p99_s3_over_local']:.2f}x; target p99 <= "
              f"{TARGET_P99_S * 1000:.0f} ms: " + ", ".join(
                  f"{b} {'met' if p[b]['p99_ms'] <= TARGET_P99_S * 1000 else 'MISSED'}"
                  for b in BACKENDS))


def failures(p: dict) -> list[str]:
    out = []
    for b in BACKENDS:
        x = p[b]
        if x["n"] != x["due"]:
            out.append(f"{b}: {x['due'] - x['n']} due segments not purged within "
                       f"{DRAIN_TIMEOUT_S:.0f} s of the window")
        if x["n"] and x["min_ms"] < 0:
            out.append(f"{b}: a segment was destroyed before its deadline")
        if x["n"] and x["p99_ms"] > TARGET_P99_S * 1000:
            out.append(f"{b}: purge lag p99 {x['p99_ms']:.0f} ms over the target")
        if x["objects_left"]:
            out.append(f"{b}: {x['objects_left']} objects of purged segments left in the store")
    return out


async def run(args, server: S3Server, bucket: str) -> dict:
    segments = [make_segment(2.0, 15, 1920, 1080, seed=i) for i in range(args.distinct)]
    out: dict = {"segment": {"width": 1920, "height": 1080, "fps": 15, "seconds": 2.0,
                             "mean_bytes": statistics.fmean(len(s) for s in segments)},
                 "concurrency": args.concurrency, "rounds": args.rounds}
    if "ingest" in args.parts:
        print("ingest ...", flush=True)
        out["ingest"] = await ingest_runs(args, segments, server, bucket)
    put_s = 0.02  # per object, before the window: a guess unless measured below
    if "store" in args.parts:
        print("store alone ...", flush=True)
        blob = fmt.seal(segments[0], fmt.new_data_key(), fmt.new_key_id())
        out["store_alone"] = await asyncio.to_thread(store_alone, args, blob, server, bucket)
        put_s = max(out["store_alone"][b]["threads_1"]["put_ms"] for b in BACKENDS) / 1000
    if "purge" in args.parts:
        print("purge lag ...", flush=True)
        out["purge"] = await purge_runs(args, server, bucket, put_s)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--segments", type=int, default=48, help="uploads per round and backend")
    ap.add_argument("--rounds", type=int, default=6, help="ingest rounds (ABBA)")
    ap.add_argument("--concurrency", type=int, default=4, help="uploads (and puts) in flight")
    ap.add_argument("--distinct", type=int, default=4, help="distinct synthetic segments")
    ap.add_argument("--puts", type=int, default=40, help="store-alone puts per round")
    ap.add_argument("--put-rounds", type=int, default=4)
    ap.add_argument("--rows", type=int, default=100_000, help="kept catalog rows per purge "
                    "round besides the window's (the issue's year scale: 1000000)")
    ap.add_argument("--cameras", type=int, default=64)
    ap.add_argument("--segment-seconds", type=float, default=2.0, help="purge: cameras / "
                    "segment seconds deadlines fall due per second (default 32/s)")
    ap.add_argument("--window", type=float, default=30.0, help="purge window, seconds")
    ap.add_argument("--purge-rounds", type=int, default=2, help="per backend (ABBA)")
    ap.add_argument("--baseline", type=float, default=10.0, help="timer-floor run, seconds")
    ap.add_argument("--no-background", action="store_true",
                    help="purge loop alone (no stats loop, no ingest commits)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--parts", default="ingest,store,purge",
                    help="comma-separated: which of ingest, store, purge to run")
    ap.add_argument("--dir", default=None, help="parent of the temp data dirs")
    ap.add_argument("--out", default=str(RESULTS / "storage.json"))
    args = ap.parse_args()
    args.parts = set(args.parts.split(","))
    t = time.perf_counter()
    with ceph() as (server, start_s):
        bucket = server.new_bucket()
        version = _ceph_version()
        result = asyncio.run(run(args, server, bucket))
    result |= {"ceph": {"version": version, "start_seconds": start_s},
               "wall_seconds": round(time.perf_counter() - t, 1),
               "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                           "platform": platform.platform(), "load_avg_end": os.getloadavg()}}
    print_table(result)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out} ({result['wall_seconds']:.0f} s)")
    bad = failures(result["purge"]) if "purge" in result else []
    if bad:
        raise SystemExit("FAILED: " + "; ".join(bad))


def _ceph_version() -> str:
    import subprocess
    out = subprocess.run(["radosgw", "--version"], capture_output=True, text=True).stdout
    return out.split()[2] if out.startswith("ceph version") else out.strip()


if __name__ == "__main__":
    main()

"""Ingest throughput with and without encryption, as a ratio, in one run.

    .venv/bin/python bench/ingest.py [--segments 48] [--masked-segments 8] [--concurrency 4]

Through the real HTTP path: ``create_app`` served by an aiohttp ``AppRunner``
on 127.0.0.1, and an aiohttp client posting synthetic 1080p, 2 s, 15 fps
H.264 segments (``gateway.media.synth``) the way cameras push them, several at
once (``--concurrency``). Two cameras:

  remux     no masks: the fast path (probe + remux, no re-encode)
  masked    one shelf mask: decode, fill, re-encode with libx264

Each is run with the real seal step (``encrypted``) and with the seal replaced
by a plain copy (``plain``: ``gateway.segments.ingest.SealedBuffer`` replaced
by a buffer that keeps the plaintext; a bench, not product code). Rounds alternate
encrypted/plain so that noise from a shared host hits both; each figure is the
median of ``--rounds`` (ABBA order). Reported: segments/s, input MB/s, and encrypted/plain
(the median of each round's back-to-back ratio).

References: the seal step alone (``vault.format.seal``, MB/s, one thread) and,
when ffmpeg is installed, ``ffmpeg -i in.mp4 -c copy -an out.mp4`` on the same
segment, one process after another.

Prints a table and writes bench/results/ingest.json.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import gateway.segments.ingest as ingest_mod  # noqa: E402
from gateway.app import create_app  # noqa: E402
from gateway.media.synth import make_segment  # noqa: E402
from gateway.vault import format as fmt  # noqa: E402
from gateway.vault.sealbuf import Sealed  # noqa: E402

# bench/ is the script's directory.
from common import (build_settings, free_port, post_all, rates,  # noqa: E402
                    round_ratios)

RESULTS = Path(__file__).resolve().parent / "results"

_REAL_SEAL = ingest_mod.SealedBuffer


class _PlainBuffer(io.BytesIO):
    """The baseline: the same pipeline keeping the masked MP4 as it is, where ingest seals
    it chunk by chunk as the muxer writes (``vault.sealbuf``); never in production."""

    def __init__(self, data_key: bytes, key_id: bytes) -> None:
        super().__init__()
        self._keys = (data_key, key_id)

    def finish(self) -> Sealed:
        blob = bytearray(self.getvalue())
        return Sealed(blob, hashlib.sha256(blob).hexdigest(), *self._keys, len(blob))


_plain_seal = _PlainBuffer


async def http_runs(args, segments: list[bytes]) -> dict:
    root = Path(tempfile.mkdtemp(prefix="fg-bench-ingest-", dir=args.dir))
    port = free_port()
    settings = build_settings(root, port)
    runner = web.AppRunner(create_app(settings), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    mean_bytes = statistics.fmean(len(s) for s in segments)
    out: dict = {}
    try:
        async with aiohttp.ClientSession() as session:
            for path, count in (("remux", args.segments), ("masked", args.masked_segments)):
                url = f"http://127.0.0.1:{port}/api/v1/cameras/{path}/segments"
                await post_all(session, url, segments, args.concurrency, args.concurrency)  # warm-up
                times: dict[str, list[float]] = {"encrypted": [], "plain": []}
                modes = [("encrypted", _REAL_SEAL), ("plain", _plain_seal)]
                for r in range(args.rounds):
                    # ABBA order, so a drift in the host's load favours neither mode.
                    for mode, seal in (modes if r % 2 == 0 else modes[::-1]):
                        ingest_mod.SealedBuffer = seal
                        times[mode].append(await post_all(session, url, segments, count,
                                                          args.concurrency))
                ingest_mod.SealedBuffer = _REAL_SEAL
                out[path] = {mode: rates(ts, count, mean_bytes) for mode, ts in times.items()}
                pairs = round_ratios(times["encrypted"], times["plain"])
                out[path]["ratio_encrypted_over_plain"] = statistics.median(pairs)
                out[path]["ratio_per_round"] = pairs
    finally:
        ingest_mod.SealedBuffer = _REAL_SEAL
        await runner.cleanup()
        shutil.rmtree(root, ignore_errors=True)
    return out


def seal_alone(segment: bytes, seconds: float = 2.0) -> dict:
    """The seal step with nothing around it: MB/s on one thread."""
    key, key_id = fmt.new_data_key(), fmt.new_key_id()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fmt.seal(segment, key, key_id)
        n += 1
    dt = time.perf_counter() - t0
    return {"segments_per_s": n / dt, "mb_per_s": n * len(segment) / dt / 1e6}


def ffmpeg_remux(segment: bytes, runs: int, workdir: Path) -> dict | None:
    """``ffmpeg -i in.mp4 -c copy -an out.mp4``, one process after another."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return None
    src, dst = workdir / "in.mp4", workdir / "out.mp4"
    src.write_bytes(segment)
    t0 = time.perf_counter()
    for _ in range(runs):
        subprocess.run([ffmpeg, "-v", "error", "-y", "-i", str(src), "-c", "copy", "-an", str(dst)],
                       check=True)
    dt = time.perf_counter() - t0
    return {"segments_per_s": runs / dt, "mb_per_s": runs * len(segment) / dt / 1e6, "runs": runs}


def print_table(r: dict) -> None:
    seg = r["segment"]
    print(f"segment: {seg['width']}x{seg['height']}, {seg['seconds']:g} s at {seg['fps']} fps, "
          f"{seg['mean_bytes'] / 1e3:.0f} kB mean; concurrency {r['concurrency']}, "
          f"median of {r['rounds']} rounds")
    print(f"{'path':<8} {'mode':<10} {'segments/s':>11} {'MB/s':>8} {'enc/plain':>10}   spread")
    for path in ("remux", "masked"):
        p = r["http"][path]
        for mode in ("encrypted", "plain"):
            ratio = f"{p['ratio_encrypted_over_plain']:.3f}" if mode == "encrypted" else ""
            runs = p[mode]['runs_segments_per_s']
            print(f"{path:<8} {mode:<10} {p[mode]['segments_per_s']:>11.2f} "
                  f"{p[mode]['mb_per_s']:>8.2f} {ratio:>10}   runs {min(runs):.1f}..{max(runs):.1f}")
    s = r["seal_alone"]
    print(f"seal step alone (1 thread): {s['mb_per_s']:.0f} MB/s, "
          f"{1000 / s['segments_per_s']:.2f} ms per segment; at the remux path's rate that is "
          f"{r['seal_cpu_share_at_remux_rate'] * 100:.2f} % of one core")
    f = r["ffmpeg_remux"]
    if f:
        print(f"ffmpeg -c copy -an, process per segment: {f['segments_per_s']:.1f} segments/s "
              f"({f['mb_per_s']:.1f} MB/s)")
    else:
        print("ffmpeg: not installed (reference skipped)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--segments", type=int, default=48, help="per round, remux camera")
    ap.add_argument("--masked-segments", type=int, default=8, help="per round, masked camera")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--concurrency", type=int, default=4, help="uploads in flight")
    ap.add_argument("--width", type=int, default=1920)
    ap.add_argument("--height", type=int, default=1080)
    ap.add_argument("--fps", type=int, default=15)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--distinct", type=int, default=4, help="distinct synthetic segments")
    ap.add_argument("--dir", default=None, help="parent of the temp data dir")
    ap.add_argument("--out", default=str(RESULTS / "ingest.json"))
    args = ap.parse_args()

    segments = [make_segment(args.seconds, args.fps, args.width, args.height, seed=i)
                for i in range(args.distinct)]
    mean_bytes = statistics.fmean(len(s) for s in segments)
    http = asyncio.run(http_runs(args, segments))
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        ff = ffmpeg_remux(segments[0], 30, Path(tmp))
    result = {
        "segment": {"width": args.width, "height": args.height, "fps": args.fps,
                    "seconds": args.seconds, "mean_bytes": mean_bytes},
        "concurrency": args.concurrency, "rounds": args.rounds, "http": http,
        "seal_alone": seal_alone(segments[0]), "ffmpeg_remux": ff,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "platform": platform.platform()},
    }
    result["seal_cpu_share_at_remux_rate"] = (
        http["remux"]["encrypted"]["segments_per_s"] / result["seal_alone"]["segments_per_s"])
    print_table(result)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""Sealed mode's ingest cost against key-ring mode, in one run.

    .venv/bin/python bench/sealed.py [--segments 8] [--rounds 4] [--wraps 2000]

What sealed mode adds to ingest is one HPKE single-shot encryption per segment
(an X25519 key generation and exchange, HKDF, ChaCha20-Poly1305 over 32 bytes)
instead of the key ring's ChaCha20-Poly1305 wrap. Measured here, all in the
same process and run:

  wrap          CPU per data-key wrap, ring vs sealed (process time, ABBA rounds)
  unwrap        CPU per unwrap (what a view or export pays per segment), ring vs sealed
  pipeline      CPU per segment of the real ingest steps (probe + remux, seal) on
                synthetic 1080p 2 s 15 fps H.264 -- the reference: the fast path, so
                the share below is the largest it can be (masking costs far more)
  end to end    segments.ingest.ingest through a running app in each mode (ABBA rounds), wall
                time per segment; its noise is larger than the effect, so the verdict
                uses the CPU figures
  unlock        one argon2id unlock with the default parameters (t=3, 64 MiB, p=4)

Per camera-day = 86400 / segment seconds segments. Target: the sealed wrap's
extra CPU under 1 % of the pipeline's CPU. Prints a table and writes
bench/results/sealed.json.
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
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import gateway.segments.ingest as ingest_mod  # noqa: E402
from gateway.app import create_app  # noqa: E402
from gateway.clock import US  # noqa: E402
from gateway.config import parse_settings  # noqa: E402
from gateway.media.synth import make_segment  # noqa: E402
from gateway.vault import format as fmt  # noqa: E402
from gateway.vault import keyring, sealed as sl  # noqa: E402
from gateway.vault.sealed_store import SealedKeys  # noqa: E402
from gateway.web.appkeys import RUNTIME  # noqa: E402

from common import POLICY  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def per_op_cpu_us(fn, n: int) -> float:
    t = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - t) / n * 1e6


def wrap_costs(n: int, rounds: int) -> dict:
    kek, kek_id = os.urandom(32), "kek-0123456789abcdef"
    sk = sl.X25519PrivateKey.generate()
    pk, epoch = sk.public_key(), "seal-0123456789abcdef"
    dk, kid = fmt.new_data_key(), fmt.new_key_id()
    ring_w = keyring.wrap_key(kek, kek_id, dk, key_id=kid)
    seal_w = sl.seal_data_key(pk, epoch, dk, kid)
    ops = {
        "wrap": {"ring": lambda: keyring.wrap_key(kek, kek_id, dk, key_id=kid),
                 "sealed": lambda: sl.seal_data_key(pk, epoch, dk, kid)},
        "unwrap": {"ring": lambda: keyring.unwrap_key(kek, kek_id, ring_w, key_id=kid),
                   "sealed": lambda: sl.open_data_key(sk, epoch, seal_w, kid)},
    }
    out = {}
    for name, modes in ops.items():
        runs: dict[str, list[float]] = {"ring": [], "sealed": []}
        order = ["ring", "sealed"]
        for r in range(rounds):
            for mode in (order if r % 2 == 0 else order[::-1]):  # ABBA
                runs[mode].append(per_op_cpu_us(modes[mode], n))
        out[name] = {m: {"cpu_us_median": statistics.median(v), "runs_cpu_us": v}
                     for m, v in runs.items()}
    return out


def pipeline_cpu_ms(segments: list[bytes], repeat: int) -> float:
    """CPU (all threads of the process) per segment of probe + remux + seal."""
    t = time.process_time()
    for _ in range(repeat):
        for data in segments:
            result = ingest_mod._process(data, (), False)
            ingest_mod._seal(result.data, fmt.new_data_key(), fmt.new_key_id())
    return (time.process_time() - t) / (repeat * len(segments)) * 1e3


def settings_for(root: Path, mode: str):
    (root / "policies").mkdir(parents=True, exist_ok=True)
    (root / "policies" / "bench72h.toml").write_text(POLICY)
    return parse_settings({
        "storage": {"path": str(root / mode), "min_free_bytes": 0},
        "policies_dir": str(root / "policies"),
        "keys": {"mode": mode},
        "cameras": [{"id": "remux", "name": "remux", "policy": "bench72h", "zone": "stacks",
                     "purpose": "benchmark", "push_token": "bench-camera-token-0123456789"}],
    })


async def end_to_end(segments: list[bytes], count: int, rounds: int, root: Path) -> dict:
    ring_s, sealed_s = settings_for(root, "ring"), settings_for(root, "sealed")
    keys = SealedKeys(sealed_s.sealed_path, 1, 1, 1)
    keys.enroll(sl.new_director_key("dana", "a benchmark passphrase", time_cost=1,
                                    memory_kib=8192, parallelism=1))
    runners, svcs = [], {}
    for mode, s in (("ring", ring_s), ("sealed", sealed_s)):
        app = create_app(s, run_loops=False)
        runner = web.AppRunner(app)
        await runner.setup()
        runners.append(runner)
        svcs[mode] = app[RUNTIME]
    hint = [svcs["ring"].clock.now_us() - 3600 * US]

    async def batch(mode: str) -> float:
        svc = svcs[mode]
        cam = svc.settings.camera("remux")
        t = time.perf_counter()
        for i in range(count):
            hint[0] += 1  # distinct uploads (a repeat of the same bytes and start is a retry)
            await ingest_mod.ingest(svc, cam, segments[i % len(segments)],
                                    start_hint_us=hint[0])
        return (time.perf_counter() - t) / count * 1e3

    try:
        await batch("ring")
        await batch("sealed")  # warm-up
        runs: dict[str, list[float]] = {"ring": [], "sealed": []}
        for r in range(rounds):
            for mode in (("ring", "sealed") if r % 2 == 0 else ("sealed", "ring")):
                runs[mode].append(await batch(mode))
        pairs = [s / r_ for r_, s in zip(runs["ring"], runs["sealed"])]
    finally:
        for runner in runners:
            await runner.cleanup()
    return {"segments_per_round": count, "rounds": rounds,
            "ms_per_segment": {m: statistics.median(v) for m, v in runs.items()},
            "runs_ms_per_segment": runs, "ratio_sealed_over_ring": statistics.median(pairs),
            "ratio_per_round": pairs}


def unlock_cost_ms() -> float:
    key = sl.new_director_key("dana", "a benchmark passphrase")  # default parameters
    t = time.perf_counter()
    sl.open_director_key(key, "a benchmark passphrase")
    return (time.perf_counter() - t) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--segments", type=int, default=8, help="per round and mode, end to end")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--wraps", type=int, default=2000, help="wraps per micro round")
    ap.add_argument("--width", type=int, default=1920)
    ap.add_argument("--height", type=int, default=1080)
    ap.add_argument("--fps", type=int, default=15)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--dir", default=None, help="parent of the temp data dir")
    ap.add_argument("--out", default=str(RESULTS / "sealed.json"))
    args = ap.parse_args()

    segments = [make_segment(args.seconds, args.fps, args.width, args.height, seed=i)
                for i in range(2)]
    micro = wrap_costs(args.wraps, 6)
    pipe_ms = pipeline_cpu_ms(segments, 2)
    root = Path(tempfile.mkdtemp(prefix="fg-bench-sealed-", dir=args.dir))
    try:
        e2e = asyncio.run(end_to_end(segments, args.segments, args.rounds, root))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    unlock_ms = unlock_cost_ms()
    per_day = 86400 / args.seconds
    extra_us = micro["wrap"]["sealed"]["cpu_us_median"] - micro["wrap"]["ring"]["cpu_us_median"]
    share = extra_us / (pipe_ms * 1e3)
    result = {
        "segment": {"width": args.width, "height": args.height, "fps": args.fps,
                    "seconds": args.seconds, "mean_bytes": statistics.fmean(map(len, segments))},
        "micro": micro, "pipeline_cpu_ms_per_segment": pipe_ms, "end_to_end": e2e,
        "unlock_default_kdf_ms": unlock_ms, "segments_per_camera_day": per_day,
        "sealed_extra_cpu_us_per_segment": extra_us,
        "sealed_extra_cpu_s_per_camera_day": extra_us * per_day / 1e6,
        "pipeline_cpu_s_per_camera_day": pipe_ms * per_day / 1e3,
        "sealed_extra_share_of_pipeline_cpu": share, "target_share": 0.01,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "platform": platform.platform()},
    }
    seg = result["segment"]
    print(f"segment: {seg['width']}x{seg['height']}, {seg['seconds']:g} s at {seg['fps']} fps, "
          f"{seg['mean_bytes'] / 1e3:.0f} kB; {per_day:.0f} segments per camera-day")
    print(f"{'step':<28} {'ring':>12} {'sealed':>12}")
    for name in ("wrap", "unwrap"):
        m = micro[name]
        print(f"{name + ' (CPU per data key)':<28} {m['ring']['cpu_us_median']:>9.1f} us "
              f"{m['sealed']['cpu_us_median']:>9.1f} us")
    e = e2e["ms_per_segment"]
    print(f"{'ingest end to end (wall)':<28} {e['ring']:>9.1f} ms {e['sealed']:>9.1f} ms   "
          f"sealed/ring {e2e['ratio_sealed_over_ring']:.3f} (rounds "
          f"{min(e2e['ratio_per_round']):.3f}..{max(e2e['ratio_per_round']):.3f})")
    print(f"pipeline CPU per segment (probe + remux + seal): {pipe_ms:.1f} ms")
    print(f"sealed wrap, extra: {extra_us:.1f} us per segment, "
          f"{result['sealed_extra_cpu_s_per_camera_day']:.2f} s CPU per camera-day "
          f"(pipeline: {result['pipeline_cpu_s_per_camera_day']:.0f} s) = {share * 100:.3f} % "
          f"of the pipeline's CPU (target < 1 %: {'met' if share < 0.01 else 'NOT met'})")
    print(f"one unlock with the default argon2id (t=3, 64 MiB, p=4): {unlock_ms:.0f} ms")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

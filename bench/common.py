"""What the benchmark scripts share: the policy, and pushing segments over HTTP."""

from __future__ import annotations

import asyncio
import itertools
import socket
import statistics
import time
from pathlib import Path

import aiohttp

from gateway.clock import US, iso
from gateway.config import parse_settings

#: A 72-hour retention policy written into each bench's temporary policies_dir.
POLICY = """id = "bench72h"
title = "Benchmark policy (72 h)"
jurisdiction = "Benchmark"
[retention]
minimum = "72h"
minimum_source = "bench"
maximum = "30d"
maximum_source = "bench"
hold_request_grace = "72h"
hold_review = "90d"
"""

TOKEN = "bench-camera-token-0123456789abcdef"
SHELF_MASK = {"zone": "shelves", "polygon": [[0.05, 0.1], [0.45, 0.1], [0.45, 0.9], [0.05, 0.9]],
              "mode": "fill"}
#: Distinct claimed starts, 1 ms apart (see ``post_all``).
_STARTS = itertools.count(int(time.time() - 86_400) * US, 1000)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_settings(root: Path, port: int, storage: dict | None = None):
    """Two cameras (``remux``, ``masked``); ``storage``: extra ``[storage]`` keys (a backend)."""
    (root / "policies").mkdir(parents=True, exist_ok=True)
    (root / "policies" / "bench72h.toml").write_text(POLICY)

    def cam(id: str, masks: list) -> dict:
        return {"id": id, "name": id, "policy": "bench72h", "zone": "stacks",
                "purpose": "benchmark", "push_token": TOKEN, "masks": masks}
    return parse_settings({
        # Several uploads in flight on one camera (the default allows 2 per camera).
        "server": {"listen": f"127.0.0.1:{port}", "max_uploads_per_camera": 16},
        "storage": {"path": str(root / "data"), "min_free_bytes": 0, **(storage or {})},
        "policies_dir": str(root / "policies"),
        "cameras": [cam("remux", []), cam("masked", [SHELF_MASK])],
    })


async def post_all(session: aiohttp.ClientSession, url: str, segments: list[bytes], count: int,
                   concurrency: int) -> float:
    """POST ``count`` segments, ``concurrency`` at a time; returns wall seconds."""
    queue = list(range(count))
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "video/mp4"}

    async def worker() -> None:
        while queue:
            i = queue.pop()
            # Each upload claims its own start, as a camera's segments do: the same bytes
            # with the same claim are a retry, answered from the catalog (200), not stored.
            start = {"X-Segment-Start": iso(next(_STARTS))}
            async with session.post(url, data=segments[i % len(segments)],
                                    headers=headers | start) as r:
                if r.status != 201:
                    raise RuntimeError(f"upload failed: {r.status} {await r.text()}")
                await r.read()

    t = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - t


def rates(times: list[float], count: int, mean_bytes: float) -> dict:
    """Throughput of rounds of ``count`` segments that took ``times`` seconds each."""
    t = statistics.median(times)
    return {"segments": count, "seconds_median": t,
            "runs_segments_per_s": [count / x for x in times], "segments_per_s": count / t,
            "mb_per_s": count * mean_bytes / t / 1e6}


def round_ratios(times_a: list[float], times_b: list[float]) -> list[float]:
    """Throughput of A over B in each round. Each round's pair ran back to back: their
    ratio cancels most of a shared host's drift."""
    return [t_b / t_a for t_a, t_b in zip(times_a, times_b)]

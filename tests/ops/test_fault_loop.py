"""A short run of bench/faults.py in the suite: kill -9 at random moments, then the proof.

Two trials of the same loop ``bench/faults.py`` runs a thousand times (see its
docstring): the gateway is killed mid-workload (ingest, purge, key rotation,
export build, hold transitions), restarted, and then ``check`` must pass, every
acknowledged segment must be readable or receipted (never destroyed before its
deadline), and no file may hold plaintext video.
"""

from __future__ import annotations

import asyncio
import importlib.util
import random
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "faults.py"


def _faults():
    spec = importlib.util.spec_from_file_location("bench_faults", BENCH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_faults"] = mod  # dataclasses look their module up while it loads
    spec.loader.exec_module(mod)
    return mod


def test_two_random_kill_trials_lose_nothing_and_leave_no_plaintext(tmp_path):
    faults = _faults()
    bench = faults.Bench(tmp_path / "run", random.Random(7))
    asyncio.run(bench.start())
    bench.stop()
    bench.make_users()
    for n in (1, 2):
        asyncio.run(bench.trial(n))
    t = bench.tally
    assert t.trials == 2 and t.acknowledged > 0, "the workload never got a segment stored"
    assert (t.lost, t.destroyed_early, t.plaintext_files, t.check_failures) == (0, 0, 0, 0), \
        t.problems

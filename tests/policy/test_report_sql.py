"""The report's purge figures come from SQLite (gateway.catalog.purge_summary): they must be
the figures the report used to compute from every receipt in Python."""

from __future__ import annotations

import random

import pytest

from gateway.catalog import Catalog
from gateway.catalog.purge_summary import lag_summary
from gateway.catalog.segments import receipts
from gateway.clock import US
from gateway.policy.report import LAG_BUCKETS, LATE_AFTER_S, lag_histogram, percentile

T0 = 1_700_000_000 * US


def seed(db: Catalog, n: int, seed: int) -> None:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        deadline = T0 + rng.randrange(20 * 86400) * US
        kind = rng.random()
        released = None if kind < 0.1 else deadline  # receipts from before migration 0004
        if kind > 0.97:  # a hold kept it: destroyable when the hold ended
            released = deadline + rng.randrange(1, 5 * 86400) * US
        base = released if released is not None else deadline
        lag = int(rng.choice([rng.expovariate(1 / 0.05), rng.uniform(0, 120), rng.uniform(0, 7200),
                              rng.uniform(3000, 200_000), -rng.uniform(0, 20)]) * US)
        rows.append((f"u{i}", rng.choice(["lobby", "stacks", "desk"]), deadline - 3600 * US,
                     deadline - 3000 * US, deadline, base + lag, "0" * 64, "r", released))
    with db.tx() as c:
        c.executemany("INSERT INTO purge_receipts (segment_uid, camera, start_us, end_us, "
                      "deadline_us, destroyed_at_us, sha256, reason, released_us) "
                      "VALUES (?,?,?,?,?,?,?,?,?)", rows)


@pytest.mark.parametrize("n,rng_seed", [(0, 1), (1, 2), (7, 3), (2000, 4)])
def test_sql_figures_equal_the_python_ones(tmp_path, n, rng_seed):
    db = Catalog.open(tmp_path / "c.sqlite3")
    seed(db, n, rng_seed)
    since, until = T0 + 2 * 86400 * US, T0 + 15 * 86400 * US  # a period cuts some off
    recs = receipts(db, since, until)
    lags = sorted(r.lag_us / US for r in recs)
    s = lag_summary(db, since, until, LAG_BUCKETS, LATE_AFTER_S * US)
    assert s.total == len(recs)
    assert s.hist == lag_histogram(lags)
    as_s = lambda us: None if us is None else us / US  # noqa: E731
    assert as_s(s.p50_us) == percentile(lags, 50)
    assert as_s(s.p95_us) == percentile(lags, 95)
    assert as_s(s.max_us) == (lags[-1] if lags else None)
    assert s.held == sum(1 for r in recs if r.released_us is not None
                         and r.released_us > r.deadline_us)
    assert [r.segment_uid for r in s.early] == [r.segment_uid for r in recs
                                                if r.destroyed_at_us < r.deadline_us]
    assert [r.segment_uid for r in s.late] == [r.segment_uid for r in recs
                                               if r.lag_us > LATE_AFTER_S * US]
    per_cam: dict[str, list[float]] = {}
    for r in recs:
        per_cam.setdefault(r.camera, []).append(r.lag_us / US)
    assert [(c.camera, c.count, as_s(c.p95_us), as_s(c.max_us)) for c in s.per_camera] == [
        (cam, len(v), percentile(sorted(v), 95), max(v)) for cam, v in sorted(per_cam.items())]
    if n >= 2000:  # the test means something: every bucket and camera is populated
        assert all(count for _label, count in s.hist) and len(s.per_camera) == 3
    db.close()

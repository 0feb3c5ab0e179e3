"""The queries that run over millions of rows at a year's scale use their indexes
(bench/year.py measures the time; this keeps a dropped index or a rewritten query from
silently going back to a scan)."""

from __future__ import annotations

from gateway.catalog import Catalog


def plan(db: Catalog, sql: str, *args) -> str:
    return " | ".join(r[3] for r in db.conn.execute("EXPLAIN QUERY PLAN " + sql, args))


def test_year_scale_queries_use_their_indexes(tmp_path):
    db = Catalog.open(tmp_path / "c.sqlite3")
    # audit_log.newest_marker: the newest checkpoint in one row, not a scan of the chain.
    assert "USING INDEX audit_markers" in plan(
        db, "SELECT seq FROM audit WHERE action IN ('audit.checkpoint', 'audit.rekeyed') "
            "ORDER BY seq DESC LIMIT 1")
    # purge_summary: the period's lags from the covering index, not the receipt rows.
    assert "COVERING INDEX purge_receipts_report" in plan(
        db, "SELECT camera, (destroyed_at_us - COALESCE(released_us, deadline_us)) AS lag "
            "FROM purge_receipts WHERE destroyed_at_us >= ? AND destroyed_at_us < ? "
            "ORDER BY lag", 0, 1)
    # segments.retention_groups (start-up): in index order, no temporary B-tree.
    p = plan(db, "SELECT policy, deadline_us - end_us, COUNT(*) FROM segments "
                 "WHERE camera = ? AND state = 'stored' GROUP BY policy, deadline_us - end_us",
             "lobby")
    assert "INDEX segments_retention" in p and "TEMP B-TREE" not in p
    # segments.camera_stats(with_retention=True) (the report): two index scans, no rows.
    assert "INDEX segments_camera_stats" in plan(
        db, "SELECT camera, COUNT(*), COALESCE(SUM(bytes), 0), MIN(start_us) FROM segments "
            "WHERE state != 'shredded' GROUP BY camera ORDER BY camera")
    assert "INDEX segments_retention" in plan(
        db, "SELECT camera, MIN(deadline_us - end_us), MAX(deadline_us - end_us) FROM segments "
            "WHERE state = 'stored' GROUP BY camera")
    db.close()

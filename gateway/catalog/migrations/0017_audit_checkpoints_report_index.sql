-- Audit checkpoints (gateway.audit, docs/holds.md "Checkpoints"): the start-up and
-- hourly checks resume from the newest `audit.checkpoint` entry, found in one row
-- through this index instead of a scan of millions of entries. Rekeys are in it
-- too: a checkpoint older than a rekey is MACed under a lost key and not used.
CREATE INDEX audit_markers ON audit (seq) WHERE action IN ('audit.checkpoint', 'audit.rekeyed');

-- The privacy-audit report's purge figures (gateway.catalog.purge_summary) read the
-- period's receipts from this covering index instead of the ~250-byte rows: ~10 M
-- receipts a year at a 20-camera branch. It serves every query by destruction time,
-- so it replaces purge_receipts_destroyed.
CREATE INDEX purge_receipts_report ON purge_receipts (destroyed_at_us, camera, deadline_us, released_us);
DROP INDEX purge_receipts_destroyed;

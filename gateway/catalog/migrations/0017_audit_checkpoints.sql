-- Audit checkpoints (gateway.audit, docs/holds.md "Checkpoints"): the start-up and
-- hourly checks resume from the newest `audit.checkpoint` entry, found in one row
-- through this index instead of a scan of millions of entries. Rekeys are in it
-- too: a checkpoint older than a rekey is MACed under a lost key and not used.
CREATE INDEX audit_markers ON audit (seq) WHERE action IN ('audit.checkpoint', 'audit.rekeyed');

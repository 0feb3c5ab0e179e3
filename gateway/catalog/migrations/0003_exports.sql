-- Export packages built for a disclosure under an active hold. The package
-- itself (a zip of masked, decrypted clips) is a file under STORAGE/exports/
-- kept only until expires_us; this row, with no footage, stays as the record
-- of who disclosed what, to whom, on which ground.

CREATE TABLE exports (
    id              INTEGER PRIMARY KEY,
    hold_id         INTEGER NOT NULL REFERENCES holds (id),
    state           TEXT    NOT NULL DEFAULT 'building'
                    CHECK (state IN ('building', 'ready', 'failed', 'deleted')),
    cameras         TEXT    NOT NULL,             -- JSON list of camera ids
    start_us        INTEGER NOT NULL,
    end_us          INTEGER NOT NULL,
    ground          TEXT    NOT NULL,             -- a ground the policy names (court_order, ...)
    reference       TEXT    NOT NULL,             -- the document: order number, statute, ...
    recipient       TEXT    NOT NULL,             -- kind: law_enforcement, civil_litigant, ...
    recipient_name  TEXT    NOT NULL DEFAULT '',  -- who exactly: agency, officer, court
    counsel         TEXT    NOT NULL DEFAULT '',  -- legal counsel consulted, when required
    reason          TEXT    NOT NULL,
    decided_by      TEXT    NOT NULL,             -- the director who decided the disclosure
    created_us      INTEGER NOT NULL,
    expires_us      INTEGER NOT NULL,             -- the package file is deleted then
    clips           INTEGER,
    bytes           INTEGER,
    manifest_sha256 TEXT,
    deleted_us      INTEGER,
    CHECK (end_us > start_us),
    CHECK (length(reference) > 0)
);
CREATE INDEX exports_hold ON exports (hold_id);
CREATE INDEX exports_state ON exports (state);

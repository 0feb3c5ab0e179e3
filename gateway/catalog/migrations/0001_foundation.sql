-- Segments, their wrapped data keys, purge receipts, holds and the audit log.
-- Times are UTC integer microseconds since the epoch (*_us).

CREATE TABLE segments (
    id          INTEGER PRIMARY KEY,
    uid         TEXT    NOT NULL UNIQUE,          -- public id; also names the file
    camera      TEXT    NOT NULL,
    policy      TEXT    NOT NULL,
    start_us    INTEGER NOT NULL,
    end_us      INTEGER NOT NULL,
    deadline_us INTEGER NOT NULL,                 -- end + retention; never earlier
    bytes       INTEGER NOT NULL,                 -- ciphertext size on storage
    sha256      TEXT    NOT NULL,                 -- of the ciphertext file
    frames      INTEGER NOT NULL,
    width       INTEGER NOT NULL,
    height      INTEGER NOT NULL,
    masked      INTEGER NOT NULL,                 -- 1 when masks were burned in
    state       TEXT    NOT NULL DEFAULT 'stored' -- stored | corrupt | shredded
                CHECK (state IN ('stored', 'corrupt', 'shredded')),
    shredded_us INTEGER,                          -- when the data key was erased
    created_us  INTEGER NOT NULL,
    CHECK (end_us >= start_us),
    CHECK (deadline_us >= end_us)
);
CREATE INDEX segments_deadline ON segments (deadline_us) WHERE state != 'shredded';
CREATE INDEX segments_camera_start ON segments (camera, start_us);

-- One wrapped data key per segment. Erasing this row is the crypto-shred.
CREATE TABLE data_keys (
    segment_id INTEGER PRIMARY KEY REFERENCES segments (id),
    key_id     BLOB    NOT NULL,
    kek_id     TEXT    NOT NULL,
    wrapped    BLOB    NOT NULL
);
CREATE INDEX data_keys_kek ON data_keys (kek_id);

-- Proof of destruction; no personal data (no one is identifiable from a row).
CREATE TABLE purge_receipts (
    id              INTEGER PRIMARY KEY,
    segment_uid     TEXT    NOT NULL UNIQUE,
    camera          TEXT    NOT NULL,
    start_us        INTEGER NOT NULL,
    end_us          INTEGER NOT NULL,
    deadline_us     INTEGER NOT NULL,
    destroyed_at_us INTEGER NOT NULL,
    sha256          TEXT    NOT NULL,
    reason          TEXT    NOT NULL
);
CREATE INDEX purge_receipts_destroyed ON purge_receipts (destroyed_at_us);

CREATE TABLE holds (
    id              INTEGER PRIMARY KEY,
    state           TEXT    NOT NULL
                    CHECK (state IN ('requested', 'active', 'denied', 'lapsed', 'released', 'expired')),
    cameras         TEXT    NOT NULL,             -- JSON list of camera ids
    start_us        INTEGER NOT NULL,
    end_us          INTEGER NOT NULL,
    incident        TEXT    NOT NULL,
    reason          TEXT    NOT NULL,
    requested_by    TEXT    NOT NULL,
    requested_us    INTEGER NOT NULL,
    grace_until_us  INTEGER NOT NULL,             -- a request preserves footage until then
    decided_by      TEXT,
    decided_us      INTEGER,
    review_us       INTEGER,                      -- an active hold ends or is renewed by then
    court_order_ref TEXT,
    ended_us        INTEGER,
    note            TEXT,
    CHECK (end_us > start_us)
);
CREATE INDEX holds_state ON holds (state);

-- Append-only, hash-chained: hash = H(prev_hash || canonical(entry)).
CREATE TABLE audit (
    seq       INTEGER PRIMARY KEY,
    at_us     INTEGER NOT NULL,
    actor     TEXT    NOT NULL,
    role      TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    object    TEXT    NOT NULL,
    reason    TEXT    NOT NULL,
    detail    TEXT    NOT NULL,                   -- canonical JSON, never footage
    prev_hash TEXT    NOT NULL,
    hash      TEXT    NOT NULL UNIQUE
);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;

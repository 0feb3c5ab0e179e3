-- The last configuration each camera ran with (policy, retention, zone, purpose,
-- masks), so a change between two starts is written to the audit log.
CREATE TABLE camera_config (
    camera     TEXT    PRIMARY KEY,
    config     TEXT    NOT NULL,   -- canonical JSON
    seen_us    INTEGER NOT NULL
);

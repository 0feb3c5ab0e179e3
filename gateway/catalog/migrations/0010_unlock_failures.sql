-- Sealed mode: failed unlock attempts per director, so the back-off survives a restart.
-- One row per director with a failure since their last successful unlock; no secrets.
CREATE TABLE unlock_failures (
    director TEXT    PRIMARY KEY,
    failures INTEGER NOT NULL CHECK (failures > 0),
    last_us  INTEGER NOT NULL
);

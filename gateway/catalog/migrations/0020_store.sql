-- The object store's side of the invariants (docs/storage.md, "Write intents",
-- "Owed deletions", "S3 Object Lock").
--
-- A write intent is committed before a segment's ciphertext is put, and removed
-- in the transaction that inserts its row (or after the unacknowledged object is
-- discarded). Start-up recovery looks only at these: it no longer lists every
-- file or object, so a restart costs O(writes in flight), not O(footage kept).
CREATE TABLE store_writes (
    uid        TEXT    PRIMARY KEY,
    started_us INTEGER NOT NULL
);

-- Ciphertext whose data key is already erased (the footage is destroyed) but
-- whose object the store has not yet confirmed deleted: retried with backoff.
-- A random uid only: nothing here says whose or when.
CREATE TABLE store_deletes (
    uid         TEXT    PRIMARY KEY,
    since_us    INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_try_us INTEGER NOT NULL,
    last_error  TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX store_deletes_next ON store_deletes (next_try_us);

-- S3 Object Lock mirrored on each kept segment: the legal hold the store has
-- (1 while an active hold covers the segment), and the GOVERNANCE retention
-- date it was written with (NULL on the local backend).
ALTER TABLE segments ADD COLUMN store_hold INTEGER NOT NULL DEFAULT 0;
ALTER TABLE segments ADD COLUMN lock_until_us INTEGER;
CREATE INDEX segments_store_hold ON segments (uid) WHERE store_hold = 1;

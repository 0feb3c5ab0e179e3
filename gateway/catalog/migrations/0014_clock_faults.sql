-- Issue 10, findings 1 and 2 (docs/storage.md, "Clock jumps" and "Deadlines").
-- start_us/end_us are now the gateway's receipt time (end = received); what the
-- camera claimed (X-Segment-Start or the MP4's creation_time) is kept for display.
ALTER TABLE segments ADD COLUMN claimed_start_us INTEGER;

-- The clock guard's state that must survive a restart: one row.
CREATE TABLE clock_guard (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    paused_since_us INTEGER,            -- destruction and expiry paused since (NULL: running)
    jump_us         INTEGER NOT NULL DEFAULT 0,  -- the wall clock's jump, + = ahead
    last_wall_us    INTEGER,            -- the last wall time a look saw
    acked_us        INTEGER             -- an operator accepted the wall time then (clock ack)
);
INSERT INTO clock_guard (id) VALUES (1);

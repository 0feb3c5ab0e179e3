-- Start-up reconciles stored deadlines with the configuration (gateway.segments.deadlines):
-- per camera it groups the kept segments by (policy, deadline - end). At 1 M kept
-- segments that read every row (~3 s of a 5 s start-up budget, bench/year.py); this
-- index answers it in index order.
CREATE INDEX IF NOT EXISTS segments_retention ON segments (camera, policy, deadline_us - end_us)
    WHERE state = 'stored';

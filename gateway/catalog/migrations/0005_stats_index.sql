-- Covers the per-camera summary (count, bytes, oldest) the metrics read every
-- few seconds: 2.3 s -> 0.23 s at 1,000,000 segments (bench/purge.py).
CREATE INDEX segments_camera_stats ON segments (camera, start_us, bytes) WHERE state != 'shredded';

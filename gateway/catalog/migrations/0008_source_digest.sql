-- SHA-256 of the bytes the camera uploaded, so a retried upload is recognised and
-- not stored twice. Deleted with the row when the segment is destroyed.
ALTER TABLE segments ADD COLUMN source_sha256 TEXT;
CREATE INDEX segments_source ON segments (camera, source_sha256) WHERE source_sha256 IS NOT NULL;

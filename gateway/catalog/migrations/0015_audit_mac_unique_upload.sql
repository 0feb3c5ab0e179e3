-- Each audit entry's HMAC under the audit key (gateway.audit, gateway.vault.auditkey).
-- The key is kept beside the key ring, never here: whoever rewrites the chain
-- without it cannot make the MACs fit. Entries written before the key existed
-- keep NULL; the first keyed entry commits to them through its prev_hash.
ALTER TABLE audit ADD COLUMN mac TEXT;

-- One stored copy per upload (issue 10): identical uploads that arrived together
-- used to be stored once each. Keep the first of any such duplicates as the one a
-- retry finds; the others stay stored, just no longer matched to the upload.
UPDATE segments SET source_sha256 = NULL
 WHERE source_sha256 IS NOT NULL
   AND id NOT IN (SELECT min(id) FROM segments WHERE source_sha256 IS NOT NULL
                  GROUP BY camera, source_sha256);
DROP INDEX segments_source;
CREATE UNIQUE INDEX segments_source ON segments (camera, source_sha256)
    WHERE source_sha256 IS NOT NULL;

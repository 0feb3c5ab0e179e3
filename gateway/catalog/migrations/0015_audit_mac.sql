-- Each audit entry's HMAC under the audit key (gateway.audit, gateway.vault.auditkey).
-- The key is kept beside the key ring, never here: whoever rewrites the chain
-- without it cannot make the MACs fit. Entries written before the key existed
-- keep NULL; the first keyed entry commits to them through its prev_hash.
ALTER TABLE audit ADD COLUMN mac TEXT;

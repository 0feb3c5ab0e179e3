-- Purges whose key is erased but whose file or receipt is not done yet: the purge
-- loop finishes them at every pass, so it must find them without a table scan.
CREATE INDEX segments_shredded ON segments (id) WHERE state = 'shredded';

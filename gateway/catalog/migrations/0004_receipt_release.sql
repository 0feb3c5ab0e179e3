-- When a segment became destroyable: its deadline, or later when a hold kept it.
-- Purge lag is measured from here, so footage a hold kept is not counted as late.
ALTER TABLE purge_receipts ADD COLUMN released_us INTEGER;

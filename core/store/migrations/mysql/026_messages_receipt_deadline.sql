-- The receipt deadline's sweep (persister/src/receipt-sweep.ts) asks, per class, for the oldest
-- messages still `submitted` before a cutoff: a range of this index, so the sweep reads only the
-- overdue rows, never the millions that are delivered or still within their deadline. id last, for
-- the sweep's (submitted_at, id) cursor (TiDB's NONCLUSTERED key is not appended implicitly).
-- No IF NOT EXISTS: MySQL has none for indexes; a crash between this statement and the recording
-- of the version would need the index dropped by hand.
ALTER TABLE messages ADD INDEX idx_messages_receipt_deadline (status, message_class, submitted_at, id);

-- The receipt deadline's sweep (persister/src/receipt-sweep.ts) asks, per class, for the oldest
-- messages still `submitted` before a cutoff: a range of this index. Partial, as SQLite allows, so
-- it holds only the messages waiting for a receipt and costs nothing for the rest.
CREATE INDEX IF NOT EXISTS idx_messages_receipt_deadline
  ON messages (message_class, submitted_at, id) WHERE status = 'submitted';
